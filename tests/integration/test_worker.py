"""The worker Lambda on SQS events, with moto's EC2 as ground truth.

Every fault test ends by counting what EC2 really holds: one VPC and N
subnets after a success, nothing after a rollback.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.jobs import Job, job_body
from chalicelib.clock import iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import InvalidJob, RetryLater
from chalicelib.models import HOLDING_STATUSES
from chalicelib.wiring import Services
from chalicelib.worker.results import Outcome
from devstack.fault_rules import WorkerKilled
from integration.conftest import (
    Stack,
    assert_nothing_left,
    assert_provisioned,
    body,
    deliver,
    is_subnet_checkpoint,
    is_vpc_checkpoint,
    post,
    record,
    rollback_held_up,
    stored,
    submit,
    tags,
)

# --- the happy path ---------------------------------------------------------------


def test_a_job_provisions_one_vpc_and_its_subnets_tagged_at_creation(
    client: Client, stack: Stack, clock: Any
) -> None:
    request_id = submit(client, subnets=3, name="apps")

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=3)
    rec = record(client, request_id)
    assert rec["attempts"] == 1
    assert rec["error"] is None
    vpc = stack.vpcs(request_id)[0]
    ours = {
        "vpc-provisioner:deployment": "vpc-provisioner-test",
        "vpc-provisioner:created-at": iso_timestamp(clock()),
    }
    assert tags(vpc) == {"Name": "apps", "Project": "demo", "RequestId": request_id, **ours}
    assert vpc["CidrBlock"] == "10.30.0.0/16"
    for subnet in stack.subnets(rec["vpc_id"]):
        index = int(subnet["CidrBlock"].split(".")[2])
        assert subnet["AvailabilityZone"] == f"us-east-1{'abc'[index % 3]}"
        assert tags(subnet) == {
            "Name": f"net-{index}",
            "Project": "demo",
            "RequestId": request_id,
            "SubnetName": f"net-{index}",
            **ours,
        }
    # Nothing was created untagged and tagged later.
    assert stack.faults.count("ec2", "CreateTags") == 0


def test_unnamed_resources_are_named_after_the_project_tag(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, project_tag="platform")
    response = post(
        client,
        {"vpc": {"cidr": "10.9.0.0/16"}, "subnets": [{"cidr": "10.9.0.0/24", "az": "us-east-1a"}]},
    )
    request_id = response.json_body["request_id"]

    deliver(client, request_id)

    vpc = stack.vpcs(request_id)[0]
    subnet = stack.subnets(vpc["VpcId"])[0]
    for resource in (vpc, subnet):
        assert {
            k: v for k, v in tags(resource).items() if not k.startswith("vpc-provisioner:")
        } == {
            "Name": "platform",
            "Project": "platform",
            "RequestId": request_id,
        }


def test_one_subnet_takes_four_sequential_aws_calls(client: Client, stack: Stack) -> None:
    """Claim, CreateVpc, CreateSubnet, SUCCEEDED: the VPC's checkpoint is written beside
    CreateSubnet, not before it. Proved by holding the checkpoint until CreateSubnet has
    answered: a checkpoint written before CreateSubnet would wait out the timeout. (On a
    busy machine the checkpoint's thread may not have taken the VPC's id before the
    finishing write, which carries every id: then it writes none, four calls in all.)"""
    request_id = submit(client, subnets=1)
    subnet_made = stack.faults.signal("ec2", "CreateSubnet")
    hold = stack.faults.hold(
        "dynamodb", "UpdateItem", until=subnet_made, match=is_vpc_checkpoint, timeout=3
    )
    stack.faults.reset_counts()

    deliver(client, request_id)

    assert hold.timeouts == 0
    log = stack.faults.log
    assert log[:2] == [("dynamodb", "UpdateItem"), ("ec2", "CreateVpc")]  # claim, CreateVpc
    if len(log) == 4:  # no checkpoint: the finishing write came first
        assert log[2:] == [("ec2", "CreateSubnet"), ("dynamodb", "UpdateItem")]
    else:
        assert sorted(log[2:4]) == [("dynamodb", "UpdateItem"), ("ec2", "CreateSubnet")]
        assert log[4:] == [("dynamodb", "UpdateItem")]  # SUCCEEDED, with every id
    assert_provisioned(stack, client, request_id, subnets=1)


def test_subnets_are_created_concurrently_within_the_bound(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, subnet_concurrency=10)
    # Hold the calls until 11 overlap: only a pool larger than its bound gets there.
    stack.faults.gather("ec2", "CreateSubnet", 11, timeout=2.0)
    request_id = submit(client, subnets=24)

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=24)
    assert stack.faults.max_in_flight["CreateSubnet"] == 10


def test_by_default_24_subnets_are_created_all_at_once(client: Client, stack: Stack) -> None:
    # Hold the calls until all 24 overlap (a smaller pool would wait out the timeout).
    stack.faults.gather("ec2", "CreateSubnet", 24)
    request_id = submit(client, subnets=24)

    deliver(client, request_id)

    assert stack.faults.max_in_flight["CreateSubnet"] == 24


def test_a_delivery_for_a_finished_request_does_nothing(client: Client, stack: Stack) -> None:
    request_id = submit(client)
    deliver(client, request_id)
    stack.faults.reset_counts()

    deliver(client, request_id, receive_count=2)

    assert stack.faults.log == [("dynamodb", "UpdateItem")]
    assert_provisioned(stack, client, request_id, subnets=2)


def test_a_job_for_an_unknown_request_is_dropped(services: Services, stack: Stack) -> None:
    outcome = services.provisioner.handle(Job("00000000-0000-4000-8000-000000000000"))

    assert outcome is Outcome.SKIPPED
    assert stack.vpcs() == []


def test_an_unreadable_message_fails_so_it_ends_in_the_dlq(client: Client) -> None:
    event = {
        "Records": [
            {
                "body": "not json",
                "receiptHandle": "r",
                "messageId": "m",
                "attributes": {"ApproximateReceiveCount": "1"},
            }
        ]
    }

    with pytest.raises(InvalidJob):
        client.lambda_.invoke("worker", event)


# --- faults: lost answers and crashes ---------------------------------------------


def test_lost_create_vpc_answer_adopts_the_vpc_instead_of_making_another(
    client: Client, stack: Stack
) -> None:
    """CreateVpc ran, but the worker saw a 500: it looks the VPC up by tag, finds it, uses it."""
    request_id = submit(client)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", status=500, when="after")

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 1
    # The lookup that adopted it, and the check for duplicates before success.
    assert stack.faults.count("ec2", "DescribeVpcs") == 2


def test_ambiguous_create_vpc_that_did_not_run_is_created_after_the_lookup(
    client: Client, stack: Stack
) -> None:
    """A 503 before CreateVpc ran: the lookup finds nothing, so the VPC is created once."""
    request_id = submit(client)
    stack.faults.fail("ec2", "CreateVpc", "ServiceUnavailable", status=503, when="before")

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 2


def test_crash_between_create_vpc_and_checkpoint_never_makes_a_second_vpc(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The worker dies right after CreateVpc ran, before recording its id. The redelivery
    (after the dead worker's lease expires) finds the VPC by its RequestId tag."""
    request_id = submit(client)
    stack.faults.kill("ec2", "CreateVpc", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    assert len(stack.vpcs(request_id)) == 1
    assert record(client, request_id)["vpc_id"] is None

    # Before the lease expires, a redelivery leaves the request to its (presumed live) owner.
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)
    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=3)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 1
    assert record(client, request_id)["attempts"] == 2


def test_crash_between_checkpoint_and_subnets_resumes_from_the_checkpoint(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id = submit(client, subnets=3)
    # The VPC's checkpoint is written beside the subnets: die once it is written.
    checkpointed = stack.faults.signal("dynamodb", "UpdateItem", match=is_vpc_checkpoint)
    stack.faults.hold("ec2", "CreateSubnet", until=checkpointed)
    stack.faults.kill("ec2", "CreateSubnet", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    vpc_id = record(client, request_id)["vpc_id"]
    assert vpc_id
    stack.faults.reset_counts()

    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=3)
    assert record(client, request_id)["vpc_id"] == vpc_id
    assert stack.faults.count("ec2", "CreateVpc") == 0
    # No lookup of the checkpointed VPC: only the check for duplicates before success.
    assert stack.faults.count("ec2", "DescribeVpcs") == 1


def test_crash_after_some_subnets_adopts_them_on_redelivery(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The worker made every subnet and died before recording SUCCEEDED. The redelivery
    finds the subnets by VPC + CIDR and creates none."""
    request_id = submit(client, subnets=4)
    stack.faults.kill("dynamodb", "UpdateItem", when="before", match=_is_final_write)
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    made = {
        s["CidrBlock"]: s["SubnetId"] for s in stack.subnets(stack.vpcs(request_id)[0]["VpcId"])
    }
    assert len(made) == 4
    stack.faults.reset_counts()

    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=4)
    assert stack.faults.count("ec2", "CreateSubnet") == 0
    assert {s["cidr"]: s["subnet_id"] for s in record(client, request_id)["subnets"]} == made


def test_subnet_ids_are_checkpointed_as_they_appear(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    request: pytest.FixtureRequest,
) -> None:
    """Subnets are recorded while the others are still being made (one write for
    several when they arrive together); the last ones go into the final write (and,
    that write not sent, into a checkpoint under way or the run's last one as it ends)."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=3)
    writes: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        writes.append("final" if _is_final_write(params) else str(params.get("UpdateExpression")))

    events, event = stack.clients.dynamodb.meta.events, "provide-client-params.dynamodb.UpdateItem"
    events.register(event, note)
    request.addfinalizer(lambda: events.unregister(event, note))  # the clients outlive it
    # The last subnet is made only once the first one's checkpoint is written.
    first_recorded = stack.faults.signal("dynamodb", "UpdateItem", match=is_subnet_checkpoint(0))
    stack.faults.hold(
        "ec2",
        "CreateSubnet",
        until=first_recorded,
        match=lambda p: p["CidrBlock"] == "10.30.2.0/24",
    )
    stack.faults.kill("dynamodb", "UpdateItem", when="before", match=_is_final_write)

    with pytest.raises(WorkerKilled):
        deliver(client, request_id)

    subnets = record(client, request_id)["subnets"]
    assert subnets[0]["subnet_id"]
    # The last one: written with a checkpoint under way if one was, else by the run's end.
    assert [w for w in writes if "subnets[2]" in w], writes
    assert subnets[2]["subnet_id"]


def test_the_finishing_write_goes_out_beside_a_checkpoint_in_flight(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    request: pytest.FixtureRequest,
) -> None:
    """SUCCEEDED is not held back by a checkpoint still in flight (a round trip off the
    critical path); the checkpoint, landing after it, is refused and changes nothing."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    # The second subnet waits for the first one's checkpoint to be sent: on a busy machine
    # the checkpoint's thread might not take that id before the finishing write (and then
    # writes none at all, as it should; this test is about one in flight).
    second = record(client, request_id)["subnets"][1]["cidr"]
    sent, checkpoint = threading.Event(), is_subnet_checkpoint(0)

    def note_sent(params: dict[str, Any], **_: Any) -> None:
        if checkpoint(params):
            sent.set()

    events, event = stack.clients.dynamodb.meta.events, "provide-client-params.dynamodb.UpdateItem"
    events.register(event, note_sent)
    request.addfinalizer(lambda: events.unregister(event, note_sent))  # the clients outlive it
    stack.faults.hold(
        "ec2", "CreateSubnet", until=sent, match=lambda p: p.get("CidrBlock") == second, timeout=20
    )
    finished = stack.faults.signal("dynamodb", "UpdateItem", match=_is_final_write)
    held = stack.faults.hold(
        "dynamodb",
        "UpdateItem",
        until=finished,
        match=is_subnet_checkpoint(0),
        # Generous: on a loaded machine the finishing write can take seconds to come. If
        # it waited for the checkpoint, the hold would lapse all the same (and be counted).
        timeout=20,
    )
    writes: list[str] = []
    stack.clients.dynamodb.meta.events.register(
        "after-call.dynamodb.UpdateItem",
        lambda http_response, model, **_: writes.append(str(http_response.status_code)),
    )

    deliver(client, request_id)

    assert held.timeouts == 0  # released by the SUCCEEDED write, not by the timeout
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"
    assert all(s["subnet_id"] for s in rec["subnets"])
    # The late checkpoint was refused: it goes out once the finishing write has, from the
    # checkpoint writer's thread, which the job does not wait for (it may answer later).
    deadline = time.monotonic() + 20
    while "400" not in writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "400" in writes, writes
    assert_provisioned(stack, client, request_id, subnets=2)


def _is_final_write(params: dict[str, Any]) -> bool:
    target: object = params.get("ExpressionAttributeValues", {}).get(":target")
    return target == {"S": "SUCCEEDED"}


def test_lost_create_subnet_answer_never_makes_a_second_subnet(
    client: Client, stack: Stack
) -> None:
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", status=500, when="after")

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateSubnet") == 2
    assert stack.faults.count("ec2", "DescribeSubnets") == 1


def test_create_subnet_conflict_with_our_own_subnet_adopts_it(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """A retry whose CreateSubnet hits InvalidSubnet.Conflict because the subnet is ours
    (made by a worker that lost its answer) adopts it."""
    request_id = submit(client, subnets=1)
    stack.faults.kill("ec2", "CreateSubnet", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    # The redelivery looks subnets up first; an eventually consistent read that
    # misses the subnet lets CreateSubnet run into EC2's conflict check.
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets")
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=1)
    assert stack.faults.count("ec2", "CreateSubnet") == 2
    assert stack.faults.count("ec2", "DescribeSubnets") == 2


# --- faults: concurrency ----------------------------------------------------------


def test_the_same_message_delivered_twice_at_once_provisions_once(
    client: Client, stack: Stack
) -> None:
    request_id = submit(client, subnets=4)
    results: list[str] = []
    barrier = threading.Barrier(2)
    loser_done = threading.Event()

    def hold_until_the_other_delivery_is_done(**_: Any) -> None:
        # The winner creates its VPC only once the other delivery has given up,
        # so the two overlap whatever the machine's load.
        loser_done.wait(timeout=10)

    def run() -> None:
        barrier.wait()
        try:
            deliver(client, request_id)
            results.append("done")
        except RetryLater:
            results.append("retry-later")
            loser_done.set()

    stack.clients.ec2.meta.events.register(
        "before-call.ec2.CreateVpc", hold_until_the_other_delivery_is_done
    )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack.clients.ec2.meta.events.unregister(
        "before-call.ec2.CreateVpc", hold_until_the_other_delivery_is_done
    )

    assert sorted(results) == ["done", "retry-later"]
    assert_provisioned(stack, client, request_id, subnets=4)
    assert stack.faults.count("ec2", "CreateVpc") == 1
    assert record(client, request_id)["attempts"] == 1


def _renewed_past_its_first_lease(stack: Stack, request_id: str) -> None:
    """Wait until the first lease seen has run out and the worker's renewal holds it."""
    deadline = time.monotonic() + 10
    first = 0.0
    while True:
        lease_until = stored(stack, request_id).lease_until
        first = first or lease_until
        if first and time.time() > first and lease_until > time.time():
            return
        assert time.monotonic() < deadline, "the lease was never renewed past the first"
        time.sleep(0.05)


def test_the_lease_is_renewed_while_work_outlasts_it(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A worker slower than its lease keeps renewing it, so a redelivery meanwhile
    cannot start a second provisioning."""
    # Renewed every 2/3 s: a renewal may run up to 4/3 s late before the lease lapses (a
    # lease of 1 s lapsed on a busy machine: mutmut's clean run beside other tests).
    services = reconfigure(settings, use_clock=time.time, lease_seconds=2.0)
    request_id = submit(client, subnets=2)
    stack.faults.slow("ec2", "CreateSubnet", 5.0)
    worker = threading.Thread(target=deliver, args=(client, request_id))
    worker.start()
    try:
        _renewed_past_its_first_lease(stack, request_id)
        with pytest.raises(RetryLater):
            services.provisioner.handle(Job(request_id, receive_count=2))
    finally:
        worker.join()
    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 1


def test_a_worker_whose_lease_ran_out_during_create_vpc_stops_touching_the_world(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """Fencing: the lease's deadline passed while CreateVpc was in flight. The worker
    checks it after the create returns and stops: no checkpoint, no subnet, no write.
    The VPC it made is tagged: the reconciler's to remove."""
    request_id = submit(client, subnets=1)
    stack.clients.ec2.meta.events.register(
        "after-call.ec2.CreateVpc", lambda **_: clock.advance(settings.lease_seconds + 1)
    )
    stack.faults.reset_counts()

    with pytest.raises(RetryLater):
        deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "IN_PROGRESS"
    assert rec["vpc_id"] is None
    assert stack.faults.count("ec2", "CreateSubnet") == 0
    assert stack.faults.count("dynamodb", "UpdateItem") == 1  # the claim, nothing after
    assert len(stack.vpcs(request_id)) == 1


def test_a_worker_whose_lease_ran_out_during_its_look_before_a_create_sends_no_create(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """Fencing right before each create: CreateVpc ran and its answer was lost, so the
    worker looks the VPC up before creating again; that look (a read that lags, retried)
    outlasts the lease. Another worker may hold the request by then: no second CreateVpc."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1)
    stack.clients.ec2.meta.events.register(
        "after-call.ec2.DescribeVpcs", lambda **_: clock.advance(settings.lease_seconds + 1)
    )
    stack.faults.reset_counts()

    with pytest.raises(RetryLater):
        deliver(client, request_id)

    assert stack.faults.count("ec2", "CreateVpc") == 1
    assert record(client, request_id)["status"] == "IN_PROGRESS"


def test_a_worker_whose_conditional_write_finds_another_owner_writes_nothing_more(
    client: Client, stack: Stack
) -> None:
    """Every write is conditional on the lease: when the VPC's checkpoint finds another
    owner, the worker records nothing (no checkpoint, no SUCCEEDED) and stops."""
    request_id = submit(client, subnets=1)

    def steal_lease(**_: Any) -> None:
        stack.truth.dynamodb.update_item(
            TableName="vpc-provisioner-test",
            Key={"request_id": {"S": request_id}},
            UpdateExpression="SET lease_owner = :other",
            ExpressionAttributeValues={":other": {"S": "another-worker"}},
        )

    stack.clients.ec2.meta.events.register("after-call.ec2.CreateVpc", steal_lease)
    with pytest.raises(RetryLater):
        deliver(client, request_id)

    item = stack.truth.dynamodb.get_item(
        TableName="vpc-provisioner-test", Key={"request_id": {"S": request_id}}
    )["Item"]
    assert item["lease_owner"] == {"S": "another-worker"}
    assert item["status"] == {"S": "IN_PROGRESS"}
    assert item["vpc_id"] == {"NULL": True}


def racing_duplicate(
    client: Client, stack: Stack, clock: Any, settings: Settings, with_subnet: bool = False
) -> str:
    """A request whose first worker died after CreateVpc, and a second VPC tagged as a
    racing worker tags it (the residual race of two workers); with `with_subnet`, one of
    the racing worker's subnets in the VPC the job will not keep (it keeps the first by
    id); its lease lapsed. Returns the request's id."""
    request_id = submit(client, subnets=2)
    stack.faults.kill("ec2", "CreateVpc", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    tags = {
        "Name": "demo",
        "Project": "demo",
        "RequestId": request_id,
        "vpc-provisioner:deployment": "vpc-provisioner-test",
        "vpc-provisioner:created-at": iso_timestamp(clock()),
    }
    specs = [{"Key": k, "Value": v} for k, v in tags.items()]
    stack.ec2.create_vpc(
        CidrBlock="10.30.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": specs}]
    )
    if with_subnet:
        stack.ec2.create_subnet(
            VpcId=max(v["VpcId"] for v in stack.vpcs(request_id)),
            CidrBlock="10.30.9.0/24",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": specs}],
        )
    assert len(stack.vpcs(request_id)) == 2
    clock.advance(settings.lease_seconds + 1)
    return request_id


@pytest.mark.parametrize("with_subnet", [False, True], ids=["bare", "with-its-subnet"])
def test_duplicate_vpcs_found_by_tag_are_torn_down_keeping_one(
    client: Client, stack: Stack, clock: Any, settings: Settings, with_subnet: bool
) -> None:
    """The duplicate (and the subnet the racing worker made in it) is deleted, and the
    record says so: each id, removed, no error."""
    request_id = racing_duplicate(client, stack, clock, settings, with_subnet)

    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=2)
    rec = record(client, request_id)
    [kept] = stack.vpcs(request_id)
    assert kept["VpcId"] == rec["vpc_id"]
    orphans = rec["orphans"]
    assert len(orphans) == (2 if with_subnet else 1)
    assert all(o["id"] and o["removed_at"] and o["error"] is None for o in orphans), orphans
    assert rec["vpc_id"] not in [o["id"] for o in orphans]
    ours = {s["subnet_id"] for s in rec["subnets"]}
    assert {s["SubnetId"] for s in stack.subnets()} == ours


def a_duplicate_doubted(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> tuple[str, dict[str, Any], str]:
    """A request SUCCEEDED beside a racing worker's duplicate VPC, whose DeleteVpc answered
    "not found" while it stood (EC2 lagging behind its making): noted an orphan not
    removed. (request id, its record, the duplicate's id)"""
    request_id = racing_duplicate(client, stack, clock, settings, False)
    stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=1)
    deliver(client, request_id, receive_count=2)
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    [duplicate] = [v["VpcId"] for v in stack.vpcs(request_id) if v["VpcId"] != rec["vpc_id"]]
    [orphan] = rec["orphans"]
    assert (orphan["id"], orphan["removed_at"]) == (duplicate, None), orphan
    return request_id, rec, duplicate


def test_a_duplicate_only_not_found_answered_for_is_noted_not_removed_and_reconciled(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The duplicate's DeleteVpc answers "not found" while it stands (EC2 lagging behind
    the race that made it moments ago): not proof, so the record does not say it was
    removed (a DELETE and the reconciler would never look at it again: gone for good).
    Once it is old, the reconciler deletes it by id."""
    request_id, rec, duplicate = a_duplicate_doubted(client, stack, clock, settings)

    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [duplicate]
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == [rec["vpc_id"]]
    assert record(client, request_id)["orphans"][0]["removed_at"]


def test_a_duplicate_whose_owner_cannot_be_proven_is_left_and_named_with_why(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """The records that may hold resources read for the adoption (one Query per status),
    then fail for the cleanup: the duplicate is not provably no other request's, so it
    stays, and the record names it (not removed, the reason given) for the reconciler."""
    request_id = racing_duplicate(client, stack, clock, settings)
    stack.faults.fail(
        "dynamodb", "Query", "InternalServerError", 500, times=-1,
        skip=1 + len(HOLDING_STATUSES), match={"IndexName": "by_status"},
    )  # fmt: skip

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"
    [orphan] = rec["orphans"]
    assert orphan["id"] != rec["vpc_id"]
    assert orphan["id"] in {v["VpcId"] for v in stack.vpcs(request_id)}
    assert orphan["removed_at"] is None
    assert "InternalServerError" in (orphan["error"] or ""), orphan


# --- faults: throttling and transient failures ------------------------------------


def test_throttling_is_retried_in_place_with_backoff(
    client: Client, stack: Stack, sleeps: Any
) -> None:
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", status=503, times=3)
    stack.faults.fail("ec2", "CreateSubnet", "Throttling", status=400, times=2)

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 4
    # Throttled calls never ran, so nothing was looked up.
    assert stack.faults.count("ec2", "DescribeVpcs") == 0
    assert stack.faults.count("ec2", "DescribeSubnets") == 0
    assert len(sleeps.waits) == 5
    assert record(client, request_id)["attempts"] == 1


def test_transient_failure_outlasting_retries_goes_back_to_sqs_and_succeeds_later(
    client: Client, stack: Stack, settings: Settings
) -> None:
    request_id = submit(client, subnets=2)
    # Every in-place attempt of one subnet is throttled (aimed at one subnet: shared
    # between two concurrent subnets, the failures would run out before either gave up).
    stack.faults.fail(
        "ec2",
        "CreateSubnet",
        "RequestLimitExceeded",
        status=503,
        times=settings.ec2_max_attempts,
        match={"CidrBlock": "10.30.1.0/24"},
    )

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=1)
    rec = record(client, request_id)
    assert rec["status"] == "IN_PROGRESS"
    assert rec["error"] is None

    # The lease was released: the redelivery claims at once and finishes the job.
    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert stack.faults.count("ec2", "CreateVpc") == 1
    assert record(client, request_id)["attempts"] == 2


def test_retries_exhausted_on_the_last_delivery_fails_rolls_back_and_goes_to_the_dlq(
    client: Client, stack: Stack, settings: Settings
) -> None:
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", status=500, times=-1)

    deliver(client, request_id, receive_count=settings.max_receive_count)

    [letter] = stack.messages(stack.queues.dlq_url)  # the worker's own, after FAILED
    assert json.loads(letter["Body"])["request_id"] == request_id
    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "RetriesExhausted"
    assert "InternalError" in rec["error"]["message"]
    assert rec["rollback"]["complete"] is True
    assert rec["vpc_id"] is None
    assert_nothing_left(stack, request_id)


def test_a_request_past_its_attempt_limit_is_failed_not_retried(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    reconfigure(settings, max_attempts=2)
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", status=503, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=1)
    # The second claim is the request's last attempt: it ends FAILED, although the
    # queue would deliver the message again (so it is not a dead letter).
    deliver(client, request_id, receive_count=2)
    stack.faults.clear()

    deliver(client, request_id, receive_count=1)  # e.g. a message the reaper re-sent

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "RetriesExhausted"
    assert_nothing_left(stack, request_id)


# --- faults: permanent errors and rollback ----------------------------------------


def test_vpc_limit_exceeded_fails_with_the_aws_error_and_creates_nothing(
    client: Client, stack: Stack
) -> None:
    request_id = submit(client)
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded", status=400)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "VpcLimitExceeded"
    assert "injected VpcLimitExceeded" in rec["error"]["message"]
    assert rec["rollback"] == {"complete": True, "deleted": [], "remaining": [], "error": None}
    assert_nothing_left(stack, request_id)
    assert stack.faults.count("ec2", "CreateVpc") == 1


def test_subnet_limit_exceeded_rolls_back_the_vpc_and_the_other_subnets(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, subnet_concurrency=1)  # so the failure lands after a success
    request_id = submit(client, subnets=3)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "SubnetLimitExceeded"
    assert rec["error"]["message"] == "injected SubnetLimitExceeded"  # AWS's, as it came
    assert rec["rollback"]["complete"] is True
    assert len(rec["rollback"]["deleted"]) == 2  # the first subnet and the VPC
    assert rec["vpc_id"] is None
    assert all(s["subnet_id"] is None for s in rec["subnets"])
    assert_nothing_left(stack, request_id)


def a_foreign_subnet_in_the_way(
    client: Client, stack: Stack, clock: Any, settings: Settings, cidr: str
) -> tuple[str, str]:
    """A request (10.30.0.0/24 in 10.30.0.0/16) whose worker died before CreateSubnet, then
    someone adds a subnet at `cidr` to its VPC; its lease lapsed. (request id, VPC id)"""
    request_id = submit(client, subnets=1)
    stack.faults.kill("ec2", "CreateSubnet", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    # EC2's truth: the VPC's checkpoint goes out beside CreateSubnet and may not land.
    [vpc_id] = [v["VpcId"] for v in stack.vpcs(request_id)]
    stack.ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone="us-east-1a")
    clock.advance(settings.lease_seconds + 1)
    return request_id, vpc_id


def test_a_foreign_subnet_in_the_way_fails_and_the_rollback_says_what_remains(
    client: Client, stack: Stack, clock: Any, settings: Settings, services: Services
) -> None:
    """Someone added a subnet with our CIDR to our VPC: the request fails, and the VPC
    (which AWS will not delete while that subnet exists) is reported as remaining."""
    request_id, vpc_id = a_foreign_subnet_in_the_way(client, stack, clock, settings, "10.30.0.0/24")

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "InvalidSubnet.Conflict"
    assert rec["rollback"]["complete"] is False
    assert rec["rollback"]["remaining"] == [vpc_id]
    assert "DependencyViolation" in rec["rollback"]["error"]
    assert rec["vpc_id"] == vpc_id
    # What remains is said by `rollback` (and `vpc_id`), which the reconciler keeps true,
    # never by the error's text, which it does not rewrite: that said "still present:
    # vpc-..." after the VPC was removed (a black-box review, 2026-12-06).
    assert "still present" not in rec["error"]["message"]

    # The person removes their subnet; the reconciler then removes the VPC, once FAILED is
    # older than the grace period.
    [foreign] = [s["SubnetId"] for s in stack.subnets(vpc_id)]
    stack.ec2.delete_subnet(SubnetId=foreign)
    clock.advance(settings.reconcile_grace_seconds + 1)
    services.reconciler.run()
    after = record(client, request_id)
    assert after["vpc_id"] is None
    assert after["rollback"]["remaining"] == []
    assert [o["id"] for o in after["orphans"] if o["removed_at"]] == [vpc_id]
    assert after["error"] == rec["error"]
    assert not stack.vpcs(request_id)


def test_a_rollback_touches_only_its_own_request_never_another_in_progress(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """B is being provisioned (its worker made its VPC and died: B is no SUCCEEDED
    request, no record names its VPC as live) when A fails and rolls back. A's teardown
    looks up by A's own tag: B's VPC stays (a lookup by the deployment's tag alone would
    find it, and nothing would stop its deletion)."""
    b = submit(client, subnets=1, cidr="10.40.0.0/16")
    stack.faults.kill("ec2", "CreateSubnet", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, b)
    [b_vpc] = [v["VpcId"] for v in stack.vpcs(b)]
    a = submit(client, subnets=1, cidr="10.30.0.0/16")
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", times=-1)

    deliver(client, a)

    assert record(client, a)["status"] == "FAILED"
    assert stack.vpcs(a) == []
    assert [v["VpcId"] for v in stack.vpcs(b)] == [b_vpc]
    assert record(client, b)["status"] == "IN_PROGRESS"


# --- the reaper -------------------------------------------------------------------


def test_the_reaper_resends_a_request_whose_job_was_never_sent(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    stack.faults.fail("sqs", "SendMessage", "ServiceUnavailable", status=503)
    assert post(client, body(), key="k").status_code == 503
    assert stack.messages() == []

    assert services.reaper.run().requeued == []  # not stale yet
    clock.advance(settings.stale_after_seconds + 1)
    report = services.reaper.run()

    assert len(report.requeued) == 1
    assert services.reaper.run().requeued == []  # not twice within the window
    jobs = stack.messages()
    assert len(jobs) == 1
    deliver(client, report.requeued[0])
    assert_provisioned(stack, client, report.requeued[0], subnets=2)


def test_the_reaper_leaves_requests_with_a_live_lease_alone(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id = submit(client)
    stack.messages()
    stack.faults.kill("ec2", "CreateVpc", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)

    clock.advance(settings.stale_after_seconds + 1)
    # Make the lease look live even though stale_after has passed.
    stack.truth.dynamodb.update_item(
        TableName="vpc-provisioner-test",
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET lease_until = :far",
        ExpressionAttributeValues={":far": {"N": str(clock() + 600)}},
    )
    assert services.reaper.run().requeued == []

    clock.advance(601)
    assert services.reaper.run().requeued == [request_id]


def test_a_vpc_the_lookup_missed_is_removed_before_success(client: Client, stack: Stack) -> None:
    """CreateVpc ran but its answer was lost, and the lookup that followed did not see the
    VPC yet (EC2 reads are eventually consistent), so a second one was made. Before
    recording SUCCEEDED the worker looks again, finds the first, and deletes it."""
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", status=500, when="after")
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs")

    deliver(client, request_id)

    assert stack.faults.count("ec2", "CreateVpc") == 2
    assert_provisioned(stack, client, request_id, subnets=2)


def test_the_reaper_keeps_the_dead_letter_queue_to_failed_requests(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """Letters that did not come from the worker (a message SQS moved because the worker
    could not delete it on its last receive; one sent by hand): the reaper leaves
    those of FAILED requests (and non-jobs) for a person, deletes those of SUCCEEDED
    ones, and re-sends unfinished ones."""
    succeeded = submit(client, subnets=1)
    deliver(client, succeeded)
    failed = submit(client, subnets=1, cidr="10.31.0.0/16")
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded")
    deliver(client, failed)
    queued = submit(client, subnets=1, cidr="10.32.0.0/16")
    stack.messages()
    for body_ in (job_body(succeeded), job_body(failed), job_body(queued), "not a job"):
        stack.truth.sqs.send_message(QueueUrl=stack.queues.dlq_url, MessageBody=body_)

    report = services.reaper.run()

    assert sorted(report.revived) == sorted([succeeded, queued])
    assert [json.loads(m["Body"])["request_id"] for m in stack.messages()] == [queued]
    # The two kept (FAILED, not a job) are visible again at once, for a person to read.
    kept = [m["Body"] for m in stack.messages(stack.queues.dlq_url)]
    assert sorted(kept) == sorted([job_body(failed), "not a job"])


def test_a_dead_letter_of_a_request_never_stored_is_removed_one_unread_is_kept(
    client: Client, stack: Stack, services: Services
) -> None:
    """A job sent beside a POST's transaction that never landed (refused: a 409, a 429, a
    replay), which SQS moved to the DLQ as the worker could not delete it on its last
    receive. Before: kept for ever ("no such request" was read as "could not read"), a
    letter of no FAILED request. Now a request proven absent by a strongly consistent read
    has its letter removed; one whose record could not be read is kept for the next run."""
    never_stored, unread = str(uuid.uuid4()), str(uuid.uuid4())
    for request_id in (never_stored, unread):
        letter = job_body(request_id)
        stack.truth.sqs.send_message(QueueUrl=stack.queues.dlq_url, MessageBody=letter)
    stack.faults.unprocessed(times=-1, only={unread})

    services.reaper.run()

    assert [m["Body"] for m in stack.messages(stack.queues.dlq_url)] == [job_body(unread)]


def test_a_rollback_that_fails_for_now_stays_rolling_back_until_the_last_try(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A permanent failure, then a rollback whose deletes keep failing in a way that may
    clear: not the last receive, so the record stays ROLLING_BACK and the job comes back
    (never FAILED with something left on a failure that may clear); the next delivery
    finishes the rollback: FAILED, nothing left."""
    request_id = rollback_held_up(client, stack, settings, reconfigure)

    held = record(client, request_id)
    assert held["status"] == "ROLLING_BACK"
    # What the try could not delete is written before the next (its look by tag may lag).
    assert held["rollback"]["complete"] is False
    assert held["rollback"]["remaining"]
    stack.faults.clear()
    deliver(client, request_id, receive_count=2)
    done = record(client, request_id)
    assert done["status"] == "FAILED"
    assert done["rollback"]["complete"] is True
    assert_nothing_left(stack, request_id)


def test_a_rollback_begun_on_the_last_try_records_failed_with_what_remains(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The same failures on the message's last receive: no later delivery will come, so
    the record says FAILED at once, naming what remains (for the reconciler), and the
    message is done with: the record never stays ROLLING_BACK with its job gone."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)
    stack.faults.fail("ec2", "DeleteSubnet", "InternalError", 500, times=-1)

    deliver(client, request_id, receive_count=settings.max_receive_count)

    done = record(client, request_id)
    assert done["status"] == "FAILED"
    assert done["rollback"]["complete"] is False
    assert done["rollback"]["remaining"]
