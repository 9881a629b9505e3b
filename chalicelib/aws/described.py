"""What a Describe answer says about one resource of a request (`Seen`), and what a by-id
read's "not found" says (`GONE`). Pure: `aws/inventory.py` makes the reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.aws.ec2 import Tagged, ipv4_blocks, tagged
from chalicelib.aws.routing import INTERNET, ROUTE_TARGETS


class Kind(StrEnum):
    """The kinds of resource a request makes."""

    VPC = "vpc"
    SUBNET = "subnet"
    INTERNET_GATEWAY = "internet_gateway"
    ROUTE_TABLE = "route_table"


# The field of a Describe answer's item that holds its id, by kind.
ID_FIELDS = {
    Kind.VPC: "VpcId",
    Kind.SUBNET: "SubnetId",
    Kind.INTERNET_GATEWAY: "InternetGatewayId",
    Kind.ROUTE_TABLE: "RouteTableId",
}


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
    # A subnet's CIDR block; a VPC's IPv4 blocks.
    cidr: str = ""
    # A subnet's Availability Zone, and whether it gives instances a public IPv4 address.
    az: str = ""
    public_ips: bool = False
    blocks: tuple[str, ...] = ()
    # An internet gateway's VPCs (attached, or being attached).
    attachments: tuple[str, ...] = ()
    # A route table's route to 0.0.0.0/0 (None: it has none), associated subnets, and
    # whether it is its VPC's main one (which routes every subnet not associated with another).
    internet_route: Route | None = None
    associations: tuple[str, ...] = ()
    main: bool = False
    # The internet gateways a route table's active routes go to, whatever their destination:
    # a subnet it routes is reachable from the internet (AWS calls it public).
    to_internet: tuple[str, ...] = ()

    def tag(self, key: str) -> str | None:
        """The value of tag `key`, or None if the resource does not carry it."""
        return dict(self.tags).get(key)


class Gone:
    """A by-id read answered "not found": the resource no longer exists."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()


def seen_of(kind: Kind, item: dict[str, Any]) -> Seen:
    """A Describe answer's item as `Seen` (pure)."""
    resource_id = str(item[ID_FIELDS[kind]])
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
        az=str(item.get("AvailabilityZone") or ""),
        public_ips=bool(item.get("MapPublicIpOnLaunch")),
        blocks=tuple(sorted(ipv4_blocks(item))) if kind is Kind.VPC else (),
        attachments=attachments,
        internet_route=_internet_route(item) if kind is Kind.ROUTE_TABLE else None,
        associations=_associations(item) if kind is Kind.ROUTE_TABLE else (),
        main=any(a.get("Main") and _associated(a) for a in item.get("Associations") or []),
        to_internet=_to_internet(item) if kind is Kind.ROUTE_TABLE else (),
    )


def _internet_route(table: dict[str, Any]) -> Route | None:
    for route in table.get("Routes") or []:
        if route.get("DestinationCidrBlock") == INTERNET:
            target = next((str(route[f]) for f in ROUTE_TARGETS if route.get(f)), None)
            return Route(target=target, state=str(route.get("State") or "active"))
    return None


def _to_internet(table: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                str(route["GatewayId"])
                for route in table.get("Routes") or []
                if str(route.get("GatewayId") or "").startswith("igw-")
                and route.get("State", "active") == "active"
            }
        )
    )


def _associations(table: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        sorted(
            str(a["SubnetId"])
            for a in table.get("Associations") or []
            if a.get("SubnetId") and not a.get("Main") and _associated(a)
        )
    )


def _associated(association: dict[str, Any]) -> bool:
    return bool(
        (association.get("AssociationState") or {}).get("State", "associated") == "associated"
    )
