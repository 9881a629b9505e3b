"""DynamoDB's transaction conflicts, which moto never has.

Real DynamoDB cancels a `TransactWriteItems` that names an item another transaction is
writing at that moment: `TransactionCanceledException`, with `TransactionConflict` as
the reason of each such item. Two POSTs whose transactions both add one to a /16's count
of held blocks (store/blocks.py) cannot both be in flight. moto runs transactions one at
a time behind a lock (`isolation`) and never cancels one, so code that meets the conflict
only in AWS would go untested.

`TransactionConflicts`, attached to the clients that write, holds the items of every
transaction for `hold_seconds` from its sending (what a DynamoDB transaction takes, not
how long moto's queue makes it wait) and cancels one that names an item held by another,
as DynamoDB would. A single-item write (PutItem, UpdateItem, DeleteItem) of an item a
transaction holds is refused too, as DynamoDB refuses it: `TransactionConflictException`
(botocore does not retry it). Items are told apart by table and key (`request_id`, the
table's key, for a `Put`). The local stack attaches it to its DynamoDB client (roles.py),
the in-process tests to theirs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse

_OPERATION = "TransactWriteItems"
_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
_PARAMS = "_transaction_conflicts_params"


class TransactionConflicts:
    """Cancel a transaction that names an item another one holds (each holds its items
    `hold_seconds` from its sending); `cancelled` counts the transactions cancelled."""

    def __init__(self, hold_seconds: float = 0.0) -> None:
        self._hold = hold_seconds
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self.cancelled = 0

    def attach(self, client: Any) -> None:
        events = client.meta.events
        for operation, check in self._checks():
            events.register(f"before-parameter-build.dynamodb.{operation}", self._remember)
            events.register(f"before-call.dynamodb.{operation}", check)

    def detach(self, client: Any) -> None:
        events = client.meta.events
        for operation, check in self._checks():
            events.unregister(f"before-parameter-build.dynamodb.{operation}", self._remember)
            events.unregister(f"before-call.dynamodb.{operation}", check)

    def _checks(self) -> list[tuple[str, Any]]:
        return [(_OPERATION, self._hold_items), *((w, self._refuse_held) for w in _WRITES)]

    def _refuse_held(self, context: dict[str, Any], model: Any, **_: Any) -> Any:
        """A single-item write of an item a transaction holds: refused, as in DynamoDB."""
        params = context.get(_PARAMS, {})
        key = _key({model.name: params})
        with self._lock:
            if key not in self._held:
                return None
            self.cancelled += 1
        return _refused(
            {
                "Error": {
                    "Code": "TransactionConflictException",
                    "Message": "Transaction is ongoing for the item",
                }
            }
        )

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = params

    def _hold_items(self, context: dict[str, Any], **_: Any) -> Any:
        items = context.get(_PARAMS, {}).get("TransactItems", [])
        keys = [_key(item) for item in items]
        with self._lock:
            clashing = [key in self._held for key in keys]
            if any(clashing):
                self.cancelled += 1
                return cancelled_answer(clashing)
            self._held.update(keys)
        try:
            time.sleep(self._hold)
        finally:
            with self._lock:
                self._held.subtract(keys)
                self._held += Counter()  # drop the zeros
        return None


def _key(item: dict[str, Any]) -> str:
    [body] = item.values()
    key = body.get("Key") or {"request_id": body.get("Item", {}).get("request_id")}
    return json.dumps([body.get("TableName"), key], sort_keys=True, default=str)


def cancelled_answer(clashing: list[bool]) -> tuple[AWSResponse, dict[str, Any]]:
    reasons = [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        if clash
        else {"Code": "None"}
        for clash in clashing
    ]
    message = (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(r['Code'] for r in reasons)}]"
    )
    return _refused(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": message},
            "CancellationReasons": reasons,
            "Message": message,
        }
    )


def _refused(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """DynamoDB's 400 answer `parsed` says, as botocore hands it on (never sent)."""
    metadata = {"HTTPStatusCode": 400, "RequestId": "transaction-conflict"}
    return AWSResponse("https://transaction-conflict.invalid", 400, {}, None), {
        **parsed,
        "ResponseMetadata": metadata,
    }
