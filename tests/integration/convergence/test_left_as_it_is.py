"""Convergence never destroys and never lies: a teardown never unroutes a subnet it does
not delete, nor cuts a VPC that stays off the internet. A route table that routes someone's
subnet, a VPC or subnet someone launched into, a gateway attached to a VPC that stays: each
is left as it is, the orphan noted with why, and removed once nothing holds it. Every test
ends on EC2's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record
from integration.convergence.conftest import _delete, assert_intact
from integration.test_lifecycle_worker import (
    assert_nothing_of_it,
    assert_public_access,
    submit_public,
)
from integration.test_reconciler import (
    exists,
    tagged_gateway,
    tagged_subnet,
    tagged_table,
    tagged_vpc,
)


def test_an_orphan_route_table_that_routes_someones_subnet_is_left_as_it_is(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A stray route table of a SUCCEEDED request (the same name as its real one) and a
    person who picked it for a subnet of their own in the VPC. Before: the reconciler
    disassociated their subnet (its instances lost their routes) and deleted the table.
    Now a table that routes a subnet the removal does not delete is left as it is, the
    orphan noted with why; once the person moves their subnet, the next run removes it."""
    request_id = submit_public(client, subnets=1, public=(0,))
    deliver(client, request_id)
    vpc_id = record(client, request_id)["vpc_id"]
    stray = tagged_table(stack, vpc_id, request_id)
    theirs = stack.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.200.0/24")["Subnet"]["SubnetId"]
    association = stack.ec2.associate_route_table(RouteTableId=stray, SubnetId=theirs)[
        "AssociationId"
    ]
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []

    [table] = stack.ec2.describe_route_tables(RouteTableIds=[stray])["RouteTables"]
    assert [a["SubnetId"] for a in table["Associations"] if not a.get("Main")] == [theirs]
    [orphan] = record(client, request_id)["orphans"]
    assert orphan["id"] == stray
    assert orphan["removed_at"] is None
    assert theirs in orphan["error"]
    assert "RoutesAnotherSubnet" in orphan["error"]
    assert_intact(stack, client, request_id)

    stack.ec2.disassociate_route_table(AssociationId=association)
    assert services.reconciler.run().removed == [stray]
    assert record(client, request_id)["orphans"][0]["removed_at"]
    assert_public_access(stack, client, request_id, public={0})


def test_a_delete_whose_table_routes_someones_subnet_waits_for_it_to_move(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """Someone put a subnet of theirs (no instance yet) into the VPC and into the request's
    route table. DELETE: the table is left as it is (their subnet keeps its routes), and
    the teardown is tried again later, not failed: the record stays DELETING, saying why.
    Once their subnet is out of it and gone, the next try ends DELETED."""
    request_id = submit_public(client, subnets=1, public=(0,))
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    rec = record(client, request_id)
    theirs = stack.ec2.create_subnet(VpcId=rec["vpc_id"], CidrBlock="10.30.200.0/24")["Subnet"][
        "SubnetId"
    ]
    association = stack.ec2.associate_route_table(
        RouteTableId=rec["route_table_id"], SubnetId=theirs
    )["AssociationId"]
    assert _delete(client, request_id).status_code == 202

    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)

    held = record(client, request_id)
    assert held["status"] == "DELETING"
    assert rec["route_table_id"] in held["teardown"]["remaining"]
    assert "RoutesAnotherSubnet" in held["teardown"]["error"]
    [table] = stack.ec2.describe_route_tables(RouteTableIds=[rec["route_table_id"]])["RouteTables"]
    assert theirs in {a.get("SubnetId") for a in table["Associations"]}

    stack.ec2.disassociate_route_table(AssociationId=association)
    stack.ec2.delete_subnet(SubnetId=theirs)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_of_it(stack, request_id)


def test_an_orphan_vpc_someone_launched_into_is_left_whole(
    client: Client,
    stack: Stack,
    services: Services,
    succeeded: str,
    clock: Any,
    settings: Settings,
) -> None:
    """A stray VPC of a SUCCEEDED request (a duplicate with the same name) into which a
    person launched something: a network interface in its subnet, and an internet gateway
    of the request attached. Before: the reconciler, which never looked for interfaces,
    detached the gateway (their instance lost the internet) and tried the rest, which EC2
    then refused. Now a VPC that holds network interfaces is left whole, the orphans
    noted with why, until they are gone."""
    stray = tagged_vpc(stack, succeeded, cidr="10.95.0.0/16")
    subnet = tagged_subnet(stack, stray, succeeded, cidr="10.95.1.0/24")
    gateway = tagged_gateway(stack, succeeded)
    stack.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=stray)
    eni = stack.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []

    assert exists(stack, stray)
    [listed] = stack.ec2.describe_internet_gateways(InternetGatewayIds=[gateway])[
        "InternetGateways"
    ]
    assert [a["VpcId"] for a in listed["Attachments"]] == [stray]
    assert stack.subnets(stray)[0]["SubnetId"] == subnet
    orphans = {o["id"]: o for o in record(client, succeeded)["orphans"]}
    assert {stray, subnet, gateway} <= set(orphans)
    assert eni["NetworkInterfaceId"] in orphans[stray]["error"]
    assert all(o["removed_at"] is None for o in orphans.values())
    assert_intact(stack, client, succeeded)

    stack.ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert sorted(services.reconciler.run().removed) == sorted([stray, subnet, gateway])
    assert not exists(stack, stray)
    assert_intact(stack, client, succeeded)


def test_an_orphan_subnet_someone_launched_into_is_left_as_it_is(
    client: Client,
    stack: Stack,
    services: Services,
    succeeded: str,
    clock: Any,
    settings: Settings,
) -> None:
    """A stray subnet of a SUCCEEDED request inside its live VPC, a person's instance in it
    (a network interface). EC2 would refuse to delete the subnet, but the reconciler must
    not even try (nor unroute it): the interface check looks in the subnets it is to
    delete when it deletes no VPC."""
    vpc_id = record(client, succeeded)["vpc_id"]
    stray = tagged_subnet(stack, vpc_id, succeeded, cidr="10.30.201.0/24")
    eni = stack.ec2.create_network_interface(SubnetId=stray)["NetworkInterface"]
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []

    assert stray in {s["SubnetId"] for s in stack.subnets(vpc_id)}
    assert stack.faults.count("ec2", "DeleteSubnet") == 0
    [orphan] = record(client, succeeded)["orphans"]
    assert orphan["id"] == stray
    assert eni["NetworkInterfaceId"] in orphan["error"]
    assert_intact(stack, client, succeeded)


def test_a_stray_subnet_someone_launched_into_is_left_with_a_stray_vpc_in_the_same_run(
    client: Client,
    stack: Stack,
    services: Services,
    succeeded: str,
    clock: Any,
    settings: Settings,
) -> None:
    """The same stray subnet, with a stray route table of ours associated to it, and in
    the same run a stray VPC of the request's elsewhere: the interface check looks in the
    VPCs it deletes and in every subnet it deletes, wherever that is. Nothing of the
    subnet's is touched (its association neither: removing it would cut the instance
    off before EC2 refused the subnet). The request's orphans go together, so the stray
    VPC waits too, noted with the interface that holds them back."""
    vpc_id = record(client, succeeded)["vpc_id"]
    stray = tagged_subnet(stack, vpc_id, succeeded, cidr="10.30.201.0/24")
    eni = stack.ec2.create_network_interface(SubnetId=stray)["NetworkInterface"]
    table = tagged_table(stack, vpc_id, succeeded)
    stack.ec2.associate_route_table(RouteTableId=table, SubnetId=stray)
    elsewhere = tagged_vpc(stack, succeeded, cidr="10.95.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)

    services.reconciler.run()

    assert stray in {s["SubnetId"] for s in stack.subnets(vpc_id)}
    assert stack.faults.count("ec2", "DeleteSubnet") == 0
    assert stack.faults.count("ec2", "DisassociateRouteTable") == 0
    assert exists(stack, elsewhere)
    noted = {o["id"]: o["error"] for o in record(client, succeeded)["orphans"]}
    assert set(noted) == {stray, table, elsewhere}
    assert all(eni["NetworkInterfaceId"] in error for error in noted.values())
    assert_intact(stack, client, succeeded)


def test_a_gateway_no_record_names_is_never_detached_from_a_vpc_that_stays(
    client: Client, stack: Stack, services: Services
) -> None:
    """A gateway of the request's that its record does not name (a lost answer's) is
    attached to the request's live VPC, whose own gateway someone detached: removing it
    would cut that VPC off the internet. It is live, not an orphan (docs/how-it-works.md
    "A live resource is never an orphan": a gateway carrying the request's tags attached
    to its VPC, as one a person made again would be): left as it is, not noted; the
    record's drift says its own gateway is detached, and where the route goes."""
    request_id = submit_public(client, subnets=1, public=(0,))
    deliver(client, request_id)
    rec = record(client, request_id)
    stack.ec2.detach_internet_gateway(
        InternetGatewayId=rec["internet_gateway_id"], VpcId=rec["vpc_id"]
    )
    stray = tagged_gateway(stack, request_id)
    stack.ec2.attach_internet_gateway(InternetGatewayId=stray, VpcId=rec["vpc_id"])

    report = services.reconciler.run()

    assert stray not in report.removed
    (listed,) = stack.ec2.describe_internet_gateways(InternetGatewayIds=[stray])["InternetGateways"]
    assert [a["VpcId"] for a in listed["Attachments"]] == [rec["vpc_id"]]
    assert record(client, request_id)["orphans"] == []
