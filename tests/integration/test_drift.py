"""Drift: the record stays true when people change EC2 behind our back (docs/api.md, "Drift").

Each test makes a request SUCCEEDED through the worker, changes EC2 out of band
(the uninstrumented client, as a person with console access would), lets the
record settle (DRIFT_SETTLE_SECONDS on the fake clock) and runs the reconciler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.store.layout import DRIFT_INDEX
from chalicelib.store.schema import ATTRIBUTES, INDEXES, KEY_SCHEMA
from chalicelib.wiring import Services
from devstack.resources import create_table
from integration.conftest import (
    REGION,
    TABLE,
    Stack,
    assert_nothing_left,
    body,
    deliver,
    post,
    record,
)
from integration.test_reconciler import put_record, worker_tags
from support.tokens import auth

# Describe operations and the list each answers with (a lagging read empties it).
READS = {
    "DescribeVpcs": "Vpcs",
    "DescribeSubnets": "Subnets",
    "DescribeInternetGateways": "InternetGateways",
    "DescribeRouteTables": "RouteTables",
}


def public_request(
    client: Client, cidr: str = "10.30.0.0/16", subnets: int = 2, public: int = 1
) -> dict[str, Any]:
    """A SUCCEEDED request with two subnets (or `subnets`), the first public (or the first
    `public`: a gateway, a route table)."""
    payload = body(cidr=cidr, subnets=subnets)
    for subnet in payload["subnets"][:public]:
        subnet["public"] = True
    response = post(client, payload)
    assert response.status_code == 202, response.json_body
    request_id = response.json_body["request_id"]
    deliver(client, request_id)
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    return rec


def reconcile(services: Services, clock: Any, settings: Settings) -> Any:
    """A reconciler run once the records have settled."""
    clock.advance(settings.drift_settle_seconds + 2)
    return services.reconciler.run()


def drift_of(client: Client, request_id: str) -> list[tuple[str, str, str]]:
    return [
        (d["type"], d["resource_id"], d["problem"]) for d in record(client, request_id)["drift"]
    ]


def drifted(client: Client, query: str = "") -> list[str]:
    response = client.http.get(f"/vpcs?drift=true{query}", headers=auth())
    assert response.status_code == 200, response.json_body
    return [item["request_id"] for item in response.json_body["items"]]


def lag_every_read(stack: Stack) -> None:
    """Every Describe answers empty from now on: EC2's reads lag."""
    for operation, key in READS.items():
        stack.faults.stale("ec2", operation, key, times=-1)


def disassociate(stack: Stack, table: str, subnet_id: str) -> None:
    """Out of band: the subnet is no longer associated with the route table."""
    [association] = [
        a["RouteTableAssociationId"]
        for a in stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0][
            "Associations"
        ]
        if a.get("SubnetId") == subnet_id
    ]
    stack.ec2.disassociate_route_table(AssociationId=association)


def version(stack: Stack, request_id: str) -> int:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return int(item["version"]["N"])


@pytest.fixture
def rec(client: Client) -> dict[str, Any]:
    return public_request(client)


# --- drift appears, and clears ------------------------------------------------------


def test_a_deleted_subnet_is_drift_on_the_record_and_the_request_stays_succeeded(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    private = rec["subnets"][1]["subnet_id"]
    stack.ec2.delete_subnet(SubnetId=private)
    before = version(stack, rec["request_id"])

    report = reconcile(services, clock, settings)

    assert version(stack, rec["request_id"]) == before + 1  # a write like any other

    after = record(client, rec["request_id"])
    assert after["status"] == "SUCCEEDED"
    assert after["drift"] == [
        {
            "resource_id": private,
            "type": "subnet",
            "problem": "missing",
            "detail": "the subnet (10.30.1.0/24) no longer exists",
        }
    ]
    assert after["drift_detected_at"] == iso_timestamp(clock())
    assert after["subnets"][1]["subnet_id"] == private  # the record names what it made
    assert report.drift.changed == [rec["request_id"]]
    assert drifted(client) == [rec["request_id"]]


def subnet_made_again(stack: Stack, request_id: str, vpc_id: str, cidr: str, az: str) -> str:
    """A subnet someone makes in the request's VPC at `cidr` in `az`, tagged for the
    request and this deployment (no created-at tag, as a person's own): its id."""
    return str(
        stack.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        {"Key": REQUEST_ID_TAG, "Value": request_id},
                        {"Key": DEPLOYMENT_TAG, "Value": TABLE},
                    ],
                }
            ],
        )["Subnet"]["SubnetId"]
    )


def test_a_subnet_made_again_in_its_place_is_adopted_and_the_drift_cleared(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) != []

    restored = subnet_made_again(stack, request_id, vpc_id, "10.30.1.0/24", f"{REGION}b")
    reconcile(services, clock, settings)

    after = record(client, request_id)
    assert after["drift"] == []
    assert after["drift_detected_at"] is None
    assert after["subnets"][1]["subnet_id"] == restored
    assert after["status"] == "SUCCEEDED"
    assert drifted(client) == []


def test_a_removed_default_route_is_drift_until_it_is_routed_again(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    table, gateway = rec["route_table_id"], rec["internet_gateway_id"]
    stack.ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")

    reconcile(services, clock, settings)
    [item] = record(client, rec["request_id"])["drift"]
    assert item == {
        "resource_id": table,
        "type": "route",
        "problem": "missing",
        "detail": f"no route to 0.0.0.0/0 via {gateway}",
    }

    stack.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == []


def test_a_stripped_request_id_tag_is_drift_until_it_is_tagged_again_and_nothing_is_deleted(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    stack.ec2.delete_tags(Resources=[private], Tags=[{"Key": REQUEST_ID_TAG}])

    reconcile(services, clock, settings)
    assert record(client, request_id)["drift"] == [
        {
            "resource_id": private,
            "type": "subnet",
            "problem": "changed",
            "detail": "tag RequestId was removed",
        }
    ]
    assert [s["SubnetId"] for s in stack.subnets(rec["vpc_id"]) if s["SubnetId"] == private]

    stack.ec2.create_tags(Resources=[private], Tags=[{"Key": REQUEST_ID_TAG, "Value": request_id}])
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) == []


def test_a_subnet_made_again_in_its_place_is_never_an_orphan_while_its_adoption_waits(
    client: Client, stack: Stack, clock: Any, settings: Settings, reconfigure: Any
) -> None:
    """Someone deletes a subnet and makes it again in its place, copying every tag (its
    creation time too, so it looks old). Until a read by id proves the first gone (none
    this run: DRIFT_CONFIRM_LIMIT 0), the new one is not adopted; nor is it an orphan: a
    VPC holds one subnet per CIDR, so it is the record's own, made again (a review's
    finding, 2026-12-06: the reconciler deleted it). Then it is adopted."""
    services = reconfigure(settings, drift_confirm_limit=0)
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    remade = stack.ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=rec["subnets"][1]["cidr"],
        AvailabilityZone=f"{REGION}b",
        TagSpecifications=worker_tags("subnet", request_id),
    )["Subnet"]["SubnetId"]
    clock.advance(settings.reconcile_grace_seconds + 1)

    report = reconcile(services, clock, settings)

    assert report.removed == []
    assert remade in {s["SubnetId"] for s in stack.subnets(vpc_id)}
    services = reconfigure(settings, drift_confirm_limit=100)
    reconcile(services, clock, settings)  # the first one proven gone: recorded missing
    reconcile(services, clock, settings)  # the one in its place read by id: adopted
    assert record(client, request_id)["subnets"][1]["subnet_id"] == remade


def test_a_block_someone_associates_with_the_vpc_is_drift_until_it_is_disassociated(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The record says the VPC is 10.30.0.0/16; someone associates 10.31.0.0/16 with it
    (its subnets may now live outside the request's block). Before: no drift. Now the
    VPC is `changed`, naming the block, until the block is disassociated."""
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    added = stack.ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.31.0.0/16")

    reconcile(services, clock, settings)
    assert record(client, request_id)["drift"] == [
        {
            "resource_id": vpc_id,
            "type": "vpc",
            "problem": "changed",
            "detail": "IPv4 block 10.31.0.0/16 was associated besides 10.30.0.0/16",
        }
    ]

    association = added["CidrBlockAssociation"]["AssociationId"]
    stack.ec2.disassociate_vpc_cidr_block(AssociationId=association)
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) == []


def test_a_resource_a_succeeded_record_names_is_never_removed_whatever_its_tags_now_say(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """Someone retags a live subnet with another request id (one whose record, CANCELLED,
    keeps nothing): the orphan sweep would take it for that request's and delete it; it is
    drift instead."""
    private = rec["subnets"][1]["subnet_id"]
    stranger = str(uuid.uuid4())
    put_record(stack, stranger, "CANCELLED", "10.62.0.0/16")
    stack.ec2.create_tags(Resources=[private], Tags=[{"Key": REQUEST_ID_TAG, "Value": stranger}])
    clock.advance(settings.reconcile_grace_seconds + 1)  # old enough to be an orphan

    report = reconcile(services, clock, settings)

    assert report.removed == []
    assert private in {s["SubnetId"] for s in stack.subnets(rec["vpc_id"])}
    [item] = record(client, rec["request_id"])["drift"]
    assert (item["type"], item["resource_id"], item["problem"]) == ("subnet", private, "changed")
    assert item["detail"] == f"tag RequestId is {stranger!r}, not {rec['request_id']!r}"


def test_a_detached_gateway_and_a_lost_association_are_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    vpc_id, gateway, table = rec["vpc_id"], rec["internet_gateway_id"], rec["route_table_id"]
    public = rec["subnets"][0]["subnet_id"]
    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    disassociate(stack, table, public)

    reconcile(services, clock, settings)

    assert record(client, rec["request_id"])["drift"] == [
        {
            "resource_id": gateway,
            "type": "internet_gateway",
            "problem": "changed",
            "detail": f"no longer attached to {vpc_id}",
        },
        {
            "resource_id": public,
            "type": "association",
            "problem": "missing",
            "detail": f"no longer associated with {table}",
        },
    ]


@pytest.mark.parametrize("whose", ["private", "not the request's"])
def test_another_subnet_associated_with_the_public_route_table_is_drift_until_disassociated(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
    whose: str,
) -> None:
    """The request's private subnet, or someone's subnet in its VPC, routed to the internet
    by the request's route table: drift on that subnet's association, cleared once it is
    disassociated again."""
    table = rec["route_table_id"]
    if whose == "private":
        subnet_id = rec["subnets"][1]["subnet_id"]
    else:
        subnet_id = stack.ec2.create_subnet(VpcId=rec["vpc_id"], CidrBlock="10.30.200.0/24")[
            "Subnet"
        ]["SubnetId"]
    association = stack.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)

    reconcile(services, clock, settings)

    drifted_record = record(client, rec["request_id"])
    assert drifted_record["status"] == "SUCCEEDED"
    assert drifted_record["drift"] == [
        {
            "resource_id": subnet_id,
            "type": "association",
            "problem": "changed",
            "detail": f"associated with {table}, though {whose}",
        }
    ]
    assert drifted(client) == [rec["request_id"]]

    stack.ec2.disassociate_route_table(AssociationId=association["AssociationId"])
    reconcile(services, clock, settings)

    cleared = record(client, rec["request_id"])
    assert (cleared["drift"], cleared["drift_detected_at"]) == ([], None)
    assert drifted(client) == []


def test_the_public_route_table_made_the_vpcs_main_one_is_drift_until_the_main_is_moved_back(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Someone makes the request's route table the VPC's main one (the console's "Set main
    route table"): every subnet with no association of its own, the request's private
    ones, is then routed to the internet by it, as if each were associated explicitly
    ("though private", above), and the record said nothing. It says both: the table made
    main, and the private subnet routed to the internet by it."""
    rec = public_request(client)
    private = rec["subnets"][1]["subnet_id"]
    table = rec["route_table_id"]
    [(association, main)] = [
        (a["RouteTableAssociationId"], t["RouteTableId"])
        for t in stack.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [rec["vpc_id"]]}]
        )["RouteTables"]
        for a in t.get("Associations") or []
        if a.get("Main")
    ]
    moved = stack.ec2.replace_route_table_association(AssociationId=association, RouteTableId=table)

    reconcile(services, clock, settings)

    assert [
        (d["resource_id"], d["type"], d["problem"])
        for d in record(client, rec["request_id"])["drift"]
    ] == [(table, "route_table", "changed"), (private, "association", "changed")]
    assert drifted(client) == [rec["request_id"]]

    stack.ec2.replace_route_table_association(
        AssociationId=moved["NewAssociationId"], RouteTableId=main
    )
    reconcile(services, clock, settings)

    assert record(client, rec["request_id"])["drift"] == []
    assert drifted(client) == []


def test_a_vpc_deleted_with_everything_in_it_is_drift_for_each_of_its_resources(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    vpc_id, gateway, table = rec["vpc_id"], rec["internet_gateway_id"], rec["route_table_id"]
    subnets = [s["subnet_id"] for s in rec["subnets"]]
    [described] = stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    for association in described["Associations"]:
        stack.ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    stack.ec2.delete_route_table(RouteTableId=table)
    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    stack.ec2.delete_internet_gateway(InternetGatewayId=gateway)
    for subnet in subnets:
        stack.ec2.delete_subnet(SubnetId=subnet)
    stack.ec2.delete_vpc(VpcId=vpc_id)

    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [
        ("vpc", vpc_id, "missing"),
        *sorted(("subnet", s, "missing") for s in subnets),
        ("internet_gateway", gateway, "missing"),
        ("route_table", table, "missing"),
    ]


def test_drift_that_changes_keeps_the_time_it_was_first_detected(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    stack.ec2.delete_route(RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)
    first = record(client, rec["request_id"])["drift_detected_at"]

    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    reconcile(services, clock, settings)

    after = record(client, rec["request_id"])
    assert [d["type"] for d in after["drift"]] == ["subnet", "route"]
    assert after["drift_detected_at"] == first != iso_timestamp(clock())


# --- a read that could not tell never produces drift ---------------------------------


def test_a_window_of_lagging_describe_answers_never_makes_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """Every listing, every id-filtered listing and every read by id answers empty: nothing
    said "not found", so nothing is missing, and the record is not even written."""
    before = version(stack, rec["request_id"])
    lag_every_read(stack)

    for _ in range(3):
        report = reconcile(services, clock, settings)
        assert report.drift.unknown > 0

    assert drift_of(client, rec["request_id"]) == []
    assert version(stack, rec["request_id"]) == before
    assert drifted(client) == []


def test_describe_answers_that_fail_never_make_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The listings lag, and every closer look fails (500s, throttling): unknown, not missing."""
    lag_every_read(stack)
    for operation in READS:
        stack.faults.fail("ec2", operation, "InternalError", status=500, times=-1, match=_closer)
    stack.faults.fail(
        "ec2", "DescribeSubnets", "RequestLimitExceeded", status=503, times=-1, match=_closer
    )

    report = reconcile(services, clock, settings)

    assert report.drift.unknown > 0
    assert drift_of(client, rec["request_id"]) == []


def test_a_closer_look_that_fails_ends_the_closer_looks_of_the_run(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """Each read is retried in place already: while EC2 fails, one more read per resource
    would only stretch the run towards the Lambda's timeout. One read's retries, then the
    rest wait for a later run."""
    public_request(client, cidr="10.31.0.0/16")
    lag_every_read(stack)
    for operation in READS:
        stack.faults.fail("ec2", operation, "InternalError", status=500, times=-1, match=_closer)
    stack.faults.reset_counts()

    report = reconcile(services, clock, settings)

    assert stack.faults.count("ec2") == len(READS) + settings.ec2_max_attempts
    assert report.drift.unknown > 0
    assert drift_of(client, rec["request_id"]) == []


def test_a_sweep_that_fails_writes_no_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    stack.faults.fail("ec2", "DescribeRouteTables", "InternalError", status=500, times=-1)

    with pytest.raises(Exception, match="InternalError"):
        reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []


def test_what_the_sweep_missed_but_a_read_by_id_shows_is_not_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The sweep lags (empty) once; the closer look finds everything as it was."""
    for operation, key in READS.items():
        stack.faults.stale("ec2", operation, key, times=1)

    report = reconcile(services, clock, settings)

    assert report.drift.unknown == 0
    assert drift_of(client, rec["request_id"]) == []


def listings_lag(
    stack: Stack, operation: str, lag: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """From now on every item of `operation`'s listings (not of its reads by id) shows as
    `lag` leaves it, as a listing lagging behind a change would. Returns the parameters of
    every read by id of `operation`, as they are made."""
    by_id: list[dict[str, Any]] = []
    sent: list[bool] = []  # for each call made, whether it is a read by id

    def sending(params: dict[str, Any], **_: Any) -> None:
        sent.append(_by_id(params))
        if sent[-1]:
            by_id.append(dict(params))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if sent.pop(0):
            return  # a read by id: as EC2 answered it
        for item in parsed.get(READS[operation]) or []:
            lag(item)

    events = stack.clients.ec2.meta.events
    events.register(f"provide-client-params.ec2.{operation}", sending)
    events.register(f"after-call.ec2.{operation}", lagging)
    return by_id


def stale_association(table_id: str, subnet_id: str) -> dict[str, Any]:
    """An association a route table listing still shows after it was removed (lagging)."""
    return {
        "RouteTableAssociationId": "rtbassoc-0stale",
        "RouteTableId": table_id,
        "SubnetId": subnet_id,
        "Main": False,
        "AssociationState": {"State": "associated"},
    }


def listings_lag_behind_routing(stack: Stack) -> list[dict[str, Any]]:
    """Route table listings show every table without its default route and associations."""

    def lag(table: dict[str, Any]) -> None:
        table["Routes"] = [r for r in table["Routes"] if r.get("GatewayId") == "local"]
        table["Associations"] = [a for a in table["Associations"] if a.get("Main")]

    return listings_lag(stack, "DescribeRouteTables", lag)


@pytest.mark.parametrize(
    ("operation", "lag"),
    [
        ("DescribeInternetGateways", lambda gateway: gateway.update(Attachments=[])),
        ("DescribeSubnets", lambda subnet: subnet.update(Tags=[])),
        ("DescribeSubnets", lambda subnet: subnet.update(MapPublicIpOnLaunch=False)),
        ("DescribeVpcs", lambda vpc: vpc.update(Tags=[])),
    ],
)
def test_a_listing_that_lags_behind_tags_or_an_attachment_is_not_drift_when_a_read_by_id_shows_them(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
    operation: str,
    lag: Callable[[dict[str, Any]], None],
) -> None:
    """The listings show the gateway detached, or the subnets and the VPC untagged; each
    read by id shows them as they are: nothing is drift."""
    by_id = listings_lag(stack, operation, lag)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown == 0
    assert by_id != []


def test_a_tag_really_stripped_is_drift_once_a_read_by_id_confirms_it_then_not_read_again(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    private = rec["subnets"][1]["subnet_id"]
    stack.ec2.delete_tags(Resources=[private], Tags=[{"Key": DEPLOYMENT_TAG}])
    by_id = listings_lag(stack, "DescribeSubnets", lambda subnet: None)

    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("subnet", private, "changed")]
    assert [p["SubnetIds"] for p in by_id] == [[private]]

    reconcile(services, clock, settings)  # recorded: the listing alone keeps it
    assert len(by_id) == 1


def test_a_listing_that_lags_behind_the_routes_is_not_drift_when_the_read_by_id_shows_them(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The listing shows the route table without its default route and association; the
    read of the table by id shows both: nothing is drift."""
    by_id = listings_lag_behind_routing(stack)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown == 0
    assert [p["RouteTableIds"] for p in by_id] == [[rec["route_table_id"]]]


def test_a_route_really_removed_is_drift_once_the_read_by_id_confirms_it_then_not_read_again(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    table, public = rec["route_table_id"], rec["subnets"][0]["subnet_id"]
    stack.ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    disassociate(stack, table, public)
    by_id = listings_lag_behind_routing(stack)

    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [
        ("route", table, "missing"),
        ("association", public, "missing"),
    ]
    assert len(by_id) == 1

    reconcile(services, clock, settings)  # recorded: the listing alone keeps it
    assert len(by_id) == 1
    assert len(drift_of(client, rec["request_id"])) == 2


def test_a_listing_that_lags_behind_a_removed_association_is_not_drift_when_the_read_by_id_shows_it(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The listing still shows the private subnet associated with the route table; the read
    of the table by id shows it is not: nothing is drift."""
    table, private = rec["route_table_id"], rec["subnets"][1]["subnet_id"]

    def lag(listed: dict[str, Any]) -> None:
        if listed["RouteTableId"] == table:
            listed["Associations"].append(stale_association(table, private))

    by_id = listings_lag(stack, "DescribeRouteTables", lag)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown == 0
    assert [p["RouteTableIds"] for p in by_id] == [[table]]


def test_a_recorded_association_of_a_private_subnet_stays_while_the_route_table_cannot_be_read(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """Disassociated again, but no read shows the table: the recorded item stays."""
    table, private = rec["route_table_id"], rec["subnets"][1]["subnet_id"]
    association = stack.ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    reconcile(services, clock, settings)
    recorded = record(client, rec["request_id"])
    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]

    stack.ec2.disassociate_route_table(AssociationId=association["AssociationId"])
    lag_every_read(stack)
    reconcile(services, clock, settings)

    after = record(client, rec["request_id"])
    assert (after["drift"], after["drift_detected_at"]) == (
        recorded["drift"],
        recorded["drift_detected_at"],
    )


@pytest.mark.parametrize("read", ["fails", "lags"])
def test_a_routing_finding_the_read_by_id_cannot_confirm_is_unknown_not_drift(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
    read: str,
) -> None:
    listings_lag_behind_routing(stack)
    if read == "fails":
        stack.faults.fail(
            "ec2", "DescribeRouteTables", "InternalError", 500, times=-1, match=_by_id
        )
    else:
        stack.faults.stale("ec2", "DescribeRouteTables", "RouteTables", times=-1, match=_by_id)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown == 2  # the route and the association


def test_what_a_read_by_id_showed_already_is_not_read_again_to_confirm(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """The sweep and the id-filtered listing miss the subnets; the read by id that follows
    shows one's tag stripped: that read is the proof, no second one is made."""
    public, private = (s["subnet_id"] for s in rec["subnets"])
    stack.ec2.delete_tags(Resources=[private], Tags=[{"Key": DEPLOYMENT_TAG}])
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=2, match=_listing)
    by_id = listings_lag(stack, "DescribeSubnets", lambda subnet: None)

    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [("subnet", private, "changed")]
    assert sorted(p["SubnetIds"][0] for p in by_id) == sorted([public, private])


def test_recorded_drift_stays_while_reads_cannot_tell(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """A lagging read neither makes drift nor clears it: the route's absence and the missing
    subnet stay recorded while the route table cannot be read (and the subnet is not read
    again: gone is gone)."""
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    stack.ec2.delete_route(RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)
    recorded = record(client, rec["request_id"])
    assert len(recorded["drift"]) == 2

    gone = rec["subnets"][1]["subnet_id"]
    lag_every_read(stack)
    asked: list[dict[str, Any]] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeSubnets", lambda params, **_: asked.append(params)
    )
    reconcile(services, clock, settings)

    after = record(client, rec["request_id"])
    assert after["drift"] == recorded["drift"]
    assert after["drift_detected_at"] == recorded["drift_detected_at"]
    assert [p for p in asked if gone in str(p)] == []  # gone is gone: not read again


def test_a_request_that_just_succeeded_is_not_checked_while_ec2_may_still_lag(
    client: Client, stack: Stack, services: Services, rec: dict[str, Any]
) -> None:
    """Right after a create EC2 may answer "not found" for the new id: until the record has
    settled, nothing it names is looked at."""
    lag_every_read(stack)
    for operation, code in (
        ("DescribeSubnets", "InvalidSubnetID.NotFound"),
        ("DescribeVpcs", "InvalidVpcID.NotFound"),
    ):
        stack.faults.fail("ec2", operation, code, times=-1, match=_by_id)

    report = services.reconciler.run()  # no time has passed since SUCCEEDED

    assert report.drift.checked == 0
    assert drift_of(client, rec["request_id"]) == []


# --- never a lie over a DELETE --------------------------------------------------------


def test_a_drift_note_never_lands_on_a_request_deleted_meanwhile(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """A DELETE lands between the drift check's read and its write: the write is refused
    (conditional on SUCCEEDED and the version read), and DELETING carries no drift."""
    request_id = rec["request_id"]
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    deleted: list[int] = []

    def delete_first(params: dict[str, Any], **_: Any) -> None:
        if ":drift" in params.get("ExpressionAttributeValues", {}) and not deleted:
            response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
            deleted.append(response.status_code)

    stack.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", delete_first
    )
    report = reconcile(services, clock, settings)

    assert deleted == [202]
    assert report.drift.changed == []
    after = record(client, request_id)
    assert after["status"] == "DELETING"
    assert after["drift"] == []
    assert after["drift_detected_at"] is None
    assert drifted(client) == []


def test_a_drifted_request_can_be_deleted_what_is_missing_is_not_an_error(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    stack.ec2.delete_route(RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0")
    stack.ec2.detach_internet_gateway(InternetGatewayId=rec["internet_gateway_id"], VpcId=vpc_id)
    reconcile(services, clock, settings)
    assert len(record(client, request_id)["drift"]) == 3
    assert drifted(client) == [request_id]

    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert response.status_code == 202
    assert drifted(client) == []
    deliver(client, request_id, operation=Operation.DELETE)

    after = record(client, request_id)
    assert after["status"] == "DELETED", after
    assert after["teardown"]["complete"] is True
    assert after["drift"] == []
    assert_nothing_left(stack, request_id)
    assert stack.ec2.describe_internet_gateways(InternetGatewayIds=[])["InternetGateways"] == []
    route_tables = stack.ec2.describe_route_tables(
        Filters=[{"Name": f"tag:{REQUEST_ID_TAG}", "Values": [request_id]}]
    )["RouteTables"]
    assert route_tables == []


def test_a_drifted_gateway_attached_to_someone_elses_vpc_is_left_and_named_until_detached(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    """Someone detached the request's internet gateway and attached it to a VPC of theirs:
    it may carry their traffic, so DELETE leaves it where it is and the request ends
    DELETE_FAILED naming it (docs/api.md, "Drift"); detached again, a DELETE ends
    DELETED."""
    request_id, gateway = rec["request_id"], rec["internet_gateway_id"]
    theirs = stack.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=rec["vpc_id"])
    stack.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=theirs)
    reconcile(services, clock, settings)

    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):  # it may be detached in a while: worth another try
        deliver(client, request_id, operation=Operation.DELETE)
    last = settings.max_receive_count
    deliver(client, request_id, receive_count=last, operation=Operation.DELETE)

    failed = record(client, request_id)
    assert failed["status"] == "DELETE_FAILED", failed
    assert f"AttachedElsewhere: {gateway}" in failed["teardown"]["error"]
    attached = stack.ec2.describe_internet_gateways(InternetGatewayIds=[gateway])
    assert attached["InternetGateways"][0]["Attachments"][0]["VpcId"] == theirs

    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=theirs)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


# --- the listing ------------------------------------------------------------------------


def test_the_drift_listing_is_newest_first_in_full_pages(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    requests = []
    for i in range(4):
        requests.append(public_request(client, cidr=f"10.{40 + i}.0.0/16"))
        clock.advance(1)  # created one after another
    for rec in requests[:3]:
        stack.ec2.delete_route(RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)

    first = client.http.get("/vpcs?drift=true&limit=2", headers=auth()).json_body
    token = first["next_token"]
    second = client.http.get(f"/vpcs?drift=true&limit=2&next_token={token}", headers=auth())

    newest_first = [r["request_id"] for r in reversed(requests[:3])]
    assert [i["request_id"] for i in first["items"]] == newest_first[:2]
    assert [i["request_id"] for i in second.json_body["items"]] == newest_first[2:]
    assert second.json_body["next_token"] is None
    # A drift listing's token is the drift listing's only.
    other = client.http.get(f"/vpcs?limit=2&next_token={token}", headers=auth())
    assert other.status_code == 400


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("drift=maybe", "drift"),
        ("drift=TRUE", "drift"),
        ("drift=", "drift"),
        ("drift=true&status=SUCCEEDED", "status or drift"),
        ("drift=true&created_by=me", "created_by or drift"),
        ("drift=true&drift=true", "drift"),
    ],
)
def test_a_drift_parameter_other_than_true_is_a_400_naming_it(
    client: Client, query: str, names: str
) -> None:
    response = client.http.get(f"/vpcs?{query}", headers=auth())

    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"
    assert names in response.json_body["Message"]
    assert len(response.json_body["Message"]) < 300


def test_every_record_says_drift_even_without_any(client: Client, rec: dict[str, Any]) -> None:
    post(client, body(cidr="10.50.0.0/16"))
    listing = client.http.get("/vpcs", headers=auth()).json_body["items"]

    assert len(listing) == 2
    for item in [*listing, rec]:
        assert item["drift"] == []
        assert item["drift_detected_at"] is None


# --- cost -----------------------------------------------------------------------------


def test_a_runs_cost_grows_with_pages_not_with_requests(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """One request or eight, settled and matching EC2: the same calls (the four listings of
    the sweep, one Query of the SUCCEEDED requests, one batch read of their records)."""

    def calls() -> dict[tuple[str, str], int]:
        stack.faults.reset_counts()
        reconcile(services, clock, settings)
        return dict(stack.faults.calls)

    public_request(client, cidr="10.60.0.0/16")
    one = calls()
    for i in range(7):
        public_request(client, cidr=f"10.{61 + i}.0.0/16")
    eight = calls()

    assert one == eight
    assert one[("dynamodb", "Query")] == 1
    assert sum(n for (service, _), n in one.items() if service == "ec2") == 4


def test_the_orphan_sweep_reads_no_record_whose_resources_a_succeeded_record_names(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Its strongly consistent batch read was one call per 100 listed requests: now only
    requests with a resource no SUCCEEDED record names are read (the ledger comes with the
    run's claim). The stray's request is CANCELLED: its record keeps nothing."""
    named = public_request(client, cidr="10.60.0.0/16")
    stray = str(uuid.uuid4())
    put_record(stack, stray, "CANCELLED", "10.61.0.0/16")
    stack.ec2.create_vpc(
        CidrBlock="10.61.0.0/16",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [
                    {"Key": REQUEST_ID_TAG, "Value": stray},
                    {"Key": DEPLOYMENT_TAG, "Value": TABLE},
                    {"Key": "vpc-provisioner:created-at", "Value": "2020-01-01T00:00:00Z"},
                ],
            }
        ],
    )
    clock.advance(settings.reconcile_grace_seconds + 1)  # everything old enough
    asked: list[str] = []
    stack.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: asked.extend(
            k["request_id"]["S"] for t in params["RequestItems"].values() for k in t["Keys"]
        ),
    )

    report = reconcile(services, clock, settings)

    assert asked == [stray]  # the ledger came with the run's claim
    assert named["request_id"] not in asked
    assert len(report.removed) == 1  # the stray, provably no one's (its record keeps nothing)


def test_reads_by_id_are_bounded_per_run_and_every_resource_gets_its_turn(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
) -> None:
    services = reconfigure(settings, drift_confirm_limit=2)
    requests = [public_request(client, cidr=f"10.{70 + i}.0.0/16") for i in range(3)]
    gone = [r["subnets"][1]["subnet_id"] for r in requests]
    for subnet in gone:
        stack.ec2.delete_subnet(SubnetId=subnet)

    stack.faults.reset_counts()
    reconcile(services, clock, settings)
    by_id = [c for c in stack.faults.log if c == ("ec2", "DescribeSubnets")]
    assert len(by_id) == 1 + 1 + 2  # the sweep, the id-filtered listing, two reads by id
    assert sum(len(drift_of(client, r["request_id"])) for r in requests) == 2

    for _ in range(3):
        reconcile(services, clock, settings)
    assert all(len(drift_of(client, r["request_id"])) == 1 for r in requests)


def _closer(params: dict[str, Any]) -> bool:
    """A read by id or an id-filtered listing (not the sweep, which filters by tags)."""
    return _by_id(params) or any(
        not f["Name"].startswith("tag") for f in params.get("Filters") or []
    )


def _listing(params: dict[str, Any]) -> bool:
    return not _by_id(params)


def _by_id(params: dict[str, Any]) -> bool:
    return any(key.endswith("Ids") for key in params)


def test_a_table_made_before_the_drift_index_gains_it_when_the_stack_starts(stack: Stack) -> None:
    """`make run PERSIST=1` reuses a table made by an earlier version: it gets `by_drift`."""
    ddb = stack.truth.dynamodb
    old = [i for i in INDEXES if i["IndexName"] != DRIFT_INDEX]
    keys = {k["AttributeName"] for i in old for k in i["KeySchema"]} | {"request_id"}
    ddb.create_table(
        TableName="before-drift",
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=[a for a in ATTRIBUTES if a["AttributeName"] in keys],
        GlobalSecondaryIndexes=old,
        BillingMode="PAY_PER_REQUEST",
    )

    create_table(ddb, "before-drift")

    indexes = ddb.describe_table(TableName="before-drift")["Table"]["GlobalSecondaryIndexes"]
    assert {i["IndexName"] for i in indexes} == {i["IndexName"] for i in INDEXES}


# --- what the mutation run of the drift check found untested ---------------------------


def test_a_record_is_checked_from_the_second_its_settling_ends_not_before(
    stack: Stack, services: Services, clock: Any, settings: Settings, rec: dict[str, Any]
) -> None:
    """Its last write's second, one more (the timestamp's whole seconds), then
    DRIFT_SETTLE_SECONDS: not a moment earlier, and from that moment on."""
    clock.advance(settings.drift_settle_seconds + 0.999)
    assert services.reconciler.run().drift.checked == 0
    clock.advance(0.001)
    assert services.reconciler.run().drift.checked == 1


def test_a_gateway_another_record_names_is_never_adopted_whatever_its_tags_say(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A's gateway is gone, and B's now carries A's RequestId: it is B's (B's record names
    it), so A is not given it in its place (A's DELETE would then delete B's gateway).
    A shows its gateway missing, B its gateway's tag changed."""
    a = public_request(client, "10.30.0.0/16")
    b = public_request(client, "10.40.0.0/16")
    stack.ec2.detach_internet_gateway(InternetGatewayId=a["internet_gateway_id"], VpcId=a["vpc_id"])
    stack.ec2.delete_internet_gateway(InternetGatewayId=a["internet_gateway_id"])
    stack.ec2.create_tags(
        Resources=[b["internet_gateway_id"]],
        Tags=[{"Key": REQUEST_ID_TAG, "Value": a["request_id"]}],
    )

    reconcile(services, clock, settings)

    assert record(client, a["request_id"])["internet_gateway_id"] == a["internet_gateway_id"]
    assert ("internet_gateway", a["internet_gateway_id"], "missing") in drift_of(
        client, a["request_id"]
    )
    assert drift_of(client, b["request_id"]) == [
        ("internet_gateway", b["internet_gateway_id"], "changed")
    ]


def _strip_request_tags(stack: Stack, requests: list[dict[str, Any]]) -> list[str]:
    """Each request's private subnet loses its RequestId tag; their ids."""
    subnets = [r["subnets"][1]["subnet_id"] for r in requests]
    stack.ec2.delete_tags(Resources=subnets, Tags=[{"Key": REQUEST_ID_TAG}])
    return subnets


def _subnets_read_by_id(stack: Stack) -> list[str]:
    """The ids of every subnet the app reads by id from now on, in order."""
    asked: list[str] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeSubnets",
        lambda params, **_: asked.extend(params.get("SubnetIds") or []),
    )
    return asked


def test_confirmations_by_id_are_bounded_per_run_and_the_rest_wait(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
) -> None:
    services = reconfigure(settings, drift_confirm_limit=1)
    requests = [public_request(client, cidr=f"10.{80 + i}.0.0/16") for i in range(2)]
    subnets = _strip_request_tags(stack, requests)
    asked = _subnets_read_by_id(stack)

    reconcile(services, clock, settings)

    assert len(asked) == 1  # one read by id: the limit
    assert asked[0] in subnets
    drifted_now = [r for r in requests if drift_of(client, r["request_id"])]
    assert len(drifted_now) == 1
    reconcile(services, clock, settings)
    assert all(drift_of(client, r["request_id"]) for r in requests)
    assert sorted(asked) == sorted(subnets)  # the other one's turn, the first not read again


def test_closer_looks_and_confirmations_share_one_budget_of_reads_by_id(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
) -> None:
    """DRIFT_CONFIRM_LIMIT bounds a run's reads by id in all: the closer looks at what the
    listings did not show take from it first, the confirmations get what is left (a
    review's finding, 2026-12-06: each had a limit of its own, twice the reads)."""
    services = reconfigure(settings, drift_confirm_limit=2)
    deleted = [public_request(client, cidr=f"10.{84 + i}.0.0/16") for i in range(2)]
    for r in deleted:
        stack.ec2.delete_subnet(SubnetId=r["subnets"][1]["subnet_id"])
    stripped = [public_request(client, cidr=f"10.{86 + i}.0.0/16") for i in range(2)]
    _strip_request_tags(stack, stripped)
    asked = _subnets_read_by_id(stack)

    reconcile(services, clock, settings)

    assert len(asked) == 2  # the closer looks took the run's two reads
    assert sum(len(drift_of(client, r["request_id"])) for r in deleted) == 2
    assert all(drift_of(client, r["request_id"]) == [] for r in stripped)  # next runs'


def test_a_confirmation_that_fails_ends_the_confirmations_of_the_run(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    requests = [public_request(client, cidr=f"10.{82 + i}.0.0/16") for i in range(2)]
    _strip_request_tags(stack, requests)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1, match=_by_id)
    stack.faults.reset_counts()

    report = reconcile(services, clock, settings)

    reads = [c for c in stack.faults.log if c == ("ec2", "DescribeSubnets")]
    # The sweep, the id-filtered listing, then one read by id tried EC2_MAX_ATTEMPTS times.
    assert len(reads) == 2 + settings.ec2_max_attempts
    assert all(drift_of(client, r["request_id"]) == [] for r in requests)
    assert report.drift.unknown == 2


def test_a_lost_association_is_drift_even_after_a_public_subnet_that_is_gone(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    payload = body(cidr="10.86.0.0/16", subnets=2)
    for subnet in payload["subnets"]:
        subnet["public"] = True
    response = post(client, payload)
    request_id = response.json_body["request_id"]
    deliver(client, request_id)
    rec = record(client, request_id)
    first, second = (s["subnet_id"] for s in rec["subnets"])
    disassociate(stack, rec["route_table_id"], first)
    stack.ec2.delete_subnet(SubnetId=first)
    disassociate(stack, rec["route_table_id"], second)

    reconcile(services, clock, settings)

    assert drift_of(client, request_id) == [
        ("subnet", first, "missing"),
        ("association", second, "missing"),
    ]


def test_a_gateway_detached_and_untagged_says_both(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    gateway = rec["internet_gateway_id"]
    stack.ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=rec["vpc_id"])
    stack.ec2.delete_tags(Resources=[gateway], Tags=[{"Key": REQUEST_ID_TAG}])

    reconcile(services, clock, settings)

    [item] = [d for d in record(client, rec["request_id"])["drift"] if d["type"] != "route"]
    assert item["detail"] == f"tag RequestId was removed; no longer attached to {rec['vpc_id']}"


def test_an_attachment_ec2_says_is_detached_is_no_attachment(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    rec: dict[str, Any],
) -> None:
    def detached(parsed: dict[str, Any], **_: Any) -> None:
        for gateway in parsed.get("InternetGateways") or []:
            for attachment in gateway.get("Attachments") or []:
                attachment["State"] = "detached"

    stack.clients.ec2.meta.events.register("after-call.ec2.DescribeInternetGateways", detached)

    reconcile(services, clock, settings)

    assert ("internet_gateway", rec["internet_gateway_id"], "changed") in drift_of(
        client, rec["request_id"]
    )


def test_the_run_counts_every_drifted_request_whether_its_record_changed_or_not(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    requests = [public_request(client, cidr=f"10.{88 + i}.0.0/16") for i in range(2)]
    for r in requests:
        stack.ec2.delete_subnet(SubnetId=r["subnets"][1]["subnet_id"])

    assert reconcile(services, clock, settings).drift.drifted == 2  # both written
    assert reconcile(services, clock, settings).drift.drifted == 2  # both as recorded
