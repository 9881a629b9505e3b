"""An orphan whose removal a run noted (`orphans[].removing`) but never sent, because the
run died, and that a person then puts in place of the request's gone gateway or route table
(docs/how-it-works.md "Restored is restored", "A live resource is never an orphan";
docs/api.md "Drift": a gateway or route table made again in place of the one that is gone
is adopted, the record then names the new one; `orphans`: "both null while the removal is
under way")."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from devstack.fault_rules import WorkerKilled
from integration.conftest import Stack, record
from integration.test_drift import drift_of, public_request, reconcile
from integration.test_reconciler import worker_tags


def _gateway(stack: Stack, rec: dict[str, Any]) -> tuple[str, Any]:
    """A second gateway of the request's (tags copied), attached nowhere: an orphan. Then
    (the returned step) the person deletes the request's gateway, attaches this one in its
    place and routes the table to it."""
    ec2 = stack.truth.ec2
    made = ec2.create_internet_gateway(
        TagSpecifications=worker_tags("internet-gateway", rec["request_id"])
    )["InternetGateway"]["InternetGatewayId"]

    def in_place() -> None:
        gone, vpc_id = rec["internet_gateway_id"], rec["vpc_id"]
        ec2.detach_internet_gateway(InternetGatewayId=gone, VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=gone)
        ec2.attach_internet_gateway(InternetGatewayId=made, VpcId=vpc_id)
        ec2.replace_route(
            RouteTableId=rec["route_table_id"], DestinationCidrBlock="0.0.0.0/0", GatewayId=made
        )

    return str(made), in_place


def _route_table(stack: Stack, rec: dict[str, Any]) -> tuple[str, Any]:
    """A second route table of the request's in its VPC (tags copied), routed to its
    gateway, routing nothing yet: an orphan beside the record's own. Then (the returned
    step) the person moves the public subnet onto it and deletes the request's table."""
    ec2 = stack.truth.ec2
    made = ec2.create_route_table(
        VpcId=rec["vpc_id"], TagSpecifications=worker_tags("route-table", rec["request_id"])
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=made, DestinationCidrBlock="0.0.0.0/0", GatewayId=rec["internet_gateway_id"]
    )

    def in_place() -> None:
        gone, public = rec["route_table_id"], rec["subnets"][0]["subnet_id"]
        [shown] = ec2.describe_route_tables(RouteTableIds=[gone])["RouteTables"]
        [association] = [
            a["RouteTableAssociationId"]
            for a in shown["Associations"]
            if a.get("SubnetId") == public
        ]
        ec2.replace_route_table_association(AssociationId=association, RouteTableId=made)
        ec2.delete_route_table(RouteTableId=gone)

    return str(made), in_place


@pytest.mark.parametrize(
    ("kind", "delete", "make"),
    [
        ("internet_gateway", "DeleteInternetGateway", _gateway),
        ("route_table", "DeleteRouteTable", _route_table),
    ],
)
def test_an_orphan_whose_removal_never_went_out_is_adopted_once_live_in_its_place(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    kind: str,
    delete: str,
    make: Any,
) -> None:
    """A run notes its intent to remove the stray (`removing`) and dies before the delete
    is sent (a Lambda timeout). Then the person puts the stray in place of the request's
    own, which they delete: attached to the request's VPC and routed to (a gateway), or
    routing its public subnet (a table). It is live, so no run removes it; and it is the
    request's gateway or table now, made again in place of the gone one: the record must
    come to name it, without drift, and stop saying its removal is under way. Before, a
    noted intent was never adopted: the record named the gone one `missing` for good, and
    said for good that the live one was being removed."""
    rec = public_request(client)
    request_id = rec["request_id"]
    made, in_place = make(stack, rec)
    clock.advance(settings.reconcile_grace_seconds + 1)
    stack.faults.kill("ec2", delete, when="before")
    try:
        with pytest.raises(WorkerKilled):
            reconcile(services, clock, settings)
    finally:
        stack.faults.clear()
    [noted] = record(client, request_id)["orphans"]
    assert (noted["id"], noted["removed_at"], noted["error"]) == (made, None, None)
    in_place()
    clock.advance(2 * settings.reconcile_run_seconds)  # the dead run's claim has run out

    for _ in range(4):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    assert (after[f"{kind}_id"], after["orphans"]) == (made, []), drift_of(client, request_id)
    assert drift_of(client, request_id) == []
