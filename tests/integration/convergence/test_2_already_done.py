"""Convergence never destroys and never lies, defect 2: "already done" answers are
confirmed with retried reads. An answer that says a change was already made (an attachment,
a route, an association) is believed only once a read shows it, a lagging read is retried
and not a failure, while what truly belongs to someone else (a gateway attached to another
VPC, a route to another target, a subnet in another table) is still a permanent failure.
Every test ends on EC2's ground truth."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.routing import ROUTE_TARGETS, RoutingGateway
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, an_attempt_dies, deliver, record
from integration.convergence.conftest import tag_lookup
from integration.test_lifecycle_worker import (
    assert_public_access,
    gateways,
    route_tables,
    submit_public,
)
from integration.test_reconciler import tagged_vpc, worker_tags

OTHER_REQUEST = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("operation", "describe", "listing"),
    [
        ("AttachInternetGateway", "DescribeInternetGateways", "InternetGateways"),
        ("CreateRoute", "DescribeRouteTables", "RouteTables"),
    ],
)
def test_2_a_lost_answer_then_a_lagging_read_is_not_a_failure(
    client: Client, stack: Stack, operation: str, describe: str, listing: str
) -> None:
    """The change is made, its answer lost; repeated, EC2 answers "already done"; the
    first read does not show it yet. Before: FAILED and rolled back on that one read."""
    request_id = submit_public(client, subnets=2, public=(0,))
    stack.faults.fail("ec2", operation, "InternalError", 500, when="after")
    stack.faults.stale("ec2", describe, listing, times=2)

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0})
    assert record(client, request_id)["error"] is None


def test_2_an_association_already_made_is_confirmed_by_retried_reads(
    client: Client, stack: Stack, settings: Settings, sleeps: Any
) -> None:
    """AssociateRouteTable's answer is lost; EC2 then says Resource.AlreadyAssociated (moto
    does not, so it is injected) while the subnet's table is not listed yet: the next look
    waits at least AMBIGUOUS_LOOKUP_DELAY_SECONDS (EC2's reads need that long)."""
    request_id = submit_public(client, subnets=2, public=(0,))
    stack.faults.fail("ec2", "AssociateRouteTable", "InternalError", 500, when="after")
    # From the second call on, EC2 says "already associated" (moto would associate again):
    # only a read that shows the association ours can end the wait.
    stack.faults.fail(
        "ec2", "AssociateRouteTable", "Resource.AlreadyAssociated", 400, times=-1, skip=1
    )
    stack.faults.stale("ec2", "DescribeRouteTables", "RouteTables", times=1)

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0})
    assert max(sleeps.waits) >= settings.ambiguous_lookup_delay_seconds


def test_2_a_change_that_stays_invisible_is_retried_later_not_failed(
    client: Client, stack: Stack
) -> None:
    request_id = submit_public(client, subnets=1, public=(0,))
    stack.faults.fail("ec2", "AttachInternetGateway", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeInternetGateways", "InternetGateways", times=-1)

    with pytest.raises(RetryLater):  # in place retries used up: another delivery later
        deliver(client, request_id)

    assert record(client, request_id)["status"] == "IN_PROGRESS"
    stack.faults.clear()
    deliver(client, request_id, receive_count=2)
    assert_public_access(stack, client, request_id, public={0})


def test_2_a_gateway_attached_to_another_vpc_is_still_a_permanent_failure(
    client: Client, stack: Stack, hook: Any
) -> None:
    """Seen attached elsewhere: someone else's doing, no read will change that. The
    rollback leaves the gateway where it is: detaching it would cut that VPC off the
    internet (IAM would let it: another request's VPC). The record says it remains."""
    request_id = submit_public(client, subnets=1, public=(0,))
    other = tagged_vpc(stack, "00000000-0000-4000-8000-000000000000", cidr="10.77.0.0/16")

    def attach_elsewhere(params: dict[str, Any], **_: Any) -> None:
        stack.ec2.attach_internet_gateway(
            InternetGatewayId=params["InternetGatewayId"], VpcId=other
        )

    hook("ec2", "provide-client-params.ec2.AttachInternetGateway", attach_elsewhere)
    stack.faults.fail("ec2", "AttachInternetGateway", "Resource.AlreadyAssociated", 400)

    with pytest.raises(RetryLater):  # the rollback cannot finish: tried again later
        deliver(client, request_id)
    deliver(client, request_id, receive_count=5)  # the last receive

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "Resource.AlreadyAssociated"
    assert rec["error"]["message"].startswith("injected Resource.AlreadyAssociated")  # EC2's
    gateway = rec["internet_gateway_id"]
    assert gateway in rec["rollback"]["remaining"]
    assert "AttachedElsewhere" in rec["rollback"]["error"]
    (listed,) = stack.ec2.describe_internet_gateways(InternetGatewayIds=[gateway])[
        "InternetGateways"
    ]
    assert [a["VpcId"] for a in listed["Attachments"]] == [other]


def test_2_a_default_route_to_another_target_is_still_a_permanent_failure(
    client: Client, stack: Stack, hook: Any
) -> None:
    """The table's 0.0.0.0/0 already goes elsewhere (someone else's route, to a gateway of
    theirs: moto routes to one not attached, which EC2 would not, and a VPC takes one
    gateway): FAILED."""
    request_id = submit_public(client, subnets=1, public=(0,))
    other = stack.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]

    def route_elsewhere(params: dict[str, Any], **_: Any) -> None:
        stack.ec2.create_route(
            RouteTableId=params["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=other
        )

    hook("ec2", "provide-client-params.ec2.CreateRoute", route_elsewhere)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "RouteAlreadyExists"
    assert rec["error"]["message"].startswith("The route identified by 0.0.0.0/0 already")


def test_2_a_default_route_to_a_nat_gateway_is_someone_elses_at_once(
    client: Client, stack: Stack, hook: Any
) -> None:
    """The table's 0.0.0.0/0 already goes to a NAT gateway (someone else's: this service
    routes only to internet gateways). EC2's Route names it in NatGatewayId, not GatewayId:
    no read will ever show the request's gateway there, so the request fails at once, as it
    does for another internet gateway. Before: that route was read as a target named
    "None", looked up as a gateway, never listed, and the change was tried again and
    again, then the job delivered again, for nothing."""
    request_id = submit_public(client, subnets=1, public=(0,))
    routed: list[str] = []

    def route_to_nat(params: dict[str, Any], **_: Any) -> None:
        table = params["RouteTableId"]
        if routed:
            return
        routed.append(table)
        (listed,) = stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
        subnet = stack.ec2.create_subnet(VpcId=listed["VpcId"], CidrBlock=_spare(stack, listed))
        allocation = stack.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = stack.ec2.create_nat_gateway(
            SubnetId=subnet["Subnet"]["SubnetId"], AllocationId=allocation
        )["NatGateway"]["NatGatewayId"]
        stack.ec2.create_route(
            RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat
        )

    hook("ec2", "provide-client-params.ec2.CreateRoute", route_to_nat)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", (rec["status"], rec["error"])
    assert rec["error"]["code"] == "RouteAlreadyExists"
    assert rec["attempts"] == 1


def _spare(stack: Stack, table: dict[str, Any]) -> str:
    """A /28 at the top of the table's VPC (the request's subnets start at its bottom)."""
    (vpc,) = stack.ec2.describe_vpcs(VpcIds=[table["VpcId"]])["Vpcs"]
    network = ipaddress.ip_network(vpc["CidrBlock"])
    return str(list(network.subnets(new_prefix=28))[-1])


@pytest.mark.parametrize("target_read_lags", [False, True], ids=["listed", "lagging"])
def test_2_a_default_route_to_an_earlier_attempts_gateway_is_moved_to_the_recorded_one(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    clock: Any,
    target_read_lags: bool,
) -> None:
    """The first attempt makes the gateway, attaches it and routes the table to it, then
    dies; its checkpoints of the gateway (and the table, written with it) never landed. The
    second finds the table by tag but not the gateway (that look lags): it makes another,
    moves the attachment to it (above), and CreateRoute answers RouteAlreadyExists: the
    route goes to the first gateway. Before: FAILED, as if someone else had routed the
    table. Now a target carrying the request's tags is an earlier attempt's: the route is
    replaced, and the request succeeds. (`lagging`: the first read of that gateway by id
    does not list it yet: no reason to fail either; it is read again.)"""
    request_id = submit_public(client, subnets=1, public=(0,))
    rec = _an_attempt_dies_after(client, stack, request_id, "CreateRoute", "internet_gateway_id")
    [first] = [g["InternetGatewayId"] for g in gateways(stack, request_id)]
    clock.advance(settings.lease_seconds + 1)
    stack.faults.stale("ec2", "DescribeInternetGateways", "InternetGateways", match=tag_lookup)

    reads_by_id: list[dict[str, Any]] = []

    def routes_check(params: dict[str, Any]) -> bool:
        """The second read of a gateway by id: the attachment's check is the first."""
        if any(f["Name"] == "internet-gateway-id" for f in params.get("Filters", [])):
            reads_by_id.append(params)
            return target_read_lags and len(reads_by_id) == 2
        return False

    stack.faults.stale("ec2", "DescribeInternetGateways", "InternetGateways", match=routes_check)
    _a_second_gateway_is_refused(stack, rec["vpc_id"])

    _the_second_attempt_keeps_its_own_gateway(
        client, stack, services, settings, clock, request_id, first
    )


def _dead_routes_say_blackhole(stack: Stack, hook: Any) -> None:
    """EC2 marks a route whose gateway is detached or gone `blackhole`; moto leaves every
    route `active`: the app's DescribeRouteTables answers say it as EC2 would."""

    def mark(parsed: dict[str, Any], **_: Any) -> None:
        for table in parsed.get("RouteTables", []):
            for route in table.get("Routes", []):
                gateway = str(route.get("GatewayId") or "")
                if gateway.startswith("igw-") and not any(
                    a.get("VpcId") == table["VpcId"]
                    for g in stack.truth.ec2.describe_internet_gateways(
                        Filters=[{"Name": "internet-gateway-id", "Values": [gateway]}]
                    )["InternetGateways"]
                    for a in g.get("Attachments") or []
                ):
                    route["State"] = "blackhole"

    hook("ec2", "after-call.ec2.DescribeRouteTables", mark)


def test_2_a_default_route_to_a_deleted_gateway_is_replaced_not_waited_for(
    client: Client, stack: Stack, settings: Settings, clock: Any, hook: Any
) -> None:
    """The first attempt made the gateway and the table, routed the table to the gateway,
    and died; the gateway's checkpoint never landed. Someone then detached and deleted that
    gateway: the route stays, a dead one (EC2 says blackhole). The second attempt makes
    another gateway, and CreateRoute answers RouteAlreadyExists: the route's target is
    listed nowhere. Before: "not visible yet" on every look, for ever, until the request
    failed (RetriesExhausted) and was rolled back. Now a dead route in the request's own
    table (cutting no one off) is pointed at the request's gateway: SUCCEEDED."""
    _dead_routes_say_blackhole(stack, hook)
    request_id = submit_public(client, subnets=1, public=(0,))
    rec = _an_attempt_dies_after(client, stack, request_id, "CreateRoute", "internet_gateway_id")
    [first] = [g["InternetGatewayId"] for g in gateways(stack, request_id)]
    stack.ec2.detach_internet_gateway(InternetGatewayId=first, VpcId=rec["vpc_id"])
    stack.ec2.delete_internet_gateway(InternetGatewayId=first)
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    after = record(client, request_id)
    assert after["status"] == "SUCCEEDED", (after["status"], after["error"])
    assert after["internet_gateway_id"] != first
    assert_public_access(stack, client, request_id, public={0})


def _routed_to_a_gateway_no_read_shows(client: Client, stack: Stack) -> tuple[str, str, str]:
    """A public request whose attempt died at its CreateRoute (answer lost), then its
    table's 0.0.0.0/0 pointed by someone at a gateway of theirs, made moments ago, that
    no DescribeInternetGateways of its id shows yet (lag). The request, table, gateway."""
    request_id = submit_public(client, subnets=1, public=(0,))
    _an_attempt_dies_after(client, stack, request_id, "CreateRoute", "internet_gateway_id")
    [table] = [t["RouteTableId"] for t in route_tables(stack, request_id)]
    ec2 = stack.truth.ec2
    theirs = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=theirs)
    stack.faults.stale(
        "ec2",
        "DescribeInternetGateways",
        "InternetGateways",
        times=-1,
        match=lambda p: any(theirs in f.get("Values", []) for f in p.get("Filters", [])),
    )
    stack.faults.reset_counts()
    return request_id, table, theirs


def test_2_a_live_route_to_a_gateway_no_read_shows_yet_is_never_replaced(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """The same first attempt; then someone points the table's 0.0.0.0/0 at a gateway of
    their own, made moments ago (moto routes to one not attached, and keeps the route
    active), which EC2's reads do not show yet ("not found" right after a create is lag,
    docs/how-it-works.md). A live route whose target no read shows is no proof of
    anything: never replaced; the change is looked at again, the job tried again later."""
    request_id, table, theirs = _routed_to_a_gateway_no_read_shows(client, stack)
    ec2 = stack.truth.ec2
    clock.advance(settings.lease_seconds + 1)

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)

    assert stack.faults.count("ec2", "ReplaceRoute") == 0
    (shown,) = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    routes = shown["Routes"]
    assert [r.get("GatewayId") for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"] == [
        theirs
    ]


def _routes_to_say_blackhole(hook: Any, targets: set[str]) -> None:
    """EC2 marks a route whose target is gone, or is a gateway not attached to the table's
    VPC, `blackhole`; moto leaves every route `active`: the app's DescribeRouteTables
    answers say it of the routes to `targets` (filled as they die) as EC2 would."""

    def mark(parsed: dict[str, Any], **_: Any) -> None:
        for table in parsed.get("RouteTables", []):
            for route in table.get("Routes", []):
                if {str(route.get(field)) for field in ROUTE_TARGETS} & targets:
                    route["State"] = "blackhole"

    hook("ec2", "after-call.ec2.DescribeRouteTables", mark)


def test_2_a_blackhole_to_another_destination_never_makes_a_live_default_route_dead(
    client: Client, stack: Stack, settings: Settings, clock: Any, hook: Any
) -> None:
    """The case above (a live 0.0.0.0/0 to a gateway no read shows yet), the table holding
    besides a dead route to another destination (192.0.2.0/24, to a gateway since
    deleted: EC2 says blackhole). docs/how-it-works.md "Public subnets, exactly once too":
    a gateway not listed yet "is looked at again, never taken for someone else's"; what is
    replaced is "a route EC2 calls a blackhole", the default route itself. Another
    destination's blackhole says nothing of the default route: never replaced, the change
    looked at again, the job tried again later."""
    request_id, table, theirs = _routed_to_a_gateway_no_read_shows(client, stack)
    ec2 = stack.truth.ec2
    gone = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="192.0.2.0/24", GatewayId=gone)
    ec2.delete_internet_gateway(InternetGatewayId=gone)
    _routes_to_say_blackhole(hook, {gone})
    clock.advance(settings.lease_seconds + 1)

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)

    assert stack.faults.count("ec2", "ReplaceRoute") == 0
    (shown,) = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    targets = {r["DestinationCidrBlock"]: r.get("GatewayId") for r in shown["Routes"]}
    assert targets["0.0.0.0/0"] == theirs
    assert targets["192.0.2.0/24"] == gone


@pytest.mark.parametrize(
    "field", ["NatGatewayId", "VpcPeeringConnectionId", "TransitGatewayId", "NetworkInterfaceId"]
)
def test_2_the_read_that_confirms_a_route_names_its_target_whatever_its_kind(
    stack: Stack, field: str
) -> None:
    """RouteAlreadyExists is confirmed by a read of the table (docs/how-it-works.md
    "Public subnets, exactly once too": a route to "a gateway that carries the request's
    tags" is the earlier attempt's; one shown going elsewhere is someone else's, and the
    request fails). That read names the 0.0.0.0/0 route's target by its own id in
    whichever field of EC2's Route holds it (a NAT gateway, a peering, a transit gateway,
    a network interface: not GatewayId), never as a target named "None" (how a default
    route to a NAT gateway was once read, docs/how-it-works.md), and a live route is not
    dead."""
    ec2 = stack.truth.ec2
    vpc = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.88.0.0/28")["Subnet"]["SubnetId"]
    if field == "NatGatewayId":
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        made = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]
    elif field == "VpcPeeringConnectionId":
        peer = ec2.create_vpc(CidrBlock="10.89.0.0/16")["Vpc"]["VpcId"]
        made = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)["VpcPeeringConnection"]
    elif field == "TransitGatewayId":
        made = ec2.create_transit_gateway()["TransitGateway"]
    else:
        made = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
    target = made[field]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", **{field: target})

    [read] = RoutingGateway(ec2, TABLE).route_tables([table])

    assert read.internet_target == target
    assert read.dead is False


@pytest.mark.parametrize("target", ["nat-gateway", "another-request"])
def test_2_a_dead_default_route_in_the_requests_own_table_is_replaced_whatever_it_went_to(
    client: Client, stack: Stack, hook: Any, target: str
) -> None:
    """docs/how-it-works.md: "a route EC2 calls a blackhole is replaced". The request's own
    table already has a 0.0.0.0/0 route when the worker routes it, a dead one: to a NAT
    gateway since deleted, or to another request's gateway (still listed, tagged as
    theirs) attached to no VPC (EC2 says blackhole of both; moto does not: the answers
    are marked). A dead route carries no one's traffic: it is pointed at the request's
    gateway, and the request SUCCEEDS."""
    request_id = submit_public(client, subnets=1, public=(0,))
    dead: set[str] = set()
    _routes_to_say_blackhole(hook, dead)

    def route_to_a_dead_target(params: dict[str, Any], **_: Any) -> None:
        if dead:
            return
        table = params["RouteTableId"]
        ec2 = stack.truth.ec2
        if target == "nat-gateway":
            (listed,) = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
            subnet = ec2.create_subnet(VpcId=listed["VpcId"], CidrBlock=_spare(stack, listed))
            allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
            nat = ec2.create_nat_gateway(
                SubnetId=subnet["Subnet"]["SubnetId"], AllocationId=allocation
            )["NatGateway"]["NatGatewayId"]
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
            ec2.delete_nat_gateway(NatGatewayId=nat)
            dead.add(nat)
        else:
            other = ec2.create_internet_gateway(
                TagSpecifications=worker_tags("internet-gateway", OTHER_REQUEST)
            )["InternetGateway"]["InternetGatewayId"]
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=other)
            dead.add(other)

    hook("ec2", "provide-client-params.ec2.CreateRoute", route_to_a_dead_target)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", (rec["status"], rec["error"])
    assert dead
    assert_public_access(stack, client, request_id, public={0})


def test_2_a_vpc_holding_someone_elses_gateway_is_still_a_permanent_failure(
    client: Client, stack: Stack, hook: Any
) -> None:
    """Someone attached a gateway of their own to the VPC first: EC2 refuses ours
    (InvalidParameterValue, "... already has an internet gateway attached"). FAILED, and
    their gateway stays attached."""
    request_id = submit_public(client, subnets=1, public=(0,))
    theirs: list[str] = []

    def attach_theirs(params: dict[str, Any], **_: Any) -> None:
        gateway = stack.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        stack.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=params["VpcId"])
        theirs.append(gateway)

    hook("ec2", "provide-client-params.ec2.AttachInternetGateway", attach_theirs)
    stack.faults.fail(
        "ec2",
        "AttachInternetGateway",
        "InvalidParameterValue",
        400,
        message="Network vpc-0 already has an internet gateway attached",
    )

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert rec["error"]["code"] == "InvalidParameterValue"
    [gateway] = stack.ec2.describe_internet_gateways(InternetGatewayIds=theirs)["InternetGateways"]
    assert len(gateway["Attachments"]) == 1


def test_2_an_earlier_attempts_gateway_attached_to_the_vpc_is_not_called_foreign(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The first attempt makes the internet gateway and attaches it, then dies; its
    checkpoints of the gateway never landed. The second attempt's look by tag lags, so it
    makes a second gateway, and attaching it answers, as EC2 does for a VPC that has one
    (moto attaches a second: injected), "InvalidParameterValue: Network vpc-... already
    has an internet gateway attached". Before: FAILED and rolled back. Now the attached
    one, carrying the request's tags, is an earlier attempt's: detached, the gateway the
    record names attached, and the first, attached to nothing, is an orphan the
    reconciler removes."""
    request_id = submit_public(client, subnets=1, public=(0,))
    rec = _an_attempt_dies_after(
        client, stack, request_id, "AttachInternetGateway", "internet_gateway_id"
    )
    [first] = [g["InternetGatewayId"] for g in gateways(stack, request_id)]
    clock.advance(settings.lease_seconds + 1)
    stack.faults.stale("ec2", "DescribeInternetGateways", "InternetGateways", match=tag_lookup)
    _a_second_gateway_is_refused(stack, rec["vpc_id"])

    _the_second_attempt_keeps_its_own_gateway(
        client, stack, services, settings, clock, request_id, first
    )


@pytest.mark.parametrize(
    "tags",
    [
        {},  # someone's own table in the VPC
        {"RequestId": "00000000-0000-4000-8000-000000000000"},  # another request's tag
    ],
    ids=["untagged", "another-request"],
)
def test_2_a_subnet_in_a_table_that_is_not_the_requests_is_still_a_permanent_failure(
    client: Client, stack: Stack, hook: Any, tags: dict[str, str]
) -> None:
    """The subnet is already in a table of the VPC that does not carry the request's tags:
    someone else's doing. FAILED, and that table keeps the subnet until the rollback (no
    disassociation from a table that is not the request's)."""
    request_id = submit_public(client, subnets=1, public=(0,))
    disassociations: list[str] = []

    def associate_elsewhere(params: dict[str, Any], **_: Any) -> None:
        [subnet] = stack.ec2.describe_subnets(SubnetIds=[params["SubnetId"]])["Subnets"]
        all_tags = {**tags, "vpc-provisioner:deployment": TABLE} if tags else {}
        table = stack.ec2.create_route_table(
            VpcId=subnet["VpcId"],
            **(
                {
                    "TagSpecifications": [
                        {
                            "ResourceType": "route-table",
                            "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
                        }
                    ]
                }
                if all_tags
                else {}
            ),
        )["RouteTable"]["RouteTableId"]
        stack.ec2.associate_route_table(RouteTableId=table, SubnetId=params["SubnetId"])

    hook("ec2", "provide-client-params.ec2.AssociateRouteTable", associate_elsewhere)
    hook(
        "ec2",
        "provide-client-params.ec2.DisassociateRouteTable",
        lambda params, **_: disassociations.append(params["AssociationId"]),
    )
    stack.faults.fail("ec2", "AssociateRouteTable", "Resource.AlreadyAssociated", 400)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert rec["error"]["code"] == "Resource.AlreadyAssociated"
    # The rollback disassociates only from the request's own table (none was made yet).
    assert disassociations == []


def _an_attempt_dies_after(
    client: Client, stack: Stack, request_id: str, operation: str, unrecorded: str
) -> dict[str, Any]:
    """The first attempt runs until `operation` has run, then dies; its checkpoints of
    `unrecorded` (the record's attribute) never landed. Returns the record it left."""

    def checkpoint(params: dict[str, Any]) -> bool:
        return f":{unrecorded}" in params.get("ExpressionAttributeValues", {})

    an_attempt_dies(client, stack, request_id, operation, lost=checkpoint)
    rec = record(client, request_id)
    assert rec[unrecorded] is None
    return rec


def _a_second_gateway_is_refused(stack: Stack, vpc_id: str) -> None:
    """EC2's answer to the next attachment of a gateway to a VPC that has one (moto would
    attach a second)."""
    stack.faults.fail(
        "ec2",
        "AttachInternetGateway",
        "InvalidParameterValue",
        400,
        message=f"Network {vpc_id} already has an internet gateway attached",
    )


def _the_second_attempt_keeps_its_own_gateway(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    clock: Any,
    request_id: str,
    first: str,
) -> None:
    """The redelivery ends SUCCEEDED with the gateway it made; the first, detached, is an
    orphan the reconciler removes, and what is left is exactly the request's network."""
    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    assert rec["internet_gateway_id"] != first
    [left] = [g for g in gateways(stack, request_id) if g["InternetGatewayId"] == first]
    assert left["Attachments"] == []
    clock.advance(settings.reconcile_grace_seconds + 1)
    assert first in services.reconciler.run().removed
    assert_public_access(stack, client, request_id, public={0})


def test_2_an_earlier_attempts_route_table_holding_a_public_subnet_is_not_called_foreign(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The first attempt makes the route table and associates the public subnet with it,
    then dies; its checkpoints of the table never landed. The second attempt's look by tag
    lags, so it makes a second table, and associating the subnet answers
    Resource.AlreadyAssociated: the subnet is in the first table. Before: that table was
    taken for someone else's and the request rolled back to FAILED. Now a table that
    carries the request's tags and lies in its VPC is an earlier attempt's: the subnet is
    moved out of it into the table the record names, and the first table, left holding
    nothing, is an orphan the reconciler removes (the record's `orphans` says so)."""
    request_id = submit_public(client, subnets=1, public=(0,))
    _an_attempt_dies_after(client, stack, request_id, "AssociateRouteTable", "route_table_id")
    [first] = [t["RouteTableId"] for t in route_tables(stack, request_id)]
    clock.advance(settings.lease_seconds + 1)
    stack.faults.stale("ec2", "DescribeRouteTables", "RouteTables", match=tag_lookup)
    # Real EC2's answer for a subnet another table holds (moto adds a second association).
    stack.faults.fail("ec2", "AssociateRouteTable", "Resource.AlreadyAssociated", 400)

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    assert rec["route_table_id"] != first
    [left] = [t for t in route_tables(stack, request_id) if t["RouteTableId"] == first]
    assert [a for a in left["Associations"] if not a.get("Main")] == []
    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [first]
    assert_public_access(stack, client, request_id, public={0})  # one table: the first gone
    [orphan] = record(client, request_id)["orphans"]
    assert orphan["id"] == first
    assert orphan["removed_at"]
