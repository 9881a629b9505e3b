"""End to end: the stack's moto runs in its own process, patched (devstack/moto_process.py).

The atomic conditional writes are checked by test_local_stack.py's claim race;
here: a failed transaction still undoes all of its writes now that it
snapshots only the items it touches, moto's process never outlives the
stack, and the stack does not outlive its moto.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

import e2e.conftest as harness
from devstack.lock import stack_running
from devstack.resources import create_table
from e2e.conftest import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _key(request_id: str) -> dict[str, Any]:
    return {"request_id": {"S": request_id}}


def test_a_cancelled_transaction_leaves_every_item_it_touched_as_it_was(
    local_stack: RunningStack,
) -> None:
    dynamodb = local_stack.client("dynamodb")
    table = f"rollback-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    dynamodb.put_item(TableName=table, Item={**_key("updated"), "n": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={**_key("deleted"), "n": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={**_key("untouched"), "n": {"N": "1"}})

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("updated"),
                        "UpdateExpression": "SET n = :two, extra = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": _key("deleted")}},
                {"Put": {"TableName": table, "Item": {**_key("created"), "n": {"N": "2"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": _key("untouched"),
                        "ConditionExpression": "n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )

    items = {
        item["request_id"]["S"]: item
        for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    }
    assert items == {
        "updated": {**_key("updated"), "n": {"N": "1"}},
        "deleted": {**_key("deleted"), "n": {"N": "1"}},
        "untouched": {**_key("untouched"), "n": {"N": "1"}},
    }


def _moto_pid(stack: RunningStack) -> int:
    """The pid of the stack's moto: its one child process."""
    children = subprocess.run(
        ["pgrep", "-P", str(stack.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) == 1, children
    return int(children[0])


def test_moto_stops_when_the_stack_is_killed(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    moto = _moto_pid(stack)

    os.kill(stack.process.pid, signal.SIGKILL)
    stack.process.wait()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(moto):
        time.sleep(0.1)
    assert not _alive(moto), "moto's process outlived the stack"


def test_when_its_moto_dies_the_stack_stops_saying_so_without_a_traceback(tmp_path: Path) -> None:
    """Not a stack that keeps running without AWS, its workers logging a traceback per
    receive; and it lets go of its state folder as a Ctrl-C does."""
    stack = start_stack(tmp_path)
    moto = _moto_pid(stack)
    logged_before = len(stack.log())

    os.kill(moto, signal.SIGKILL)
    try:
        status = stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stop_stack(stack)
        pytest.fail(f"the stack kept running without its moto:\n{stack.log()}")

    assert status == 2
    said = stack.log()[logged_before:]
    [error] = [line for line in said.splitlines() if line.startswith("error:")]
    assert error == (
        f"error: moto's process (pid {moto}) was killed by signal 9 while the stack ran: "
        f"the stack stops; start it again with `make run STATE={stack.state_dir} "
        f"PORT={stack.url.rsplit(':', 1)[1]}`"
    )
    assert "Traceback" not in said
    assert not (stack.state_dir / "stack.json").exists()
    assert not stack_running(stack.state_dir)


def _alive(pid: int) -> bool:
    # Not our child: ask the kernel whether the pid still names a live process.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_port_taken_before_the_stack_binds_it_is_given_up_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`free_port` finds a port free, and another test's process may take it before the
    stack listens: the stack says so and stops, and the harness starts it on another
    port (a CI run once failed there)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        offered = iter([busy])
        real_free_port = harness.free_port
        monkeypatch.setattr(harness, "free_port", lambda: next(offered, 0) or real_free_port())
        stack = start_stack(tmp_path)
    try:
        assert f":{busy}" not in stack.url
        assert requests.get(f"{stack.url}/console", timeout=5).status_code == 200
    finally:
        stop_stack(stack)
