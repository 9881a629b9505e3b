"""A run that ends without its finishing write landing leaves its IN_PROGRESS record naming
every id it knew (worker/checkpoints.py, docs/how-it-works.md "Checkpoints").

Before: `finish` dropped the ids its thread had not written (the SUCCEEDED write was to
carry them), and the last subnet's id was never handed to the checkpoint writer; when that
write then did not land (refused, or the look for duplicates before it failed), the
record named no VPC, or fewer subnets than EC2 held. The next attempt rested on looks by
tag: lagging twice, it made a second VPC and recorded SUCCEEDED naming only that one."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import RequestRecord
from integration.conftest import (
    Stack,
    body,
    deliver,
    is_vpc_checkpoint,
    post,
    record,
    stored,
    submit,
)
from integration.test_record_never_lies import writes

THROTTLED = ("ProvisionedThroughputExceededException", 400)


def _looks_by_tag(params: dict[str, Any]) -> bool:
    return "tag:" in str(params.get("Filters"))


def _run_ended_for_now(client: Client, stack: Stack, request_id: str) -> RequestRecord:
    """Deliver the job, whose run ends without its finishing write landing (the message to
    come back); the faults cleared, the record as it is left (IN_PROGRESS)."""
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    stack.faults.clear()
    now = stored(stack, request_id)
    assert now.status.value == "IN_PROGRESS"
    return now


def _vpc_checkpoint_fails_its_tries(
    stack: Stack, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """The VPC's checkpoint fails every try, and the subnets wait for its last try: else
    the run might end first, cutting the tries short, and the one `close` makes would meet
    a try still to fail."""
    tries = settings.store_write_attempts
    stack.faults.fail("dynamodb", "UpdateItem", *THROTTLED, times=tries, match=is_vpc_checkpoint)
    seen: list[bool] = []
    last = threading.Event()

    def note(params: dict[str, Any], **_: Any) -> None:
        if is_vpc_checkpoint(params):
            seen.append(True)
            if len(seen) >= tries:
                last.set()

    events, event = stack.clients.dynamodb.meta.events, "provide-client-params.dynamodb.UpdateItem"
    events.register(event, note)
    request.addfinalizer(lambda: events.unregister(event, note))  # the clients outlive it
    stack.faults.hold("ec2", "CreateSubnet", until=last)


def _succeeded_refused(
    client: Client, stack: Stack, settings: Settings, request: pytest.FixtureRequest
) -> RequestRecord:
    """A one-subnet request whose VPC checkpoint and SUCCEEDED each fail their tries."""
    request_id = submit(client, subnets=1)
    _vpc_checkpoint_fails_its_tries(stack, settings, request)
    stack.faults.fail(
        "dynamodb", "UpdateItem", *THROTTLED, times=settings.store_write_attempts,
        match=writes("SUCCEEDED"),
    )  # fmt: skip
    return _run_ended_for_now(client, stack, request_id)


def test_a_succeeded_write_that_did_not_land_leaves_the_record_naming_its_vpc(
    client: Client, stack: Stack, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """The VPC's checkpoint fails its tries, the subnet is made, SUCCEEDED fails its tries
    (known not landed: the message comes back)."""
    now = _succeeded_refused(client, stack, settings, request)

    [vpc] = stack.vpcs(now.request_id)
    assert now.vpc_id == vpc["VpcId"]
    assert [s.subnet_id for s in now.subnets] == [
        s["SubnetId"] for s in stack.subnets(vpc["VpcId"])
    ]


def test_then_lagging_looks_by_tag_never_make_a_second_vpc(
    client: Client, stack: Stack, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """As above, then the next attempt's looks by tag lag (the adoption's and the check for
    duplicates'): the record names the VPC, so none is needed, and none is made."""
    request_id = _succeeded_refused(client, stack, settings, request).request_id
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=2, match=_looks_by_tag)

    deliver(client, request_id, receive_count=2)

    done = record(client, request_id)
    assert done["status"] == "SUCCEEDED"
    assert [v["VpcId"] for v in stack.vpcs(request_id)] == [done["vpc_id"]]
    assert stack.faults.count("ec2", "CreateVpc") == 1


def test_a_look_for_duplicates_that_fails_leaves_the_record_naming_its_vpc(
    client: Client, stack: Stack, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """CreateVpc's answer lost (the look adopts the VPC), its checkpoint failing its tries,
    and the look for duplicates before SUCCEEDED failing past its tries."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    _vpc_checkpoint_fails_its_tries(stack, settings, request)
    stack.faults.fail(
        "ec2", "DescribeVpcs", "RequestLimitExceeded", 400,
        times=settings.ec2_max_attempts, skip=1, match=_looks_by_tag,
    )  # fmt: skip

    now = _run_ended_for_now(client, stack, request_id)

    [vpc] = stack.vpcs(request_id)
    assert now.vpc_id == vpc["VpcId"]


def test_a_run_ended_routing_public_subnets_leaves_the_record_naming_every_subnet(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Public subnets: the route table's associations come after them, and fail past their
    tries; the last subnet's id (kept for the finishing write) lands with the run's end."""
    reconfigure(settings, subnet_concurrency=1)
    payload = body(subnets=2)
    for subnet in payload["subnets"]:
        subnet["public"] = True
    answer = post(client, payload)
    assert answer.status_code == 202, answer.json_body
    request_id = answer.json_body["request_id"]
    stack.faults.fail("ec2", "AssociateRouteTable", "RequestLimitExceeded", 400, times=-1)

    now = _run_ended_for_now(client, stack, request_id)

    held = {s["CidrBlock"]: s["SubnetId"] for s in stack.subnets(now.vpc_id)}
    assert {s.cidr: s.subnet_id for s in now.subnets} == held
