"""The worker beyond create: public subnets, DELETE's teardown, and what a cancelled or
deleted request leaves to the reconciler. Every test ends on EC2's ground truth."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.jobs import Job
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.teardown import Teardown
from chalicelib.backoff import Backoff
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.resource_ids import Resources
from chalicelib.wiring import Services
from chalicelib.worker.results import Outcome
from devstack.fault_rules import WorkerKilled
from integration.conftest import (
    TABLE,
    Stack,
    assert_nothing_left,
    body,
    deliver,
    post,
    record,
    tags,
)
from integration.test_reconciler import tagged_gateway, tagged_table


def submit_public(client: Client, subnets: int = 3, public: tuple[int, ...] = (0, 1)) -> str:
    """A request whose subnets at `public` positions are public."""
    payload = body(subnets=subnets)
    for index in public:
        payload["subnets"][index]["public"] = True
    response = post(client, payload)
    assert response.status_code == 202, response.body
    return str(response.json_body["request_id"])


def gateways(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    return list(
        stack.ec2.describe_internet_gateways(
            Filters=[{"Name": "tag:RequestId", "Values": [request_id]}]
        )["InternetGateways"]
    )


def route_tables(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    return list(
        stack.ec2.describe_route_tables(
            Filters=[{"Name": "tag:RequestId", "Values": [request_id]}]
        )["RouteTables"]
    )


def assert_public_access(stack: Stack, client: Client, request_id: str, public: set[int]) -> None:
    """Exactly one gateway, attached to the request's VPC; exactly one route table, routing
    0.0.0.0/0 to it, associated with the public subnets only; public IPs mapped there."""
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    [gateway] = gateways(stack, request_id)
    assert gateway["InternetGatewayId"] == rec["internet_gateway_id"]
    assert [a["VpcId"] for a in gateway["Attachments"]] == [rec["vpc_id"]]
    [table] = route_tables(stack, request_id)
    assert table["RouteTableId"] == rec["route_table_id"]
    assert table["VpcId"] == rec["vpc_id"]
    assert {r["DestinationCidrBlock"]: r.get("GatewayId") for r in table["Routes"]}[
        "0.0.0.0/0"
    ] == gateway["InternetGatewayId"]
    associated = {a["SubnetId"] for a in table["Associations"] if not a.get("Main")}
    ids = [s["subnet_id"] for s in rec["subnets"]]
    assert associated == {ids[i] for i in public}
    for index, subnet_id in enumerate(ids):
        [subnet] = stack.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        assert subnet["MapPublicIpOnLaunch"] is (index in public)
    for resource in (gateway, table):
        assert tags(resource)["vpc-provisioner:deployment"] == TABLE
        assert tags(resource)["Project"] == "demo"


def set_status(stack: Stack, request_id: str, status: str) -> None:
    """Move a record as the API does for DELETE (the lease free for the worker)."""
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :s, lease_until = :zero",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}, ":zero": {"N": "0"}},
    )


def delete(client: Client, request_id: str, receive_count: int = 1) -> Any:
    return deliver(client, request_id, receive_count, Operation.DELETE)


def assert_nothing_of_it(stack: Stack, request_id: str) -> None:
    assert_nothing_left(stack, request_id)
    assert gateways(stack, request_id) == []
    assert route_tables(stack, request_id) == []


# --- public subnets -----------------------------------------------------------------


def test_public_subnets_get_one_gateway_and_one_route_table_tagged_at_creation(
    client: Client, stack: Stack
) -> None:
    request_id = submit_public(client, subnets=3, public=(0, 2))

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0, 2})
    assert stack.faults.count("ec2", "CreateTags") == 0


def test_a_request_without_public_subnets_gets_no_gateway(client: Client, stack: Stack) -> None:
    request_id = submit_public(client, subnets=2, public=())

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["internet_gateway_id"] is None
    assert rec["route_table_id"] is None
    assert gateways(stack, request_id) == []
    assert stack.faults.count("ec2", "CreateInternetGateway") == 0


@pytest.mark.parametrize("operation", ["CreateInternetGateway", "CreateRouteTable"])
def test_a_lost_create_answer_makes_exactly_one(
    client: Client, stack: Stack, operation: str
) -> None:
    """The call ran, its answer was lost: the worker looks it up by tag and adopts it."""
    request_id = submit_public(client)
    stack.faults.fail("ec2", operation, "InternalError", 500, when="after")

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0, 1})
    assert stack.faults.count("ec2", operation) == 1


@pytest.mark.parametrize(
    "operation",
    ["AttachInternetGateway", "CreateRoute", "AssociateRouteTable", "ModifySubnetAttribute"],
)
def test_a_lost_answer_of_an_idempotent_change_is_repeated_harmlessly(
    client: Client, stack: Stack, operation: str
) -> None:
    request_id = submit_public(client)
    stack.faults.fail("ec2", operation, "InternalError", 500, when="after")

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0, 1})


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("AssociateRouteTable", "InvalidSubnetID.NotFound", 400),
        ("ModifySubnetAttribute", "InvalidSubnetID.NotFound", 400),
        ("ModifySubnetAttribute", "UnauthorizedOperation", 403),
    ],
)
def test_a_subnet_not_yet_visible_to_a_change_is_waited_for(
    client: Client, stack: Stack, operation: str, code: str, status: int
) -> None:
    """The subnet was made moments ago: EC2's "not found" for it, or IAM's refusal (it
    cannot see the new subnet's tags yet), is lag, not an answer. The change is tried
    again and the request succeeds."""
    request_id = submit_public(client)
    stack.faults.fail("ec2", operation, code, status)

    deliver(client, request_id)

    assert_public_access(stack, client, request_id, public={0, 1})
    assert stack.faults.count("ec2", operation) == 2 + 1  # two subnets, one retried


def test_a_change_that_keeps_failing_is_tried_exactly_the_configured_times(
    client: Client, stack: Stack, settings: Settings, sleeps: Any
) -> None:
    """Every try answers a 5xx: the change is tried EC2_MAX_ATTEMPTS times (no more,
    no fewer), then the job is retried later; on the last receive the request is rolled
    back and FAILED, saying which call failed and how."""
    request_id = submit_public(client)
    stack.faults.fail("ec2", "AttachInternetGateway", "InternalError", 500, times=-1)

    with pytest.raises(RetryLater):
        deliver(client, request_id)

    assert stack.faults.count("ec2", "AttachInternetGateway") == settings.ec2_max_attempts
    assert record(client, request_id)["status"] == "IN_PROGRESS"
    # A backoff between tries, none after the last one.
    assert len(sleeps.waits) == settings.ec2_max_attempts - 1
    assert all(wait > 0 for wait in sleeps.waits)

    deliver(client, request_id, receive_count=settings.max_receive_count)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "RetriesExhausted"
    # The last failure, as AWS said it, and the call that met it.
    assert "last error InternalError: AttachInternetGateway: injected" in rec["error"]["message"]


def test_a_crash_after_the_gateway_was_made_never_makes_a_second_one(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    request_id = submit_public(client)
    stack.faults.kill("ec2", "CreateInternetGateway", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    clock.advance(settings.lease_seconds + 1)

    deliver(client, request_id, receive_count=2)

    assert_public_access(stack, client, request_id, public={0, 1})
    assert stack.faults.count("ec2", "CreateInternetGateway") == 1


def test_a_failed_public_request_rolls_back_its_gateway_and_route_table(
    client: Client, stack: Stack
) -> None:
    request_id = submit_public(client)
    stack.faults.fail("ec2", "CreateRoute", "RouteLimitExceeded")

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == "RouteLimitExceeded"
    assert rec["error"]["message"] == "injected RouteLimitExceeded"  # AWS's, as it came
    assert rec["rollback"]["complete"] is True
    assert rec["internet_gateway_id"] is None
    assert rec["route_table_id"] is None
    assert_nothing_of_it(stack, request_id)


# --- DELETE's teardown --------------------------------------------------------------


def provisioned(client: Client, public: tuple[int, ...] = (0, 1)) -> str:
    request_id = submit_public(client, public=public)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    return request_id


def test_a_delete_job_tears_down_exactly_the_request_and_records_deleted(
    client: Client, stack: Stack
) -> None:
    request_id = provisioned(client)
    neighbour = provisioned(client, public=(0,))  # another request: untouched
    set_status(stack, request_id, "DELETING")

    delete(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED"
    assert rec["vpc_id"] is None
    assert rec["internet_gateway_id"] is None
    assert all(s["subnet_id"] is None for s in rec["subnets"])
    assert rec["teardown"]["complete"] is True
    assert len(rec["teardown"]["deleted"]) == 1 + 3 + 1 + 1  # VPC, subnets, gateway, table
    assert_nothing_of_it(stack, request_id)
    assert_public_access(stack, client, neighbour, public={0})


def test_a_delete_job_for_a_request_not_being_deleted_does_nothing(
    client: Client, stack: Stack, services: Services
) -> None:
    request_id = provisioned(client)
    stack.faults.reset_counts()

    outcome = services.provisioner.handle(Job(request_id, operation=Operation.DELETE))

    assert outcome is Outcome.SKIPPED
    assert stack.faults.log == [("dynamodb", "UpdateItem")]
    assert_public_access(stack, client, request_id, public={0, 1})


def test_a_create_job_for_a_cancelled_request_creates_nothing(
    client: Client, stack: Stack, services: Services
) -> None:
    request_id = submit_public(client)
    set_status(stack, request_id, "CANCELLED")

    assert services.provisioner.handle(Job(request_id)) is Outcome.SKIPPED
    assert stack.vpcs(request_id) == []


TEARDOWN_CALLS = [
    "DescribeNetworkInterfaces",
    "DescribeRouteTables",
    "DisassociateRouteTable",
    "DeleteRouteTable",
    "DescribeInternetGateways",
    "DetachInternetGateway",
    "DeleteInternetGateway",
    "DescribeSubnets",
    "DeleteSubnet",
    "DescribeVpcs",
    "DeleteVpc",
]


@pytest.mark.parametrize("operation", TEARDOWN_CALLS)
@pytest.mark.parametrize("fault", ["lost answer", "failure", "crash after"])
def test_a_teardown_converges_whatever_happens_to_any_of_its_calls(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    reconfigure: Any,
    operation: str,
    fault: str,
) -> None:
    """Each AWS call of a teardown in turn loses its answer, fails for good on this
    delivery, or is the last thing a dying worker does. The redelivery converges:
    DELETED, and EC2 holds nothing of the request."""
    reconfigure(settings, ec2_max_attempts=2)
    request_id = provisioned(client)
    # Long enough after its creation that "not found" is evidence again.
    clock.advance(settings.drift_settle_seconds)
    set_status(stack, request_id, "DELETING")
    if fault == "lost answer":
        stack.faults.fail("ec2", operation, "InternalError", 500, when="after")
    elif fault == "failure":
        stack.faults.fail("ec2", operation, "InternalError", 500, times=2)
    else:
        stack.faults.kill("ec2", operation, when="after")

    try:
        delete(client, request_id)
    except (RetryLater, WorkerKilled):
        clock.advance(settings.lease_seconds + 1)
        delete(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "DELETED", rec
    assert_nothing_of_it(stack, request_id)


def test_a_foreign_network_interface_fails_the_delete_and_keeps_everything(
    client: Client, stack: Stack
) -> None:
    """Someone launched something into the VPC: nothing is deleted (it would lose its
    gateway), DELETE_FAILED names it; once it is gone, another delete finishes."""
    request_id = provisioned(client)
    rec = record(client, request_id)
    eni = stack.ec2.create_network_interface(SubnetId=rec["subnets"][0]["subnet_id"])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    set_status(stack, request_id, "DELETING")

    delete(client, request_id)

    failed = record(client, request_id)
    assert failed["status"] == "DELETE_FAILED"
    assert failed["error"]["code"] == "DependencyViolation"
    assert eni in failed["error"]["message"]
    assert failed["vpc_id"] == rec["vpc_id"]
    assert sorted(failed["teardown"]["remaining"]) == sorted(
        [
            rec["vpc_id"],
            rec["internet_gateway_id"],
            rec["route_table_id"],
            *(s["subnet_id"] for s in rec["subnets"]),
        ]
    )
    assert len(gateways(stack, request_id)) == 1
    assert len(route_tables(stack, request_id)) == 1
    assert stack.faults.count("ec2", "DeleteSubnet") == 0

    stack.ec2.delete_network_interface(NetworkInterfaceId=eni)
    set_status(stack, request_id, "DELETING")  # what another DELETE does
    delete(client, request_id)

    deleted = record(client, request_id)
    assert deleted["status"] == "DELETED"
    assert deleted["error"] is None  # the earlier failure no longer holds
    assert_nothing_of_it(stack, request_id)


def test_a_delete_refused_on_the_last_receive_ends_delete_failed_in_the_dlq(
    client: Client, stack: Stack, settings: Settings
) -> None:
    request_id = provisioned(client, public=())
    set_status(stack, request_id, "DELETING")
    stack.faults.fail("ec2", "DeleteVpc", "InternalError", 500, times=-1)

    delete(client, request_id, receive_count=settings.max_receive_count)

    rec = record(client, request_id)
    assert rec["status"] == "DELETE_FAILED"
    assert rec["error"]["code"] == "RetriesExhausted"
    assert rec["vpc_id"] in rec["teardown"]["remaining"]
    assert len(stack.vpcs(request_id)) == 1
    # The worker's own letter, sent once DELETE_FAILED was recorded.
    [letter] = stack.messages(stack.queues.dlq_url)
    assert json.loads(letter["Body"]) == {"request_id": request_id, "operation": "delete"}


def test_two_teardowns_at_once_never_fail_on_what_the_other_deleted(
    client: Client, stack: Stack, settings: Settings, sleeps: Any
) -> None:
    request_id = provisioned(client)
    rec = record(client, request_id)
    known = Resources(
        vpcs=(rec["vpc_id"],),
        subnets=tuple(s["subnet_id"] for s in rec["subnets"]),
        gateways=(rec["internet_gateway_id"],),
        tables=(rec["route_table_id"],),
    )
    ec2 = stack.clients.ec2
    barrier = threading.Barrier(2)
    removals: list[Any] = []

    def tear_down() -> None:
        teardown = Teardown(
            Ec2Gateway(ec2, TABLE),
            RoutingGateway(ec2, TABLE),
            Ec2Calls(settings, sleeps, Backoff(0.01, 0.01)),
        )
        barrier.wait()
        removals.append(teardown.request(request_id, known, network=True))

    threads = [threading.Thread(target=tear_down) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.complete for r in removals] == [True, True], removals
    assert_nothing_of_it(stack, request_id)


# --- the reconciler and the reaper beyond create ------------------------------------


def test_the_reconciler_removes_an_unreferenced_gateway_and_route_table(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """A worker that lost its lease made a second gateway and route table: unreferenced,
    they go; the request's own stay."""
    request_id = provisioned(client)
    rec = record(client, request_id)
    stray_gateway = tagged_gateway(stack, request_id)
    stray_table = tagged_table(stack, rec["vpc_id"], request_id)
    clock.advance(settings.reconcile_grace_seconds + 1)

    report = services.reconciler.run()

    assert sorted(report.removed) == sorted([stray_gateway, stray_table])
    assert_public_access(stack, client, request_id, public={0, 1})
    assert {o["id"] for o in record(client, request_id)["orphans"]} == {
        stray_gateway,
        stray_table,
    }


@pytest.mark.parametrize("status", ["DELETED", "CANCELLED"])
def test_the_reconciler_removes_what_a_deleted_or_cancelled_request_left(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings, status: str
) -> None:
    request_id = provisioned(client)
    set_status(stack, request_id, status)
    clock.advance(settings.reconcile_grace_seconds + 1)

    services.reconciler.run()

    assert_nothing_of_it(stack, request_id)


@pytest.mark.parametrize("status", ["DELETING", "DELETE_FAILED"])
def test_the_reconciler_leaves_a_request_being_deleted_to_its_teardown(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings, status: str
) -> None:
    request_id = provisioned(client)
    set_status(stack, request_id, status)
    clock.advance(settings.reconcile_grace_seconds + 1)

    assert services.reconciler.run().removed == []
    assert len(stack.vpcs(request_id)) == 1


def test_the_reaper_resends_a_stalled_delete_as_a_delete_job(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    request_id = provisioned(client, public=())
    set_status(stack, request_id, "DELETING")
    stack.messages()
    clock.advance(settings.stale_after_seconds + 1)

    assert services.reaper.run().requeued == [request_id]

    [job] = stack.messages()
    assert '"operation": "delete"' in job["Body"]
    delete(client, request_id)
    assert record(client, request_id)["status"] == "DELETED"


def test_a_gateway_only_the_tags_know_of_goes_with_the_request(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """CreateInternetGateway's answer was lost and the lookup lagged, so a second gateway
    was made; the record names one. DELETE finds the other by its tags too."""
    request_id = submit_public(client)
    stack.faults.fail("ec2", "CreateInternetGateway", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeInternetGateways", "InternetGateways", times=5)
    deliver(client, request_id)
    assert len(gateways(stack, request_id)) == 2
    stack.faults.clear()
    set_status(stack, request_id, "DELETING")
    clock.advance(settings.drift_settle_seconds + 1)  # EC2's looks caught up

    delete(client, request_id)

    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_of_it(stack, request_id)


def test_a_rollback_finds_a_gateway_no_checkpoint_named_by_its_tag(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    """The worker dies right after CreateInternetGateway (its id never written); the next
    delivery is over the attempts and rolls back at once: the gateway is looked up by the
    request's tag and deleted with the rest, nothing left."""
    reconfigure(settings, max_attempts=1)
    request_id = submit_public(client, subnets=2, public=(0,))
    stack.faults.kill("ec2", "CreateInternetGateway", when="after")
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    assert len(gateways(stack, request_id)) == 1
    assert record(client, request_id)["internet_gateway_id"] is None
    clock.advance(settings.lease_seconds + 1)  # the dead worker's lease runs out

    deliver(client, request_id, receive_count=2)

    assert record(client, request_id)["status"] == "FAILED"
    assert gateways(stack, request_id) == []
    assert_nothing_left(stack, request_id)
