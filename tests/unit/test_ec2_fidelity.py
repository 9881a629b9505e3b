"""moto's EC2 made to behave as EC2 where a teardown meets it (devstack/ec2_fidelity.py)."""

from __future__ import annotations

import boto3
from moto import mock_aws

from devstack.ec2_fidelity import subnet_deletion_drops_associations


def test_a_deleted_subnets_route_table_association_goes_with_it() -> None:
    subnet_deletion_drops_associations()
    subnet_deletion_drops_associations()  # idempotent: applied once
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        gone, kept = (
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
            for cidr in ("10.0.1.0/24", "10.0.2.0/24")
        )
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        for subnet in (gone, kept):
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)

        ec2.delete_subnet(SubnetId=gone)

        (listed,) = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
        assert [a["SubnetId"] for a in listed["Associations"]] == [kept]
        ec2.delete_subnet(SubnetId=kept)
        ec2.delete_route_table(RouteTableId=table)  # no DependencyViolation left
