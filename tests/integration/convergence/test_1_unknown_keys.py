"""Convergence never destroys and never lies, defect 1: a key a batch read did not answer
is unknown, never "no such request". The reconciler acts on what a request left only once a
read answered the request's key: keys DynamoDB hands back unprocessed (throttling answers
200), or a batch read that fails, delete nothing, and an unknown request never keeps the run
from the others. A key answered without an item is proven absent, which is no licence to
delete either (the table may be younger than the resource): the request is reported
`unrecorded`, its resources left alone. Every test ends on EC2's ground truth."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.store.reconciler import ReconcilerStore
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, assert_provisioned
from integration.convergence.conftest import assert_intact
from integration.test_reconciler import ended_stray, exists, put_record, tagged_vpc


def test_1_a_reconciler_throttled_for_minutes_deletes_nothing(
    client: Client, stack: Stack, services: Services, succeeded: str, clock: Any, sleeps: Any
) -> None:
    """Every BatchGetItem hands its keys back unprocessed (DynamoDB throttling: a 200).
    Before: the dropped key read as "no record", and the SUCCEEDED request's live VPC
    and subnets were torn down. Now nothing of it, not even its stray, is touched."""
    stray = tagged_vpc(stack, succeeded)
    stack.faults.unprocessed(times=-1)

    for _ in range(5):  # five runs, minutes apart
        report = services.reconciler.run()
        assert report.removed == []
        assert report.unknown == [succeeded]
        clock.advance(120)

    assert_intact(stack, client, succeeded)
    assert exists(stack, stray)
    # Each run retried its read with jittered, growing waits before giving up on it.
    assert len(sleeps.waits) >= 5 * 4
    assert len(set(sleeps.waits)) > 4
    assert max(sleeps.waits) <= 1.0

    stack.faults.clear()
    assert services.reconciler.run().removed == [stray]
    assert_provisioned(stack, client, succeeded, subnets=2)


def test_1_keys_handed_back_are_read_again_and_the_rest_is_proven(
    client: Client, stack: Stack, services: Services, succeeded: str
) -> None:
    """A batch answered in part: the keys handed back are asked again (and found: the
    SUCCEEDED request's stray is removed), and a request that truly has no record (a key
    answered without an item) is proven so: reported unrecorded, never unknown, and its
    VPC left alone (no record is no proof of an orphan)."""
    nobody = "00000000-0000-4000-8000-000000000000"
    stray = tagged_vpc(stack, succeeded)
    unrecorded = tagged_vpc(stack, nobody, cidr="10.98.0.0/16")
    stack.faults.unprocessed(times=2, share=0.5)

    report = services.reconciler.run()

    assert report.removed == [stray]
    assert report.unknown == []
    assert report.unrecorded == [nobody]
    assert exists(stack, unrecorded)
    assert_intact(stack, client, succeeded)


def test_1_a_batch_read_that_fails_deletes_nothing(
    client: Client, stack: Stack, services: Services, succeeded: str
) -> None:
    stray = tagged_vpc(stack, succeeded)
    stack.faults.fail("dynamodb", "BatchGetItem", "InternalServerError", 500, times=-1)

    with pytest.raises(BackendFailure):
        services.reconciler.run()

    assert exists(stack, stray)
    assert_intact(stack, client, succeeded)


def test_1_every_key_of_every_hundred_is_read(
    stack: Stack, services: Services, settings: Settings, sleeps: Any
) -> None:
    """250 records (three batches): each is found; ids never written are proven absent;
    none is unknown."""
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(260)]
    for request_id in ids[:250]:
        put_record(stack, request_id, "SUCCEEDED", "10.0.0.0/16")
    store = ReconcilerStore(stack.clients.dynamodb, TABLE, sleeps)

    read = store.records(ids)

    assert sorted(read.found) == ids[:250]
    assert read.absent == frozenset(ids[250:])
    assert read.unknown == frozenset()


def test_1_a_key_never_processed_is_unknown_and_the_others_still_count(
    stack: Stack, succeeded: str, sleeps: Any
) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    stack.faults.unprocessed(
        times=-1,
        match=lambda p: {"request_id": {"S": succeeded}} in p["RequestItems"][TABLE]["Keys"],
        share=0.5,
    )
    store = ReconcilerStore(stack.clients.dynamodb, TABLE, sleeps)

    read = store.records([nobody, succeeded])  # sorted: the last one is handed back

    assert read.found == {}
    assert read.absent == frozenset({nobody})
    assert read.unknown == frozenset({succeeded})


def test_1_an_unknown_request_never_stops_the_run_from_reaching_the_others(
    stack: Stack, services: Services
) -> None:
    """One request's key is handed back every time (it sorts first): it is left alone, and
    the run goes on to the next one, whose record (CANCELLED) keeps nothing."""
    unknown = "00000000-0000-4000-8000-000000000000"
    ended = "00000000-0000-4000-8000-000000000001"
    kept = tagged_vpc(stack, unknown, cidr="10.96.0.0/16")
    gone = ended_stray(stack, ended, cidr="10.95.0.0/16")
    stack.faults.unprocessed(times=-1, only={unknown})

    report = services.reconciler.run()

    assert report.unknown == [unknown]
    assert report.removed == [gone]
    assert exists(stack, kept)
