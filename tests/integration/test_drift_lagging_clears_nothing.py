"""A listing that lags behind a change clears no recorded drift on its own word (a failed
or lagging read neither makes drift nor clears it, docs/how-it-works.md): a recorded item
that the listings no longer show is cleared only once a read by id shows EC2 matching again;
until then the record keeps it, and the request stays on GET /vpcs?drift=true."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import Stack
from integration.test_drift import drift_of, drifted, listings_lag, public_request, reconcile


def test_a_listing_lagging_behind_a_removed_route_does_not_clear_its_recorded_drift(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    table, gateway = rec["route_table_id"], rec["internet_gateway_id"]
    stack.ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("route", table, "missing")]

    # The listings now lag: they show the table as it was before the route went.
    def as_before(item: dict[str, Any]) -> None:
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in item["Routes"]):
            item["Routes"].append(
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway, "State": "active"}
            )

    listings_lag(stack, "DescribeRouteTables", as_before)
    reconcile(services, clock, settings)

    # EC2 still has no default route in the table (ground truth):
    [truth] = stack.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    assert not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in truth["Routes"])
    assert drift_of(client, rec["request_id"]) == [("route", table, "missing")]
    assert drifted(client) == [rec["request_id"]]


def test_a_restored_route_is_cleared_once_a_read_by_id_shows_it(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The control: EC2 matches again (the route is back), the listings say so and a read by
    id of the table confirms it: the drift is cleared, in one run."""
    rec = public_request(client)
    table, gateway = rec["route_table_id"], rec["internet_gateway_id"]
    stack.ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    reconcile(services, clock, settings)
    assert drift_of(client, rec["request_id"]) == [("route", table, "missing")]
    stack.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    by_id = listings_lag(stack, "DescribeRouteTables", lambda item: None)

    reconcile(services, clock, settings)

    assert drift_of(client, rec["request_id"]) == []
    assert drifted(client) == []
    assert [p.get("RouteTableIds") for p in by_id] == [[table]]
