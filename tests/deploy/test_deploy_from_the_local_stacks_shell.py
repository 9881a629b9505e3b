"""The first real deploy, typed where the README's quick start left a newcomer: in the
shell of `eval "$(make -s env)"` (AWS_ENDPOINT_URL at the local stack's moto, its dummy
credentials, the eval's marker DEVSTACK_SAVED), `make deploy`, `make backing` and
`make chalice-deploy` refuse in one `error:` line saying to run `eval "$(make -s unenv)"`
first, before any AWS client is made (they went to the local moto and failed in its words:
"API Gateway in eu-west-1 has no CloudWatch Logs role", "not an AWS response"). A moto
server of one's own on this machine, with other credentials, is still deployed to.
`make chalice-deploy` with a profile that does not exist is one `error:` line too, as
`make deploy` says it, not botocore's ProfileNotFound traceback."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest

from devstack.env import SAVED
from infra import chalice_cli
from infra.aws import LOCAL_STACK_MARKER, local_stack_refusal, session_from_environment
from infra.backing import main as backing_main
from infra.deploy import main as deploy_main
from infra.stage import CONFIG_PATH

UNDO = 'run `eval "$(make -s unenv)"` first'


def _quick_start_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """What `eval "$(make -s env)"` leaves in the shell (its moto here not listening)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the deploy doc's export
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("DEVSTACK_SAVED", "1")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return endpoint


@pytest.mark.parametrize("deployer", ["deploy", "backing"])
def test_a_deploy_from_the_local_stacks_shell_says_to_undo_the_eval(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    deployer: str,
) -> None:
    endpoint = _quick_start_shell(monkeypatch, tmp_path)
    monkeypatch.setattr("sys.argv", ["x", "deploy", "--stage", "dev"])
    shutil.copytree(
        CONFIG_PATH.parent,
        tmp_path / ".chalice",
        ignore=shutil.ignore_patterns("deployed", "policy-*-*.json"),
    )
    config = tmp_path / ".chalice" / "config.json"
    committed = config.read_bytes()

    if deployer == "deploy":
        status = deploy_main()
    else:
        status = backing_main(["deploy", "--stage", "dev", "--config", str(config)])

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("error: this shell is set up for the local stack"), err
    assert err.count("\n") == 1
    assert endpoint in err
    assert UNDO in err
    assert config.read_bytes() == committed


def test_chalice_deploy_from_the_local_stacks_shell_says_to_undo_the_eval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _quick_start_shell(monkeypatch, tmp_path)
    monkeypatch.setattr(chalice_cli, "run_chalice", lambda: pytest.fail("Chalice started"))

    assert chalice_cli.main(["deploy", "--stage", "dev"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert UNDO in err


def test_the_local_stacks_exports_copied_by_hand_are_refused_too() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://localhost:18000", "AWS_ACCESS_KEY_ID": "local"}

    refusal = local_stack_refusal(environ)

    assert refusal is not None
    assert UNDO in refusal


@pytest.mark.parametrize(
    "environ",
    [
        {},
        # A moto server of one's own (how tests/deploy deploys), other credentials.
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ACCESS_KEY_ID": "testing"},
        # The dummy key, but an endpoint elsewhere (not the local stack's moto).
        {"AWS_ENDPOINT_URL": "https://sts.example.com", "AWS_ACCESS_KEY_ID": "local"},
    ],
)
def test_any_other_environment_is_deployed_from(environ: dict[str, str]) -> None:
    assert local_stack_refusal(environ) is None
    assert session_from_environment({**environ, "AWS_DEFAULT_REGION": "eu-west-1"}) is not None


def test_the_marker_is_the_one_the_eval_exports() -> None:
    assert LOCAL_STACK_MARKER == SAVED


@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_chalice_deploy_with_an_unknown_profile_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    region: str | None,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(chalice_cli, "run_chalice", lambda: pytest.fail("Chalice started"))

    status = chalice_cli.main(["deploy", "--stage", "dev"])

    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no-such-profile" in err
    assert err.count("\n") == 1
