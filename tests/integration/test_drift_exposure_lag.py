"""Drift: a private subnet routed to the internet, against listings that lag behind route
tables (docs/how-it-works.md "Drift": never invent drift, clear only on a read by id).
Found by a review of the first version, each failing then."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import Stack, record
from integration.test_drift import _by_id, drift_of, listings_lag, public_request, reconcile
from integration.test_drift_exposure import (
    main_table,
    private_request,
    route_to,
    someones_route_to_the_internet,
)


def listings_omit(stack: Stack, table_id: str, only_the_sweeps: bool = False) -> None:
    """From now on every DescribeRouteTables listing (not a read by id; `only_the_sweeps`:
    only the sweep's, of every table) leaves `table_id` out, as a listing lagging behind
    its creation (or just behind) would."""
    sent: list[bool] = []

    def sending(params: dict[str, Any], **_: Any) -> None:
        sent.append(_by_id(params) or (only_the_sweeps and bool(params.get("Filters"))))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if sent.pop(0):
            return
        parsed["RouteTables"] = [
            t for t in parsed.get("RouteTables") or [] if t["RouteTableId"] != table_id
        ]

    events = stack.clients.ec2.meta.events
    events.register("provide-client-params.ec2.DescribeRouteTables", sending)
    events.register("after-call.ec2.DescribeRouteTables", lagging)


def test_recorded_exposure_through_someones_table_is_not_cleared_by_a_listing_that_omits_it(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Recorded: the private subnet is associated with rtb-theirs (0.0.0.0/0 -> igw). Nothing
    changes in EC2; a listing merely omits rtb-theirs. Only the main table is read by id
    (which can never show another table's association): the item must stay."""
    rec = private_request(client)
    subnet = rec["subnets"][0]["subnet_id"]
    _, table = someones_route_to_the_internet(stack, rec["vpc_id"])
    stack.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    clock.advance(settings.reconcile_grace_seconds + 60)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("association", subnet, "changed")]

    listings_omit(stack, table)
    reconcile(services, clock, settings)

    # Still associated, still routed to the internet (EC2 unchanged):
    assert stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Associations"]
    assert drift_of(client, rec["request_id"]) == [("association", subnet, "changed")]


def test_a_listing_that_omits_the_subnets_own_table_does_not_invent_exposure_by_the_main(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The private subnet is associated with a table of someone's that routes 0.0.0.0/0
    nowhere public (a NAT-style table: no igw route); the VPC's main table routes to an igw
    (a common layout). The subnet is not exposed. A listing that omits the subnet's table
    makes the main one look like its router, and a read of the main table by id cannot
    show that the subnet has a table of its own: the listing of the tables associated with
    that very subnet shows it. (A table no listing shows at all, the sweep's nor that one,
    is one no read can find: docs/api.md "Drift" says so.)"""
    rec = private_request(client)
    subnet = rec["subnets"][0]["subnet_id"]
    vpc = rec["vpc_id"]
    gateway = stack.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    stack.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    stack.ec2.create_route(
        RouteTableId=main_table(stack, vpc), DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )
    theirs = stack.ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    stack.ec2.associate_route_table(RouteTableId=theirs, SubnetId=subnet)
    clock.advance(settings.reconcile_grace_seconds + 60)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == []  # as EC2 is: not exposed

    listings_omit(stack, theirs, only_the_sweeps=True)
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []


def test_a_listing_that_omits_the_requests_table_gives_the_private_subnet_one_item(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The private subnet associated with the request's table ("though private"), and the
    main table given an igw route: one key (subnet, association) must have one item."""
    rec = public_request(client)
    private, gateway = rec["subnets"][1]["subnet_id"], rec["internet_gateway_id"]
    ours = rec["route_table_id"]
    stack.ec2.create_route(
        RouteTableId=main_table(stack, rec["vpc_id"]),
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=gateway,
    )
    stack.ec2.associate_route_table(RouteTableId=ours, SubnetId=private)

    listings_omit(stack, ours)
    reconcile(services, clock, settings)

    drift = record(client, rec["request_id"])["drift"]
    keys = [(d["resource_id"], d["type"]) for d in drift]
    assert len(keys) == len(set(keys)), drift


def test_a_finding_that_appears_only_after_the_confirming_read_is_itself_confirmed(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A listing lagging behind two undone changes shows the private subnet associated with
    rtb-theirs (igw route) and the main table with an igw route. The read of rtb-theirs by
    id shows no association; the comparison made again then finds the main table routing
    the subnet to the internet, from the listing alone: that finding is confirmed in turn
    (the main table read by id shows no such route), and nothing is drift."""

    rec = private_request(client)
    subnet, vpc = rec["subnets"][0]["subnet_id"], rec["vpc_id"]
    gateway, theirs = someones_route_to_the_internet(stack, vpc)  # not associated
    main = main_table(stack, vpc)
    clock.advance(settings.reconcile_grace_seconds + 60)

    def lag(table: dict[str, Any]) -> None:
        if table["RouteTableId"] == theirs:
            table["Associations"].append(
                {
                    "Main": False,
                    "SubnetId": subnet,
                    "RouteTableId": theirs,
                    "RouteTableAssociationId": "rtbassoc-0stale",
                    "AssociationState": {"State": "associated"},
                }
            )
        if table["RouteTableId"] == main:
            table["Routes"].append(route_to(gateway))

    by_id = listings_lag(stack, "DescribeRouteTables", lag)
    reconcile(services, clock, settings)

    read = [p["RouteTableIds"][0] for p in by_id]
    assert read == [theirs, main]
    assert drift_of(client, rec["request_id"]) == [], read


def test_a_recorded_gone_vpc_is_not_listed_again_every_run(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Gone is gone (docs/how-it-works.md: "the next run (that drift recorded) ... nothing
    read again"): a VPC recorded missing, with its private subnet, has no tables to list."""
    rec = private_request(client)
    subnet, vpc = rec["subnets"][0]["subnet_id"], rec["vpc_id"]
    stack.ec2.delete_subnet(SubnetId=subnet)
    stack.ec2.delete_vpc(VpcId=vpc)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [
        ("vpc", vpc, "missing"),
        ("subnet", subnet, "missing"),
    ]

    filtered: list[Any] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeRouteTables",
        lambda params, **_: filtered.extend(params.get("Filters") or []),
    )
    reconcile(services, clock, settings)
    reconcile(services, clock, settings)

    assert filtered == []
