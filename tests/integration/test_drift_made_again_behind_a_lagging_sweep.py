"""A route table made again, not associated yet, while the sweep still lists the gone one
(docs/how-it-works.md "Drift": "Absence from a listing is not evidence ... a lagging or
failing read neither makes drift nor clears it", "Restored is restored", and "Convergence
never destroys and never lies"; docs/api.md "Drift": "a Describe answer that lags ...
proves nothing")."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import Stack, record
from integration.test_drift import _closer, drift_of, public_request, reconcile
from integration.test_drift_restored import route_table_made_again
from integration.test_reconciler_restored_not_orphans import _sweep_still_lists


def test_a_route_table_made_again_survives_a_sweep_that_still_lists_the_gone_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A person deletes the request's route table and makes it again in the request's VPC
    (its tags copied, the creation time too; routed to the gateway), the public subnet not
    associated yet. The next run's sweep lags behind the deletion: its listing of every
    route table still shows the gone one. That listing proves nothing, so it cannot make
    the new table a lost answer's duplicate: a table made again is adopted ("Restored is
    restored"), never deleted as an orphan because a lagging listing showed the gone one.
    Before, that run deleted the new table; the record named the gone one for good."""
    rec = public_request(client)
    request_id, public = rec["request_id"], rec["subnets"][0]["subnet_id"]
    ec2 = stack.truth.ec2
    made, gone = route_table_made_again(stack, rec, associate=False)
    clock.advance(settings.reconcile_grace_seconds + 1)

    unregister = _sweep_still_lists(stack, "RouteTable", gone)
    try:
        reconcile(services, clock, settings)  # the sweep lags behind the deletion
    finally:
        unregister()
    assert ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": [made]}])[
        "RouteTables"
    ], f"{made}, made again, was deleted: orphans {record(client, request_id)['orphans']}"
    for _ in range(3):
        reconcile(services, clock, settings)

    after = record(client, request_id)
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]
    assert after["route_table_id"] == made, (after["route_table_id"], drift_of(client, request_id))
    assert drift_of(client, request_id) == [("association", public, "missing")]


def test_a_route_table_made_again_survives_a_lagging_sweep_when_the_read_by_id_fails(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """As above, and the run's read by id of the gone table fails (throttled, every try):
    all the run has of it is the lagging listing. docs/how-it-works.md "Restored is
    restored": a table carrying the request's tags that routes none of its subnets "is
    live too unless a read by id of this run showed the table the record names (gone, or
    its read failed, or only a listing showed it ...)": kept, never removed as a duplicate
    on what a listing showed; adopted once the reads answer."""
    rec = public_request(client)
    request_id = rec["request_id"]
    made, gone = route_table_made_again(stack, rec, associate=False)
    clock.advance(settings.reconcile_grace_seconds + 1)

    unregister = _sweep_still_lists(stack, "RouteTable", gone)
    stack.faults.fail(
        "ec2", "DescribeRouteTables", "RequestLimitExceeded", status=503, times=-1, match=_closer
    )
    try:
        reconcile(services, clock, settings)
    finally:
        unregister()
        stack.faults.clear()

    listed = stack.truth.ec2.describe_route_tables(
        Filters=[{"Name": "route-table-id", "Values": [made]}]
    )["RouteTables"]
    assert listed, f"{made} was deleted: orphans {record(client, request_id)['orphans']}"
    for _ in range(3):
        reconcile(services, clock, settings)
    after = record(client, request_id)
    assert after["route_table_id"] == made, (after["route_table_id"], drift_of(client, request_id))
    assert [o["id"] for o in after["orphans"]] == [], after["orphans"]
