"""One-time passes over every record that an upgrade needs (the reconciler's function and
policy): a marker item per pass says where it stands (`done`, or the position of the next
page), and a page of the listing index at a time is read. The address upkeep's backfill
(`meta#address-backfill`: records from before pools get their allocation) and the
reconciler's ledger seed (`meta#ledger-seed`: records from before the ledger that a run
must come back to are put on it) are two.

Allowed by policy-reconciler.json: BatchGetItem, PutItem, Query on `by_created`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BackendFailure
from chalicelib.models import RequestRecord
from chalicelib.store.items import deserialize, item_to_record, serialize
from chalicelib.store.layout import LIST_INDEX, LIST_PARTITION
from chalicelib.store.table import Table

_PAGE = 100


@dataclass(frozen=True)
class PassPage:
    """Records of one page of the listing, and the position after it (None: the last)."""

    records: list[RequestRecord]
    after: dict[str, Any] | None


class RecordPasses(Table):
    """Raises BackendFailure when DynamoDB fails."""

    def pass_position(self, marker: str) -> dict[str, Any] | bool | None:
        """True when the pass is done; else where the next run starts (None: the
        beginning). A marker that cannot be read raises (nothing is assumed)."""
        read = self._batch_get([marker])
        if marker in read.unknown:
            raise BackendFailure(f"DynamoDB BatchGetItem ({marker})", RuntimeError("unprocessed"))
        item = read.items.get(marker)
        if item is None:
            return None
        if item.get("done"):
            return True
        return dict(item["after"]) if item.get("after") else None

    def note_pass(self, marker: str, after: dict[str, Any] | None, done: bool) -> None:
        self._call(
            f"PutItem ({marker})",  # pragma: no mutate
            self._ddb.put_item,
            TableName=self._table,
            Item=serialize({"request_id": marker, "type": "META", "done": done, "after": after}),
        )

    def records_page(self, after: dict[str, Any] | None) -> PassPage:
        """One page of every request (the listing index), oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "list_pk = :p",
            "ExpressionAttributeValues": serialize({":p": LIST_PARTITION}),
            "Limit": _PAGE,
        }
        if after:
            kwargs["ExclusiveStartKey"] = serialize(after)
        response = self._call("Query", self._ddb.query, **kwargs)
        records = [item_to_record(deserialize(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return PassPage(records, deserialize(last) if last else None)
