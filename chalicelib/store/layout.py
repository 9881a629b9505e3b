"""The table's layout and the mapping between its items and request records.

Layout (docs/how-it-works.md, the table):

- request items: `request_id` = the id, `type` = VPC_REQUEST, the record's
  fields, and the keys of three sparse indexes: `list_pk` + `created_sort`
  (index `by_created`, the listing), `status` + `created_sort` (index
  `by_status`: the listing by status, and the requests that need another
  push) and `created_by` + `created_sort` (index `by_creator`: "mine"); and, only
  while the record shows drift, `drift_pk` + `created_sort` (index `by_drift`: the
  drifted requests; the reconciler sets and removes `drift_pk` with the drift itself).
- address-block items (store/blocks.py): `request_id` = `block#<cidr>`, the block's
  holder and pool (`pool_pk`, index `by_pool`), or an ancestor's count.
- lock items: `request_id` = `lock#<sub>#<key>`, `type` = IDEMPOTENCY_LOCK,
  `target_request_id`, `body_hash`, `ttl_epoch` (the table's TTL attribute).
  They carry neither index key, so they never appear in a listing.

`KEY_SCHEMA`, `ATTRIBUTES`, `INDEXES` and `TTL_ATTRIBUTE` are the table's
definition: the local stack creates it from them, and both deployment
outputs describe it with them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.models import (
    DeletionReport,
    DriftItem,
    DriftProblem,
    DriftType,
    ErrorInfo,
    Orphan,
    RequestRecord,
    Status,
    StatusChange,
    SubnetState,
)
from chalicelib.request_spec import ProvisioningRequest

REQUEST_TYPE = "VPC_REQUEST"
LOCK_TYPE = "IDEMPOTENCY_LOCK"
LIST_INDEX = "by_created"
STATUS_INDEX = "by_status"
# Each caller's own requests (GET /vpcs?created_by=me): `created_by` + `created_sort`.
CREATOR_INDEX = "by_creator"
# The requests whose record shows drift (GET /vpcs?drift=true): sparse, only they carry
# `drift_pk` (always DRIFT_PARTITION) + `created_sort`.
DRIFT_INDEX = "by_drift"
DRIFT_PARTITION = "DRIFTED"
# The address blocks held in each pool: `pool_pk` (store/blocks.py).
POOL_INDEX = "by_pool"
LIST_PARTITION = REQUEST_TYPE
# The attributes of a position in the listing index (DynamoDB's LastEvaluatedKey).
LIST_KEY_ATTRIBUTES = ("request_id", "list_pk", "created_sort")
CREATOR_KEY_ATTRIBUTES = ("request_id", "created_by", "created_sort")
DRIFT_KEY_ATTRIBUTES = ("request_id", "drift_pk", "created_sort")
TTL_ATTRIBUTE = "ttl_epoch"
# The record's version attribute (models.RequestRecord.version).
VERSION = "version"

KEY_SCHEMA = [{"AttributeName": "request_id", "KeyType": "HASH"}]
ATTRIBUTES = [
    {"AttributeName": "request_id", "AttributeType": "S"},
    {"AttributeName": "list_pk", "AttributeType": "S"},
    {"AttributeName": "status", "AttributeType": "S"},
    {"AttributeName": "created_sort", "AttributeType": "S"},
    {"AttributeName": "created_by", "AttributeType": "S"},
    {"AttributeName": "drift_pk", "AttributeType": "S"},
    {"AttributeName": "pool_pk", "AttributeType": "S"},
]
INDEXES: list[dict[str, Any]] = [
    {
        "IndexName": LIST_INDEX,
        "KeySchema": [
            {"AttributeName": "list_pk", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": STATUS_INDEX,
        "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": CREATOR_INDEX,
        "KeySchema": [
            {"AttributeName": "created_by", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": DRIFT_INDEX,
        "KeySchema": [
            {"AttributeName": "drift_pk", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        # The address blocks of one pool (store/blocks.py): first fit and GET /pools.
        "IndexName": POOL_INDEX,
        "KeySchema": [{"AttributeName": "pool_pk", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["cidr", "holder"]},
    },
]


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
    }


def _report_from_item(data: Any) -> DeletionReport | None:
    if not data:
        return None
    return DeletionReport(
        deleted=tuple(data.get("deleted") or ()),
        remaining=tuple(data.get("remaining") or ()),
        error=data.get("error"),
    )


def decimal(value: float) -> Decimal:
    """A number as DynamoDB stores it (millisecond precision)."""
    return Decimal(str(round(value, 3)))


def serialize(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in data.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}
