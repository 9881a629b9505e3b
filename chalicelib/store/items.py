"""The mapping between the table's request items and request records, and the format
of DynamoDB's values.

`record_to_item` and `item_to_record` turn a record into its item (plain Python values)
and back; `mutable_fields`, the history, orphans and drift helpers give the parts the
roles rewrite one at a time. `serialize` and `deserialize` convert between plain values
and DynamoDB's typed attribute values, `decimal` a number into the one it stores. The
keys, indexes and item types they write are `layout`'s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.findings import DriftItem, DriftProblem, DriftType, Orphan
from chalicelib.models import (
    DeletionReport,
    ErrorInfo,
    RequestRecord,
    Status,
    StatusChange,
    SubnetState,
)
from chalicelib.request_spec import ProvisioningRequest
from chalicelib.store.layout import LIST_PARTITION, REQUEST_TYPE, VERSION

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# --- item <-> record ---------------------------------------------------------


def record_to_item(record: RequestRecord) -> dict[str, Any]:
    """The DynamoDB item (plain Python values) of a new request record."""
    return {
        "request_id": record.request_id,
        "type": REQUEST_TYPE,
        "list_pk": LIST_PARTITION,
        "created_sort": record.created_sort,
        "status": record.status.value,
        "created_by": record.created_by,
        "created_by_username": record.created_by_username,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "request": record.request.to_json(),
        "cidr": record.cidr,
        "pool": record.pool,
        "allocation": record.allocation,
        "attempts": record.attempts,
        "history": history_to_item(record.history),
        VERSION: record.version or 1,
        **mutable_fields(record),
    }


def mutable_fields(record: RequestRecord) -> dict[str, Any]:
    """The fields the worker and the reconciler change, as item values."""
    return {
        "vpc_id": record.vpc_id,
        "subnets": [_subnet_to_item(s) for s in record.subnets],
        "internet_gateway_id": record.internet_gateway_id,
        "route_table_id": record.route_table_id,
        "error": record.error.to_api() if record.error else None,
        "rollback": _report_to_item(record.rollback),
        "teardown": _report_to_item(record.teardown),
        "orphans": orphans_to_item(record.orphans),
        "lost_answers": record.lost_answers,
    }


def item_to_record(item: dict[str, Any]) -> RequestRecord:
    """Rebuild a record from its item (as deserialized)."""
    error = item.get("error")
    request = ProvisioningRequest.from_json(item["request"])
    return RequestRecord(
        request_id=str(item["request_id"]),
        status=Status(str(item["status"])),
        created_by=str(item["created_by"]),
        created_by_username=str(item.get("created_by_username") or ""),
        created_at=str(item["created_at"]),
        created_sort=str(item.get("created_sort") or item["created_at"]),
        updated_at=str(item["updated_at"]),
        request=request,
        cidr=str(item.get("cidr") or request.vpc.cidr or ""),
        pool=item.get("pool") or None,
        allocation=str(item.get("allocation") or ""),
        vpc_id=item.get("vpc_id") or None,
        subnets=[
            SubnetState(
                cidr=str(s["cidr"]),
                az=str(s["az"]),
                name=s.get("name"),
                subnet_id=s.get("subnet_id") or None,
            )
            for s in item.get("subnets") or []
        ],
        error=ErrorInfo(code=str(error["code"]), message=str(error["message"])) if error else None,
        internet_gateway_id=item.get("internet_gateway_id") or None,
        route_table_id=item.get("route_table_id") or None,
        rollback=_report_from_item(item.get("rollback")),
        teardown=_report_from_item(item.get("teardown")),
        orphans=[
            Orphan(
                id=str(o["id"]),
                removed_at=o.get("removed_at"),
                error=o.get("error"),
                removing=bool(o.get("removing")),
            )
            for o in item.get("orphans") or []
        ],
        drift=drift_from_item(item.get("drift")),
        drift_detected_at=item.get("drift_detected_at") or None,
        attempts=int(item.get("attempts") or 0),
        lost_answers=bool(item.get("lost_answers")),
        unsent=bool(item.get("unsent")),
        lease_owner=item.get("lease_owner"),
        lease_until=float(item.get("lease_until") or 0),
        history=tuple(
            StatusChange(Status(str(c["status"])), str(c["at"])) for c in item.get("history") or []
        ),
        version=int(item.get(VERSION) or 0),
    )


def history_to_item(history: tuple[StatusChange, ...]) -> list[dict[str, str]]:
    return [c.to_api() for c in history]


# An UpdateExpression's assignment that appends one status change to the item's history
# (for a write that read nothing); `history_append_values` gives its values.
HISTORY_APPEND = "history = list_append(if_not_exists(history, :none), :change)"


def history_append_values(status: Status, at: str) -> dict[str, Any]:
    return {":none": [], ":change": history_to_item((StatusChange(status, at),))}


def orphans_to_item(orphans: list[Orphan]) -> list[dict[str, Any]]:
    return [
        {"id": o.id, "removed_at": o.removed_at, "error": o.error, "removing": o.removing}
        for o in orphans
    ]


def drift_to_item(drift: list[DriftItem]) -> list[dict[str, str]]:
    return [d.to_api() for d in drift]


def drift_from_item(data: Any) -> list[DriftItem]:
    """The drift items of an item (none on an item written before drift existed)."""
    return [
        DriftItem(
            type=DriftType(str(d["type"])),
            resource_id=str(d["resource_id"]),
            problem=DriftProblem(str(d["problem"])),
            detail=str(d.get("detail") or ""),
        )
        for d in data or []
    ]


def _subnet_to_item(subnet: SubnetState) -> dict[str, Any]:
    return {
        "cidr": subnet.cidr,
        "az": subnet.az,
        "name": subnet.name,
        "subnet_id": subnet.subnet_id,
    }


def _report_to_item(report: DeletionReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "deleted": list(report.deleted),
        "remaining": list(report.remaining),
        "error": report.error,
        "not_found": list(report.not_found),
    }


def _report_from_item(data: Any) -> DeletionReport | None:
    if not data:
        return None
    return DeletionReport(
        deleted=tuple(data.get("deleted") or ()),
        remaining=tuple(data.get("remaining") or ()),
        error=data.get("error"),
        # Written before deletions were told apart: none of them proven (tried again if listed).
        not_found=tuple(data.get("not_found", data.get("deleted")) or ()),
    )


def decimal(value: float) -> Decimal:
    """A number as DynamoDB stores it (millisecond precision)."""
    return Decimal(str(round(value, 3)))


def serialize(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in data.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}
