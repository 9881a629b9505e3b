"""Drift around what people restore or rearrange: a record names what it adopts only with
what is proven of it, never a gateway attached elsewhere, and a lagging listing clears
none of a route table's problems (docs/how-it-works.md "Drift", "Restored is restored";
docs/api.md "Drift")."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, record
from integration.test_drift import (
    _by_id,
    drift_of,
    drifted,
    listings_lag,
    public_request,
    reconcile,
    subnet_made_again,
)
from integration.test_reconciler import worker_tags


def _tags(kind: str, request_id: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": kind,
            "Tags": [
                {"Key": REQUEST_ID_TAG, "Value": request_id},
                {"Key": DEPLOYMENT_TAG, "Value": TABLE},
            ],
        }
    ]


def _runs_after_one_whose_reads_by_id_fail(
    stack: Stack, services: Services, clock: Any, settings: Settings, kind: str
) -> None:
    """A reconciler run whose reads by id of `kind` (InternetGateway, RouteTable) are all
    throttled (every in-place retry), then two that read as EC2 is."""
    stack.faults.fail(
        "ec2",
        f"Describe{kind}s",
        "RequestLimitExceeded",
        503,
        times=-1,
        match=lambda params: bool(params.get(f"{kind}Ids")),
    )
    try:
        reconcile(services, clock, settings)
    finally:
        stack.faults.clear()
    reconcile(services, clock, settings)
    reconcile(services, clock, settings)


def gateway_made_again(stack: Stack, rec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A person detaches and deletes the request's gateway and makes it again: the
    request's tags copied (its creation time too), attached to the request's VPC, the
    route table's default route moved to it. The new gateway's id, and the gone one as a
    listing showed it before."""
    ec2 = stack.truth.ec2
    gone, vpc_id = rec["internet_gateway_id"], rec["vpc_id"]
    [shown] = ec2.describe_internet_gateways(InternetGatewayIds=[gone])["InternetGateways"]
    ec2.detach_internet_gateway(InternetGatewayId=gone, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=gone)
    made = ec2.create_internet_gateway(
        TagSpecifications=worker_tags("internet-gateway", rec["request_id"])
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=made, VpcId=vpc_id)
    ec2.replace_route(
        RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0", GatewayId=made
    )
    return str(made), dict(shown)


def route_table_made_again(
    stack: Stack, rec: dict[str, Any], associate: bool = True
) -> tuple[str, dict[str, Any]]:
    """A person deletes the request's route table (moving its public subnet off it first)
    and makes it again: the request's tags copied (its creation time too), routed to the
    request's gateway, the public subnet associated (unless not `associate`: not yet).
    The new table's id, and the gone one as a listing showed it before."""
    ec2 = stack.truth.ec2
    gone, public = rec["route_table_id"], rec["subnets"][0]["subnet_id"]
    [shown] = ec2.describe_route_tables(RouteTableIds=[gone])["RouteTables"]
    for association in shown["Associations"]:
        if association.get("SubnetId") == public:  # (unless moved off already)
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=gone)
    made = ec2.create_route_table(
        VpcId=rec["vpc_id"], TagSpecifications=worker_tags("route-table", rec["request_id"])
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=made, DestinationCidrBlock="0.0.0.0/0", GatewayId=rec["internet_gateway_id"]
    )
    if associate:
        ec2.associate_route_table(RouteTableId=made, SubnetId=public)
    return str(made), dict(shown)


def test_a_public_subnet_made_again_without_public_ips_is_never_shown_matching(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/how-it-works.md "Restored is restored": a public subnet made again needs its
    MapPublicIpOnLaunch turned on too, "until then that is its drift". Someone makes the
    public subnet again in its place (tags, CIDR, zone, associated with the request's
    route table) but leaves MapPublicIpOnLaunch off. The run that adopts it must not
    clear the drift as if EC2 matched the record: the new subnet is compared like any
    resource the record names (before, its "missing" predecessor cleared and nothing
    about the new one was said until the run after)."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    public = rec["subnets"][0]
    stack.ec2.delete_subnet(SubnetId=public["subnet_id"])
    reconcile(services, clock, settings)
    assert ("subnet", public["subnet_id"], "missing") in drift_of(client, request_id)

    made = subnet_made_again(stack, request_id, vpc_id, public["cidr"], public["az"])
    stack.ec2.associate_route_table(RouteTableId=table, SubnetId=made)
    [truth] = stack.ec2.describe_subnets(SubnetIds=[made])["Subnets"]
    assert truth["MapPublicIpOnLaunch"] is False  # ground truth: not public

    reconcile(services, clock, settings)

    after = record(client, request_id)
    assert after["subnets"][0]["subnet_id"] == made  # adopted
    # EC2 does not match the record: its public subnet gives no public IPv4.
    assert ("subnet", made, "changed") in drift_of(client, request_id)
    assert drifted(client) == [request_id]


def test_a_listing_lagging_behind_the_main_table_clears_no_recorded_made_main_item(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/how-it-works.md "Drift": a lagging read neither makes drift nor clears it; a
    recorded item clears only once a read by id shows EC2 matching. The request's route
    table was made the VPC's main one AND its RequestId tag was removed: one `route_table`
    item saying both (an item per resource and type). A listing that lags behind the main
    association (shows the table not main, while EC2 still has it main) must not drop the
    "made main" part: were it an item of its own under the same key, the tag item would
    keep that key shown and no read by id would ever be asked for."""
    rec = public_request(client)
    request_id, table = rec["request_id"], rec["route_table_id"]
    [association] = [
        a["RouteTableAssociationId"]
        for t in stack.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [rec["vpc_id"]]}]
        )["RouteTables"]
        for a in t.get("Associations") or []
        if a.get("Main")
    ]
    stack.ec2.replace_route_table_association(AssociationId=association, RouteTableId=table)
    stack.ec2.delete_tags(Resources=[table], Tags=[{"Key": REQUEST_ID_TAG}])
    reconcile(services, clock, settings)
    before = [
        (d["type"], d["resource_id"], d["detail"]) for d in record(client, request_id)["drift"]
    ]
    [said] = [detail for kind, rid, detail in before if (kind, rid) == ("route_table", table)]
    assert "tag RequestId was removed" in said
    assert "made the VPC's main route table" in said

    # From now on the route table listings lag behind the main association (reads by id
    # answer as EC2 is).
    def not_main_yet(item: dict[str, Any]) -> None:
        if item["RouteTableId"] == table:
            item["Associations"] = [a for a in item["Associations"] if not a.get("Main")]

    by_id = listings_lag(stack, "DescribeRouteTables", not_main_yet)
    reconcile(services, clock, settings)

    # Ground truth: the table is still the VPC's main one.
    [truth] = stack.truth.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert any(a.get("Main") for a in truth["Associations"])
    after = [
        (d["type"], d["resource_id"], d["detail"]) for d in record(client, request_id)["drift"]
    ]
    assert after == before, f"cleared on a lagging listing, reads by id: {by_id}"


def test_a_gateway_attached_to_someone_elses_vpc_is_never_adopted_in_place_of_the_gone_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/api.md and docs/how-it-works.md "Restored is restored": a gateway made again is
    adopted only when it is "in the request's VPC": one carrying the request's tags but
    attached to someone else's VPC (tags copied from the request's, a case
    docs/how-it-works.md discusses for subnets) never becomes the request's gateway on its
    record (its DELETE would then end AttachedElsewhere, asking to detach theirs)."""
    rec = public_request(client)
    request_id, vpc_id, gateway = rec["request_id"], rec["vpc_id"], rec["internet_gateway_id"]
    theirs = stack.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    copied = stack.ec2.create_internet_gateway(
        TagSpecifications=_tags("internet-gateway", request_id)
    )["InternetGateway"]["InternetGatewayId"]
    stack.ec2.attach_internet_gateway(InternetGatewayId=copied, VpcId=theirs)
    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    stack.ec2.delete_internet_gateway(InternetGatewayId=gateway)

    for _ in range(3):  # nor in the runs after the one that proves it gone
        reconcile(services, clock, settings)

    after = record(client, request_id)
    assert after["internet_gateway_id"] == gateway, (
        f"the record now names {copied}, attached to {theirs}, not to {vpc_id}"
    )
    assert ("internet_gateway", gateway, "missing") in drift_of(client, request_id)


def test_a_subnet_made_again_is_adopted_only_once_a_read_by_id_can_confirm_what_it_is(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The public subnet made again without public IPs, and every read of a subnet by id
    failing: the listing's "MapPublicIpOnLaunch off" cannot be confirmed, so nothing is
    known of the new subnet. The record keeps naming the one that is missing, with its
    drift, rather than name the new one with none (which says EC2 matches); once a read
    by id answers, it names the new one, drifted."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    public = rec["subnets"][0]
    stack.ec2.delete_subnet(SubnetId=public["subnet_id"])
    reconcile(services, clock, settings)
    missing = drift_of(client, request_id)
    assert ("subnet", public["subnet_id"], "missing") in missing
    made = subnet_made_again(stack, request_id, vpc_id, public["cidr"], public["az"])
    stack.ec2.associate_route_table(RouteTableId=table, SubnetId=made)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", status=500, times=-1, match=_by_id)

    report = reconcile(services, clock, settings)

    assert report.drift.unknown > 0
    assert record(client, request_id)["subnets"][0]["subnet_id"] == public["subnet_id"]
    assert drift_of(client, request_id) == missing
    assert drifted(client) == [request_id]

    stack.faults.clear()
    reconcile(services, clock, settings)

    assert record(client, request_id)["subnets"][0]["subnet_id"] == made
    assert drift_of(client, request_id) == [("subnet", made, "changed")]


def test_a_gateway_made_again_while_a_read_of_the_gone_one_failed_is_adopted_later(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/how-it-works.md "Restored is restored": a gateway made again in place of the
    gone one (this request's and deployment's tags, attached to the request's VPC) is
    adopted, and "a live resource is never an orphan". A person deletes the request's
    gateway and makes it again, copying its tags (the creation-time tag too). The next
    run's read by id of the gone gateway fails (throttled: "a failed read proves
    nothing"), so it cannot adopt; the orphan sweep of that same run must not take the
    new, attached gateway for an orphan: noted as one on the record, it would never be
    adopted (the record's orphans never are), its drift never cleared, and every run would
    say a live, attached gateway of the request is an orphan."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    ec2 = stack.truth.ec2
    made, _ = gateway_made_again(stack, rec)
    clock.advance(settings.reconcile_grace_seconds + 1)

    _runs_after_one_whose_reads_by_id_fail(stack, services, clock, settings, "InternetGateway")

    after = record(client, request_id)
    # Ground truth: the made-again gateway is attached to the request's VPC, routed to.
    [truth] = ec2.describe_internet_gateways(InternetGatewayIds=[made])["InternetGateways"]
    assert [a["VpcId"] for a in truth["Attachments"]] == [vpc_id]
    assert after["internet_gateway_id"] == made, (
        after["internet_gateway_id"],
        drift_of(client, request_id),
    )
    assert drift_of(client, request_id) == []
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]


@pytest.mark.parametrize("associated", [True, False], ids=["associated", "not-yet-associated"])
def test_a_route_table_made_again_while_a_read_of_the_gone_one_failed_is_adopted_later(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    associated: bool,
) -> None:
    """The same for the route table: made again in the request's VPC with its tags (copied,
    the creation-time tag too), routed to the gateway and associated with the public
    subnet, in a run whose read by id of the gone table is throttled. The orphan sweep
    tried to remove the new table (RoutesAnotherSubnet: it routes the request's own public
    subnet), noted it as an orphan on the record, and it was never adopted after.
    `not-yet-associated`: the person has not associated the subnet yet: that run deleted
    the new table as a lost answer's (a failed read proves nothing: it is live while the
    run saw no table the record names), and the record named a gone table for ever."""
    rec = public_request(client)
    request_id = rec["request_id"]
    ec2 = stack.truth.ec2
    made, _ = route_table_made_again(stack, rec, associate=associated)
    clock.advance(settings.reconcile_grace_seconds + 1)

    _runs_after_one_whose_reads_by_id_fail(stack, services, clock, settings, "RouteTable")

    after = record(client, request_id)
    assert ec2.describe_route_tables(RouteTableIds=[made])["RouteTables"]  # still there
    assert after["route_table_id"] == made, (after["route_table_id"], drift_of(client, request_id))
    public = rec["subnets"][0]["subnet_id"]
    assert drift_of(client, request_id) == (
        [] if associated else [("association", public, "missing")]
    )
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]


def test_a_route_table_made_again_beside_a_record_not_settled_yet_is_not_an_orphan(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """No fault at all: a person takes the public subnet off the request's route table (a
    run notes that drift, so the record was just written), then deletes the table and
    makes it again, not associated yet. The next run, within DRIFT_SETTLE_SECONDS of that
    note, does not check the record (docs/how-it-works.md "Drift": not settled), so it
    cannot adopt the new table: it must not delete it as an orphan either. The run after
    the record settled adopts it."""
    rec = public_request(client)
    request_id, public = rec["request_id"], rec["subnets"][0]["subnet_id"]
    ec2 = stack.truth.ec2
    [shown] = ec2.describe_route_tables(RouteTableIds=[rec["route_table_id"]])["RouteTables"]
    [association] = [
        a["RouteTableAssociationId"] for a in shown["Associations"] if a.get("SubnetId") == public
    ]
    ec2.disassociate_route_table(AssociationId=association)
    clock.advance(settings.reconcile_grace_seconds + 1)
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) == [("association", public, "missing")]
    made, _ = route_table_made_again(stack, rec, associate=False)

    clock.advance(settings.drift_settle_seconds // 2)  # the next run: the note is not settled
    services.reconciler.run()

    assert ec2.describe_route_tables(RouteTableIds=[made])["RouteTables"]  # still there
    assert record(client, request_id)["orphans"] == []
    reconcile(services, clock, settings)
    assert record(client, request_id)["route_table_id"] == made, drift_of(client, request_id)


def listings_still_show(stack: Stack, item: dict[str, Any]) -> None:
    """From now on every DescribeSubnets listing (not a read by id) still shows `item`,
    as a listing lagging behind its deletion would."""
    sent: list[bool] = []

    def sending(params: dict[str, Any], **_: Any) -> None:
        sent.append(_by_id(params))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if sent.pop(0):
            return
        listed = parsed.setdefault("Subnets", [])
        if all(s["SubnetId"] != item["SubnetId"] for s in listed):
            listed.append(dict(item))

    events = stack.clients.ec2.meta.events
    events.register("provide-client-params.ec2.DescribeSubnets", sending)
    events.register("after-call.ec2.DescribeSubnets", lagging)


def test_a_recorded_missing_subnet_is_not_cleared_by_adopting_one_only_a_lagging_listing_shows(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Recorded: the private subnet is missing (a read by id said so). Someone makes it
    again in its place (tags, CIDR, zone), then deletes that one too. A listing lagging
    behind the second deletion still shows it. EC2 does not match the record (no subnet
    at that CIDR exists), yet nothing was read by id of the one adopted: "a recorded
    finding clears only once reads by id show EC2 matching" (the recorded "missing" clears
    once the one in its place is read by id)."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    private = rec["subnets"][1]
    stack.ec2.delete_subnet(SubnetId=private["subnet_id"])
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) == [("subnet", private["subnet_id"], "missing")]

    made = subnet_made_again(stack, request_id, vpc_id, private["cidr"], private["az"])
    [shown] = stack.ec2.describe_subnets(SubnetIds=[made])["Subnets"]
    stack.ec2.delete_subnet(SubnetId=made)
    listings_still_show(stack, shown)
    reconcile(services, clock, settings)

    # Ground truth: neither subnet exists.
    assert all(s["CidrBlock"] != private["cidr"] for s in stack.subnets(vpc_id))
    after = record(client, request_id)
    assert after["drift"] != [], after  # it said "matching" on a listing alone


def test_a_record_whose_restoration_needs_more_reads_than_a_run_has_is_not_starved_for_ever(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Defaults (DRIFT_CONFIRM_LIMIT 100). A request of 50 public subnets (the most a
    request holds); someone deletes them all and makes them again in their place (tags,
    CIDR, zone) as the console does: MapPublicIpOnLaunch off, not associated with the
    request's route table. Every run reads the 50 gone ones by id (they are never
    recorded missing), then would confirm 50 `changed` subnets and the route table's
    associations: 101 reads. One is always left: an adoption that waits for a run in
    which nothing of it is unknown would wait for ever, and nothing of it, not even what
    every run proves (50 subnets gone), would reach the record. What a run proves of the
    record as it is is written instead: the next runs read less, and adopt."""
    rec = public_request(client, "10.50.0.0/16", subnets=50, public=50)
    request_id = rec["request_id"]
    assert settings.drift_confirm_limit == 100

    for state in rec["subnets"]:
        stack.ec2.delete_subnet(SubnetId=state["subnet_id"])
        subnet_made_again(stack, request_id, rec["vpc_id"], state["cidr"], state["az"])

    for _ in range(5):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    named = {s["subnet_id"] for s in after["subnets"]}
    gone = {s["subnet_id"] for s in rec["subnets"]}
    # Five runs, each proving by id that all 50 named subnets are gone: the record still
    # names them all, with no drift.
    assert not (named == gone and after["drift"] == []), after["drift"]
    # Once the gone ones are recorded missing (no read needed), the made-again ones are
    # adopted, each drifted (no public IPv4, not associated with the route table).
    assert not named & gone, after["drift"]
    assert {d["resource_id"] for d in after["drift"] if d["type"] == "subnet"} == named
    assert after["status"] == "SUCCEEDED"


def test_a_route_missing_before_a_gateway_is_adopted_does_not_say_it_went_to_the_new_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Someone removes the default route, then detaches and deletes the gateway: the record
    says there is no route to 0.0.0.0/0 via igw-old. Someone makes a gateway again (tags
    copied, attached to the VPC) but adds no route: it is adopted, and the route item must
    not say a route once went to the new one (it said "it went to igw-new")."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    old = rec["internet_gateway_id"]
    stack.ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    stack.ec2.detach_internet_gateway(InternetGatewayId=old, VpcId=vpc_id)
    stack.ec2.delete_internet_gateway(InternetGatewayId=old)
    reconcile(services, clock, settings)
    assert ("route", table, "missing") in drift_of(client, request_id)

    new = stack.ec2.create_internet_gateway(
        TagSpecifications=_tags("internet-gateway", request_id)
    )["InternetGateway"]["InternetGatewayId"]
    stack.ec2.attach_internet_gateway(InternetGatewayId=new, VpcId=vpc_id)
    reconcile(services, clock, settings)

    after = record(client, request_id)
    assert after["internet_gateway_id"] == new  # adopted
    [detail] = [d["detail"] for d in after["drift"] if d["type"] == "route"]
    assert "went" not in detail, detail
    assert detail == f"no route to 0.0.0.0/0 via {new}"


def test_a_gateway_made_again_noted_an_orphan_by_a_listing_lagging_its_attachment_is_adopted(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A person makes the request's gateway again (tags copied, attached, routed). One run's
    gateway listings lag behind the new attachment (docs/how-it-works.md: a listing lags
    behind a gateway's attachment like behind anything else): the sweep takes it for an
    orphan attached nowhere, and its delete is refused (DependencyViolation: attached). The
    record noted it "not removed", and a noted orphan was never adopted: the record named
    the gone gateway for good. Now an orphan whose removal was refused may be adopted (one
    removed or being removed never is), and its note goes."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    made, _ = gateway_made_again(stack, rec)
    clock.advance(settings.reconcile_grace_seconds + 1)
    lagging = [True]
    listings_lag(
        stack,
        "DescribeInternetGateways",
        lambda item: item.update(Attachments=[]) if lagging[0] else None,
    )
    reconcile(services, clock, settings)
    assert [o["id"] for o in record(client, request_id)["orphans"]] == [made]
    lagging[0] = False

    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    [truth] = stack.truth.ec2.describe_internet_gateways(InternetGatewayIds=[made])[
        "InternetGateways"
    ]
    assert [a["VpcId"] for a in truth["Attachments"]] == [vpc_id]  # live, attached
    assert (after["internet_gateway_id"], after["orphans"]) == (made, [])
    assert drift_of(client, request_id) == []


def test_a_gateway_made_again_attached_after_its_removal_was_refused_is_adopted(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A person deletes the request's gateway and makes another (tags copied), not attached
    yet: an orphan (attached nowhere), whose delete is throttled past its retries (noted
    "not removed"). Then the person attaches it and routes the table to it: made again in
    place of the gone one, adopted (docs/how-it-works.md "Restored is restored")."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    ec2 = stack.truth.ec2
    gone = rec["internet_gateway_id"]
    ec2.detach_internet_gateway(InternetGatewayId=gone, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=gone)
    made = ec2.create_internet_gateway(
        TagSpecifications=worker_tags("internet-gateway", request_id)
    )["InternetGateway"]["InternetGatewayId"]
    clock.advance(settings.reconcile_grace_seconds + 1)
    stack.faults.fail("ec2", "DeleteInternetGateway", "RequestLimitExceeded", 503, times=-1)
    reconcile(services, clock, settings)
    stack.faults.clear()
    assert [o["id"] for o in record(client, request_id)["orphans"]] == [made]
    ec2.attach_internet_gateway(InternetGatewayId=made, VpcId=vpc_id)
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=made)

    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    assert ec2.describe_internet_gateways(InternetGatewayIds=[made])["InternetGateways"]
    assert (after["internet_gateway_id"], after["orphans"]) == (made, [])
    assert drift_of(client, request_id) == []
