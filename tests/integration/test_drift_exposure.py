"""Drift: a private subnet someone routed to the internet, a public one whose instances
no longer get public addresses (docs/api.md, "Drift").

A request's private subnet has no association of its own: the VPC's main route table
routes it, and that table sends nothing to an internet gateway. Someone adds such a
route to the main table, or associates the subnet with a table of theirs that has one:
the subnet is public now, and a record that still says `"public": false` lies. The
reconciler finds it in its listing of every route table, confirms it with a read of
that table by id, and notes it (`association`, `changed`) until it is undone.
"""

from __future__ import annotations

import contextvars
from typing import Any

from chalice.test import Client

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.aws.inventory import Inventory
from chalicelib.backoff import Backoff
from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, body, deliver, post, record
from integration.test_drift import (
    _by_id,
    drift_of,
    drifted,
    listings_lag,
    public_request,
    reconcile,
    stale_association,
)


def main_table(stack: Stack, vpc_id: str) -> str:
    [table] = [
        str(t["RouteTableId"])
        for t in stack.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "RouteTables"
        ]
        if any(a.get("Main") for a in t.get("Associations") or [])
    ]
    return table


def exposed_through_the_main_table(client: Client, stack: Stack) -> tuple[dict[str, Any], str, str]:
    """A public request whose VPC's main route table someone routed to its gateway: the
    record, its private subnet, the main table."""
    rec = public_request(client)
    main = main_table(stack, rec["vpc_id"])
    stack.ec2.create_route(
        RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=rec["internet_gateway_id"]
    )
    return rec, rec["subnets"][1]["subnet_id"], main


def private_request(client: Client) -> dict[str, Any]:
    """A SUCCEEDED request with one private subnet: no gateway, no route table of its own."""
    response = post(client, body(cidr="10.40.0.0/16", subnets=1))
    assert response.status_code == 202, response.json_body
    deliver(client, response.json_body["request_id"])
    rec = record(client, response.json_body["request_id"])
    assert rec["status"] == "SUCCEEDED", rec
    return rec


def someones_route_to_the_internet(stack: Stack, vpc_id: str) -> tuple[str, str]:
    """Out of band: a person's internet gateway attached to the VPC and a table of theirs
    routing 0.0.0.0/0 to it (neither tagged)."""
    gateway = stack.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    stack.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    table = stack.ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    stack.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    return gateway, table


def test_a_route_to_the_internet_added_to_the_main_table_is_drift_until_removed(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec, private, main = exposed_through_the_main_table(client, stack)
    gateway = rec["internet_gateway_id"]

    reconcile(services, clock, settings)

    [item] = record(client, rec["request_id"])["drift"]
    assert item == {
        "resource_id": private,
        "type": "association",
        "problem": "changed",
        "detail": f"private, but {main} (the VPC's main route table) routes it to {gateway}",
    }
    assert record(client, rec["request_id"])["status"] == "SUCCEEDED"
    assert drifted(client) == [rec["request_id"]]

    stack.ec2.delete_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert drifted(client) == []


def test_a_private_subnet_associated_with_someones_table_to_the_internet_is_drift_and_theirs_stays(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A request with no gateway of its own: someone attaches one and routes the subnet
    through a table of theirs. Drift, and what they made is theirs: never removed."""
    rec = private_request(client)
    subnet = rec["subnets"][0]["subnet_id"]
    gateway, table = someones_route_to_the_internet(stack, rec["vpc_id"])
    association = stack.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)

    clock.advance(settings.reconcile_grace_seconds + 60)
    reconcile(services, clock, settings)

    assert [
        (d["resource_id"], d["detail"]) for d in record(client, rec["request_id"])["drift"]
    ] == [(subnet, f"private, but {table} (associated with it) routes it to {gateway}")]
    assert stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert stack.ec2.describe_internet_gateways(InternetGatewayIds=[gateway])["InternetGateways"]

    stack.ec2.disassociate_route_table(AssociationId=association["AssociationId"])
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []


def route_to(gateway: str) -> dict[str, Any]:
    return {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway, "State": "active"}


def test_a_listing_showing_the_main_table_to_the_internet_is_not_drift_when_its_read_by_id_does_not(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The listing shows a route the main table does not have (a listing lagging behind
    its removal): the read of the main table by id shows none, and nothing is drift."""
    rec = public_request(client)
    main = main_table(stack, rec["vpc_id"])

    def lag(table: dict[str, Any]) -> None:
        if table["RouteTableId"] == main:
            table["Routes"].append(route_to(rec["internet_gateway_id"]))

    by_id = listings_lag(stack, "DescribeRouteTables", lag)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown == 0
    assert main in [p["RouteTableIds"][0] for p in by_id]


def test_exposure_a_read_by_id_cannot_confirm_is_unknown_until_one_can(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec, private, _ = exposed_through_the_main_table(client, stack)
    stack.faults.fail("ec2", "DescribeRouteTables", "InternalError", 500, times=-1, match=_by_id)

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown >= 1

    stack.faults.clear()
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]


def test_recorded_exposure_stays_while_no_read_by_id_can_confirm_it_is_gone(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The route is removed, but the read of the main table by id fails: the listing alone
    clears nothing."""
    rec, private, main = exposed_through_the_main_table(client, stack)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]

    stack.ec2.delete_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0")
    stack.faults.fail("ec2", "DescribeRouteTables", "InternalError", 500, times=-1, match=_by_id)
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]


def test_a_listing_of_every_table_that_misses_the_vpcs_looks_closer_by_vpc(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The sweep's listing of route tables answers empty (it lags): one listing filtered
    by the VPC shows its tables, and the exposure is found all the same."""
    rec, private, _ = exposed_through_the_main_table(client, stack)

    def unfiltered(params: dict[str, Any]) -> bool:
        return not params.get("Filters") and not _by_id(params)

    stack.faults.stale("ec2", "DescribeRouteTables", "RouteTables", times=1, match=unfiltered)
    by_vpc: list[dict[str, Any]] = []
    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DescribeRouteTables",
        lambda params, **_: by_vpc.extend(
            f for f in params.get("Filters") or [] if f["Name"] == "vpc-id"
        ),
    )

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]
    assert report.drift.unknown == 0
    assert by_vpc == [{"Name": "vpc-id", "Values": [rec["vpc_id"]]}]


def test_a_vpc_whose_tables_no_listing_shows_leaves_its_private_subnets_unknown(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec, _, _ = exposed_through_the_main_table(client, stack)
    stack.faults.stale(
        "ec2", "DescribeRouteTables", "RouteTables", times=-1, match=lambda p: not _by_id(p)
    )

    report = reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert report.drift.unknown >= 1


def test_a_public_subnet_whose_public_ips_were_turned_off_is_drift_until_turned_on(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    public = rec["subnets"][0]["subnet_id"]
    stack.ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": False})

    reconcile(services, clock, settings)

    [item] = record(client, rec["request_id"])["drift"]
    assert (item["resource_id"], item["type"], item["problem"]) == (public, "subnet", "changed")
    assert "MapPublicIpOnLaunch is off" in item["detail"]

    stack.ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []


def test_the_sweep_holds_as_ours_only_tables_with_this_deployments_tag_and_a_request_id(
    stack: Stack, settings: Settings, sleeps: Any
) -> None:
    """The route tables are listed whole (the tables the request did not make tell which
    routes a private subnet) and filtered here as EC2 filters the other listings: one of
    another deployment with a RequestId, or of this one without, is never ours (the orphan
    removal would take it for one of our requests' leftovers)."""
    vpc = stack.ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]

    def table(tags: dict[str, str]) -> str:
        spec = [
            {
                "ResourceType": "route-table",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
        made = stack.ec2.create_route_table(VpcId=vpc, TagSpecifications=spec if tags else [])
        return str(made["RouteTable"]["RouteTableId"])

    ours = table({REQUEST_ID_TAG: "r-1", DEPLOYMENT_TAG: TABLE})
    another_deployments = table({REQUEST_ID_TAG: "r-1", DEPLOYMENT_TAG: "another"})
    no_request = table({DEPLOYMENT_TAG: TABLE})
    untagged = table({})

    inventory = Inventory(stack.clients.ec2, TABLE)
    calls = Ec2Calls(settings, sleeps, Backoff(0.01, 0.01))
    # In a context of its own: no Lambda function's calls (the IAM check skips them).
    sweep = contextvars.Context().run(lambda: inventory.sweep(calls))

    listed = {t.resource_id for t in sweep.tables[vpc]}
    assert {ours, another_deployments, no_request, untagged} <= listed
    assert {s.resource_id for s in sweep if s.vpc_id == vpc} == {ours}


def test_recorded_exposure_is_not_cleared_by_a_listing_showing_an_association_a_read_does_not(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """Recorded: the main table routes the private subnet to the internet. A listing then
    shows the subnet associated with a table of someone's without such a route (one
    removed since: the listing lags); that table read by id shows no such association:
    the main table still routes it, and the item stays."""
    rec, private, _ = exposed_through_the_main_table(client, stack)
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]
    theirs = stack.ec2.create_route_table(VpcId=rec["vpc_id"])["RouteTable"]["RouteTableId"]

    def lag(table: dict[str, Any]) -> None:
        if table["RouteTableId"] == theirs:
            table["Associations"].append(stale_association(theirs, private))

    by_id = listings_lag(stack, "DescribeRouteTables", lag)
    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == [("association", private, "changed")]
    assert theirs in [p["RouteTableIds"][0] for p in by_id]
