"""`eval "$(make -s env)"` puts vpcctl on the shell's PATH (a fresh clone has it only in
.venv/bin, so the `vpcctl login` the ready message prints was "command not found"), and
`eval "$(make -s unenv)"` takes off only what the eval added (issue 24, 1).

What `python -m devstack.env` prints (for a stand-in stack and venv) is run by bash, as
the eval runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack import env as devstack_env

STACK = {
    "aws_endpoint_url": "http://127.0.0.1:18000",
    "region": "us-east-1",
    "api_url": "http://127.0.0.1:8000",
}


@pytest.fixture
def venv_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The venv `make` runs devstack.env with: a bin folder with its vpcctl (a script that
    says where it is), in a path a shell must quote; and a running stack."""
    folder = tmp_path / "project dir" / ".venv" / "bin"
    folder.mkdir(parents=True)
    script = folder / "vpcctl"
    script.write_text("#!/bin/sh\necho from-the-venv\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(folder / "python"))
    monkeypatch.setattr(devstack_env, "running_stack", lambda: STACK)
    monkeypatch.setattr(devstack_env, "fresh_token", lambda stack: "a-token")
    return folder


def printed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shell_env: dict[str, str],
    argv: list[str],
) -> str:
    """What `python -m devstack.env ARGV` prints in a shell whose environment is `shell_env`."""
    monkeypatch.delenv("DEVSTACK_PATH_ADDED", raising=False)
    for name, value in shell_env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert devstack_env.main(argv) == 0
    return capsys.readouterr().out


def bash(script: str, path: str) -> list[str]:
    result = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", script],
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_after_the_eval_vpcctl_is_found_and_after_the_undo_the_path_is_as_it_was(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/usr/bin:/bin"
    exports = printed(capsys, monkeypatch, {"PATH": path}, [])
    # The undo is printed in the shell the eval changed.
    evaluated = {"PATH": f"{path}:{venv_bin}", "DEVSTACK_PATH_ADDED": str(venv_bin)}
    undo = printed(capsys, monkeypatch, evaluated, ["--unset"])

    out = bash(f'{exports}vpcctl; echo "$PATH"\n{undo}echo "[$PATH]"', path)

    # The venv's folder goes last: the shell's own python and tools stay first.
    assert out == ["from-the-venv", f"{path}:{venv_bin}", f"[{path}]"]


def test_a_path_that_has_the_venv_already_is_left_alone_and_the_undo_keeps_it(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activated venv: nothing added, so nothing to take off."""
    path = f"{venv_bin}:/usr/bin:/bin"
    exports = printed(capsys, monkeypatch, {"PATH": path}, [])
    undo = printed(capsys, monkeypatch, {"PATH": path}, ["--unset"])

    assert bash(f'{exports}{undo}echo "$PATH"', path) == [path]


def test_a_second_eval_adds_nothing_more_and_one_undo_takes_it_off(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/usr/bin:/bin"
    once = printed(capsys, monkeypatch, {"PATH": path}, [])
    evaluated = {"PATH": f"{path}:{venv_bin}", "DEVSTACK_PATH_ADDED": str(venv_bin)}
    twice = printed(capsys, monkeypatch, evaluated, [])
    undo = printed(capsys, monkeypatch, evaluated, ["--unset"])

    out = bash(f'{once}{twice}echo "$PATH"\n{undo}echo "[$PATH]"', path)

    assert out == [f"{path}:{venv_bin}", f"[{path}]"]


def test_the_undo_takes_off_the_entry_the_eval_added_not_an_earlier_one_of_the_user(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"{venv_bin}:/usr/bin:/bin:{venv_bin}:/opt/later"
    undo = printed(
        capsys, monkeypatch, {"PATH": path, "DEVSTACK_PATH_ADDED": str(venv_bin)}, ["--unset"]
    )

    out = bash(f'{undo}echo "$PATH"; echo "[${{DEVSTACK_PATH_ADDED-unset}}]"', path)

    assert out == [f"{venv_bin}:/usr/bin:/bin:/opt/later", "[unset]"]


def test_a_venv_without_vpcctl_adds_nothing(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (venv_bin / "vpcctl").unlink()
    exports = printed(capsys, monkeypatch, {"PATH": "/usr/bin:/bin"}, [])

    assert bash(f'{exports}echo "$PATH"', "/usr/bin:/bin") == ["/usr/bin:/bin"]
