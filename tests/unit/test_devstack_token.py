"""`make -s token | head -c 20`: when what reads the token stops first, `python -m
devstack.token` exits quietly with 141 (128 + SIGPIPE, as a shell reports a process the
pipe's signal ended, and as vpcctl does), not with a BrokenPipeError traceback. And a
stack whose moto does not answer (its process died) is one line saying so, not a
traceback; one still starting is not told to be started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import devstack.token as devstack_token
from devstack.lock import StackLock
from devstack.settings import PROJECT_DIR
from support.fake_api import closed_port_url

# devstack.token's main with a stand-in for the running stack and its Cognito: a token as
# long as a real one (about 1 kB), written into a pipe nobody reads.
STAND_IN = """
import sys
import devstack.token as t
t.running_stack = lambda: {}
t.fresh_token = lambda stack, admin=False: "x" * 1200
sys.exit(t.main())
"""


def test_a_token_into_a_closed_pipe_exits_141_saying_nothing() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head -c 20`) is gone before the token is written
    try:
        result = subprocess.run(
            [sys.executable, "-c", STAND_IN],
            cwd=PROJECT_DIR,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert result.stderr == ""
    assert result.returncode == 141


def _make_token(tmp_path: Path, status: int) -> subprocess.CompletedProcess[str]:
    """`make -s token`, its Python standing in as a script that exits with `status` (and
    the venv taken as it is: `-o venv`, nothing installed)."""
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexit {status}\n")
    python.chmod(0o755)
    return subprocess.run(
        ["make", "-s", "-o", "venv", "token", f"BIN={tmp_path}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_token_into_a_closed_pipe_says_nothing_either(tmp_path: Path) -> None:
    """make reports a recipe's 141 as an error ("make: *** [Makefile:86: token] Error
    141") even with -s: the token target lets that one status go, and no other."""
    closed = _make_token(tmp_path, 141)
    assert (closed.returncode, closed.stderr) == (0, "")

    failed = _make_token(tmp_path, 3)
    assert failed.returncode != 0


def stack_whose_moto_is_gone(moto: str) -> dict[str, str]:
    """stack.json of a stack that holds its state folder while its moto, at `moto`, is
    gone (its process died)."""
    return {
        "api_url": "http://127.0.0.1:8000",
        "aws_endpoint_url": moto,
        "region": "us-east-1",
        "user_pool_client_id": "client",
        "username": "demo",
        "password": "secret",
    }


def test_a_stack_whose_moto_does_not_answer_is_one_line_naming_the_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    moto = closed_port_url()
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(devstack_token, "running_stack", lambda: stack_whose_moto_is_gone(moto))
    monkeypatch.setattr(sys, "argv", ["devstack.token"])

    assert devstack_token.main() == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: the stack at http://127.0.0.1:8000 does not answer (moto at {moto} cannot "
        f"be reached): restart it with `make run STATE={tmp_path}`"
    ]


def test_a_stack_that_is_starting_is_not_told_to_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eval "$(make -s env)"` or `make token` while terminal 1's stack starts (its lock held,
    no stack.json yet): "start the local stack with `make run`" sent its user to a `make run`
    that is refused ("already running ... still starting")."""
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    starting = StackLock(tmp_path)
    starting.acquire()  # what `make run` holds from before moto starts until it stops
    try:
        with pytest.raises(devstack_token.NoRunningStack) as refused:
            devstack_token.running_stack()
    finally:
        starting.release()

    assert str(refused.value) == (
        f"a local stack is starting here (pid {os.getpid()}): run this again once it prints "
        "that it is ready"
    )


def test_a_stack_that_is_stopping_is_told_to_be_started_again_once_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stack.json is removed before the lock is let go: not "starting" either."""
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    stopping = StackLock(tmp_path)
    stopping.acquire()
    stopping.record(status="ready", api_url="http://127.0.0.1:8001")
    try:
        with pytest.raises(devstack_token.NoRunningStack) as refused:
            devstack_token.running_stack()
    finally:
        stopping.release()

    assert "is stopping" in str(refused.value)
    assert f"`make run STATE={tmp_path}` once it has" in str(refused.value)


def test_no_stack_is_told_to_be_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))

    with pytest.raises(devstack_token.NoRunningStack) as refused:
        devstack_token.running_stack()

    assert str(refused.value) == (
        f"{tmp_path / 'stack.json'} not found; start the local stack with "
        f"`make run STATE={tmp_path}` first"
    )
