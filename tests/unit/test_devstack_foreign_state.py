"""A state folder holding files of another user (the usual story: `sudo make run` once,
then `make run` as oneself; or a STATE folder shared on a machine) made `make run`,
`make -s env` and `make -s token` end in a Python traceback (PermissionError from
devstack/lock.py or devstack/token.py; a review as a user other than root, 2026-12-06),
where every other reason not to start (a running stack, a busy port, a bad setting) is
one line starting `error:` that says what to do. vpcctl, reading the same file, already
says it in a line ("cannot read the local stack's ...").

The files are made unreadable by patching the open calls, so that the tests mean the
same as root (to whom chmod 000 denies nothing) and as a normal user.
"""

from __future__ import annotations

import builtins
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import devstack.env as devstack_env
import devstack.stack as devstack_stack
import devstack.token as devstack_token


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """`make run`'s main sets up this process's logging (the root's handler and level, and
    chalicelib.aws at WARNING): put back after each test, or a later test in this process
    finds no line per AWS call (test_observability.py, run in one process)."""
    names = ("", "werkzeug", "botocore", "urllib3", "chalicelib.aws")
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.fixture
def foreign_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder whose stack.lock and stack.json the current user may not read."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.lock").write_text('{"pid": 1}')
    (state / "stack.json").write_text("{}")
    forbidden = {str(state / "stack.lock"), str(state / "stack.json")}
    real_os_open, real_io_open = os.open, io.open

    def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path) in forbidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(path, *args, **kwargs)

    def io_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) in forbidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_io_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(state))
    monkeypatch.setenv("PORT", "8765")
    return state


def test_make_run_in_a_state_folder_of_another_user_says_so_in_a_line(
    foreign_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = devstack_stack.main()

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ")
    assert str(foreign_state) in err


def test_make_token_in_a_state_folder_of_another_user_says_so_in_a_line(
    foreign_state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["token"])
    status = devstack_token.main()

    err = capsys.readouterr().err
    assert status != 0
    assert err.startswith("error: ")
    assert str(foreign_state) in err


def test_make_env_in_a_state_folder_of_another_user_makes_the_eval_fail_saying_so(
    foreign_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = devstack_env.main([])

    out = capsys.readouterr().out
    assert status == devstack_env.EVAL_FAILS
    assert out.startswith("echo ")
    assert str(foreign_state) in out
    assert out.endswith("false;\n")
