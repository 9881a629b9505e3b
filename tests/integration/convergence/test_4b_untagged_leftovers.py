"""The reconciler keeps what a person took out of a request (its `RequestId` off), and
nothing more: one untagged VPC's refusal never spreads to the request's live network
(noted as orphans "not removed", for good) nor to a tagged orphan in another VPC."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, submit
from integration.convergence.conftest import failed_with_an_untagged_leftover
from integration.test_reconciler import exists, tagged_subnet, tagged_vpc


def test_an_untagged_stray_never_makes_the_live_vpc_an_orphan(
    client: Client, stack: Stack, services: Services
) -> None:
    request_id = submit(client, subnets=2)
    deliver(client, request_id)
    live = record(client, request_id)
    live_ids = {live["vpc_id"], *(s["subnet_id"] for s in live["subnets"])}
    stray = tagged_vpc(stack, request_id, cidr="10.91.0.0/16")
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    services.reconciler.run()  # the stray is noted, not removed
    stack.faults.clear()
    assert [o["id"] for o in record(client, request_id)["orphans"]] == [stray]
    # A person takes the stray's RequestId off (to keep it).
    stack.ec2.delete_tags(Resources=[stray], Tags=[{"Key": "RequestId"}])

    report = services.reconciler.run()

    assert exists(stack, stray)  # kept, rightly
    failed_live = live_ids & set(report.failed)
    orphans = {o["id"] for o in record(client, request_id)["orphans"]}
    assert not live_ids & orphans, record(client, request_id)["orphans"]
    assert not failed_live, report.failed


def test_an_untagged_leftover_never_keeps_a_tagged_orphan_in_another_vpc(
    client: Client, stack: Stack, services: Services, settings: Any, clock: Any
) -> None:
    """The same spread on a FAILED request: its leftover VPC A was untagged by a person (kept,
    rightly), but a second VPC B of the request (a lost answer's create), carrying all its
    tags, old, named by nobody, is an orphan the reconciler must remove: it is kept too, run
    after run, with A's NotTagged refusal."""
    request_id, vpc_a = failed_with_an_untagged_leftover(client, stack)
    vpc_b = tagged_vpc(stack, request_id, cidr="10.92.0.0/16")
    tagged_subnet(stack, vpc_b, request_id, cidr="10.92.1.0/24")
    clock.advance(settings.reconcile_grace_seconds + 1)

    report = services.reconciler.run()

    assert exists(stack, vpc_a)
    assert not exists(stack, vpc_b), report


def test_an_untagged_subnet_in_one_stray_vpc_never_keeps_another_stray_vpc(
    client: Client, stack: Stack, services: Services
) -> None:
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    vpc_a = tagged_vpc(stack, request_id, cidr="10.91.0.0/16")
    held = tagged_subnet(stack, vpc_a, request_id, cidr="10.91.1.0/24")
    stack.faults.fail("ec2", "DeleteSubnet", "DependencyViolation", 400, times=-1)
    services.reconciler.run()  # the stray subnet and its VPC: noted, not removed
    stack.faults.clear()
    assert held in {o["id"] for o in record(client, request_id)["orphans"]}
    # A person takes the stray subnet's RequestId off (to keep it), and a second stray
    # VPC of the request (a lost answer's create, old, tagged, nothing in it) is there.
    stack.ec2.delete_tags(Resources=[held], Tags=[{"Key": "RequestId"}])
    vpc_b = tagged_vpc(stack, request_id, cidr="10.92.0.0/16")

    for _ in range(3):
        report = services.reconciler.run()

    assert exists(stack, vpc_a)  # kept, rightly
    assert held in {s["SubnetId"] for s in stack.subnets(vpc_a)}
    orphans = {o["id"]: o for o in record(client, request_id)["orphans"]}
    assert not exists(stack, vpc_b), (report, orphans.get(vpc_b))
