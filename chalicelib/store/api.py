"""The api_handler's table access: RequestStore, the `api_handler` function's data access.
Here its reads (a request; the records of many), the return of quota places, and the move
of a request along DELETE's transitions; its POST's transaction (the request with its
idempotency lock) is store/admission.py's (`Admissions`, a mixin), its listings
store/listing.py's (`Listings`), its address blocks' reads and release store/blocks.py's.

Allowed by policy-api.json: GetItem, BatchGetItem and UpdateItem; through its mixins,
PutItem, UpdateItem and DeleteItem (in transactions: the request, its lock, its quota
place, its address block and, once it ended, freeing it), and Query on the listing
indexes (by_created, by_status, by_creator, by_drift) and on the pools' (by_pool).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.clock import iso_timestamp
from chalicelib.errors import BackendFailure
from chalicelib.models import HISTORY_LIMIT, RequestRecord, Status, changed
from chalicelib.store.admission import Admissions
from chalicelib.store.blocks import AddressBlocks
from chalicelib.store.items import (
    HISTORY_APPEND,
    deserialize,
    history_append_values,
    history_to_item,
    item_to_record,
    serialize,
)
from chalicelib.store.layout import REQUEST_TYPE, VERSION
from chalicelib.store.listing import Listings
from chalicelib.store.quota import give_back, put_back, seed
from chalicelib.store.table import (
    RecordsRead,
    Refused,
    cancelled,
    conflicted,
    records_of,
    version_condition,
)

GIVE_BACK_MOST = 99  # a transaction holds 100 items: the set's update and a check each


@dataclass(frozen=True)
class Moved:
    """A transition was written: the request is now in `status`."""

    status: Status


@dataclass(frozen=True)
class NotMoved:
    """A transition's condition failed: the record as it is now (None: no such request)."""

    record: RequestRecord | None


class RequestStore(AddressBlocks, Listings, Admissions):
    """Accepts, reads and lists requests. Raises BackendFailure when DynamoDB fails."""

    def records(self, request_ids: Collection[str]) -> RecordsRead:
        """The records of `request_ids` (batch reads; a key never answered is unknown)."""
        return records_of(self._batch_get(request_ids))

    def seed_quota(self, owner: str, live: Collection[str]) -> bool:
        """Put `live` in `owner`'s set and mark it seeded, unless it already is (then
        nothing changes); False when a transaction was writing the set (another POST of the
        owner's: TransactionConflictException, busy). Raises BackendFailure."""
        try:
            self._conditional_update("seed quota", **seed(owner, live))
        except BackendFailure as exc:
            if not conflicted(exc):
                raise
            return False
        return True

    def give_back(
        self, owner: str, ended: Mapping[str, RequestRecord | None]
    ) -> frozenset[str] | None:
        """Take the `ended` requests out of `owner`'s live set, each only while its record is
        as read (at its version; None: still no record), in one transaction: a DELETE that
        made one live again meanwhile (FAILED -> DELETING) keeps it counted. A request whose
        record moved is left in, the others taken out (a second transaction); returns the
        ids taken out; None when the transaction met another on the set (a POST of the same
        owner making room, DynamoDB's TransactionConflict: busy, not failed). Idempotent
        (a set loses an id once). At most 99 at once: a transaction holds 100 items, the
        set's update and a check each (a full set needs one place). Raises BackendFailure."""
        left = dict(itertools.islice(ended.items(), GIVE_BACK_MOST))
        for _ in range(2):
            if not left:
                break
            moved = self._give_back_unchanged(owner, left)
            if moved is None:
                return None
            if not moved:
                return frozenset(left)
            left = {i: r for i, r in left.items() if i not in moved}
        return frozenset()

    def _give_back_unchanged(
        self, owner: str, ended: Mapping[str, RequestRecord | None]
    ) -> frozenset[str] | None:
        """One transaction: the set loses `ended`, each checked unchanged. Returns the ids
        whose check failed (nothing was taken out then), or none (all were); None when it
        met another transaction on one of its items."""
        checks = [self._unchanged(request_id, record) for request_id, record in ended.items()]
        update = {"TableName": self._table, **give_back(owner, ended)}
        reasons = self._transaction("give back", [{"Update": update}, *checks]) or []
        moved = frozenset(
            request_id
            for request_id, reason in zip(ended, reasons[1:], strict=False)
            if reason.get("Code") == "ConditionalCheckFailed"
        )
        if reasons and not moved:
            if any(r.get("Code") == "TransactionConflict" for r in reasons):
                return None
            raise cancelled("give back", reasons)
        return moved

    def _unchanged(self, request_id: str, record: RequestRecord | None) -> dict[str, Any]:
        """A ConditionCheck that the request's record is still at the version of `record`
        (None: that there is still none)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if record is None:
            condition = "attribute_not_exists(request_id)"
        else:
            condition = version_condition(record.version, names, values)
        check: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(request_id),
            "ConditionExpression": condition,
        }
        if names:
            check["ExpressionAttributeNames"] = names
        if values:
            check["ExpressionAttributeValues"] = serialize(values)
        return {"ConditionCheck": check}

    def mark_unsent(self, request_id: str, unsent: bool = True) -> None:
        """Say on the request's record, while it is QUEUED, that its job's send failed (a
        replay of its POST then sends it); or, `unsent` False, that a replay's send of it
        answered (the replays after it send none). Raises BackendFailure."""
        self._conditional_update(
            "unsent" if unsent else "sent",
            Key=self._key(request_id),
            UpdateExpression="SET unsent = :yes" if unsent else "REMOVE unsent",
            ConditionExpression="#status = :queued" + ("" if unsent else " AND unsent = :yes"),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize({":yes": True, ":queued": Status.QUEUED.value}),
        )

    def get(self, request_id: str) -> RequestRecord | None:
        """The request record, or None. Strongly consistent: a POST is visible at once."""
        item = self._read_item(request_id)
        return item_to_record(item) if item else None

    # --- DELETE's transitions ------------------------------------------------------

    def move(
        self,
        request_id: str,
        target: Status,
        sources: tuple[Status, ...],
        now: float,
        created_by: str | None = None,
        read: RequestRecord | None = None,
        place_of: str | None = None,
    ) -> Moved | NotMoved:
        """Set the request's status to `target` if it is in one of `sources`: one UpdateItem.

        Also required, when given: that `created_by` made the request, and that the
        record is still at the version of `read` (the record the caller read and decided
        on: a decision taken on a read is never written over a newer state). Without
        `read` the write decides by itself, atomically, on the status as it is
        (DELETE's first bet, which reads nothing), and only while the record's history
        has room. Adds the move to the history. Bumps the version, so a worker still
        holding an older one writes nothing more. Moving to DELETING sets
        `lease_until` to 0, so a worker may claim the teardown at once, and `attempts`
        to 0: the teardown's tries are counted from there. Sets
        `updated_at`. When the condition fails, returns the record as it is
        (DynamoDB hands the item back: no extra read). Never creates an item.

        Moving to DELETING also clears the record's drift and takes it off the drift
        listing: drift is how EC2 differs from a SUCCEEDED record, and what a teardown
        finds gone is not an error (`teardown` says what went).

        `place_of`: also put the request back into this user's live set, in the same
        transaction (a FAILED request's place may have been given back while it held
        nothing: moved to DELETING it is live again, and counts as such).
        """
        names = {"#status": "status", "#type": "type", "#version": VERSION}
        at = iso_timestamp(now)
        values: dict[str, Any] = {
            ":target": target.value,
            ":request_type": REQUEST_TYPE,
            ":now_iso": at,
            ":zero": 0,
            ":one": 1,
            **{f":s{i}": status.value for i, status in enumerate(sources)},
        }
        assignments = [
            "#status = :target",
            "updated_at = :now_iso",
            "#version = if_not_exists(#version, :zero) + :one",
        ]
        placeholders = ", ".join(f":s{i}" for i in range(len(sources)))
        conditions = ["#type = :request_type", f"#status IN ({placeholders})"]
        if read is None:
            # Nothing read: the move is appended to the history as the item holds it, unless
            # that is full (then the condition fails, and DELETE decides again on the record
            # handed back, with its version: the next branch trims it). A retry never lands
            # twice: the status it moves from is gone.
            assignments.append(HISTORY_APPEND)
            conditions.append("(attribute_not_exists(history) OR size(history) < :limit)")
            values.update({**history_append_values(target, at), ":limit": HISTORY_LIMIT})
        else:
            # Decided on `read`, and written only at its version: the history is the one
            # read, so it is written whole, trimmed to its bound.
            assignments.append("history = :history")
            values[":history"] = history_to_item(changed(read.history, target, at))
            conditions.append(version_condition(read.version, names, values))
        removals = ""
        if target is Status.DELETING:
            assignments += [
                "lease_until = :zero",
                "attempts = :zero",
                "drift = :no_drift",
                "drift_detected_at = :no_time",
            ]
            names["#error"] = "error"  # (a DELETE's earlier failure: no longer so)
            values.update({":no_drift": [], ":no_time": None})
            removals = " REMOVE drift_pk, #error"
        if created_by is not None:
            conditions.append("#created_by = :created_by")
            names["#created_by"] = "created_by"
            values[":created_by"] = created_by
        update = {
            "Key": self._key(request_id),
            "UpdateExpression": "SET " + ", ".join(assignments) + removals,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
        }
        answer = (
            self._conditional_update(target.value.lower(), **update)
            if place_of is None
            else self._update_putting_back(update, place_of, request_id)
        )
        if not isinstance(answer, Refused):
            return Moved(target)
        item = answer.item
        if item is None or item.get("type") != REQUEST_TYPE:
            return NotMoved(None)
        return NotMoved(item_to_record(item))

    def _update_putting_back(
        self, update: dict[str, Any], owner: str, request_id: str
    ) -> dict[str, Any] | Refused:
        """`update` of the request and its id put back into `owner`'s live set, in one
        transaction: `Refused`, with the record as it is, when the request's condition
        failed. Raises BackendFailure otherwise (a conflicting POST of the owner's: the
        DELETE is retried)."""
        request = {
            "TableName": self._table,
            **update,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        items = [{"Update": request}, put_back(self._table, owner, request_id)]
        reasons = self._transaction("deleting", items)
        if reasons is None:
            return {}
        if reasons[0].get("Code") != "ConditionalCheckFailed":
            raise cancelled("deleting", reasons)
        item = reasons[0].get("Item")
        return Refused(deserialize(item) if item else None)
