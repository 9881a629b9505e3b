"""What the drift check, the orphan sweep and DELETE's teardown decide around a gateway
or route table made again, or routing a subnet kept (docs/how-it-works.md "Restored is
restored", "A live resource is never an orphan"; docs/api.md "Drift")."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record
from integration.test_drift import public_request, reconcile
from integration.test_reconciler import worker_tags
from support.tokens import auth


def _gateways(stack: Stack, gateway_id: str) -> list[Any]:
    return list(
        stack.truth.ec2.describe_internet_gateways(
            Filters=[{"Name": "internet-gateway-id", "Values": [gateway_id]}]
        )["InternetGateways"]
    )


def test_a_detached_gateway_with_the_requests_tags_is_an_orphan_while_its_own_is_gone(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/how-it-works.md "Restored is restored": only a gateway carrying a record's tags
    attached to its VPC is kept from the orphan sweep (it may be the gateway the record
    names, made again). A gateway carrying
    the request's tags but attached to no VPC cannot be adopted (it is not "in the
    request's VPC") and is what docs/how-it-works.md calls a tagged resource of the
    request that its record does not name: an orphan, removed and noted in `orphans`."""
    rec = public_request(client)
    request_id, vpc_id, gone = rec["request_id"], rec["vpc_id"], rec["internet_gateway_id"]
    ec2 = stack.truth.ec2
    ec2.detach_internet_gateway(InternetGatewayId=gone, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=gone)
    stray = ec2.create_internet_gateway(
        TagSpecifications=worker_tags("internet-gateway", request_id)
    )["InternetGateway"]["InternetGatewayId"]
    clock.advance(settings.reconcile_grace_seconds + 1)

    reconcile(services, clock, settings)

    after = record(client, request_id)
    assert after["internet_gateway_id"] == gone
    assert stray in [o["id"] for o in after["orphans"]], after["orphans"]
    assert _gateways(stack, stray) == []


def test_a_table_routing_an_untagged_subnet_and_someones_waits_for_theirs_to_move(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/api.md "Drift": a DELETE "leaves the route table as it is while it routes" a
    subnet the request does not name, "and waits, saying RoutesAnotherSubnet". The
    request's route table routes both its public subnet, whose RequestId a person removed
    (kept for good: NotTagged), and a subnet of someone else's: the table does not stay
    for good with the request's own subnet; it waits for theirs to move (the request
    stays DELETING, "move that subnet"). Once theirs is out of it, the DELETE ends
    DELETE_FAILED NotTagged, as for the untagged subnet alone."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    public, table = rec["subnets"][0]["subnet_id"], rec["route_table_id"]
    ec2 = stack.truth.ec2
    ec2.delete_tags(Resources=[public], Tags=[{"Key": REQUEST_ID_TAG}])
    theirs = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.200.0/24")["Subnet"]["SubnetId"]
    association = ec2.associate_route_table(RouteTableId=table, SubnetId=theirs)["AssociationId"]
    reconcile(services, clock, settings)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202

    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)

    held = record(client, request_id)
    assert held["status"] == "DELETING", held
    assert table in held["teardown"]["remaining"]
    assert "move that subnet" in str(held["teardown"]["error"]), held["teardown"]

    ec2.disassociate_route_table(AssociationId=association)
    ec2.delete_subnet(SubnetId=theirs)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    after = record(client, request_id)
    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged"), after


def test_a_table_a_listing_missed_that_routes_an_untagged_subnet_stays_for_good_too(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/api.md "Drift": a resource whose tags someone removed "is left where it is" and
    "the request ends DELETE_FAILED with the code NotTagged"; the request's route table,
    which still routes that (public) subnet, stays for good with it. The same when the
    teardown's first listing of the table lagged (showed nothing: EC2's reads lag,
    docs/how-it-works.md) and it is listed again after DeleteRouteTable's refusal: one
    receive ends the DELETE, not a RoutesAnotherSubnet that is retried as if it may
    clear."""
    rec = public_request(client)
    request_id, public = rec["request_id"], rec["subnets"][0]["subnet_id"]
    stack.truth.ec2.delete_tags(Resources=[public], Tags=[{"Key": REQUEST_ID_TAG}])
    reconcile(services, clock, settings)
    missed: list[bool] = []

    def lagging(parsed: dict[str, Any], params: dict[str, Any] | None = None, **_: Any) -> None:
        if not missed:
            missed.append(True)
            parsed["RouteTables"] = []

    def by_table_id(params: dict[str, Any], **_: Any) -> None:
        names = {f.get("Name") for f in params.get("Filters") or []}
        if "route-table-id" in names and not missed:
            events.register_first("after-call.ec2.DescribeRouteTables", lagging)

    events = stack.clients.ec2.meta.events
    events.register("provide-client-params.ec2.DescribeRouteTables", by_table_id)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202

    deliver(client, request_id, operation=Operation.DELETE)

    after = record(client, request_id)
    assert missed == [True]
    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged"), after
    assert "move that subnet" not in str(after["teardown"]["error"]), after["teardown"]
