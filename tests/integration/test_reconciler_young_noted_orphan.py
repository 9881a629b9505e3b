"""An orphan a creation noted not removed (a duplicate VPC whose DeleteVpc answered only "not
found" moments after a racing worker made it: EC2 lagging, no proof) is deleted by id only
once the record has been in its status longer than the grace period: a run that reads the
record while the duplicate is still young (another old, unnamed resource of the request draws
the record in) must not take EC2's lagging "not found" again for proof and note it removed,
which would make it gone for good, never deleted while it stands. A review found that."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record
from integration.test_reconciler import tagged_subnet
from integration.test_worker import a_duplicate_doubted
from support.tokens import auth


def _a_run_while_ec2_lags(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> tuple[str, dict[str, Any], str]:
    """A duplicate doubted (test_worker.py), then a reconciler run moments later that reads
    the request's record (something else of it is old and named by nothing: a subnet an
    earlier attempt made that the job's look missed) while EC2 still lags behind the
    duplicate's making (its listings do not show it, its DeleteVpc answers "not found")."""
    request_id, rec, duplicate = a_duplicate_doubted(client, stack, clock, settings)
    tagged_subnet(stack, rec["vpc_id"], request_id, cidr="10.30.9.0/24")
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1)
    stack.faults.fail(
        "ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=-1,
        match=lambda p: p.get("VpcId") == duplicate,
    )  # fmt: skip
    clock.advance(settings.drift_settle_seconds + 2)
    services.reconciler.run()
    stack.faults.clear()
    assert duplicate in [v["VpcId"] for v in stack.vpcs(request_id)]  # EC2: still there
    return request_id, rec, duplicate


def test_a_young_duplicate_noted_not_removed_is_not_settled_by_a_lagging_not_found(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id, rec, _ = _a_run_while_ec2_lags(client, stack, services, clock, settings)

    # Much later, EC2 caught up: the duplicate is old and listed.
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    left = [v["VpcId"] for v in stack.vpcs(request_id) if v["VpcId"] != rec["vpc_id"]]
    orphans = record(client, request_id)["orphans"]
    assert left == [], f"{left} stands for good; the record says {orphans}"


def test_nor_does_a_delete_of_the_request_then_remove_that_duplicate(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The same false note, then the user DELETEs the request: the teardown sends no delete
    to what the reconciler noted removed (`gone_for_good`), and the request ends DELETED
    (its addresses freed) with the duplicate VPC, at its CIDR, still in EC2."""
    request_id, _, _ = _a_run_while_ec2_lags(client, stack, services, clock, settings)

    clock.advance(settings.reconcile_grace_seconds + 1)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(client, request_id, operation=Operation.DELETE)
    after = record(client, request_id)
    left = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert (after["status"], left) == ("DELETED", []), after["orphans"]
