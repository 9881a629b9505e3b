"""The api_handler's listings of requests: newest first, a page at a time, from one of
the sparse listing indexes (by_created, by_status, by_creator, by_drift).

Allowed by policy-api.json: Query on those indexes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.models import RequestRecord, Status
from chalicelib.store.items import deserialize, item_to_record, serialize
from chalicelib.store.layout import (
    CREATOR_INDEX,
    CREATOR_KEY_ATTRIBUTES,
    DRIFT_INDEX,
    DRIFT_KEY_ATTRIBUTES,
    DRIFT_PARTITION,
    LIST_INDEX,
    LIST_KEY_ATTRIBUTES,
    LIST_PARTITION,
    STATUS_INDEX,
)
from chalicelib.store.table import Table

# The most a page's records may weigh as JSON: Lambda answers API Gateway with 6 MB at most,
# the body escaped once more inside it.
PAGE_BYTES = 4 * 1024 * 1024

# The attributes of a position in the status index (DynamoDB's LastEvaluatedKey).
STATUS_KEY_ATTRIBUTES = ("request_id", "status", "created_sort")


@dataclass(frozen=True)
class Listing:
    """One of the listings: the index it queries, its partition, and a position's attributes."""

    index: str
    partition_attribute: str
    partition_value: str
    key_attributes: tuple[str, ...]


ALL_REQUESTS = Listing(LIST_INDEX, "list_pk", LIST_PARTITION, LIST_KEY_ATTRIBUTES)
# The requests whose record shows drift (index `by_drift`: only they carry its key).
DRIFTED_REQUESTS = Listing(DRIFT_INDEX, "drift_pk", DRIFT_PARTITION, DRIFT_KEY_ATTRIBUTES)


def by_status(status: Status) -> Listing:
    """The requests in `status` (index `by_status`)."""
    return Listing(STATUS_INDEX, "status", status.value, STATUS_KEY_ATTRIBUTES)


def by_creator(sub: str) -> Listing:
    """The requests `sub` created (index `by_creator`)."""
    return Listing(CREATOR_INDEX, "created_by", sub, CREATOR_KEY_ATTRIBUTES)


class Listings(Table):
    """Pages of a listing. Raises BackendFailure when DynamoDB fails."""

    def list_page(
        self,
        limit: int,
        start: dict[str, str] | None,
        listing: Listing = ALL_REQUESTS,
    ) -> tuple[list[RequestRecord], dict[str, str] | None]:
        """Up to `limit` records of `listing`, newest first, after `start`; and the position
        of the last one if more follow.

        One Query in the usual case: it asks for limit + 1 items so that a full
        final page is not followed by an empty one. Every listing's index is
        sparse (lock items carry none of their partition keys).
        """
        items: list[dict[str, Any]] = []
        exclusive_start = start
        while len(items) <= limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": listing.index,
                "KeyConditionExpression": "#p = :p",
                "ExpressionAttributeNames": {"#p": listing.partition_attribute},
                "ExpressionAttributeValues": serialize({":p": listing.partition_value}),
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(items),
            }
            if exclusive_start:
                kwargs["ExclusiveStartKey"] = serialize(exclusive_start)
            response = self._call("Query", self._ddb.query, **kwargs)
            items.extend(deserialize(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            exclusive_start = {k: str(v) for k, v in deserialize(last).items()}
        records = [item_to_record(i) for i in items[:limit]]
        # A page's answer, as API Gateway takes it from Lambda, holds 6 MB at most: records
        # with long names written in astral letters (12 bytes each as JSON escapes) could
        # make a page of 50 more. The page ends early then, the next one going on from there.
        size = 0
        for count, record in enumerate(records, start=1):
            size += len(json.dumps(record.to_api(), default=str))
            if size > PAGE_BYTES and count < len(records):
                return records[:count], self._position(items[count - 1], listing)
        if len(items) <= limit:
            return records, None
        return records, self._position(items[limit - 1], listing)

    @staticmethod
    def _position(item: dict[str, Any], listing: Listing) -> dict[str, str]:
        """Where a page that ends with `item` goes on."""
        return {name: str(item[name]) for name in listing.key_attributes}
