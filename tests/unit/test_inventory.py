"""How a Describe answer's item becomes what the drift check compares (aws/inventory.py,
`seen_of`): AWS's shapes as its documentation gives them, including those moto never
answers with (a blackhole route, a detaching gateway, an association being removed)."""

from __future__ import annotations

from chalicelib.aws.described import Kind, Route, seen_of
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG

TAGS = [
    {"Key": REQUEST_ID_TAG, "Value": "r-1"},
    {"Key": DEPLOYMENT_TAG, "Value": "d"},
    {"Key": "vpc-provisioner:created-at", "Value": "2026-11-28T20:17:26Z"},
]


def test_a_route_table_shows_its_default_route_and_its_subnet_associations() -> None:
    seen = seen_of(
        Kind.ROUTE_TABLE,
        {
            "RouteTableId": "rtb-1",
            "VpcId": "vpc-1",
            "Tags": TAGS,
            "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "blackhole"},
            ],
            "Associations": [
                {"Main": True, "RouteTableAssociationId": "a-0"},
                {"SubnetId": "subnet-2", "AssociationState": {"State": "disassociating"}},
                {"SubnetId": "subnet-1", "AssociationState": {"State": "associated"}},
                {"SubnetId": "subnet-3"},
            ],
        },
    )
    assert seen.internet_route == Route("igw-1", "blackhole")
    assert seen.associations == ("subnet-1", "subnet-3")
    assert (seen.vpc_id, seen.request_id, seen.tag(DEPLOYMENT_TAG)) == ("vpc-1", "r-1", "d")
    assert seen.created_at is not None


def test_a_default_route_to_a_nat_gateway_names_it_and_none_is_none() -> None:
    nat = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}
    with_nat = seen_of(Kind.ROUTE_TABLE, {"RouteTableId": "rtb-1", "Routes": [nat]})
    without = seen_of(Kind.ROUTE_TABLE, {"RouteTableId": "rtb-1", "Routes": []})
    assert with_nat.internet_route == Route("nat-1", "active")
    assert without.internet_route is None


def test_a_table_goes_to_the_internet_by_any_active_route_to_an_internet_gateway() -> None:
    """What makes a subnet it routes public (docs/api.md "Drift"): a route to an igw-, for
    any destination; not a blackhole, not a NAT gateway, not the VPC's local route."""
    routes = [
        {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
        {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"},
        {"DestinationCidrBlock": "203.0.113.0/24", "GatewayId": "igw-2", "State": "active"},
        {"DestinationCidrBlock": "198.51.100.0/24", "GatewayId": "igw-4"},  # no State: active
        {"DestinationCidrBlock": "192.0.2.0/24", "GatewayId": "igw-3", "State": "blackhole"},
        {"DestinationCidrBlock": "100.64.0.0/10", "GatewayId": "vgw-1", "State": "active"},
    ]
    table = seen_of(Kind.ROUTE_TABLE, {"RouteTableId": "rtb-1", "Routes": routes})
    assert table.to_internet == ("igw-2", "igw-4")
    assert table.internet_route == Route("nat-1", "active")


def test_a_subnet_maps_public_ips_only_when_ec2_says_so() -> None:
    on = seen_of(Kind.SUBNET, {"SubnetId": "subnet-1", "MapPublicIpOnLaunch": True})
    off = seen_of(Kind.SUBNET, {"SubnetId": "subnet-1", "MapPublicIpOnLaunch": False})
    unsaid = seen_of(Kind.SUBNET, {"SubnetId": "subnet-1"})
    assert (on.public_ips, off.public_ips, unsaid.public_ips) == (True, False, False)


def test_a_gateway_is_attached_only_to_vpcs_it_is_not_leaving() -> None:
    seen = seen_of(
        Kind.INTERNET_GATEWAY,
        {
            "InternetGatewayId": "igw-1",
            "Attachments": [
                {"VpcId": "vpc-1", "State": "available"},
                {"VpcId": "vpc-2", "State": "detaching"},
            ],
        },
    )
    assert seen.attachments == ("vpc-1",)
    assert seen.vpc_id == "vpc-1"


def test_a_subnet_keeps_its_cidr_and_an_untagged_resource_is_no_ones() -> None:
    seen = seen_of(
        Kind.SUBNET, {"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"}
    )
    assert (seen.cidr, seen.vpc_id, seen.request_id) == ("10.0.1.0/24", "vpc-1", "")
    assert seen.tag(REQUEST_ID_TAG) is None
