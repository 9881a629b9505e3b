"""moto's EC2 made to behave as EC2 where a teardown meets it (devstack/ec2_fidelity.py)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.ec2_fidelity import apply, subnet_deletion_drops_associations


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


def test_a_subnet_with_a_network_interface_or_a_vpc_with_a_gateway_is_not_deleted() -> None:
    apply()
    apply()  # idempotent
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)

        with pytest.raises(ClientError, match="DependencyViolation"):
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=subnet)
        with pytest.raises(ClientError, match="DependencyViolation"):
            ec2.delete_vpc(VpcId=vpc)
        ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        ec2.delete_vpc(VpcId=vpc)


def test_a_vpc_takes_one_internet_gateway() -> None:
    """EC2 refuses a second gateway on a VPC (moto attached it: a `make chaos` seed ended
    with a request's VPC holding two, the one its record did not name left attached)."""
    apply()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        first, second = (
            ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"] for _ in "12"
        )
        ec2.attach_internet_gateway(InternetGatewayId=first, VpcId=vpc)

        with pytest.raises(ClientError, match="already has an internet gateway attached") as no:
            ec2.attach_internet_gateway(InternetGatewayId=second, VpcId=vpc)
        assert no.value.response["Error"]["Code"] == "InvalidParameterValue"
        with pytest.raises(ClientError, match=r"Resource\.AlreadyAssociated"):  # as before
            ec2.attach_internet_gateway(InternetGatewayId=first, VpcId=vpc)
        ec2.detach_internet_gateway(InternetGatewayId=first, VpcId=vpc)
        ec2.attach_internet_gateway(InternetGatewayId=second, VpcId=vpc)
