"""Convergence never destroys and never lies, defect 4c (found by the audit of 2026-12-06):
the reconciler's ledger must keep every request a later run has to come back to.

A run took a request off the ledger on the strength of a record read before the request
was put on it (read IN_PROGRESS; its worker then rolled back, put it on the ledger and
wrote FAILED): once EC2 listed nothing of it, no run read it again, and its FAILED record
named a gone VPC for good, its addresses held. Two runs at once could do the same to
each other. Now a request that may still become FAILED is never finished (`comes_back`),
a run reads the ledger by claiming it before it reads any record, and only one run is
under way at a time. Two more ways a record stayed untrue: a FAILED rollback whose look
failed, with nothing left, was never noted complete; an orphan noted "not removed" on a
record that keeps nothing was never noted gone once a person removed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.store.ledger import LEDGER_TYPE
from chalicelib.wiring import Services
from devstack.backing import end_runs_left_under_way
from integration.conftest import TABLE, Stack, deliver, record, stored, submit
from integration.convergence.conftest import _delete
from integration.test_reconciler import exists, ledger, tagged_vpc


def _in_progress(client: Client, stack: Stack) -> tuple[str, str]:
    """A request whose VPC is made and whose subnet is throttled for now: IN_PROGRESS, its
    lease let go, its message to come back."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "RequestLimitExceeded", 400, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    stack.faults.clear()
    assert stored(stack, request_id).status.value == "IN_PROGRESS"
    return request_id, str(stored(stack, request_id).vpc_id)


def _last_receive_fails(
    client: Client, stack: Stack, settings: Settings, request_id: str
) -> Callable[[], None]:
    """Its message's last receive, once: the subnet refused for good, the rollback's
    DeleteVpc refused (someone's subnet in it, say). The worker puts the request on the
    ledger, then writes FAILED naming the VPC."""
    done: list[bool] = []

    def race() -> None:
        if done:
            return
        done.append(True)
        stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
        stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
        deliver(client, request_id, receive_count=settings.max_receive_count)
        stack.faults.clear()
        assert record(client, request_id)["status"] == "FAILED"
        assert request_id in ledger(stack)["pending"]

    return race


def test_4c_a_run_that_read_a_request_before_its_rollback_keeps_it_on_the_ledger(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run reads X IN_PROGRESS (nothing of it to remove); X's worker then rolls back,
    puts X on the ledger and writes FAILED naming its VPC; then the run adds another
    request to the ledger, whose answer carries X. X stays pending: once a person removes
    the VPC (EC2 lists nothing of X any more), a later run still notes it gone and frees
    its addresses."""
    x, vpc_x = _in_progress(client, stack)
    y = submit(client, subnets=1, cidr="10.31.0.0/16")
    deliver(client, y)
    tagged_vpc(stack, y, cidr="10.77.0.0/16")  # an old stray of Y: the run has work
    clock.advance(settings.reconcile_grace_seconds + 1)
    store = services.reconciler._store
    race = _last_receive_fails(client, stack, settings, x)
    add_pending = store.add_pending

    def racing_add(ids: Any) -> Any:
        race()
        return add_pending(ids)

    monkeypatch.setattr(store, "add_pending", racing_add)
    services.reconciler.run()
    monkeypatch.setattr(store, "add_pending", add_pending)

    assert x in ledger(stack)["pending"]
    stack.ec2.delete_vpc(VpcId=vpc_x)  # out of band, after the rollback was refused
    assert not exists(stack, vpc_x)
    for _ in range(2):
        clock.advance(settings.reconcile_grace_seconds + 1)
        services.reconciler.run()
    rec = record(client, x)
    assert rec["status"] == "FAILED"
    assert rec["vpc_id"] is None, rec["rollback"]
    assert rec["rollback"]["complete"], rec["rollback"]
    assert stored(stack, x).allocation == "released"


def test_4c_a_request_put_on_the_ledger_after_the_run_read_it_stays_on_it(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No other work this time: the run reads X's record (IN_PROGRESS), and X's worker puts
    it on the ledger and writes FAILED before the run settles its ledger. X stays pending."""
    x, _ = _in_progress(client, stack)
    # Old, and named by no record (X's own names its VPC): X's record is read.
    tagged_vpc(stack, x, cidr="10.98.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)
    store = services.reconciler._store
    race = _last_receive_fails(client, stack, settings, x)
    records = store.records
    read: list[str] = []

    def racing_records(ids: Any) -> Any:
        found = records(ids)
        read.extend(found.found)
        race()
        return found

    monkeypatch.setattr(store, "records", racing_records)
    services.reconciler.run()

    assert x in read
    assert x in ledger(stack)["pending"]


def test_4c_a_run_with_nothing_to_remove_takes_off_only_what_is_finished(
    client: Client, stack: Stack, services: Services
) -> None:
    """Two requests on the ledger, nothing for the run to remove: one DELETED (nothing left
    to note: taken off), one QUEUED (its worker may yet write FAILED: it stays), and the
    cursor where it was (the mutation run found a run like this could take both off)."""
    done = submit(client, subnets=1, cidr="10.31.0.0/16")
    deliver(client, done)
    assert _delete(client, done).status_code == 202
    deliver(client, done, operation=Operation.DELETE)
    assert record(client, done)["status"] == "DELETED"
    queued = submit(client, subnets=1, cidr="10.32.0.0/16")
    services.reconciler._store.add_pending([done, queued])
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": "reconciler#ledger"}},
        UpdateExpression="SET #cursor = :cursor",
        ExpressionAttributeNames={"#cursor": "cursor"},
        ExpressionAttributeValues={":cursor": {"S": "where-the-last-run-ended"}},
    )

    services.reconciler.run()

    after = ledger(stack)
    assert set(after["pending"]) == {queued}
    assert after["cursor"] == "where-the-last-run-ended"


def test_4c_a_run_a_stopped_local_stack_left_under_way_ends_when_it_starts_again(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """`make run PERSIST=1` saves the ledger with a run's claim in it when the stack stops
    mid-run; the next start ends that run (one stack per state folder), so the reconciler
    goes on at once instead of waiting for the claim to lapse (up to 5 minutes)."""
    store = services.reconciler._store
    assert store.claim_run("stopped-mid-run", clock(), clock() + 86_400) is not None
    y = submit(client, subnets=1, cidr="10.31.0.0/16")
    deliver(client, y)
    stray = tagged_vpc(stack, y, cidr="10.77.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == []  # the claim holds

    assert end_runs_left_under_way(stack.truth, TABLE) is True

    assert end_runs_left_under_way(stack.truth, TABLE) is False  # nothing left under way
    assert services.reconciler.run().removed == [stray]


def test_4c_a_run_that_finds_another_under_way_does_nothing(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run starts while another is still removing orphans (the schedule's next, or
    EventBridge's second start of the same): it claims nothing, reads nothing, deletes
    nothing. Once the first has ended, the next run goes ahead."""
    y = submit(client, subnets=1, cidr="10.31.0.0/16")
    deliver(client, y)
    first = tagged_vpc(stack, y, cidr="10.77.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)
    store = services.reconciler._store
    add_pending = store.add_pending
    second: list[Any] = []

    def meanwhile(ids: Any) -> Any:
        if not second:
            tagged_vpc(stack, y, cidr="10.78.0.0/16")  # old: the second run would take it
            stack.faults.reset_counts()
            second.append(services.reconciler.run())
            second.append(dict(stack.faults.calls))
        return add_pending(ids)

    monkeypatch.setattr(store, "add_pending", meanwhile)
    services.reconciler.run()
    monkeypatch.setattr(store, "add_pending", add_pending)

    report, calls = second
    assert report.removed == []
    assert not report.acted
    assert calls == {("dynamodb", "UpdateItem"): 1}  # its refused claim, and nothing else
    assert not exists(stack, first)
    assert [o["id"] for o in record(client, y)["orphans"]] == [first]
    assert services.reconciler.run().removed  # the run after: the second stray goes
    assert "run_owner" not in ledger(stack)


def test_4c_a_run_whose_end_was_lost_holds_the_next_only_until_its_time_is_up(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The write that ends a run fails: the next run does nothing until the first run's
    time is up (outside Lambda twice RECONCILE_RUN_SECONDS), then goes ahead."""
    y = submit(client, subnets=1, cidr="10.31.0.0/16")
    deliver(client, y)
    clock.advance(settings.reconcile_grace_seconds + 1)
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, -1, match=_ends_a_run)
    services.reconciler.run()
    stack.faults.clear()
    assert "run_owner" in ledger(stack)
    stray = tagged_vpc(stack, y, cidr="10.77.0.0/16")

    assert services.reconciler.run().removed == []
    assert exists(stack, stray)
    clock.advance(2 * settings.reconcile_run_seconds + 1)
    assert services.reconciler.run().removed == [stray]


def _ends_a_run(params: dict[str, Any]) -> bool:
    return str(params.get("UpdateExpression", "")).startswith("REMOVE #owner")


def test_4c_a_failed_rollback_whose_look_failed_and_left_nothing_is_noted_complete(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The last receive's rollback deletes the VPC it knows, but its look by tag fails:
    FAILED, rollback incomplete ("lookup failed"), on the ledger. Nothing of the request is
    left, and once FAILED is older than the grace period a run's complete sweep (the look
    the rollback missed) says so: the run notes the rollback complete and frees the
    addresses. Before, no run ever did: held, and pending, until a user's DELETE."""
    x = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400, times=1)
    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1)
    deliver(client, x, receive_count=settings.max_receive_count)
    stack.faults.clear()
    rec = record(client, x)
    assert rec["status"] == "FAILED"
    assert rec["rollback"]["complete"] is False
    assert stack.vpcs(x) == []
    assert x in ledger(stack)["pending"]

    services.reconciler.run()  # FAILED just now: a late create may not be listed yet
    assert record(client, x)["rollback"]["complete"] is False
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    rec = record(client, x)
    assert rec["rollback"]["complete"], rec["rollback"]
    assert rec["rollback"]["error"] is None
    assert stored(stack, x).allocation == "released"
    assert x not in (ledger(stack).get("pending") or set())


def test_4c_an_orphan_not_removed_from_a_deleted_request_is_noted_gone_once_gone(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A DELETED request's old stray VPC is refused once: its record notes the orphan with
    the error, and the request stays on the ledger. A person then removes the VPC: EC2
    lists nothing of the request any more, yet a run reads the record, deletes the id
    ("not found": proof) and notes it removed. Before, "not removed" stayed for good."""
    r = submit(client, subnets=1)
    deliver(client, r)
    assert _delete(client, r).json_body["status"] == "DELETING"
    deliver(client, r, operation=Operation.DELETE)
    assert record(client, r)["status"] == "DELETED"
    stray = tagged_vpc(stack, r, cidr="10.78.0.0/16")
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=1)
    services.reconciler.run()
    stack.faults.clear()
    [orphan] = record(client, r)["orphans"]
    assert orphan["id"] == stray
    assert orphan["removed_at"] is None
    assert orphan["error"]
    assert r in ledger(stack)["pending"]
    stack.ec2.delete_vpc(VpcId=stray)  # out of band

    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()

    [orphan] = record(client, r)["orphans"]
    assert orphan["removed_at"] is not None, orphan
    assert r not in (ledger(stack).get("pending") or set())


def test_4c_the_first_run_makes_a_ledger_that_says_what_it_is(
    stack: Stack, services: Services
) -> None:
    """On a table where no request was ever put on the ledger, the first run's claim makes
    it: an item that says it is the ledger (`type`), as every item of the table says what
    it is, so that nothing reading requests takes it for one."""
    assert ledger(stack) == {}

    services.reconciler.run()

    assert ledger(stack)["type"] == LEDGER_TYPE
