"""The reconciler's ledger: one item (`request_id` = `reconciler#ledger`, in no index)
naming the requests the reconciler must come back to even once EC2's listings no longer
show their resources (`pending`), where its last run stopped (`cursor`), and the run
under way (`run_owner`, `run_until`: store/reconciler.py `claim_run`).

Two functions add to it, each before the write that makes the request the reconciler's:
the reconciler, before it notes a removal on a record (store/reconciler.py); the worker,
before it records a FAILED request that leaves something behind (its rollback could not
delete it all, or could not tell). Only the reconciler takes requests off it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.store.items import deserialize, serialize
from chalicelib.store.layout import VERSION
from chalicelib.store.table import Table

LEDGER_ID = "reconciler#ledger"
LEDGER_TYPE = "RECONCILER_LEDGER"


@dataclass(frozen=True)
class Ledger:
    """The ledger: requests the reconciler must come back to, where the last run stopped,
    and the item's version (every change bumps it)."""

    pending: frozenset[str] = frozenset()
    cursor: str = ""
    version: int = 0


class LedgerEntries(Table):
    """Adds requests to the ledger. Raises BackendFailure when DynamoDB fails."""

    def add_pending(self, request_ids: Iterable[str]) -> Ledger:
        """Add these requests to the ledger's pending ones (before the write that leaves
        them to the reconciler); returns the ledger as it now is. Raises BackendFailure
        (the caller then makes no such write)."""
        ids = sorted(set(request_ids))
        answer = self._call(
            "UpdateItem (ledger)",  # pragma: no mutate
            self._ddb.update_item,
            TableName=self._table,
            Key=self._key(LEDGER_ID),
            UpdateExpression="SET #type = :type ADD #pending :ids, #version :one",
            ExpressionAttributeNames={"#type": "type", "#version": VERSION, "#pending": "pending"},
            ExpressionAttributeValues=serialize(
                {":type": LEDGER_TYPE, ":ids": set(ids), ":one": 1}
            ),
            ReturnValues="ALL_NEW",
        )
        return ledger_of(deserialize(answer.get("Attributes") or {}))


def ledger_of(data: dict[str, Any]) -> Ledger:
    """The ledger from its item (as deserialized)."""
    return Ledger(
        pending=frozenset(str(i) for i in data.get("pending") or ()),
        cursor=str(data.get("cursor") or ""),
        version=int(data.get(VERSION) or 0),
    )
