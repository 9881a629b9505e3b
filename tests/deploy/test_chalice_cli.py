"""infra/chalice_cli.py: Chalice with the functions' runtime pinned (`make chalice-deploy`,
`make package`), whatever Python runs it; the app's refusal of a plain `chalice deploy`."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from chalice.config import Config
from chalice.deploy.packager import LambdaDeploymentPackager

from infra import chalice_cli
from infra.aws import NO_REGION
from infra.chalice_cli import PINNED_VARIABLE, pinned_runtime
from infra.chalice_guard import chalice_command
from infra.stage import CONFIG_PATH, FUNCTIONS, LAMBDA_RUNTIME

LOCAL = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def test_pinned_chalice_deploys_and_builds_dependencies_for_python312_then_lets_go() -> None:
    """Chalice's one source of a function's runtime and of the ABI it builds the zip's
    dependencies for is Config.lambda_python_version."""
    config = Config.create(project_dir=".")
    assert config.lambda_python_version == LOCAL  # what plain Chalice would deploy

    with pinned_runtime():
        assert config.lambda_python_version == LAMBDA_RUNTIME
        assert Config.create().lambda_python_version == LAMBDA_RUNTIME
        assert LambdaDeploymentPackager._RUNTIME_TO_ABI[config.lambda_python_version] == "cp312"
        assert os.environ[PINNED_VARIABLE] == LAMBDA_RUNTIME

    assert config.lambda_python_version == LOCAL
    assert PINNED_VARIABLE not in os.environ


def test_the_pin_lets_go_when_chalice_fails() -> None:
    with pytest.raises(SystemExit), pinned_runtime():
        raise SystemExit("error: chalice failed")

    assert Config.create().lambda_python_version == LOCAL
    assert PINNED_VARIABLE not in os.environ


CLI = {"AWS_CHALICE_CLI_MODE": "true"}


@pytest.mark.parametrize(
    ("argv", "environ", "command"),
    [
        (["chalice", "deploy", "--stage", "dev"], CLI, "deploy"),
        (["chalice", "--project-dir", "/x/deploy", "package", "out"], CLI, "package"),
        (["chalice", "--debug", "delete"], CLI, "delete"),
        (["chalice", "--debug"], CLI, None),
        # Lambda's runtime, pytest, `python -m devstack`: no Chalice CLI.
        (["/var/runtime/bootstrap.py", "deploy"], {}, None),
    ],
)
def test_the_chalice_command_is_read_from_the_command_line(
    argv: list[str], environ: dict[str, str], command: str | None
) -> None:
    assert chalice_command(argv, environ) == command


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment that names no region (what is set here is undone after the test)."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "")  # recorded, so that the test's own value is undone too
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return monkeypatch


def test_a_deploy_without_a_region_says_how_to_set_one_before_chalice_starts(
    no_region: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_region.setattr(chalice_cli, "run_chalice", lambda: pytest.fail("Chalice started"))

    assert chalice_cli.main(["deploy", "--stage", "dev"]) == 2

    assert capsys.readouterr().err == f"error: {NO_REGION}\n"


def test_chalice_deploys_to_the_region_aws_region_names(no_region: pytest.MonkeyPatch) -> None:
    """Chalice reads AWS_DEFAULT_REGION only; AWS_REGION is what many people set."""
    no_region.setenv("AWS_REGION", "eu-west-1")
    seen: list[str | None] = []
    no_region.setattr(
        chalice_cli, "run_chalice", lambda: seen.append(os.environ.get("AWS_DEFAULT_REGION"))
    )

    assert chalice_cli.main(["--project-dir", ".", "deploy", "--stage", "dev"]) == 0

    assert seen == ["eu-west-1"]


def test_a_command_that_calls_no_aws_needs_no_region(no_region: pytest.MonkeyPatch) -> None:
    no_region.setattr(chalice_cli, "run_chalice", lambda: 0)

    assert chalice_cli.main(["package", "out"]) == 0


def _backed_clone(tmp_path: Path) -> Path:
    """A project whose stage dev was backed elsewhere: config.json as `make backing` leaves
    it, and each policy file it names written here (a test removes one)."""
    config_dir = tmp_path / ".chalice"
    shutil.copytree(CONFIG_PATH.parent, config_dir, ignore=shutil.ignore_patterns("deploy*"))
    config = json.loads((config_dir / "config.json").read_text())
    stage = config["stages"]["dev"]
    del stage["environment_variables"]["UNBACKED_STAGE"]
    (config_dir / "config.json").write_text(json.dumps(config))
    for function in FUNCTIONS:
        (config_dir / stage["lambda_functions"][function]["iam_policy_file"]).write_text("{}")
    return tmp_path


def test_a_deploy_goes_on_to_chalice_only_with_every_policy_file_of_the_stage(
    no_region: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_region.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    started: list[bool] = []
    no_region.setattr(chalice_cli, "run_chalice", lambda: started.append(True))
    project = _backed_clone(tmp_path)

    assert chalice_cli.main([f"--project-dir={project}", "deploy", "--stage", "dev"]) == 0
    assert started == [True]

    (project / ".chalice" / "policy-dev-worker.json").unlink()
    assert chalice_cli.main(["--project-dir", str(project), "deploy", "--stage=dev"]) == 2
    assert started == [True]
    err = capsys.readouterr().err
    assert err.startswith("error: stage dev's policy files are not here (.chalice/policy-dev-")
    assert "run `make backing STAGE=dev`" in err
    # Not a deploy: nothing to check.
    assert chalice_cli.main(["--project-dir", str(project), "package", "out"]) == 0
