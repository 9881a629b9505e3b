"""infra/chalice_cli.py: Chalice with the functions' runtime pinned (`make chalice-deploy`,
`make package`), whatever Python runs it; the app's refusal of a plain `chalice deploy`."""

from __future__ import annotations

import os
import sys

import pytest
from chalice.config import Config
from chalice.deploy.packager import LambdaDeploymentPackager

from chalicelib.api.auth import chalice_command
from infra.chalice_cli import PINNED_VARIABLE, pinned_runtime
from infra.stage import LAMBDA_RUNTIME

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
