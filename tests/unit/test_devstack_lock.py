"""A second `make run` on a state folder a stack holds: the refusal's commands reach the
stack that is running (its STATE), and its suggestion for a second stack is not that one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import devstack.stack
from devstack.lock import StackLock, StackRunning


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose `.local/` is the default state folder."""
    monkeypatch.setattr(devstack.stack, "PROJECT_DIR", tmp_path)
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
