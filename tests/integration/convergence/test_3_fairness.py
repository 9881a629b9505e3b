"""Convergence never destroys and never lies, defect 3: the reconciler is fair: what it
cannot remove never starves the rest. A run is bounded (requests per run, its own time, half
the function's time left), saves its cursor before a timeout can cut it, takes the next
requests in turn, and leaves alone whatever is no older than the grace period or still its
workers'. Every test ends on EC2's ground truth. Its strays are of requests whose records
keep nothing (CANCELLED, `ended_stray`): one whose request has no record at all is never
removed (tests/integration/test_reconciler.py)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.wiring import Services
from devstack.fault_rules import WorkerKilled
from devstack.worker import scheduled_event
from integration.conftest import TABLE, Stack, deliver, submit
from integration.convergence.conftest import assert_intact
from integration.test_reconciler import ended_stray, exists, put_record, tagged_vpc


def test_3_orphans_that_cannot_be_removed_never_keep_the_others_waiting(
    stack: Stack, services: Services, settings: Settings, reconfigure: Any
) -> None:
    """Three ended requests (sorting first) whose VPCs hold someone else's subnet, two
    whose VPCs can go; two requests per run. Before: the same three used every run's
    budget."""
    services = reconfigure(settings, reconcile_batch_limit=2)
    stuck = []
    for i in range(3):
        vpc = ended_stray(stack, f"00000000-0000-4000-8000-00000000000{i}", cidr=f"10.9{i}.0.0/16")
        stack.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9{i}.1.0/24")  # not ours
        stuck.append(vpc)
    free = [
        ended_stray(stack, f"ffffffff-0000-4000-8000-00000000000{i}", cidr=f"10.8{i}.0.0/16")
        for i in range(2)
    ]

    removed: list[str] = []
    tried: list[str] = []
    for _ in range(3):
        report = services.reconciler.run()
        assert len(report.removed) + len(report.failed) <= 2  # bounded
        removed += report.removed
        tried += report.failed

    assert sorted(removed) == sorted(free)
    assert set(tried) == set(stuck)  # each tried in turn, none forgotten
    assert all(exists(stack, v) for v in stuck)


def test_3_slow_teardowns_end_a_run_with_its_cursor_saved_before_the_timeout_cuts_it(
    stack: Stack, services: Services, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """Each DeleteVpc takes a minute here, and a run is cut off after 150 s (Lambda's
    timeout). Before: a run took every request of its batch whatever the time, was cut
    off before it saved its cursor, and the next began on the same stuck requests: the
    free one was never reached. Now a run takes no request once it is
    RECONCILE_RUN_SECONDS old and saves its cursor; a stuck VPC (nothing in it was just
    deleted) is tried once, not retried in place."""
    services = reconfigure(settings, reconcile_run_seconds=100)
    stuck = []
    for i in range(3):
        vpc = ended_stray(stack, f"00000000-0000-4000-8000-00000000000{i}", cidr=f"10.9{i}.0.0/16")
        stack.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9{i}.1.0/24")  # not ours
        stuck.append(vpc)
    free = ended_stray(stack, "ffffffff-0000-4000-8000-000000000000", cidr="10.80.0.0/16")
    run_started = [0.0]

    def a_minute_each_and_the_timeout(params: dict[str, Any]) -> bool:
        clock.advance(60)
        if clock() - run_started[0] > 150:
            raise WorkerKilled("the function's timeout")
        return False  # the call itself runs as usual

    stack.faults.fail("ec2", "DeleteVpc", "Unused", times=-1, match=a_minute_each_and_the_timeout)

    for _ in range(2):
        run_started[0] = clock()
        services.reconciler.run()

    assert not exists(stack, free)
    assert all(exists(stack, vpc) for vpc in stuck)
    assert stack.faults.count("ec2", "DeleteVpc") == 4  # each once: none retried in place


def test_3_a_run_takes_no_request_once_half_the_functions_time_left_is_gone(
    stack: Stack, services: Services, clock: Any
) -> None:
    """The function's time left (Lambda's context, 100 s here, an upkeep having taken
    the rest) bounds the run before RECONCILE_RUN_SECONDS does: half of it, so the
    request in hand can finish and the cursor be saved."""
    for i in range(3):
        ended_stray(stack, f"00000000-0000-4000-8000-00000000000{i}", cidr=f"10.9{i}.0.0/16")

    def a_minute_each(params: dict[str, Any]) -> bool:
        clock.advance(60)
        return False

    stack.faults.fail("ec2", "DeleteVpc", "Unused", times=-1, match=a_minute_each)

    report = services.reconciler.run(seconds_left=100)

    assert len(report.removed) == 1  # 60 s in: past half of the 100 s left


def test_the_reconciler_handler_hands_the_run_its_time_left(
    client: Client, stack: Stack, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[float | None] = []
    real = services.reconciler.run

    def run(seconds_left: float | None = None) -> Any:
        given.append(seconds_left)
        return real(seconds_left)

    monkeypatch.setattr(services.reconciler, "run", run)

    client.lambda_.invoke("reconciler", scheduled_event())

    (left,) = given
    assert left is not None
    assert left > 0


def test_3_a_resource_exactly_as_old_as_the_grace_period_is_left_alone(
    stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    vpc_id = ended_stray(
        stack, "00000000-0000-4000-8000-000000000000", created_at=iso_timestamp(clock())
    )
    clock.advance(settings.reconcile_grace_seconds)
    assert services.reconciler.run().removed == []
    clock.advance(1)
    assert services.reconciler.run().removed == [vpc_id]


def test_3_a_vpc_is_never_tried_while_something_of_its_request_in_it_is_young(
    stack: Stack, services: Services, clock: Any
) -> None:
    """An old VPC holding a subnet of the same request made moments ago (a worker may be
    on it; its record, CANCELLED, keeps nothing): the VPC is not even tried, the subnet not
    touched."""
    request_id = "00000000-0000-4000-8000-000000000000"
    vpc_id = ended_stray(stack, request_id)
    young = stack.ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock="10.99.1.0/24",
        TagSpecifications=[
            {
                "ResourceType": "subnet",
                "Tags": [
                    {"Key": "RequestId", "Value": request_id},
                    {"Key": "vpc-provisioner:deployment", "Value": TABLE},
                    {"Key": "vpc-provisioner:created-at", "Value": iso_timestamp(clock())},
                ],
            }
        ],
    )["Subnet"]["SubnetId"]

    report = services.reconciler.run()

    assert report.removed == []
    assert report.failed == []
    assert stack.faults.count("ec2", "DeleteVpc") == 0
    assert exists(stack, vpc_id)
    assert young in {s["SubnetId"] for s in stack.subnets(vpc_id)}


def test_3_a_request_with_nothing_to_remove_never_ends_the_run_early(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Requests are taken in order of their ids; one with nothing to remove (its record
    not even read: all it has is named) comes first, a stray of a CANCELLED request last."""
    first = submit(client, subnets=1)
    deliver(client, first)
    stray = ended_stray(stack, "ffffffff-ffff-4fff-bfff-ffffffffffff", cidr="10.95.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == [stray]
    assert_intact(stack, client, first)


def test_3_a_request_still_its_workers_never_ends_the_run_early(
    stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The first request in order is IN_PROGRESS with an old VPC its record does not name
    yet: read, and left to its worker; the run goes on to the stray (of a CANCELLED
    request) after it."""
    working = "00000000-0000-4000-8000-000000000000"
    put_record(stack, working, "IN_PROGRESS", "10.94.0.0/16")
    its_vpc = tagged_vpc(stack, working, cidr="10.94.0.0/16")
    stray = ended_stray(stack, "ffffffff-ffff-4fff-bfff-ffffffffffff", cidr="10.95.0.0/16")
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == [stray]
    assert exists(stack, its_vpc)
