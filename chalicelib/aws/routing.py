"""EC2 calls for public subnets and for what blocks a VPC's deletion: internet gateways,
route tables, network interfaces. One method each, errors unchanged (see `ec2`).

Creates tag at creation; lookups and listings are scoped to this deployment's tag.
Deletes and detaches treat "already gone" (or "not attached") as done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.ec2 import every, not_found, ours, request_of, tag_spec
from chalicelib.aws.faults import error_code

INTERNET = "0.0.0.0/0"
# The fields a route's target may be named in, by EC2's Route shape.
ROUTE_TARGETS = (
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
# The Describe operations read here, each with the member of its answer that lists.
_GATEWAYS = ("describe_internet_gateways", "InternetGateways")
_ROUTE_TABLES = ("describe_route_tables", "RouteTables")
_INTERFACES = ("describe_network_interfaces", "NetworkInterfaces")


@dataclass(frozen=True, order=True)
class InternetGateway:
    gateway_id: str
    vpc_ids: tuple[str, ...]
    # The request whose RequestId tag it carries in this deployment (None: none).
    request_id: str | None = None


@dataclass(frozen=True, order=True)
class RouteTable:
    route_table_id: str
    vpc_id: str
    # (association id, subnet id) of each explicit subnet association.
    associations: tuple[tuple[str, str], ...]
    # The target of its 0.0.0.0/0 route (any kind: igw-, nat-, pcx-...), if it has one.
    internet_target: str | None
    # The request whose RequestId tag it carries in this deployment (None: none).
    request_id: str | None = None
    # Whether it is its VPC's main route table (which EC2 never deletes).
    main: bool = False
    # Whether its 0.0.0.0/0 route is a blackhole (its target detached or gone: dead).
    dead: bool = False


class RoutingGateway:
    """Single EC2 calls. Raises botocore's ClientError / BotoCoreError unchanged."""

    def __init__(self, client: Any, deployment: str) -> None:
        self._ec2 = client
        self._deployment = deployment

    # --- internet gateways ------------------------------------------------------

    def create_internet_gateway(self, tags: dict[str, str]) -> str:
        response = self._ec2.create_internet_gateway(
            TagSpecifications=[tag_spec("internet-gateway", tags)]
        )
        return str(response["InternetGateway"]["InternetGatewayId"])

    def find_internet_gateways(self, request_id: str) -> list[InternetGateway]:
        """The internet gateways tagged with this request id, sorted."""
        return self._gateways(ours(self._deployment, request_id))

    def internet_gateways(self, gateway_ids: list[str]) -> list[InternetGateway]:
        """These internet gateways as they are (those that exist), in one call: a filter,
        unlike a list of ids, does not fail for an id that is gone."""
        if not gateway_ids:
            return []
        return self._gateways([{"Name": "internet-gateway-id", "Values": gateway_ids}])

    def gateways_of_vpc(self, vpc_id: str) -> list[InternetGateway]:
        """The internet gateways listed attached to this VPC (whoever made them)."""
        return self._gateways([{"Name": "attachment.vpc-id", "Values": [vpc_id]}])

    def route_tables_of_vpc(self, vpc_id: str) -> list[RouteTable]:
        """The route tables listed in this VPC but its main one (which goes with the VPC),
        whoever made them."""
        return [t for t in self._tables([{"Name": "vpc-id", "Values": [vpc_id]}]) if not t.main]

    def internet_gateway_gone(self, gateway_id: str) -> bool | None:
        """Whether EC2 answers "not found" for this gateway's id (the only proof it is gone)."""
        return not_found(
            lambda: self._ec2.describe_internet_gateways(InternetGatewayIds=[gateway_id]),
            "InvalidInternetGatewayID.NotFound",
        )

    def attach_internet_gateway(self, gateway_id: str, vpc_id: str) -> None:
        self._ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)

    def detach_internet_gateway(self, gateway_id: str, vpc_id: str) -> None:
        """Detach; one that is not attached counts as detached. "Not found" is for
        `Ec2Calls.delete` to weigh (done, unless made moments ago)."""
        try:
            self._ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
        except ClientError as exc:
            if error_code(exc) != "Gateway.NotAttached":
                raise

    def delete_internet_gateway(self, gateway_id: str) -> None:
        """Delete; "not found" is for `Ec2Calls.delete` to weigh (done, unless made
        moments ago)."""
        self._ec2.delete_internet_gateway(InternetGatewayId=gateway_id)

    # --- route tables -----------------------------------------------------------

    def create_route_table(self, vpc_id: str, tags: dict[str, str]) -> str:
        response = self._ec2.create_route_table(
            VpcId=vpc_id, TagSpecifications=[tag_spec("route-table", tags)]
        )
        return str(response["RouteTable"]["RouteTableId"])

    def find_route_tables(self, request_id: str) -> list[RouteTable]:
        """The route tables tagged with this request id, sorted."""
        return sorted(self._tables(ours(self._deployment, request_id)))

    def route_tables(self, route_table_ids: list[str]) -> list[RouteTable]:
        """These route tables as they are (those that exist), in one call."""
        if not route_table_ids:
            return []
        return sorted(self._tables([{"Name": "route-table-id", "Values": route_table_ids}]))

    def route_table_gone(self, route_table_id: str) -> bool | None:
        """Whether EC2 answers "not found" for this route table's id."""
        return not_found(
            lambda: self._ec2.describe_route_tables(RouteTableIds=[route_table_id]),
            "InvalidRouteTableID.NotFound",
        )

    def table_of_subnet(self, subnet_id: str) -> RouteTable | None:
        """The route table explicitly associated with this subnet, as listed (None: none
        listed, which may be EC2's lag)."""
        tables = self._tables([{"Name": "association.subnet-id", "Values": [subnet_id]}])
        return next((t for t in tables if any(s == subnet_id for _, s in t.associations)), None)

    def create_internet_route(self, route_table_id: str, gateway_id: str) -> None:
        self._ec2.create_route(
            RouteTableId=route_table_id, DestinationCidrBlock=INTERNET, GatewayId=gateway_id
        )

    def replace_internet_route(self, route_table_id: str, gateway_id: str) -> None:
        """Point the table's 0.0.0.0/0 route at this gateway instead."""
        self._ec2.replace_route(
            RouteTableId=route_table_id, DestinationCidrBlock=INTERNET, GatewayId=gateway_id
        )

    def associate_route_table(self, route_table_id: str, subnet_id: str) -> None:
        self._ec2.associate_route_table(RouteTableId=route_table_id, SubnetId=subnet_id)

    def disassociate_route_table(self, association_id: str) -> None:
        """Disassociate; an association that is already gone counts as done."""
        try:
            self._ec2.disassociate_route_table(AssociationId=association_id)
        except ClientError as exc:
            if error_code(exc) != "InvalidAssociationID.NotFound":
                raise

    def delete_route_table(self, route_table_id: str) -> None:
        """Delete; "not found" is for `Ec2Calls.delete` to weigh (done, unless made
        moments ago)."""
        self._ec2.delete_route_table(RouteTableId=route_table_id)

    # --- subnets and what lives in them -----------------------------------------

    def map_public_ips(self, subnet_id: str) -> None:
        """Make instances launched into the subnet get a public IPv4 address."""
        self._ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})

    def network_interfaces(
        self, vpc_ids: Sequence[str], subnet_ids: Sequence[str] = ()
    ) -> list[str]:
        """Ids of the network interfaces in these VPCs and in these subnets, wherever they
        are (this service never makes any): one listing each, as EC2 ANDs filters. A subnet
        given need not be in a VPC given (a stray one in a live VPC, in the same run as a
        stray VPC elsewhere)."""
        found: set[str] = set()
        for name, values in (("vpc-id", vpc_ids), ("subnet-id", subnet_ids)):
            if values:
                filters = [{"Name": name, "Values": list(values)}]
                listed = every(self._ec2, *_INTERFACES, filters)
                found.update(str(i["NetworkInterfaceId"]) for i in listed)
        return sorted(found)

    def _gateways(self, filters: list[dict[str, Any]]) -> list[InternetGateway]:
        """The internet gateways these filters list (every page), sorted."""
        return sorted(_gateway(g, self._deployment) for g in every(self._ec2, *_GATEWAYS, filters))

    def _tables(self, filters: list[dict[str, Any]]) -> list[RouteTable]:
        """The route tables these filters list (every page)."""
        return [
            _route_table(t, self._deployment) for t in every(self._ec2, *_ROUTE_TABLES, filters)
        ]


def _gateway(data: dict[str, Any], deployment: str) -> InternetGateway:
    return InternetGateway(
        gateway_id=str(data["InternetGatewayId"]),
        vpc_ids=tuple(str(a["VpcId"]) for a in data.get("Attachments") or []),
        request_id=request_of(data, deployment),
    )


def _route_table(data: dict[str, Any], deployment: str) -> RouteTable:
    return RouteTable(
        route_table_id=str(data["RouteTableId"]),
        vpc_id=str(data.get("VpcId", "")),
        associations=tuple(
            (str(a["RouteTableAssociationId"]), str(a["SubnetId"]))
            for a in data.get("Associations") or []
            if a.get("SubnetId") and not a.get("Main")
        ),
        internet_target=next(
            (
                next((str(r[f]) for f in ROUTE_TARGETS if r.get(f)), "")
                for r in data.get("Routes") or []
                if r.get("DestinationCidrBlock") == INTERNET
            ),
            None,
        ),
        request_id=request_of(data, deployment),
        main=any(a.get("Main") for a in data.get("Associations") or []),
        dead=any(
            r.get("DestinationCidrBlock") == INTERNET and r.get("State") == "blackhole"
            for r in data.get("Routes") or []
        ),
    )
