"""Gives moto's DynamoDB the isolation real DynamoDB has.

moto checks a write's condition and then writes, without a lock, and undoes a
failed transaction by restoring a snapshot of the table. Two threads (moto
server answers each HTTP request on its own thread) can therefore both pass
one condition, or one can erase the other's write. Real DynamoDB makes every
single-item write and every transaction atomic, and the worker's claim relies
on exactly that: without it, two deliveries of one job can both claim the
request and make two VPCs. One lock around each call restores that guarantee.
Reads take the lock too, so they never see half of a transaction.

The lock is also held around each whole DynamoDB action of moto's HTTP layer:
its UpdateItem copies the item it is about to change before calling the
backend, and that copy, made outside the backend's lock, could run into a
concurrent write of the same item ("dictionary changed size during
iteration", seen once in a hundred chaos seeds).

Applied in the local stack's moto process (moto_process.py) and by the in-process tests.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "get_item",
    "batch_get_item",
    "transact_get_items",
    "query",
    "scan",
)

_ATOMIC_MARK = "__vpc_provisioner_atomic__"


def make_dynamodb_atomic(patch: Callable[[Any, str, Any], None] = setattr) -> None:
    """Serialize moto's DynamoDB item operations (all tables, all regions) behind one lock.

    `patch` sets an attribute: `setattr` for the life of the process, or
    pytest's `monkeypatch.setattr` to undo it after a test. Calling it again
    changes nothing.
    """
    lock = threading.RLock()
    for name in OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, _ATOMIC_MARK, False):
            continue
        patch(DynamoDBBackend, name, _locked(original, lock))
    if not getattr(DynamoHandler.call_action, _ATOMIC_MARK, False):
        patch(DynamoHandler, "call_action", _locked(DynamoHandler.call_action, lock))


def _locked(original: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(original)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    setattr(locked, _ATOMIC_MARK, True)
    return locked
