"""What the reconciler sees of this deployment's networks in EC2, and how it looks closer.

One sweep per reconciler run: four tag-filtered, paginated listings (the VPCs,
subnets, internet gateways and route tables carrying this deployment's tag and a
`RequestId`). When nothing has changed, their pages are the run's whole EC2 cost,
however many requests there are. Each resource comes back `Seen`: its tags and its
VPC, and what the drift check compares (a gateway's attachments, a route table's
default route and subnet associations).

A listing that does not show a resource proves nothing: EC2's reads lag, and a
resource whose tags someone stripped falls out of a tag filter. So the drift check
looks closer at what the sweep missed: `described` reads resources by id through an
id filter (pages again, whatever their tags; a filter never fails for an id that is
gone, so it shows only what exists), and `one` asks for one id by id, the only read
whose "not found" proves a resource gone. An empty answer to either is no answer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Tagged, ours, tagged
from chalicelib.aws.faults import error_code
from chalicelib.aws.routing import INTERNET

# Values in one Describe filter (EC2 takes up to 200 per filter).
_FILTER_VALUES = 200


class Kind(StrEnum):
    """The kinds of resource a request makes."""

    VPC = "vpc"
    SUBNET = "subnet"
    INTERNET_GATEWAY = "internet_gateway"
    ROUTE_TABLE = "route_table"


@dataclass(frozen=True)
class _Api:
    """How EC2 lists one kind: the operation, its paginator, the answer's list, the id
    field, the filter by id and the by-id parameter with its "not found" code."""

    operation: str
    method: str
    items: str
    id_field: str
    id_filter: str
    ids_parameter: str
    not_found: str


_APIS = {
    Kind.VPC: _Api(
        "DescribeVpcs",
        "describe_vpcs",
        "Vpcs",
        "VpcId",
        "vpc-id",
        "VpcIds",
        "InvalidVpcID.NotFound",
    ),
    Kind.SUBNET: _Api(
        "DescribeSubnets",
        "describe_subnets",
        "Subnets",
        "SubnetId",
        "subnet-id",
        "SubnetIds",
        "InvalidSubnetID.NotFound",
    ),
    Kind.INTERNET_GATEWAY: _Api(
        "DescribeInternetGateways",
        "describe_internet_gateways",
        "InternetGateways",
        "InternetGatewayId",
        "internet-gateway-id",
        "InternetGatewayIds",
        "InvalidInternetGatewayID.NotFound",
    ),
    Kind.ROUTE_TABLE: _Api(
        "DescribeRouteTables",
        "describe_route_tables",
        "RouteTables",
        "RouteTableId",
        "route-table-id",
        "RouteTableIds",
        "InvalidRouteTableID.NotFound",
    ),
}

# The fields a route's target may be named in, by EC2's Route shape.
_ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "NetworkInterfaceId",
    "VpcPeeringConnectionId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)


@dataclass(frozen=True)
class Route:
    """A route table's route to the internet (0.0.0.0/0): where it goes, and its state
    (`blackhole` once its target is gone)."""

    target: str | None
    state: str


@dataclass(frozen=True)
class Seen(Tagged):
    """A resource as a Describe answer showed it (a `Tagged`, for the orphan sweep)."""

    kind: Kind = Kind.VPC
    tags: tuple[tuple[str, str], ...] = ()
    # A subnet's CIDR block.
    cidr: str = ""
    # An internet gateway's VPCs (attached, or being attached).
    attachments: tuple[str, ...] = ()
    # A route table's route to 0.0.0.0/0 (None: it has none) and associated subnets.
    internet_route: Route | None = None
    associations: tuple[str, ...] = ()

    def tag(self, key: str) -> str | None:
        """The value of tag `key`, or None if the resource does not carry it."""
        return dict(self.tags).get(key)


class Gone:
    """A by-id read answered "not found": the resource no longer exists."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()


@dataclass(frozen=True)
class Sweep:
    """One run's listings: every resource carrying this deployment's tags, by id."""

    seen: dict[str, Seen]

    def __iter__(self) -> Iterator[Seen]:
        return iter(self.seen.values())

    def get(self, resource_id: str) -> Seen | None:
        return self.seen.get(resource_id)


class Inventory:
    """Reads of this deployment's networks (read-only; errors through `calls`)."""

    def __init__(self, client: Any, deployment: str) -> None:
        self._ec2 = client
        self._deployment = deployment

    def sweep(self, calls: Ec2Calls) -> Sweep:
        """Everything tagged with this deployment and a request id: four listings, each
        every page. Raises PermanentFailure / TransientFailure when one cannot be read."""
        seen: dict[str, Seen] = {}
        for kind, api in _APIS.items():
            listing = functools.partial(self._pages, api, ours(self._deployment, None))
            for item in calls.read(api.operation, listing):
                found = seen_of(kind, item)
                seen[found.resource_id] = found
        return Sweep(seen)

    def described(self, calls: Ec2Calls, kind: Kind, ids: list[str]) -> dict[str, Seen]:
        """Those of `ids` (of one kind) that an id-filtered listing shows, whatever their
        tags: one call per 200 ids (and page). What it does not show may exist all the
        same (EC2's lag). Raises PermanentFailure / TransientFailure."""
        api = _APIS[kind]
        found: dict[str, Seen] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), _FILTER_VALUES):
            chunk = unique[start : start + _FILTER_VALUES]
            id_filter = [{"Name": api.id_filter, "Values": chunk}]
            items = calls.read(api.operation, functools.partial(self._pages, api, id_filter))
            for item in items:
                seen = seen_of(kind, item)
                if seen.resource_id in chunk:
                    found[seen.resource_id] = seen
        return found

    def one(self, calls: Ec2Calls, kind: Kind, resource_id: str) -> Seen | Gone | None:
        """One resource by id: as it is, GONE when EC2 answers "not found" for that very id,
        or None when the answer lists nothing (EC2's lag: no answer). Raises
        PermanentFailure / TransientFailure when the read fails."""
        api = _APIS[kind]

        def read() -> Seen | Gone | None:
            try:
                answer = getattr(self._ec2, api.method)(**{api.ids_parameter: [resource_id]})
            except ClientError as exc:
                if error_code(exc) == api.not_found:
                    return GONE
                raise
            for item in answer.get(api.items) or []:
                seen = seen_of(kind, item)
                if seen.resource_id == resource_id:
                    return seen
            return None

        return calls.read(f"{api.operation} (by id)", read)

    def _pages(self, api: _Api, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        paginator = self._ec2.get_paginator(api.method)
        return [
            item
            for page in paginator.paginate(Filters=filters)
            for item in page.get(api.items) or []
        ]


def seen_of(kind: Kind, item: dict[str, Any]) -> Seen:
    """A Describe answer's item as `Seen` (pure)."""
    api = _APIS[kind]
    resource_id = str(item[api.id_field])
    attachments: tuple[str, ...] = ()
    vpc_id: str | None = None
    if kind is Kind.INTERNET_GATEWAY:
        attachments = tuple(
            str(a["VpcId"])
            for a in item.get("Attachments") or []
            if a.get("VpcId") and a.get("State") not in ("detaching", "detached")
        )
        vpc_id = attachments[0] if attachments else ""
    base = tagged(resource_id, item, vpc_id=vpc_id)
    return Seen(
        resource_id=base.resource_id,
        request_id=base.request_id,
        created_at=base.created_at,
        vpc_id=base.vpc_id,
        kind=kind,
        tags=tuple(sorted((str(t["Key"]), str(t["Value"])) for t in item.get("Tags") or [])),
        cidr=str(item.get("CidrBlock") or "") if kind is Kind.SUBNET else "",
        attachments=attachments,
        internet_route=_internet_route(item) if kind is Kind.ROUTE_TABLE else None,
        associations=_associations(item) if kind is Kind.ROUTE_TABLE else (),
    )


def _internet_route(table: dict[str, Any]) -> Route | None:
    for route in table.get("Routes") or []:
        if route.get("DestinationCidrBlock") == INTERNET:
            target = next((str(route[f]) for f in _ROUTE_TARGETS if route.get(f)), None)
            return Route(target=target, state=str(route.get("State") or "active"))
    return None


def _associations(table: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        sorted(
            str(a["SubnetId"])
            for a in table.get("Associations") or []
            if a.get("SubnetId")
            and not a.get("Main")
            and (a.get("AssociationState") or {}).get("State", "associated") == "associated"
        )
    )
