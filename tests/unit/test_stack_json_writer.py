"""devstack's stack.json (it holds the demo users' passwords): written 0600 from its
creation, never readable by others even for a moment, and trusted by vpcctl (issue 21)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.state_folder import StackInfo, write_state
from vpcctl.stack_file import LocalStack

INFO = StackInfo(
    api_url="http://127.0.0.1:8000",
    aws_endpoint_url="http://127.0.0.1:5000",
    region="us-east-1",
    table_name="t",
    queue_url="http://127.0.0.1:5000/q",
    dlq_url="http://127.0.0.1:5000/dlq",
    user_pool_id="us-east-1_x",
    user_pool_client_id="client",
    username="demo",
    password="Demo-secret-9a",
    admin_username="admin",
    admin_password="Admin-secret-9a",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The state folder, under the umask most machines have (new files readable by all)."""
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    previous = os.umask(0o022)
    try:
        yield tmp_path
    finally:
        os.umask(previous)


def test_stack_json_is_written_0600_and_whole(state: Path) -> None:
    write_state(INFO)
    path = state / "stack.json"
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == INFO.__dict__
    assert [p.name for p in state.iterdir()] == ["stack.json"]  # no temporary file left


def test_stack_json_is_0600_from_its_creation_not_narrowed_after(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every chmod a no-op, only the mode it was created with is left: a file written
    then narrowed would have been readable by others in between."""

    def no_chmod(*_args: Any, **_kwargs: Any) -> None:
        return None

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    write_state(INFO)
    assert mode(state / "stack.json") == 0o600


def test_a_world_readable_stack_json_is_replaced_by_a_0600_one(state: Path) -> None:
    old = state / "stack.json"
    old.write_text("{}")
    old.chmod(0o644)
    write_state(INFO)
    assert mode(old) == 0o600
    assert json.loads(old.read_text())["password"] == INFO.password


def test_vpcctl_trusts_the_stack_json_devstack_writes(state: Path) -> None:
    write_state(INFO)
    stack = LocalStack.read(state / "stack.json")
    assert stack.api_url == INFO.api_url
    assert dict(stack.passwords) == {"demo": INFO.password, "admin": INFO.admin_password}
