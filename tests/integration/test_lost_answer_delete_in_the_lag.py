"""Known gap (an audit, 2026-12-06; left open, as old as DELETE): DELETE of a request
whose creation lost an answer (FAILED, or SUCCEEDED with a duplicate VPC a retried create
made), while EC2's looks by tag still lag behind the VPC that answer made, ends DELETED
(its teardown's two looks, a pause apart, both lag) and frees the block at once: the next
sized POST gets the CIDR of a VPC that still stands, and DELETED says nothing is left. The
fix would follow FAILED's rule (test_lost_answer_holds_its_block.py): DELETED after a
lost answer holds its block, on the reconciler's ledger, until a sweep long after finds
nothing of it. Strict: when it is fixed, these say so."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.models import Operation
from support.tokens import auth

from .conftest import Stack, deliver, post, stored

SIZED = {"vpc": {"netmask_length": 16}, "subnets": [{"netmask_length": 24}]}


def _looks_by_tag(p: dict[str, Any]) -> bool:
    return "tag:" in str(p.get("Filters"))


@pytest.mark.xfail(strict=True, reason="DELETED after a lost answer frees its block at once")
def test_a_delete_in_the_lag_keeps_the_block_while_the_lost_answers_vpc_stands(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, allow_overlap=False)
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id, cidr = first.json_body["request_id"], first.json_body["cidr"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    stack.faults.fail("ec2", "CreateVpc", "VpcLimitExceeded", skip=1)
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=_looks_by_tag)
    deliver(client, request_id)
    assert stored(stack, request_id).status.value == "FAILED"
    assert stored(stack, request_id).lost_answers
    [vpc] = stack.vpcs(request_id)  # the lost answer's VPC, with the request's CIDR

    # The user deletes it at once; EC2's looks by tag still lag (as they did for the rollback).
    answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert answer.status_code == 202, answer.body
    deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()

    after = stored(stack, request_id)
    still = [v["VpcId"] for v in stack.vpcs(request_id)]
    reconfigure(settings, allow_overlap=False)
    second = post(client, SIZED)
    assert second.status_code == 202, second.body
    assert second.json_body["cidr"] != cidr or not still, (
        f"{cidr} handed to {second.json_body['request_id']} while {vpc['VpcId']} (request "
        f"{request_id}, {after.status.value}, allocation {after.allocation}) still has it"
    )


@pytest.mark.xfail(strict=True, reason="DELETED after a lost answer frees its block at once")
def test_a_delete_in_the_lag_of_a_succeeded_request_keeps_the_block_while_its_duplicate_stands(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The same through a SUCCEEDED request: its CreateVpc's answer was lost, the retry made
    a second VPC, and the looks for the first lagged. DELETE in the same lag ends DELETED
    and frees the block while the first VPC, with the request's CIDR, stands."""
    reconfigure(settings, allow_overlap=False)
    first = post(client, SIZED)
    assert first.status_code == 202, first.body
    request_id, cidr = first.json_body["request_id"], first.json_body["cidr"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", 500, when="after")
    stack.faults.stale("ec2", "DescribeVpcs", "Vpcs", times=-1, match=_looks_by_tag)
    deliver(client, request_id)
    done = stored(stack, request_id)
    if done.status.value != "SUCCEEDED" or len(stack.vpcs(request_id)) < 2:
        pytest.skip(f"no duplicate left: {done.status.value}, {stack.vpcs(request_id)}")
    answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert answer.status_code == 202, answer.body
    deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()

    after = stored(stack, request_id)
    still = [v["VpcId"] for v in stack.vpcs(request_id)]
    reconfigure(settings, allow_overlap=False)
    second = post(client, SIZED)
    assert second.status_code == 202, second.body
    assert second.json_body["cidr"] != cidr or not still, (
        f"{cidr} handed to {second.json_body['request_id']} while {still} (request "
        f"{request_id}, {after.status.value}, allocation {after.allocation}) still has it"
    )
