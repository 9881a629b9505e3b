"""checkov over both deployments: `terraform show -json` of each stage's plan (checkov
cannot read Chalice's chalice.tf.json itself), and the CloudFormation templates,
as shipped (SAM) and as the SAM transform expands them. Every finding is fixed or
listed, with its reason, in checkov_skips.json.

checkov runs from its own venv (`.venv-checkov`, which `make checkov` creates from
requirements-checkov.txt: its pins conflict with ours; `make test` begins it beside the
tests, and these tests wait for it, as they ask `make checkov` themselves), offline: no download of
guidelines or policies (`--skip-download`, `BC_SKIP_MAPPING`) and no update check
(`CKV_SKIP_PACKAGE_UPDATE_CHECK`); so run, it opens no network connection (checked
with strace; without them it looks up its update and guideline servers). Proxies
that refuse every connection catch any later version that would try anyway.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.conftest import STAGES, TerraformRuns
from infra.package import Packages
from infra.stage import PROJECT_DIR
from support.cloudformation_lint import translate

SKIPS_FILE = Path(__file__).with_name("checkov_skips.json")
GIVEN = os.environ.get("CHECKOV")  # a checkov of one's own, not the Makefile's
CHECKOV = Path(GIVEN or PROJECT_DIR / ".venv-checkov" / "bin" / "checkov")
REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens, every connection fails


@dataclass(frozen=True)
class Finding:
    check: str
    framework: str
    resource: str
    file: str
    name: str


@dataclass(frozen=True)
class Scan:
    findings: list[Finding]
    summaries: dict[str, dict[str, Any]]


def skips() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(SKIPS_FILE.read_text())["skips"]
    return entries


@functools.cache
def installed() -> str:
    """`make checkov`'s failure ("" when checkov is there): it installs checkov once, or
    waits for the install `make test` began (the Makefile holds a lock for it), or finds
    it there. No make (pytest run on its own), nothing is installed."""
    if GIVEN or shutil.which("make") is None:
        return ""
    result = subprocess.run(
        ["make", "-s", "checkov"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    return "" if result.returncode == 0 else f"make checkov failed:\n{result.stderr[-3000:]}"


def run_checkov(directory: Path, framework: str) -> Scan:
    """checkov over every file of `directory`, offline; its failed checks."""
    failed = installed()
    assert not failed, failed
    if not CHECKOV.is_file():
        pytest.skip(f"no checkov at {CHECKOV}: `make checkov` installs it (.venv-checkov)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        {
            "BC_SKIP_MAPPING": "TRUE",
            "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
            "HTTP_PROXY": REFUSED,
            "HTTPS_PROXY": REFUSED,
            "NO_PROXY": "",
        }
    )
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            framework,
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    # 0: nothing failed; 1: some checks failed (listed in the report).
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    findings = [
        Finding(
            check=failed["check_id"],
            framework=report["check_type"],
            resource=failed["resource"],
            file=Path(failed["file_path"]).name,
            name=failed["check_name"],
        )
        for report in reports
        for failed in report["results"]["failed_checks"]
    ]
    return Scan(findings, {report["check_type"]: report["summary"] for report in reports})


@pytest.fixture(scope="module")
def terraform_scan(terraform_runs: TerraformRuns, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    directory = tmp_path_factory.mktemp("checkov-terraform")
    for name in STAGES:
        plan = terraform_runs.plans[name].result()
        (directory / f"{name}.tfplan.json").write_text(json.dumps(plan))
    return run_checkov(directory, "terraform_plan")


@pytest.fixture(scope="module")
def cloudformation_scan(
    built: dict[str, Packages], tmp_path_factory: pytest.TempPathFactory
) -> Scan:
    directory = tmp_path_factory.mktemp("checkov-cloudformation")
    for name in STAGES:
        sam = json.loads((built[name].cloudformation / "sam.json").read_text())
        (directory / f"{name}-sam.json").write_text(json.dumps(sam))
        (directory / f"{name}-translated.json").write_text(json.dumps(translate(sam)))
    return run_checkov(directory, "cloudformation")


@pytest.fixture(params=["terraform_plan", "cloudformation"])
def scan(request: pytest.FixtureRequest) -> tuple[str, Scan]:
    framework = str(request.param)
    fixture = "terraform_scan" if framework == "terraform_plan" else "cloudformation_scan"
    return framework, request.getfixturevalue(fixture)


def test_checkov_read_every_resource_of_both_stages(scan: tuple[str, Scan]) -> None:
    framework, result = scan
    summary = result.summaries[framework]

    # An empty or unreadable input would pass every check: make sure there was one.
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 2 * 40
    assert summary["passed"] >= 100


def test_checkov_finds_nothing_but_the_listed_skips(scan: tuple[str, Scan]) -> None:
    framework, result = scan
    skipped = {entry["check"] for entry in skips() if framework in entry["frameworks"]}

    unexpected = sorted(
        f"{f.check} {f.name}: {f.resource} ({f.file})"
        for f in result.findings
        if f.check not in skipped
    )

    assert unexpected == [], "fix these, or list them with a reason in checkov_skips.json"


def test_every_skip_is_still_needed(scan: tuple[str, Scan]) -> None:
    framework, result = scan
    found = {finding.check for finding in result.findings}

    stale = [
        entry["check"]
        for entry in skips()
        if framework in entry["frameworks"] and entry["check"] not in found
    ]

    assert stale == [], f"no {framework} finding for these: remove them from checkov_skips.json"


def test_every_skip_says_why() -> None:
    entries = skips()

    assert len({entry["check"] for entry in entries}) == len(entries)
    for entry in entries:
        assert set(entry) == {"check", "frameworks", "reason"}, entry
        assert set(entry["frameworks"]) <= {"terraform_plan", "cloudformation"}, entry
        assert entry["frameworks"], entry
        assert len(entry["reason"]) >= 40, entry
