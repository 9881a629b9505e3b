"""Sized POSTs racing for one /16, with DynamoDB's transaction conflicts (moto has none:
devstack/transaction_conflicts.py gives them). Each allocation adds one to its /16's
count of held blocks, in the POST's transaction; real DynamoDB cancels a transaction
while another one writes that count (TransactionConflict). Before: a POST that met one
waited and tried the same block again, and first fit sends every simultaneous POST into
the lowest /16, so they took turns on one item and most answered 503 (allocations one at
a time for the whole pool). Now a sized POST that meets a busy /16 takes the lowest free
block of another /16, so simultaneous POSTs spread over the pool's /16s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Network
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from chalicelib.errors import BackendUnavailable
from chalicelib.wiring import Services
from devstack.transaction_conflicts import TransactionConflicts
from integration.conftest import Stack
from integration.test_address_pools import descendants, simultaneous_posts, sized

POSTS = 24
# Explicit /24s of one /16 at once: with the old fixed waits, some answered 503 every run.
EXPLICIT_POSTS = 12


@pytest.fixture
def conflicts(stack: Stack) -> Iterator[TransactionConflicts]:
    # Each transaction's items stay busy 20 ms, about what a DynamoDB transaction takes.
    simulated = TransactionConflicts(hold_seconds=0.02)
    simulated.attach(stack.clients.dynamodb)
    yield simulated
    simulated.detach(stack.clients.dynamodb)


@pytest.fixture
def wide(services: Services, stack: Stack, settings: Settings, clock: Any) -> Services:
    """One pool of sixteen /16s, overlaps refused; a POST that waits to try again really
    waits (the other transaction ends meanwhile, as in DynamoDB)."""
    pools = parse_pools('[{"name": "main", "cidr": "10.0.0.0/12"}]')
    changed = replace(settings, address_pools=pools, allow_overlap=False)
    built = wiring.build(changed, stack.clients, clock=clock, sleep=time.sleep)
    wiring.install(built)  # the `services` fixture uninstalls it
    return built


def test_simultaneous_sized_posts_meeting_busy_counts_all_get_disjoint_blocks(
    stack: Stack, wide: Services, conflicts: TransactionConflicts
) -> None:
    cidrs, failures = simultaneous_posts(wide.submissions, POSTS, sized(24))

    assert conflicts.cancelled > 0, "no transaction met another: the race was not run"
    assert [f for f in failures if isinstance(f, BackendUnavailable)] == []
    assert failures == []
    blocks = [IPv4Network(c) for c in cidrs]
    assert len(blocks) == POSTS
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    sixteens = {b.supernet(new_prefix=16) for b in blocks}
    assert sum(descendants(stack, str(s)) for s in sixteens) == POSTS


def test_simultaneous_explicit_posts_in_one_16_all_get_their_blocks(
    stack: Stack, wide: Services, conflicts: TransactionConflicts
) -> None:
    """Explicit CIDRs cannot move to another /16: twelve POSTs of /24s of one /16 let go
    at once take turns on its count. Each waits a random, growing while before it tries
    again (three tries at fixed waits met each other again: some answered 503 every run)."""

    def explicit(index: int) -> dict[str, Any]:
        return {
            "vpc": {"cidr": f"10.0.{index}.0/24"},
            "subnets": [{"cidr": f"10.0.{index}.0/26", "az": "us-east-1a"}],
        }

    accepted, failures = simultaneous_posts(wide.submissions, EXPLICIT_POSTS, explicit)

    assert conflicts.cancelled > 0, "no transaction met another: the race was not run"
    assert failures == []
    assert sorted(accepted) == sorted(f"10.0.{i}.0/24" for i in range(EXPLICIT_POSTS))
    assert descendants(stack, "10.0.0.0/16") == EXPLICIT_POSTS
