"""Drift: a private subnet routed to the internet, against listings that lag behind route
tables (docs/how-it-works.md "Drift": never invent drift, clear only on a read by id).
Found by a review of the first version, each failing then."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import Stack, body, deliver, post, record
from integration.test_drift import (
    _by_id,
    drift_of,
    listings_lag,
    public_request,
    reconcile,
    stale_association,
)
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
            table["Associations"].append(stale_association(theirs, subnet))
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


def details(client: Client, request_id: str) -> list[tuple[str, str]]:
    return [(d["resource_id"], d["detail"]) for d in record(client, request_id)["drift"]]


def test_a_recorded_exposure_is_not_rewritten_to_another_table_without_reading_the_one_it_names(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Recorded: the private subnet is associated with rtb-theirs (0.0.0.0/0 -> igw), and
    the VPC's main table routes to an igw too. Nothing changes in EC2; the listings merely
    omit rtb-theirs. The record must not come to say that the main table routes the subnet
    (it does not: rtb-theirs does), and rtb-theirs, the table the recorded item names, must
    be read by id before that item is replaced."""
    rec = private_request(client)
    subnet, vpc = rec["subnets"][0]["subnet_id"], rec["vpc_id"]
    gateway, theirs = someones_route_to_the_internet(stack, vpc)
    main = main_table(stack, vpc)
    stack.ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    stack.ec2.associate_route_table(RouteTableId=theirs, SubnetId=subnet)
    clock.advance(settings.reconcile_grace_seconds + 60)
    reconcile(services, clock, settings)
    recorded = [(subnet, f"private, but {theirs} (associated with it) routes it to {gateway}")]
    assert details(client, rec["request_id"]) == recorded

    listings_omit(stack, theirs)
    read: list[str] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeRouteTables",
        lambda params, **_: read.extend(params.get("RouteTableIds") or []),
    )
    reconcile(services, clock, settings)

    # EC2 unchanged: rtb-theirs still routes the subnet.
    [described] = stack.ec2.describe_route_tables(RouteTableIds=[theirs])["RouteTables"]
    assert subnet in [a.get("SubnetId") for a in described["Associations"]]
    assert details(client, rec["request_id"]) == recorded, read


def test_a_recorded_though_private_item_is_not_replaced_without_reading_the_requests_table(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Recorded: the private subnet associated with the request's table ("though private");
    the main table routes to the gateway too. Nothing changes; the listings lag behind the
    association (they show the request's table without it). At 56a3cec the recorded item
    was kept after the request's table was read by id; it must not become "the VPC's main
    route table routes it" with that table never read."""
    rec = public_request(client)
    private, gateway, ours = (
        rec["subnets"][1]["subnet_id"],
        rec["internet_gateway_id"],
        rec["route_table_id"],
    )
    main = main_table(stack, rec["vpc_id"])
    stack.ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    stack.ec2.associate_route_table(RouteTableId=ours, SubnetId=private)
    reconcile(services, clock, settings)
    recorded = [(private, f"associated with {ours}, though private")]
    assert details(client, rec["request_id"]) == recorded

    def lag(table: dict[str, Any]) -> None:
        if table["RouteTableId"] == ours:
            table["Associations"] = [
                a for a in table["Associations"] if a.get("SubnetId") != private
            ]

    by_id = listings_lag(stack, "DescribeRouteTables", lag)
    reconcile(services, clock, settings)

    assert details(client, rec["request_id"]) == recorded, [p["RouteTableIds"] for p in by_id]


def test_a_listing_showing_the_main_table_to_the_internet_costs_no_read_per_private_subnet(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The listing shows the main table with an igw route it no longer has (lagging behind
    its removal). The read of the main table by id disproves every private subnet's
    exposure at once; the run must not also spend one listing of its own per private
    subnet (five here, 49 in a request of 50 subnets: half of DRIFT_CONFIRM_LIMIT)."""
    payload = body(cidr="10.31.0.0/16", subnets=6)
    payload["subnets"][0]["public"] = True
    response = post(client, payload)
    deliver(client, response.json_body["request_id"])
    rec = record(client, response.json_body["request_id"])
    assert rec["status"] == "SUCCEEDED"
    main = main_table(stack, rec["vpc_id"])

    def lag(table: dict[str, Any]) -> None:
        if table["RouteTableId"] == main:
            table["Routes"].append(route_to(rec["internet_gateway_id"]))

    by_id = listings_lag(stack, "DescribeRouteTables", lag)
    by_subnet: list[Any] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeRouteTables",
        lambda params, **_: by_subnet.extend(
            f["Values"] for f in params.get("Filters") or [] if f["Name"] == "association.subnet-id"
        ),
    )
    reconcile(services, clock, settings)

    assert record(client, rec["request_id"])["drift"] == []
    assert [p["RouteTableIds"] for p in by_id] == [[main]]
    assert len(by_subnet) <= 1, by_subnet
