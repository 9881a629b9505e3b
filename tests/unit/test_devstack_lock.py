"""A second `make run` on a state folder a stack holds: the refusal's commands reach the
stack that is running (its STATE), and its suggestion for a second stack is not that one;
and it is that refusal, not "another program uses the port", when the port is the running
stack's too (the second `make run` of the same command)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import devstack.lock
import devstack.settings
import devstack.state_folder
from devstack.lock import StackLock, StackRunning


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose `.local/` is the default state folder (for the refusal's
    suggestion, lock's, and its STATE, state_folder's)."""
    monkeypatch.setattr(devstack.lock, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(devstack.state_folder, "PROJECT_DIR", tmp_path)
    return tmp_path


@pytest.fixture
def holders() -> Iterator[list[StackLock]]:
    held: list[StackLock] = []
    yield held
    for lock in held:
        lock.release()


def _refusal(state_dir: Path, holders: list[StackLock], api_url: str | None) -> str:
    """What a second stack on `state_dir` is told while a first, ready on `api_url` (or
    still starting), holds it."""
    first = StackLock(state_dir)
    first.acquire()
    holders.append(first)
    if api_url:
        first.record(status="ready", api_url=api_url)
    with pytest.raises(StackRunning) as refused:
        StackLock(state_dir).acquire()
    return str(refused.value)


def test_a_stack_of_its_own_state_folder_is_reached_with_that_state(
    project: Path, holders: list[StackLock]
) -> None:
    """`make token` alone reads .local/stack.json: "stack.json not found" for this stack."""
    message = _refusal(project / ".local-2", holders, "http://127.0.0.1:8001")

    assert "(`make token STATE=.local-2`, " in message
    assert 'eval "$(make -s env STATE=.local-2)"' in message
    assert "http://127.0.0.1:8001" in message
    assert message.endswith("make run STATE=.local-3 PORT=8002")  # not the running one's


def test_a_state_folder_outside_the_project_is_named_as_given(
    project: Path, holders: list[StackLock], tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "state"

    message = _refusal(elsewhere, holders, None)

    assert f"`make token STATE={elsewhere}`" in message
    assert f'eval "$(make -s env STATE={elsewhere})"' in message
    assert "still starting" in message
    assert message.endswith("make run STATE=.local-2 PORT=8001")


def test_the_default_stack_needs_no_state(project: Path, holders: list[StackLock]) -> None:
    message = _refusal(project / ".local", holders, "http://127.0.0.1:8000")

    assert '(`make token`, `eval "$(make -s env)"`)' in message
    assert message.endswith("make run STATE=.local-2 PORT=8001")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on, as the first stack's API does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def _second_make_run(state_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    """`make run` (python -m devstack) on `state_dir` and `port`; it refuses before it
    starts anything, so no AWS is needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DEVSTACK_STATE_DIR=str(state_dir), PORT=str(port))
    return subprocess.run(
        [sys.executable, "-m", "devstack"],
        cwd=devstack.settings.PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _suggested_port(stderr: str, command: str) -> int:
    """The port in the refusal's `command...PORT=N`: the first free one after the busy one,
    which is the busy one's next unless another test's stack or moto holds that one (or
    its moto port) just then, as under `-n 2`."""
    found = re.search(re.escape(command) + r"(\d+)", stderr)
    assert found, stderr
    return int(found.group(1))


def test_a_second_stack_on_the_running_ones_port_and_folder_is_told_it_runs(
    tmp_path: Path, holders: list[StackLock], busy_port: int
) -> None:
    """`make run` twice: the second was sent to PORT=8001, where it was then refused for
    the state folder; the first refusal says it all."""
    state_dir = tmp_path / "state"
    first = StackLock(state_dir)
    first.acquire()
    holders.append(first)
    first.record(status="ready", api_url=f"http://127.0.0.1:{busy_port}")

    second = _second_make_run(state_dir, busy_port)

    assert second.returncode == 2
    assert "already running" in second.stderr, second.stderr
    assert f"http://127.0.0.1:{busy_port}, pid {os.getpid()}" in second.stderr
    assert _suggested_port(second.stderr, "make run STATE=.local-2 PORT=") > busy_port
    assert "another program" not in second.stderr


def test_a_busy_port_with_a_free_state_folder_names_another_program_and_creates_nothing(
    tmp_path: Path, busy_port: int
) -> None:
    state_dir = tmp_path / "state"

    second = _second_make_run(state_dir, busy_port)

    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}" in second.stderr
    assert "another program uses it" in second.stderr
    assert _suggested_port(second.stderr, "make run PORT=") > busy_port  # not the busy one
    assert not state_dir.exists()  # the look at the lock created nothing
