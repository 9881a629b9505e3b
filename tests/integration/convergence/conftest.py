"""Fixtures and helpers shared by the convergence tests (several modules of this
package; tests/integration/test_tag_is_not_proof.py uses `assert_intact` and
`lag_tag_lookups` too). What only one module uses stays in that module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from integration.conftest import Stack, assert_nothing_left, deliver, record, submit
from integration.test_reconciler import exists, failed_with_a_foreign_subnet
from support.tokens import auth


def _writes(status: str) -> Any:
    """Matches the worker's write that moves a record to `status`."""
    return lambda p: p.get("ExpressionAttributeValues", {}).get(":target") == {"S": status}


def _delete(client: Client, request_id: str) -> Any:
    return client.http.delete(f"/vpcs/{request_id}", headers=auth())


def assert_deleted(client: Client, stack: Stack, request_id: str, *ids: str) -> dict[str, Any]:
    """The record says DELETED, its teardown names `ids` among what it deleted, and EC2
    holds nothing of the request (on EC2's ground truth); the record."""
    rec = record(client, request_id)
    assert rec["status"] == "DELETED", rec
    assert set(ids) <= set(rec["teardown"]["deleted"])
    assert_nothing_left(stack, request_id)
    return rec


def assert_intact(stack: Stack, client: Client, request_id: str) -> None:
    """The record says SUCCEEDED and everything it names is in EC2 (strays aside)."""
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    assert exists(stack, rec["vpc_id"])
    in_vpc = {s["SubnetId"] for s in stack.subnets(rec["vpc_id"])}
    assert {s["subnet_id"] for s in rec["subnets"]} <= in_vpc


@pytest.fixture
def hook(stack: Stack) -> Iterator[Callable[[str, str, Callable[..., Any]], None]]:
    """Register a botocore event handler on one of the app's clients for this test only
    (the clients outlive the test)."""
    registered: list[tuple[Any, str, Callable[..., Any]]] = []

    def register(service: str, event: str, handler: Callable[..., Any]) -> None:
        events = getattr(stack.clients, service).meta.events
        events.register(event, handler)
        registered.append((events, event, handler))

    yield register
    for events, event, handler in registered:
        events.unregister(event, handler)


@pytest.fixture
def succeeded(client: Client, clock: Any, settings: Settings) -> str:
    """A request that SUCCEEDED a while ago: EC2's reads have caught up with its creation
    (a DELETE soon after takes EC2's "not found" for lag: test_6_not_found_across_the_jobs)."""
    request_id = submit(client, subnets=2)
    deliver(client, request_id)
    clock.advance(settings.drift_settle_seconds)
    return request_id


def _failed_with_leftover(client: Client, stack: Stack, settings: Settings, clock: Any) -> str:
    """A FAILED request whose rollback could not delete its VPC (a foreign subnet in it),
    the foreign subnet since removed: the reconciler's to finish."""
    request_id, vpc_id, foreign = failed_with_a_foreign_subnet(client, stack, settings, clock)
    assert record(client, request_id)["vpc_id"] == vpc_id
    stack.ec2.delete_subnet(SubnetId=foreign)
    clock.advance(settings.reconcile_grace_seconds + 1)
    return request_id


def tag_lookup(params: dict[str, Any]) -> bool:
    """A Describe by the request's tag (not a read by id)."""
    return any(f["Name"] == "tag:RequestId" for f in params.get("Filters", []))


def lag_tag_lookups(stack: Stack) -> None:
    """From now on every look by the request's tag (VPCs, subnets) answers empty."""
    for operation, key in (("DescribeVpcs", "Vpcs"), ("DescribeSubnets", "Subnets")):
        stack.faults.stale("ec2", operation, key, times=-1, match=tag_lookup)


def failed_with_an_untagged_leftover(client: Client, stack: Stack) -> tuple[str, str]:
    """A FAILED request whose rollback could not delete its VPC (DependencyViolation), that
    VPC's RequestId since taken off by a person (to keep it): the request's id and the
    VPC's."""
    request_id = submit(client, subnets=1)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", 400)
    stack.faults.fail("ec2", "DeleteVpc", "DependencyViolation", 400, times=-1)
    deliver(client, request_id)
    vpc_id = str(record(client, request_id)["vpc_id"])
    stack.faults.clear()
    stack.ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "RequestId"}])
    return request_id, vpc_id
