"""Both deployments of each stage, built once per test session (what `make package` writes);
moto servers for the tools that deploy them; the Terraform plans and apply, started early."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.package import Packages, package
from infra.stage import Stage, load_stage
from support.cloudformation_lint import cfn_lint, translate
from support.moto_server import MotoServer, moto_server
from support.moto_stack_gaps import stack_moto_server
from support.terraform_run import Background, Terraform

STAGES = ("dev", "prod")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packages]:
    return {name: package(name, tmp_path_factory.mktemp(name)) for name in STAGES}


@pytest.fixture(scope="session", params=STAGES)
def stage(request: pytest.FixtureRequest) -> Stage:
    return load_stage(str(request.param))


@pytest.fixture(scope="session")
def sam(built: dict[str, Packages], stage: Stage) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(
        (built[stage.name].cloudformation / "sam.json").read_text()
    )
    return template


@pytest.fixture(scope="session")
def cfn_lint_findings(
    built: dict[str, Packages], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """cfn-lint's findings ("" for none) for each stage's sam.json (`<stage>/sam.json`)
    and its translation by the SAM transform (`<stage>/translated.json`): one run."""
    paths: dict[str, Path] = {}
    translated = tmp_path_factory.mktemp("translated")
    for name in STAGES:
        sam_json = built[name].cloudformation / "sam.json"
        paths[f"{name}/sam.json"] = sam_json
        target = translated / f"{name}.json"
        target.write_text(json.dumps(translate(json.loads(sam_json.read_text()))))
        paths[f"{name}/translated.json"] = target
    findings = cfn_lint(list(paths.values()))
    return {key: findings[path] for key, path in paths.items()}


@pytest.fixture(scope="session")
def tf(built: dict[str, Packages], stage: Stage) -> dict[str, Any]:
    """chalice.tf.json and backing.tf.json, merged into one document per block type."""
    merged: dict[str, Any] = {}
    for name in ("chalice.tf.json", "backing.tf.json"):
        doc = json.loads((built[stage.name].terraform / name).read_text())
        for block, content in doc.items():
            if block in ("resource", "data"):
                for kind, items in content.items():
                    merged.setdefault(block, {}).setdefault(kind, {}).update(items)
            elif isinstance(content, dict):
                merged.setdefault(block, {}).update(content)
    return merged


def terraform_mirror() -> Path | None:
    """The local provider mirror: a folder holding registry.terraform.io/hashicorp/aws."""
    candidates = [os.environ.get("TF_PLUGIN_MIRROR", "")]
    for root in ("/opt", "/usr/local/share", "/usr/share", str(Path.home() / ".terraform.d")):
        candidates += [str(p.parent) for p in Path(root).glob("*/registry.terraform.io")]
        candidates += [str(p.parent) for p in Path(root).glob("*/*/registry.terraform.io")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def terraform() -> tuple[str, Path]:
    executable = shutil.which("terraform")
    if executable is None:
        pytest.skip("terraform is not installed on this machine")
    mirror = terraform_mirror()
    if mirror is None:
        pytest.skip("no local Terraform provider mirror (a folder with registry.terraform.io)")
    return executable, mirror


def terraform_command(
    executable: str, workdir: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`terraform ARGS` in `workdir`, without the user's CLI config, as in automation."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CLI_CONFIG_FILE"}
    env["TF_IN_AUTOMATION"] = "1"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )

    return run


@pytest.fixture(scope="session")
def terraform_initialized(
    built: dict[str, Packages],
    terraform: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Path]:
    """A copy of a stage's dist/terraform, `terraform init`ed once per session (from the
    local mirror): copy it (symlinks kept) to change it and validate again without an init."""
    executable, mirror = terraform
    done: dict[str, Path] = {}

    def initialized(stage: str) -> Path:
        if stage not in done:
            workdir = tmp_path_factory.mktemp(f"tf-{stage}") / "tf"
            shutil.copytree(built[stage].terraform, workdir)
            init = terraform_command(executable, workdir)(
                "init", "-backend=false", f"-plugin-dir={mirror}", "-input=false", "-no-color"
            )
            assert init.returncode == 0, init.stdout + init.stderr
            done[stage] = workdir
        return done[stage]

    return initialized


@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture() -> Iterator[MotoServer]:
    """A moto server in its own process, with the gaps `support/moto_gaps.py` lists patched."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def stack_moto() -> Iterator[MotoServer]:
    """A moto server with every CloudFormation gap patched too (`support/moto_stack_gaps.py`),
    shared by the end-to-end deploys (`make deploy`, `make backing` + `chalice deploy`):
    each module resets it before it deploys."""
    with stack_moto_server() as server:
        yield server


@dataclass(frozen=True)
class TerraformRuns:
    """dist/terraform of each stage in a working copy, against one moto server of their
    own, each stage planned in the background (`plans`: `terraform show -json` of it)."""

    server: MotoServer
    copies: dict[str, Terraform]
    plans: dict[str, Background[dict[str, Any]]]


@pytest.fixture(scope="session")
def terraform_runs(
    built: dict[str, Packages],
    terraform: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TerraformRuns]:
    executable, mirror = terraform
    with moto_server() as server:
        copies = {
            name: Terraform(
                executable,
                mirror,
                built[name].terraform,
                tmp_path_factory.mktemp(f"terraform-{name}") / "work",
                server,
            )
            for name in STAGES
        }

        def plan(name: str) -> dict[str, Any]:
            copies[name].init()
            return copies[name].plan("stage.tfplan")

        plans = {
            name: Background(f"terraform-plan-{name}", functools.partial(plan, name))
            for name in STAGES
        }

        try:
            yield TerraformRuns(server, copies, plans)
        finally:
            for copy in copies.values():
                copy.stop()


@pytest.fixture(scope="session")
def terraform_applied(terraform_runs: TerraformRuns) -> Background[None]:
    """dev's plan being applied, in the background: `.result()` waits for the apply."""

    def apply() -> None:
        terraform_runs.plans["dev"].result()
        terraform_runs.copies["dev"].apply("stage.tfplan")

    return Background("terraform-apply-dev", apply)


@pytest.fixture(scope="session", autouse=True)
def _terraform_starts_early(request: pytest.FixtureRequest) -> None:
    """Starts the plans (and the apply) with the first deploy test, when a test to come
    needs them.

    An apply is mostly the AWS provider waiting (support/terraform_run.py): begun
    here, it overlaps the other tests instead of adding a minute to the suite.
    """
    if shutil.which("terraform") is None or terraform_mirror() is None:
        return
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    for fixture in ("terraform_applied", "terraform_runs"):
        if fixture in wanted:
            request.getfixturevalue(fixture)
            return


# --- another deployment of a stage, and a stack that failed over it -------------------

# The key a deployment other than the tool under test drew (Terraform's, say).
OTHER_KEY = "k" * 64


def terraform_holds(session: Any, stage: Stage) -> None:
    """What `terraform apply` of dist/terraform leaves that matters to `make deploy` and
    `make backing`: the stage's table and its listing key, and no CloudFormation stack."""
    session.client("dynamodb").create_table(
        TableName=stage.table_name,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("ssm").put_parameter(
        Name=stage.page_token_secret_parameter, Value=OTHER_KEY, Type="SecureString"
    )


def key_of(session: Any, name: str) -> str | None:
    """The value of the SecureString parameter `name`, None if there is none."""
    found = session.client("ssm").get_parameters(Names=[name], WithDecryption=True)
    return next((str(p["Value"]) for p in found["Parameters"]), None)


class FailedStacks:
    """CloudFormation as it stands after a stack create that rolled back (moto cannot
    fail one on a name that exists): `stacks` (name: status) exist until deleted; any
    other name does not exist."""

    def __init__(self, session: Any, stacks: dict[str, str]) -> None:
        self.stacks = dict(stacks)
        self.exceptions = session.client("cloudformation").exceptions

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackStatus": self.stacks[StackName],
                    "CreationTime": "2026-12-01T00:00:00Z",
                }
            ]
        }

    def delete_stack(self, StackName: str) -> dict[str, Any]:
        self.stacks.pop(StackName, None)
        return {}

    def get_waiter(self, _name: str) -> Any:
        class Done:
            def wait(self, **_kwargs: Any) -> None:
                return None

        return Done()
