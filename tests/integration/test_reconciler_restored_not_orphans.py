"""The orphan sweep of a SUCCEEDED request's resources against what people restore
(docs/how-it-works.md "Restored is restored", "A live resource is never an orphan"): a
gateway carrying the request's tags attached to its VPC, or a table of its routing a
subnet there, is live, whatever a lagging sweep shows of the one the record names; a
duplicate table routing nothing is an orphan, removed, whatever tags the record's own
table lost."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import Stack, record
from integration.test_drift import disassociate, drift_of, public_request, reconcile
from integration.test_drift_restored import gateway_made_again, route_table_made_again
from integration.test_reconciler import tagged_table


def test_a_duplicate_route_table_is_removed_though_the_records_own_table_lost_its_tag(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A lost CreateRouteTable answer left a second table of the request in its VPC
    (docs/how-it-works.md "Public subnets, exactly once too": "that table, left holding
    nothing, is an orphan the reconciler removes"). A person has stripped the RequestId
    tag of the record's own table (drift: "changed", the table is there, the sweep's
    listing of every route table shows it, and a read by id too). Nothing can be adopted
    (the one named is not gone), so the duplicate is an orphan: it must be removed (or at
    least noted on the record). drift.py's `unshown` keys on `sweep.get(named_id)` (the
    tag-filtered part of the sweep), so the duplicate is `named` for as long as the tag
    stays stripped: never removed, never noted, OrphansRemaining 0."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    ec2 = stack.truth.ec2
    duplicate = tagged_table(stack, vpc_id, request_id)
    ec2.delete_tags(Resources=[table], Tags=[{"Key": REQUEST_ID_TAG}])
    clock.advance(settings.reconcile_grace_seconds + 1)

    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    # The record's table is still there, named, drift says its tag was removed.
    assert after["route_table_id"] == table
    assert ("route_table", table, "changed") in drift_of(client, request_id)
    left = [
        t["RouteTableId"]
        for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "RouteTables"
        ]
    ]
    noted = [o["id"] for o in after["orphans"]]
    assert duplicate not in left or duplicate in noted, (left, after["orphans"])


def _sweep_still_lists(stack: Stack, kind: str, item: dict[str, Any]) -> Any:
    """The sweep's listings of `kind` (InternetGateway: filtered by tag; RouteTable: of every
    table, unfiltered) still show `item`, gone, as EC2's listing lagging behind its deletion
    would; reads by id and other listings answer as EC2 is. Returns the unregister
    function."""
    operation, member, key = f"Describe{kind}s", f"{kind}s", f"{kind}Id"
    sent: list[bool] = []

    def sending(params: dict[str, Any], **_: Any) -> None:
        filters = params.get("Filters") or []
        if kind == "RouteTable":
            sent.append(not filters and not params.get("RouteTableIds"))
        else:
            sent.append(any(str(f.get("Name", "")).startswith("tag:") for f in filters))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if not sent.pop(0):
            return
        listed = parsed.setdefault(member, [])
        if all(i[key] != item[key] for i in listed):
            listed.append(item)

    events = stack.clients.ec2.meta.events
    events.register(f"provide-client-params.ec2.{operation}", sending)
    events.register(f"after-call.ec2.{operation}", lagging)

    def unregister() -> None:
        events.unregister(f"provide-client-params.ec2.{operation}", sending)
        events.unregister(f"after-call.ec2.{operation}", lagging)

    return unregister


def test_a_gateway_made_again_is_never_noted_an_orphan_by_a_sweep_lagging_behind_the_gone_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The case of test_drift_restored's `..._gateway_made_again_while_a_read_of_the_gone_
    one_failed_is_adopted_later`, with the other way a read can fail: late. A person deletes
    the request's gateway and makes it again (tags copied, the creation time too), attached
    to the request's VPC and routed to. The next run's sweep lags behind the deletion: it
    still lists the gone gateway (EC2's reads lag its writes both ways). The new, attached
    gateway must not be taken for an orphan and noted on the record (AttachedElsewhere):
    the record's orphans are never adopted, so the record would name a gone gateway for
    good, and say a live, attached one of its own is an orphan it cannot remove."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    ec2 = stack.truth.ec2
    made, snapshot = gateway_made_again(stack, rec)
    clock.advance(settings.reconcile_grace_seconds + 1)

    unregister = _sweep_still_lists(stack, "InternetGateway", snapshot)
    try:
        reconcile(services, clock, settings)  # the sweep lags behind the deletion
    finally:
        unregister()
    # Later runs read as EC2 is.
    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    [truth] = ec2.describe_internet_gateways(InternetGatewayIds=[made])["InternetGateways"]
    assert [a["VpcId"] for a in truth["Attachments"]] == [vpc_id]  # live, attached
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]
    assert after["internet_gateway_id"] == made, (
        after["internet_gateway_id"],
        drift_of(client, request_id),
    )
    assert drift_of(client, request_id) == []


def test_a_route_table_made_again_is_never_noted_an_orphan_by_a_sweep_lagging_behind_the_gone_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The same for the route table (test_drift_restored's `..._route_table_made_again_
    while_a_read_of_the_gone_one_failed_...`), the sweep lagging behind the deletion of
    the gone table instead of a read by id failing: the made-again table (tags copied,
    routed to the gateway, associated with the public subnet) is noted an orphan of the
    SUCCEEDED request (RoutesAnotherSubnet) and never adopted after: it must not be."""
    rec = public_request(client)
    request_id = rec["request_id"]
    ec2 = stack.truth.ec2
    made, snapshot = route_table_made_again(stack, rec)
    clock.advance(settings.reconcile_grace_seconds + 1)

    unregister = _sweep_still_lists(stack, "RouteTable", snapshot)
    try:
        reconcile(services, clock, settings)
    finally:
        unregister()
    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    assert ec2.describe_route_tables(RouteTableIds=[made])["RouteTables"]  # still there
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]
    assert after["route_table_id"] == made, (after["route_table_id"], drift_of(client, request_id))
    assert drift_of(client, request_id) == []


def test_a_duplicate_route_table_noted_an_orphan_is_removed_after_the_records_own_is_gone(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A lost answer's duplicate table (routing nothing) beside the record's own: noted an
    orphan, its first delete refused. Then a person deletes the record's own table. A table
    of the request routing none of its subnets is live while a run sees no table the
    record names (made again, not associated yet), but not one the record already notes as
    an orphan: that one was seen beside the record's own, a duplicate. Before: live in
    every run from then on, never removed, the record noting it "not removed" for ever."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    ec2 = stack.truth.ec2
    duplicate = tagged_table(stack, vpc_id, request_id)
    clock.advance(settings.reconcile_grace_seconds + 1)
    stack.faults.fail(
        "ec2",
        "DeleteRouteTable",
        "InternalError",
        500,
        times=-1,
        match=lambda params: params.get("RouteTableId") == duplicate,
    )
    reconcile(services, clock, settings)
    stack.faults.clear()
    noted = {o["id"]: o for o in record(client, request_id)["orphans"]}
    assert noted[duplicate]["removed_at"] is None, noted
    disassociate(stack, table, rec["subnets"][0]["subnet_id"])
    ec2.delete_route_table(RouteTableId=table)

    for _ in range(2):
        reconcile(services, clock, settings)

    left = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    assert duplicate not in [t["RouteTableId"] for t in left["RouteTables"]]
    noted = {o["id"]: o for o in record(client, request_id)["orphans"]}
    assert noted[duplicate]["removed_at"], noted


def _listings_leave_out(stack: Stack, table_id: str) -> Any:
    """Every DescribeRouteTables listing (the sweep's of every table, the closer one
    filtered by id or by VPC) leaves `table_id` out, as a listing lagging behind it would;
    a read by id (RouteTableIds) shows it as EC2 is. Returns the unregister function."""
    sent: list[bool] = []  # for each call made, whether it is a read by id

    def sending(params: dict[str, Any], **_: Any) -> None:
        sent.append(bool(params.get("RouteTableIds")))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if sent.pop(0):
            return
        listed = parsed.get("RouteTables") or []
        parsed["RouteTables"] = [t for t in listed if t["RouteTableId"] != table_id]

    events = stack.clients.ec2.meta.events
    events.register("provide-client-params.ec2.DescribeRouteTables", sending)
    events.register("after-call.ec2.DescribeRouteTables", lagging)

    def unregister() -> None:
        events.unregister("provide-client-params.ec2.DescribeRouteTables", sending)
        events.unregister("after-call.ec2.DescribeRouteTables", lagging)

    return unregister


def _tables_in(stack: Stack, vpc_id: str) -> list[str]:
    """Ground truth: the ids of the route tables in the VPC."""
    listed = stack.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return [t["RouteTableId"] for t in listed["RouteTables"]]


def test_a_duplicate_route_table_is_removed_when_only_a_read_by_id_shows_the_records_own(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A lost answer's duplicate table (routing nothing) beside the record's own
    (docs/how-it-works.md "Public subnets, exactly once too": "an orphan the reconciler
    removes"). The run's listings lag behind the record's own table and leave it out; its
    read by id shows it. docs/how-it-works.md "Restored is restored": a table carrying the
    request's tags that routes none of its subnets "is live too unless a read by id of
    this run showed the table the record names"; "once a read by id shows it, the other
    is a lost answer's duplicate, an orphan": the duplicate is removed in that very run
    (and the record notes it), not kept as if the record's own were gone or unread."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    duplicate = tagged_table(stack, vpc_id, request_id)
    clock.advance(settings.reconcile_grace_seconds + 1)

    unregister = _listings_leave_out(stack, table)
    try:
        report = reconcile(services, clock, settings)
    finally:
        unregister()

    assert table in report.drift.named
    assert duplicate not in report.drift.named
    left = _tables_in(stack, vpc_id)
    assert table in left
    assert duplicate not in left, left
    after = record(client, request_id)
    assert after["route_table_id"] == table
    noted = {o["id"]: o for o in after["orphans"]}
    assert noted[duplicate]["removed_at"], noted


def test_a_duplicate_route_table_beside_a_record_not_settled_yet_is_kept_until_a_read_shows_its_own(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A request that has just SUCCEEDED, and beside its route table a duplicate an
    earlier attempt's lost answer left, long made, routing nothing (docs/how-it-works.md
    "Public subnets, exactly once too": "an orphan the reconciler removes"). The first run
    comes within DRIFT_SETTLE_SECONDS of the record's last write, so it does not check the
    record and reads nothing of it by id, though its sweep lists the record's own table.
    docs/how-it-works.md "Restored is restored": such a table "is live too unless a read
    by id of this run showed the table the record names (... only a listing showed it, or
    the record not settled ...)": kept, not noted. The run after the record settled reads
    its own table by id: the duplicate is an orphan then, removed and noted."""
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    duplicate = tagged_table(stack, vpc_id, request_id)

    report = services.reconciler.run()  # no time passes: the record is not settled

    assert report.drift.checked == 0
    assert {table, duplicate} <= set(_tables_in(stack, vpc_id))
    assert duplicate not in {o["id"] for o in record(client, request_id)["orphans"]}

    clock.advance(max(settings.reconcile_grace_seconds, settings.drift_settle_seconds) + 1)
    reconcile(services, clock, settings)

    left = _tables_in(stack, vpc_id)
    assert table in left
    assert duplicate not in left, left
    noted = {o["id"]: o for o in record(client, request_id)["orphans"]}
    assert noted[duplicate]["removed_at"], noted
