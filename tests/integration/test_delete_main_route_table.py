"""DELETE of a request whose route table someone made the VPC's main one (drift: "made
the VPC's main route table", docs/api.md "Drift"): EC2 never deletes a VPC's main route
table (it answers DependencyViolation, as for an association it still has, which the
teardown takes for a listing lagging and tries again). The teardown leaves it, and its
VPC, and the request ends DELETE_FAILED at once, saying so (`MainRouteTable`); once
another table is main again, a new DELETE removes everything. moto deletes a main route
table: only the teardown's own check holds this locally, as in AWS."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, assert_nothing_left, deliver, record
from integration.test_drift import public_request, reconcile
from support.tokens import auth


def _main_association(stack: Stack, vpc_id: str) -> tuple[str, str]:
    """The VPC's main association and the table that holds it."""
    [found] = [
        (str(a["RouteTableAssociationId"]), str(t["RouteTableId"]))
        for t in stack.truth.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )["RouteTables"]
        for a in t.get("Associations") or []
        if a.get("Main")
    ]
    return found


def _delete(client: Client, request_id: str) -> dict[str, Any]:
    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert response.status_code == 202, response.json_body
    deliver(client, request_id, operation=Operation.DELETE)
    return record(client, request_id)


def test_a_route_table_made_main_is_left_with_its_vpc_and_the_delete_ends_saying_so(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, vpc_id, table = rec["request_id"], rec["vpc_id"], rec["route_table_id"]
    association, first_main = _main_association(stack, vpc_id)
    moved = stack.truth.ec2.replace_route_table_association(
        AssociationId=association, RouteTableId=table
    )["NewAssociationId"]
    reconcile(services, clock, settings)
    assert "made the VPC's main route table" in str(record(client, request_id)["drift"])

    after = _delete(client, request_id)  # one receive: a refusal that stands

    assert after["status"] == "DELETE_FAILED", after
    assert after["error"]["code"] == "MainRouteTable", after["error"]
    assert table in after["error"]["message"]
    assert set(after["teardown"]["remaining"]) == {table, vpc_id}
    assert stack.truth.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert stack.vpcs(request_id)

    stack.truth.ec2.replace_route_table_association(AssociationId=moved, RouteTableId=first_main)
    again = _delete(client, request_id)

    assert again["status"] == "DELETED", again
    assert_nothing_left(stack, request_id)
