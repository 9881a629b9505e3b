"""Every EC2 lookup reads every page of its Describe answer (`aws.ec2.every`).

Without MaxResults EC2 mostly answers in one page, but an answer carrying a NextToken is
not the whole answer: a teardown that looks for what is left of a request, or a worker
that settles "already done" on what it finds, would otherwise take the first page for
all of it (and record DELETED with a gateway on the second page left). botocore's
Stubber plays a first page that ends in a NextToken and a second that holds the item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG, Ec2Gateway
from chalicelib.aws.routing import RoutingGateway

TAGS = [{"Key": REQUEST_ID_TAG, "Value": "r-1"}, {"Key": DEPLOYMENT_TAG, "Value": "d"}]
VPC = {"VpcId": "vpc-2", "CidrBlock": "10.1.0.0/16", "Tags": TAGS}
SUBNET = {"SubnetId": "subnet-2", "CidrBlock": "10.1.0.0/24", "VpcId": "vpc-2", "Tags": TAGS}
GATEWAY = {"InternetGatewayId": "igw-2", "Attachments": [{"VpcId": "vpc-2"}], "Tags": TAGS}
TABLE = {
    "RouteTableId": "rtb-2",
    "VpcId": "vpc-2",
    "Associations": [{"RouteTableAssociationId": "rtbassoc-2", "SubnetId": "subnet-2"}],
    "Tags": TAGS,
}
INTERFACE = {"NetworkInterfaceId": "eni-2"}

Lookup = Callable[[Ec2Gateway, RoutingGateway], Any]


def _gateway_2(found: Any) -> bool:
    return [g.gateway_id for g in found] == ["igw-2"]


def _table_2(found: Any) -> bool:
    return [t.route_table_id for t in found] == ["rtb-2"]


# (what is looked up, the operation it reads, the answer's member, the item on page two,
# and what the lookup must then say)
CASES: list[tuple[str, str, str, dict[str, Any], Lookup, Callable[[Any], bool]]] = [
    ("find_vpcs", "describe_vpcs", "Vpcs", VPC, lambda e, r: e.find_vpcs("r-1"),
     lambda found: found == ["vpc-2"]),
    ("find_subnets", "describe_subnets", "Subnets", SUBNET, lambda e, r: e.find_subnets("vpc-2"),
     lambda found: "10.1.0.0/24" in found),
    ("find_request_subnets", "describe_subnets", "Subnets", SUBNET,
     lambda e, r: e.find_request_subnets("r-1"),
     lambda found: [t.resource_id for t in found] == ["subnet-2"]),
    ("region_vpc_blocks", "describe_vpcs", "Vpcs", VPC, lambda e, r: e.region_vpc_blocks(),
     lambda found: "vpc-2" in found),
    ("find_internet_gateways", "describe_internet_gateways", "InternetGateways", GATEWAY,
     lambda e, r: r.find_internet_gateways("r-1"),
     _gateway_2),
    ("internet_gateways", "describe_internet_gateways", "InternetGateways", GATEWAY,
     lambda e, r: r.internet_gateways(["igw-2"]),
     _gateway_2),
    ("gateways_of_vpc", "describe_internet_gateways", "InternetGateways", GATEWAY,
     lambda e, r: r.gateways_of_vpc("vpc-2"),
     _gateway_2),
    ("find_route_tables", "describe_route_tables", "RouteTables", TABLE,
     lambda e, r: r.find_route_tables("r-1"),
     _table_2),
    ("route_tables", "describe_route_tables", "RouteTables", TABLE,
     lambda e, r: r.route_tables(["rtb-2"]),
     _table_2),
    ("route_tables_of_vpc", "describe_route_tables", "RouteTables", TABLE,
     lambda e, r: r.route_tables_of_vpc("vpc-2"),
     _table_2),
    ("table_of_subnet", "describe_route_tables", "RouteTables", TABLE,
     lambda e, r: r.table_of_subnet("subnet-2"),
     lambda found: found is not None and found.route_table_id == "rtb-2"),
    ("network_interfaces", "describe_network_interfaces", "NetworkInterfaces", INTERFACE,
     lambda e, r: r.network_interfaces(["vpc-2"]),
     lambda found: found == ["eni-2"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "operation", "member", "item", "lookup", "says"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_a_lookup_reads_on_past_a_first_page_that_ends_in_a_next_token(
    name: str,
    operation: str,
    member: str,
    item: dict[str, Any],
    lookup: Lookup,
    says: Callable[[Any], bool],
) -> None:
    client = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stub:
        # The whole region's VPCs are listed unfiltered; every other lookup filters.
        asked = {} if name == "region_vpc_blocks" else {"Filters": ANY}
        stub.add_response(operation, {member: [], "NextToken": "page-2"}, asked)
        stub.add_response(operation, {member: [item]}, {**asked, "NextToken": "page-2"})
        found = lookup(Ec2Gateway(client, "d"), RoutingGateway(client, "d"))
        stub.assert_no_pending_responses()
    assert says(found), found
