"""Keeps a long-running moto's memory and latency flat: applied inside the stack's moto process.

Four things in moto grow with everything it has ever held, which a test run never
notices and a local stack fed a few thousand requests does:

- `transact_write_items` deep-copies every table it touches before each
  transaction, to restore it if the transaction fails. A POST is one
  transaction, so each one cost time and memory in proportion to the table: a
  POST took ~70 ms on an empty table and ~850 ms at 1,000 records.
- Every moto model object (`BaseModel`), including each of those copies' items,
  is appended to its class's `instances_tracked` list, for moto's dashboard
  (`/moto-api/data.json`), and never released: memory grew with the square of
  the number of POSTs (6.4 GB after 1,000).
- Every SQS SendMessage and ReceiveMessage computes the queue's attributes,
  among them three `ApproximateNumberOf...` counts, each a pass over every
  message in the queue, and ReceiveMessage lists every visible message to
  take the first: a POST's send cost grew with the jobs not yet done.
- An EC2 resource's tags are found by scanning every tag of every resource, so
  describing VPCs or subnets by tag cost (resources x tags): the reconciler's
  sweep and the worker's lookups grew with the square of the VPCs made.

`bound_transaction_snapshots` snapshots only the items a transaction touches
and restores those if it fails (DynamoDB's all-or-nothing, as before);
`stop_tracking_instances` stops the tracking (the dashboard then lists no
objects); `approximate_queue_counts` recounts a queue's messages at most once
a second (SQS's counts are approximate too) and lets ReceiveMessage stop at
the first visible message; `direct_ec2_tags` reads a
resource's tags from the tag table by its id; `serialize_ec2` answers one EC2
call at a time (moto's EC2 iterates its dictionaries while other threads add to
them: under load a CreateSubnet failed now and then with "dictionary changed
size during iteration", a 500). All patch classes at runtime,
never the installed package, and belong in a process that runs nothing but
moto: they change moto for the whole process. Keep
`isolation.make_dynamodb_atomic` on top, so a transaction and its rollback run
under the lock as one step.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from typing import Any

from moto.core.common_models import BaseModel
from moto.core.model_instances import model_data
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.responses import EC2Response
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.sqs.models import Queue

_FIXED_MARK = "__vpc_provisioner_bounded__"

# (table, hash key, range key or None) -> the item before the transaction (None: absent)
_Snapshot = dict[tuple[Table, DynamoType, DynamoType | None], Item | None]


def bound_transaction_snapshots() -> None:
    """Make a DynamoDB transaction's rollback copy the items it touches, not whole tables.

    Idempotent. Applies to every DynamoDB backend of this process.
    """
    original = DynamoDBBackend.transact_write_items
    if getattr(original, _FIXED_MARK, False):
        return
    # moto's transaction still asks for its whole-table copy; inside moto's DynamoDB
    # module that copy is now the table itself (free), and the restore of it a no-op.
    dynamodb_models.copy = _TablesNotCopied()  # type: ignore[attr-defined,assignment]

    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        snapshot = _snapshot(self, transact_items)
        try:
            original(self, transact_items)
        except BaseException:
            _restore(snapshot)
            raise

    setattr(transact_write_items, _FIXED_MARK, True)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def stop_tracking_instances() -> None:
    """Stop moto from keeping every model object it makes, and drop those it kept.

    Idempotent. moto's dashboard (`/moto-api/data.json`) lists no objects after it.
    """
    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]
    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = []  # type: ignore[attr-defined]


def approximate_queue_counts(max_age_seconds: float = 1.0) -> None:
    """Recount a queue's visible, in-flight and delayed messages at most every
    `max_age_seconds` (per queue and count), and find visible messages one at a
    time, as they are asked for. Idempotent."""
    if not isinstance(Queue.messages, _Recounted):
        Queue.messages = _Recounted(_VisibleMessages)  # type: ignore[method-assign,assignment]
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages_delayed",
    ):
        counted = getattr(Queue, name)
        if isinstance(counted, _Recounted):
            continue
        setattr(
            Queue, name, _Recounted(_recounted_at_most_every(counted.fget, name, max_age_seconds))
        )


class _Recounted(property):
    """A queue's property, patched."""


class _VisibleMessages:
    """`Queue.messages` (the visible, undelayed messages), found as they are iterated:
    ReceiveMessage takes the first few, and no longer checks every message's clock."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def __iter__(self) -> Any:
        # A copy: other threads send and delete while this one iterates.
        return (m for m in tuple(self._queue._messages) if m.visible and not m.delayed)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _recounted_at_most_every(count: Any, name: str, max_age_seconds: float) -> Any:
    slot = f"_vpc_provisioner_{name}"

    def recounted(queue: Queue) -> int:
        now = time.monotonic()
        value, when = queue.__dict__.get(slot, (0, -max_age_seconds))
        if not 0 <= now - when < max_age_seconds:  # (a count saved by PERSIST: recount)
            value = count(queue)
            queue.__dict__[slot] = (value, now)
        return int(value)

    return recounted


def direct_ec2_tags() -> None:
    """Read an EC2 resource's tags by its id instead of scanning every tag. Idempotent."""
    TaggedEC2Resource.get_tags = _tags_of  # type: ignore[method-assign,assignment]


def _tags_of(resource: Any) -> list[dict[str, str]]:
    # What `describe_tags(filters={"resource-id": [id]})` answers, in the same shape.
    resource_id = resource.id
    if not resource_id:
        return []
    tags = resource.ec2_backend.tags.get(resource_id, {})
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind}
        for key, value in tags.items()
    ]


def serialize_ec2() -> None:
    """Answer one EC2 call at a time (all regions). Idempotent."""
    original = EC2Response.call_action
    if getattr(original, _FIXED_MARK, False):
        return
    lock = threading.Lock()

    @functools.wraps(original)
    def call_action(self: EC2Response) -> Any:
        with lock:
            return original(self)

    setattr(call_action, _FIXED_MARK, True)
    EC2Response.call_action = call_action  # type: ignore[method-assign,assignment]


def _untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
    # As BaseModel.__new__, without `cls.instances_tracked.append(instance)`.
    return super(BaseModel, cls).__new__(cls)


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB models: a Table's deep copy
    is the table itself; everything else is copied as `copy` copies it."""

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _snapshot(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> _Snapshot:
    """A deep copy of each item the transaction names (None for one that does not exist).

    An operation naming no table or no usable key is skipped: moto refuses it
    before it writes anything.
    """
    snapshot: _Snapshot = {}
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_key, range_key)
        except Exception:  # malformed: moto answers it with an error
            continue
        snapshot.setdefault((table, hash_key, range_key), copy.deepcopy(current))
    return snapshot


def _restore(snapshot: _Snapshot) -> None:
    for (table, hash_key, range_key), item in snapshot.items():
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item  # type: ignore[assignment]  # moto's own way
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
