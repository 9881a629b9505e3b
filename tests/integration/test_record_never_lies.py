"""The record never lies: the worker under its own lost writes, lapsed leases and EC2's lag.

One test per case of docs/how-it-works.md, "The record never lies" list, each ending on
EC2's ground truth (moto, read with uninstrumented clients).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.aws.jobs import Job, job_body
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.store import worker as worker_store
from chalicelib.wiring import Services
from chalicelib.worker.results import Outcome
from devstack.fault_rules import WorkerKilled
from integration.conftest import (
    TABLE,
    Stack,
    assert_nothing_left,
    assert_provisioned,
    deliver,
    is_vpc_checkpoint,
    record,
    submit,
)


def writes(status: str) -> Any:
    """Matches the worker's write that moves a record to `status`."""
    return lambda p: p.get("ExpressionAttributeValues", {}).get(":target") == {"S": status}


def is_renewal(params: dict[str, Any]) -> bool:
    return params.get("UpdateExpression") == "SET lease_until = :until"


def first_only() -> Any:
    """A predicate true for the first call it sees only."""
    seen = itertools.count()
    return lambda _: next(seen) == 0


def deletes(stack: Stack) -> int:
    return stack.faults.count("ec2", "DeleteVpc") + stack.faults.count("ec2", "DeleteSubnet")


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Background:
    """Runs a delivery in a thread and keeps what it raised."""

    def __init__(self, run: Any) -> None:
        self.raised: BaseException | None = None
        self.returned: Any = None

        def target() -> None:
            try:
                self.returned = run()
            except BaseException as exc:
                self.raised = exc

        self._thread = threading.Thread(target=target)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()


# --- 1. a SUCCEEDED write whose answer is lost is never rolled back ------------------


def test_1_a_succeeded_write_whose_answer_is_lost_on_the_last_delivery_is_settled(
    client: Client, stack: Stack, services: Services, settings: Settings
) -> None:
    """SUCCEEDED lands, its answer is lost: a consistent read finds the write landed. Nothing
    is rolled back or rewritten, and the message is done with (not sent to the DLQ)."""
    request_id = submit(client, subnets=2)
    stack.lose_an_update_answer(writes("SUCCEEDED"))

    outcome = services.provisioner.handle(Job(request_id, settings.max_receive_count))

    assert outcome is Outcome.SUCCEEDED
    assert stack.faults.count("dynamodb", "GetItem") == 1  # the settling read
    assert deletes(stack) == 0
    assert_provisioned(stack, client, request_id, subnets=2)


def test_1_a_lost_answer_settled_by_the_retried_writes_refusal(
    client: Client, stack: Stack, services: Services, settings: Settings
) -> None:
    """SUCCEEDED lands, its answer is lost and so is the read's: the retried write is refused
    (the record is no longer IN_PROGRESS), and the item DynamoDB hands back shows our write."""
    request_id = submit(client, subnets=1)
    stack.lose_an_update_answer(writes("SUCCEEDED"))
    stack.faults.fail("dynamodb", "GetItem", "InternalServerError", 500)

    outcome = services.provisioner.handle(Job(request_id, settings.max_receive_count))

    assert outcome is Outcome.SUCCEEDED
    assert stack.faults.count("dynamodb", "UpdateItem") == 4  # claim, checkpoint, 2 writes
    assert_provisioned(stack, client, request_id, subnets=1)


def test_1_when_nobody_can_tell_whether_succeeded_landed_nothing_is_undone(
    client: Client, stack: Stack, services: Services, settings: Settings
) -> None:
    """The SUCCEEDED write's outcome stays unknown (every read fails): the worker neither
    rolls back nor fails the request; on the last receive it leaves it to the reaper."""
    request_id = submit(client, subnets=1)
    # The first write lands and its answer is lost; the retries never run.
    stack.lose_an_update_answer(writes("SUCCEEDED"))
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        times=-1,
        skip=1,
        match=writes("SUCCEEDED"),
    )
    stack.faults.fail("dynamodb", "GetItem", "InternalServerError", 500, times=-1)

    outcome = services.provisioner.handle(Job(request_id, settings.max_receive_count))

    assert outcome is Outcome.DEFERRED
    stack.faults.clear()
    assert_provisioned(stack, client, request_id, subnets=1)  # it had landed
    assert deletes(stack) == 0


# --- 2. a worker whose lease lapsed never leaves a second VPC for good ---------------


def test_2_a_lease_lapsed_during_create_vpc_the_worker_stops_and_its_vpc_is_reconciled(
    client: Client,
    stack: Stack,
    services: Services,
    settings: Settings,
    reconfigure: Any,
    clock: Any,
) -> None:
    """A's renewals fail while its CreateVpc is in flight; its lease lapses; B claims and
    provisions; then A's CreateVpc completes. A sees its deadline passed and stops (no
    write, no subnet, no delete); the reconciler removes A's VPC and notes it."""
    services = reconfigure(settings, lease_seconds=0.3)  # renewals every 0.1 s (all failing)
    request_id = submit(client, subnets=2)
    stack.faults.fail(
        "dynamodb", "UpdateItem", "InternalServerError", 500, times=-1, match=is_renewal
    )
    a_may_go_on = threading.Event()
    stack.faults.hold("ec2", "CreateVpc", until=a_may_go_on, match=first_only())
    a = Background(lambda: services.provisioner.handle(Job(request_id, 1)))
    wait_for(lambda: stack.faults.count("ec2", "CreateVpc") == 1)

    clock.advance(1)  # A's lease lapses
    assert services.provisioner.handle(Job(request_id, 2)) is Outcome.SUCCEEDED  # B
    a_may_go_on.set()
    a.join()

    assert isinstance(a.raised, RetryLater)  # A stopped
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"  # what B recorded
    vpcs = [v["VpcId"] for v in stack.vpcs(request_id)]
    assert len(vpcs) == 2  # B's, and A's (tagged)
    assert rec["vpc_id"] in vpcs
    assert stack.faults.count("ec2", "CreateSubnet") == 2  # all B's

    clock.advance(settings.reconcile_grace_seconds + 1)
    report = services.reconciler.run()

    rec = record(client, request_id)
    [orphan] = rec["orphans"]
    assert report.removed == [orphan["id"]]
    assert orphan["id"] != rec["vpc_id"]
    assert orphan["removed_at"]
    assert orphan["error"] is None
    assert_provisioned(stack, client, request_id, subnets=2)


# --- 3. a worker that lost the request never rolls back what another recorded -------


def test_3_a_late_permanent_failure_of_a_lost_worker_deletes_nothing(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """A made subnet 0; its lease lapsed while subnet 1 was on its way; B adopted subnet 0,
    made subnet 1 and recorded SUCCEEDED. A's subnet 1 then fails permanently: A may not
    roll back (it no longer holds the request), so subnet 0 stays, as the record says."""
    services = reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    a_may_go_on = threading.Event()
    first_of_subnet_1 = first_only()
    stack.faults.hold(
        "ec2",
        "CreateSubnet",
        until=a_may_go_on,
        match=lambda p: p["CidrBlock"] == "10.30.1.0/24" and first_of_subnet_1(p),
    )
    vpc_recorded = stack.faults.signal("dynamodb", "UpdateItem", match=is_vpc_checkpoint)
    a = Background(lambda: services.provisioner.handle(Job(request_id, 1)))
    wait_for(lambda: stack.faults.count("ec2", "CreateSubnet") == 2)
    assert vpc_recorded.wait(timeout=10)

    clock.advance(settings.lease_seconds + 1)
    assert services.provisioner.handle(Job(request_id, 2)) is Outcome.SUCCEEDED  # B
    stack.faults.fail(
        "ec2", "CreateSubnet", "SubnetLimitExceeded", match={"CidrBlock": "10.30.1.0/24"}
    )
    a_may_go_on.set()
    a.join()

    assert isinstance(a.raised, RetryLater)
    assert deletes(stack) == 0
    assert_provisioned(stack, client, request_id, subnets=2)


# --- 4. the real error survives a failed FAILED write --------------------------------


@pytest.mark.parametrize("draw", [1.0, 0.37])
def test_4_a_failed_write_of_failed_keeps_rolling_back_with_the_real_error(
    client: Client,
    stack: Stack,
    settings: Settings,
    reconfigure: Any,
    sleeps: Any,
    monkeypatch: pytest.MonkeyPatch,
    draw: float,
) -> None:
    """A permanent failure is rolled back, but FAILED cannot be written. The record says
    ROLLING_BACK with the real error; the next delivery continues the rollback (it never
    provisions again) and records FAILED with SubnetLimitExceeded."""
    reconfigure(settings, subnet_concurrency=1)
    # The waits' random draws: at their bound, and short of it.
    drawn = replace(worker_store.TRANSITION_BACKOFF, rand=lambda: draw)
    monkeypatch.setattr(worker_store, "TRANSITION_BACKOFF", drawn)
    request_id = submit(client, subnets=3)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)
    stack.faults.fail(
        "dynamodb", "UpdateItem", "InternalServerError", 500, times=-1, match=writes("FAILED")
    )
    sent: list[bool] = []
    stack.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: sent.append(True) if writes("FAILED")(params) else None,
    )

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=1)

    rec = record(client, request_id)
    assert rec["status"] == "ROLLING_BACK"
    assert rec["error"]["code"] == "SubnetLimitExceeded"
    assert_nothing_left(stack, request_id)  # the teardown itself had run
    # FAILED was sent STORE_WRITE_ATTEMPTS times, at most 0.2 s then 0.4 s apart (random
    # waits, whose bound doubles: `draw` of it).
    attempts = settings.store_write_attempts
    assert len(sent) == attempts
    expected = [draw * 0.1 * 2**n for n in range(1, attempts)]
    assert [w for w in sleeps.waits if w in expected] == expected
    stack.faults.clear()
    stack.faults.reset_counts()

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "SubnetLimitExceeded"
    assert rec["rollback"]["complete"] is True
    assert len(rec["rollback"]["deleted"]) == 2  # subnet 0 and the VPC, found gone
    assert stack.faults.count("ec2", "CreateVpc") + stack.faults.count("ec2", "CreateSubnet") == 0
    assert_nothing_left(stack, request_id)


def _killed_in_the_middle_of_a_rollback(client: Client, stack: Stack) -> str:
    """A request whose worker died after deleting a subnet and before the VPC (ROLLING_BACK,
    its lease not lapsed). Needs subnet_concurrency=1."""
    request_id = submit(client, subnets=3)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=2)
    stack.faults.kill("ec2", "DeleteVpc", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id, receive_count=1)
    assert record(client, request_id)["status"] == "ROLLING_BACK"
    assert len(stack.vpcs(request_id)) == 1
    return request_id


def test_4_a_rollback_keeps_its_lease_a_redelivery_before_it_lapses_waits(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """IN_PROGRESS -> ROLLING_BACK is no rest: the worker keeps its lease. It dies in the
    middle of the rollback; a redelivery before the lease lapses touches nothing (no
    second rollback running beside a first that may be alive) and is tried later."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = _killed_in_the_middle_of_a_rollback(client, stack)
    stack.faults.clear()
    stack.faults.reset_counts()

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2)

    assert record(client, request_id)["status"] == "ROLLING_BACK"
    assert len(stack.vpcs(request_id)) == 1
    assert stack.faults.count("ec2", "DeleteVpc") == 0


def test_4_a_crash_in_the_middle_of_a_rollback_is_finished_by_the_next_claim(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The worker dies after deleting a subnet and before deleting the VPC. The redelivery
    claims the ROLLING_BACK request (once the lease expired) and finishes the rollback."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = _killed_in_the_middle_of_a_rollback(client, stack)

    clock.advance(settings.lease_seconds + 1)
    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "SubnetLimitExceeded"
    assert rec["rollback"]["complete"] is True
    assert_nothing_left(stack, request_id)


# --- 5. a duplicate that cannot be deleted is recorded, then reconciled -------------


def test_5_a_duplicate_vpc_that_cannot_be_deleted_is_named_in_the_record(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """A second VPC carries the request's tags (a race) and holds someone else's subnet, so
    it cannot be deleted: the request still succeeds (its own VPC is whole), and its record
    names the duplicate with the error. Once the subnet is gone, the reconciler removes it."""
    request_id = submit(client, subnets=1)
    stack.faults.kill("ec2", "CreateVpc", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    [first] = [v["VpcId"] for v in stack.vpcs(request_id)]
    foreign = stack.ec2.create_subnet(VpcId=first, CidrBlock="10.30.200.0/24")["Subnet"]
    clock.advance(settings.lease_seconds + 1)
    # The redelivery's lookup misses the first VPC (EC2's lag): it makes a second one.
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs")

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"
    assert rec["vpc_id"] != first
    [orphan] = rec["orphans"]
    assert orphan["id"] == first
    assert orphan["removed_at"] is None
    assert "DependencyViolation" in orphan["error"]

    stack.ec2.delete_subnet(SubnetId=foreign["SubnetId"])
    clock.advance(settings.reconcile_grace_seconds + 1)
    assert services.reconciler.run().removed == [first]

    [orphan] = record(client, request_id)["orphans"]
    assert orphan["id"] == first
    assert orphan["removed_at"]
    assert orphan["error"] is None
    assert_provisioned(stack, client, request_id, subnets=1)


# --- 6. EC2's eventual consistency is waited out, not read as failure ---------------


def test_6_a_conflict_with_our_own_subnet_the_lookup_cannot_see_yet_is_retried(
    client: Client, stack: Stack
) -> None:
    """CreateSubnet ran but its answer was lost; the lookups lag: the retry meets EC2's
    InvalidSubnet.Conflict while the subnet is still invisible. That proves the subnet
    exists: the worker looks again later, adopts it, and the request succeeds."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeSubnets", "Subnets", times=2)

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=1)
    assert stack.faults.count("ec2", "CreateSubnet") == 2
    assert stack.faults.count("ec2", "DescribeSubnets") == 3


def test_6_a_vpc_not_found_right_after_its_creation_is_retried(
    client: Client, stack: Stack
) -> None:
    """CreateSubnet right after CreateVpc says InvalidVpcID.NotFound (AWS documents this lag):
    retried with backoff, not a failure."""
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "InvalidVpcID.NotFound", times=2)

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=2)
    assert record(client, request_id)["attempts"] == 1


def test_6_a_checkpointed_vpc_that_is_gone_fails_the_request(
    client: Client, stack: Stack, settings: Settings, clock: Any
) -> None:
    """NotFound for a VPC an earlier attempt recorded is not lag: someone deleted it. The
    request fails with EC2's error instead of retrying for ever."""
    request_id = submit(client, subnets=1)
    # Die once the VPC's checkpoint is written (a crash before it would leave no id).
    checkpointed = stack.faults.signal("dynamodb", "UpdateItem", match=is_vpc_checkpoint)
    stack.faults.hold("ec2", "CreateSubnet", until=checkpointed)
    stack.faults.kill("ec2", "CreateSubnet", when="before")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    assert record(client, request_id)["vpc_id"] is not None
    stack.ec2.delete_vpc(VpcId=record(client, request_id)["vpc_id"])
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "InvalidVpcID.NotFound"
    assert_nothing_left(stack, request_id)


# --- 7. the DLQ holds only FAILED requests -------------------------------------------


def _status(stack: Stack, request_id: str) -> str:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return str(item["status"]["S"])


def test_7_a_claim_that_fails_on_the_last_receive_leaves_the_request_to_the_reaper(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """The claim hits a DynamoDB error on the queue's last receive: failing the delivery
    would put a request that may yet succeed into the DLQ, so the message is let go and
    the reaper sends the request again."""
    request_id = submit(client, subnets=1)
    stack.messages()  # the POST's job, taken off the queue
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500)

    outcome = services.provisioner.handle(Job(request_id, settings.max_receive_count))

    assert outcome is Outcome.DEFERRED
    assert record(client, request_id)["status"] == "QUEUED"
    clock.advance(settings.stale_after_seconds + 1)
    assert services.reaper.run().requeued == [request_id]
    [job] = stack.messages()
    assert services.provisioner.handle(Job(request_id, 1)) is Outcome.SUCCEEDED
    assert_provisioned(stack, client, request_id, subnets=1)
    assert job


def test_7_a_last_receive_whose_message_cannot_be_deleted_does_nothing(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any
) -> None:
    """On its last receive the worker first deletes the message, so that nothing it does
    can end with it in the dead-letter queue. When that delete fails, it does nothing at
    all (no claim, no EC2 call): SQS will move the message to the DLQ itself, and the
    reaper prunes that letter of a request that is not FAILED and sends its job again."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("sqs", "DeleteMessage", "InternalError", 500)
    stack.faults.reset_counts()

    deliver(client, request_id, receive_count=settings.max_receive_count)

    assert stack.faults.log == [("sqs", "DeleteMessage")]
    assert record(client, request_id)["status"] == "QUEUED"
    clock.advance(settings.stale_after_seconds + 1)
    assert services.reaper.run().requeued == [request_id]


def test_7_a_live_lease_on_the_last_receive_lets_the_message_go(
    client: Client, stack: Stack, services: Services, settings: Settings
) -> None:
    """A duplicate message's last receive meets another worker's live lease: that worker
    is finishing the request, so this message is let go rather than dead-lettered."""
    request_id = submit(client, subnets=1)
    may_go_on = threading.Event()
    stack.faults.hold("ec2", "CreateVpc", until=may_go_on)
    owner = Background(lambda: services.provisioner.handle(Job(request_id, 1)))
    wait_for(lambda: stack.faults.count("ec2", "CreateVpc") == 1)

    outcome = services.provisioner.handle(Job(request_id, settings.max_receive_count))
    may_go_on.set()
    owner.join()

    assert outcome is Outcome.DEFERRED
    assert owner.returned is Outcome.SUCCEEDED
    assert_provisioned(stack, client, request_id, subnets=1)


def test_7_retries_exhausted_on_the_last_receive_is_failed_before_it_is_dead_lettered(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """On its last receive the message is deleted before any work; the worker itself
    writes the letter, and only once the record says FAILED."""
    request_id = submit(client, subnets=1)
    stack.messages()  # the POST's job, taken off the queue
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", 503, times=-1)
    seen_when_sent: list[str] = []

    def status_when_sent(params: dict[str, Any], **_: Any) -> None:
        if params["QueueUrl"] == stack.queues.dlq_url:
            seen_when_sent.append(_status(stack, request_id))

    events = stack.clients.sqs.meta.events
    events.register("provide-client-params.sqs.SendMessage", status_when_sent)
    stack.faults.reset_counts()
    try:
        deliver(client, request_id, receive_count=settings.max_receive_count)
    finally:
        events.unregister("provide-client-params.sqs.SendMessage", status_when_sent)

    assert stack.faults.log[0] == ("sqs", "DeleteMessage")  # first of all
    assert record(client, request_id)["status"] == "FAILED"
    assert seen_when_sent == ["FAILED"]
    [letter] = stack.messages(stack.queues.dlq_url)
    assert json.loads(letter["Body"]) == {"request_id": request_id}


def test_7_the_letter_is_sent_before_anything_else_follows_the_failed_write(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A user's DELETE of the FAILED request may land right after the FAILED write; the
    letter goes out first thing after that write (before the addresses are freed, which
    reads the record again), so it names a FAILED request, not a DELETED one."""
    request_id = submit(client, subnets=1)
    stack.messages()
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", 503, times=-1)
    seen_when_sent: list[str] = []
    deleted: list[bool] = []

    def status_when_sent(params: dict[str, Any], **_: Any) -> None:
        if params["QueueUrl"] == stack.queues.dlq_url:
            seen_when_sent.append(_status(stack, request_id))

    def users_delete_lands(**_: Any) -> None:
        # The first read after the FAILED write: the user's DELETE lands just before it.
        if not deleted and _status(stack, request_id) == "FAILED":
            deleted.append(True)
            stack.truth.dynamodb.update_item(
                TableName=TABLE,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET #s = :deleted, version = version + :one",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":deleted": {"S": "DELETED"}, ":one": {"N": "1"}},
            )

    sqs_events, dynamodb_events = stack.clients.sqs.meta.events, stack.clients.dynamodb.meta.events
    sqs_events.register("provide-client-params.sqs.SendMessage", status_when_sent)
    dynamodb_events.register("before-call.dynamodb.GetItem", users_delete_lands)
    try:
        deliver(client, request_id, receive_count=settings.max_receive_count)
    finally:
        sqs_events.unregister("provide-client-params.sqs.SendMessage", status_when_sent)
        dynamodb_events.unregister("before-call.dynamodb.GetItem", users_delete_lands)

    assert seen_when_sent == ["FAILED"]
    assert deleted == [True]  # the DELETE did land, after the letter


def test_7_a_worker_killed_on_the_last_receive_of_a_finished_request_leaves_no_letter(
    client: Client, stack: Stack, services: Services, settings: Settings
) -> None:
    """A duplicate of a SUCCEEDED request's job, received for the last time, and the worker
    dies after its claim: the message was deleted first, so SQS never moves it to the
    dead-letter queue (before: the reaper had to prune a SUCCEEDED request's letter)."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    stack.messages()

    def receive() -> dict[str, Any]:
        [message] = stack.truth.sqs.receive_message(
            QueueUrl=stack.queues.queue_url,
            VisibilityTimeout=0,  # comes back at once, as after a worker died
            MessageSystemAttributeNames=["All"],
        )["Messages"]
        return dict(message)

    stack.truth.sqs.send_message(QueueUrl=stack.queues.queue_url, MessageBody=job_body(request_id))
    for _ in range(settings.max_receive_count - 1):
        receive()
    message = receive()
    assert message["Attributes"]["ApproximateReceiveCount"] == str(settings.max_receive_count)
    stack.faults.kill("dynamodb", "UpdateItem", when="before")  # dies at its claim

    with pytest.raises(WorkerKilled):
        client.lambda_.invoke("worker", stack.event(message))

    assert stack.messages() == []  # nothing comes back, so nothing is moved to the DLQ
    assert stack.messages(stack.queues.dlq_url) == []
    assert record(client, request_id)["status"] == "SUCCEEDED"


# --- 8. a transient failure comes back after a delay the worker chooses --------------


def _visible_again(stack: Stack, within: float) -> None:
    """Wait until the jobs queue shows a visible message again (counted, not received)."""
    deadline = time.monotonic() + within
    while True:
        attributes = stack.truth.sqs.get_queue_attributes(
            QueueUrl=stack.queues.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]):
            return
        assert time.monotonic() < deadline, "the message never became visible again"
        time.sleep(0.05)


def test_8_a_transient_failure_sets_the_messages_retry_delay(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The queue's visibility timeout is 30 minutes; the worker sets the message's
    visibility to its backoff (1 s, then 2 s here: doubling with the receive count), so
    SQS delivers it again within seconds."""
    reconfigure(settings, retry_delay_base_seconds=1, retry_delay_cap_seconds=5)
    submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", 503, times=-1)
    delays: list[int] = []
    stack.clients.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility",
        lambda params, **_: delays.append(params["VisibilityTimeout"]),
    )

    for receive in (1, 2):
        [message] = stack.messages()  # hidden for 30 minutes by the queue
        with pytest.raises(RetryLater):
            client.lambda_.invoke("worker", stack.event(message))
        assert stack.messages() == []
        _visible_again(stack, within=receive + 5)

    assert delays == [1, 2]
    [message] = stack.messages()
    assert message["Attributes"]["ApproximateReceiveCount"] == "3"


def test_8_a_failed_checkpoint_write_is_retried_in_place(client: Client, stack: Stack) -> None:
    """One failed checkpoint does not fail a run whose creates all succeeded."""
    request_id = submit(client, subnets=2)
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, match=is_vpc_checkpoint)
    # The subnets wait for the retried checkpoint: a run that finished first would close
    # the writer before its retry (the final write carries the ids anyway).
    written = stack.faults.signal("dynamodb", "UpdateItem", match=is_vpc_checkpoint)
    stack.faults.hold("ec2", "CreateSubnet", until=written)
    checkpoints: list[str] = []
    stack.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: checkpoints.append("vpc") if is_vpc_checkpoint(params) else None,
    )

    deliver(client, request_id)

    assert checkpoints == ["vpc", "vpc"]  # failed once, written on the retry
    assert_provisioned(stack, client, request_id, subnets=2)
    assert record(client, request_id)["attempts"] == 1


def test_8_a_checkpoint_failing_every_try_goes_with_the_next_never_subnets_without_vpc(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """The VPC's checkpoint fails all its tries, the subnets' land later, and the attempt
    ends (a subnet throttled past its tries). Before: the record named subnets and no VPC,
    and the next attempt, its look by tag lagging, made a second VPC and deleted the
    first with the record's own subnets in it, then recorded SUCCEEDED naming them. Now a
    write that failed goes with the next one: the VPC and its subnets land together."""
    request_id = submit(client, subnets=3)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        times=settings.store_write_attempts,
        match=is_vpc_checkpoint,
    )
    stack.faults.fail(
        "ec2", "CreateSubnet", "RequestLimitExceeded", 400, times=settings.ec2_max_attempts, skip=2
    )
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    first = record(client, request_id)
    assert first["vpc_id"] or not [s for s in first["subnets"] if s["subnet_id"]], first

    looks_by_tag = lambda p: "tag:" in str(p.get("Filters"))  # noqa: E731
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", match=looks_by_tag)
    deliver(client, request_id, receive_count=2)

    assert_provisioned(stack, client, request_id, subnets=3)


def test_a_rollback_says_the_duplicate_it_deleted_is_removed(
    client: Client, stack: Stack, settings: Settings
) -> None:
    """A duplicate VPC (CreateVpc's answer lost, the look after it lagging) whose delete
    fails is noted an orphan with its error; then SUCCEEDED never lands, and on the last
    receive the rollback deletes both VPCs. Before: the FAILED record kept the duplicate
    as not removed (its old error), so the request never counted as ended (its
    addresses and its place in its user's limit held for good). Now it says removed."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    looks_by_tag = lambda p: "tag:" in str(p.get("Filters"))  # noqa: E731
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=1, match=looks_by_tag)
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, times=settings.ec2_max_attempts)
    stack.faults.fail(
        "dynamodb", "UpdateItem", "InternalServerError", 500, times=-1, match=writes("SUCCEEDED")
    )

    deliver(client, request_id, receive_count=settings.max_receive_count)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert rec["orphans"], rec  # the duplicate was noted
    assert all(o["removed_at"] for o in rec["orphans"]), rec["orphans"]
    assert_nothing_left(stack, request_id)


def test_6_an_unauthorized_answer_for_a_vpc_iam_cannot_see_yet_is_retried(
    client: Client, stack: Stack
) -> None:
    """IAM evaluates CreateSubnet against the new VPC's tags; right after CreateVpc it may
    not see them yet and refuse: for a VPC this run just made, that is lag, retried."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "UnauthorizedOperation", 403)

    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=1)


def test_6_a_delete_refused_as_unauthorized_for_a_resource_already_gone_counts_as_done(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """A tag-conditioned delete of something already gone may be answered
    UnauthorizedOperation: the rollback checks that it is gone and carries on. Not in the
    job that made it moments ago, though: there a by-id "not found" may be EC2's lag, so
    that try leaves it for the next, which finds it gone."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)

    def delete_it_first(params: dict[str, Any], **_: Any) -> None:
        with contextlib.suppress(ClientError):
            stack.ec2.delete_subnet(SubnetId=params["SubnetId"])

    stack.clients.ec2.meta.events.register(
        "provide-client-params.ec2.DeleteSubnet", delete_it_first
    )
    stack.faults.fail("ec2", "DeleteSubnet", "UnauthorizedOperation", 403, times=-1)

    with pytest.raises(RetryLater):
        deliver(client, request_id)
    assert record(client, request_id)["status"] == "ROLLING_BACK"
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "SubnetLimitExceeded"
    assert rec["rollback"]["complete"] is True
    assert_nothing_left(stack, request_id)
