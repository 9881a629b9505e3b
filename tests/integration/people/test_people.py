"""People change EC2 behind the service's back between reconciler runs, and the
reconciler never destroys what is live, never touches what is not this deployment's, and
once quiet its records say exactly how EC2 differs from them (docs/api.md "Drift";
docs/how-it-works.md "Convergence never destroys and never lies", "Drift: the record
stays true when people change EC2", "Restored is restored", "A live resource is never an
orphan").

One to three requests SUCCEED (two or three subnets each, at least one public, one
private). Then people make two to six edits (`actions.act`), and after most of them a
reconciler run meets lagging listings and throttled calls (`faults.plan_faults`; a run
whose sweep fails raises, and proves nothing). After every run, on EC2's ground truth:

- nothing live for a SUCCEEDED record was deleted (`oracle.live`: what it names, a subnet
  at one of its CIDR blocks, a gateway or route table carrying its tags in place);
- nothing was deleted that did not carry this deployment's tag and a `RequestId`;
- every record is still SUCCEEDED, and names nothing it notes as an orphan.

Then two runs with no lag and no fault, after which the drift check decided every
record, and each record's `drift` is what `oracle.expected_drift` says docs/api.md's
table makes of EC2 (`drift_detected_at` set exactly while there is drift, `GET
/vpcs?drift=true` listing exactly those); what was made again in place is adopted; and
nothing live is noted as an orphan not removed.

`make test` runs ten seeds; `make people` runs many more (PEOPLE_RUNS,
PEOPLE_FIRST_SEED). A failure prints its seed, what people did and what each run met.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import TransientFailure
from chalicelib.upkeep.orphan_removal import ReconcileReport
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, record
from integration.people.actions import act
from integration.people.console import People
from integration.people.faults import ListingLags, plan_faults
from integration.people.oracle import drift_items, expected_drift, live, live_orphans, unadopted
from integration.people.world import (
    Labels,
    Network,
    Place,
    World,
    is_main,
    named_ids,
    read_world,
    tag_map,
)
from integration.test_drift import public_request
from support.tokens import auth

# `make test` runs these ten seeds (about 5 s of CPU in all): 100 and 304 make a gateway
# again in place, one while a listing lags its attachment, one whose removal was refused
# before it was attached (each record named the gone gateway for good before
# 2026-12-07); with the others, every edit, retag, lag and fault, one to three networks,
# and every drift item the edits leave (but a VPC or route table `missing`). `make people`
# runs PEOPLE_RUNS seeds from PEOPLE_FIRST_SEED (1).
if "PEOPLE_RUNS" in os.environ:
    _first = int(os.environ.get("PEOPLE_FIRST_SEED", "1"))
    SEEDS = list(range(_first, _first + int(os.environ["PEOPLE_RUNS"])))
else:
    SEEDS = [18, 100, 180, 197, 200, 206, 266, 298, 301, 304]


@pytest.mark.parametrize("seed", SEEDS)
def test_people_editing_ec2_never_make_the_reconciler_destroy_or_lie(
    seed: int,
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    lags: ListingLags,
) -> None:
    rng, labels = random.Random(seed), Labels()
    networks = provision(client, stack, rng, labels)
    people = People(stack.truth.ec2, rng, networks, lambda rid: record(client, rid), labels)
    try:
        for _ in range(rng.randint(2, 6)):
            act(people)
            if rng.random() < 0.6:
                run_reconciler(client, stack, services, clock, settings, people, lags, rng)
        for _ in range(2):
            report = run_reconciler(client, stack, services, clock, settings, people, lags)
        assert report is not None
        check_quiet(client, stack, people, report)
    except BaseException:
        print(f"people seed {seed}:\n  " + "\n  ".join(people.log))
        print(f"names: {labels}")
        raise


def provision(client: Client, stack: Stack, rng: random.Random, labels: Labels) -> list[Network]:
    """One to three SUCCEEDED requests, each with two or three subnets, some public; what
    each is made of named (`net0.vpc`, `net0.subnet1`, `net0.main`: the VPC's first table)."""
    networks = []
    for n in range(rng.randint(1, 3)):
        count = rng.randint(2, 3)
        public = rng.randint(1, count - 1)  # the first ones
        rec = public_request(client, f"10.{40 + n}.0.0/16", count, public)
        places = tuple(Place(s["cidr"], s["az"], i < public) for i, s in enumerate(rec["subnets"]))
        network = Network(f"net{n}", rec["request_id"], rec["vpc_id"], places)
        networks.append(network)
        labels.add(rec["vpc_id"], f"{network}.vpc")
        for i, subnet in enumerate(rec["subnets"]):
            labels.add(subnet["subnet_id"], f"{network}.subnet{i}")
        labels.add(rec["internet_gateway_id"], f"{network}.gateway")
        labels.add(rec["route_table_id"], f"{network}.table")
        for table in read_world(stack.truth.ec2).tables_of(rec["vpc_id"]):
            if is_main(table):
                labels.add(table["RouteTableId"], f"{network}.main")
    return networks


def run_reconciler(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    people: People,
    lags: ListingLags,
    rng: random.Random | None = None,
) -> ReconcileReport | None:
    """One reconciler run some time later, meeting lags and faults when `rng` is given
    (none without), then its invariants checked. Its report (None if it raised)."""
    if rng is None:
        clock.advance(settings.reconcile_grace_seconds + 5)
    else:
        clock.advance(
            rng.choice(
                [
                    settings.reconcile_grace_seconds + rng.randint(1, 30),
                    settings.drift_settle_seconds + rng.randint(2, 10),
                    rng.randint(1, 30),
                ]
            )
        )
    before = read_world(stack.truth.ec2)
    guarded = live(before, people.networks, records(client, people.networks))
    faults = plan_faults(rng, stack.faults, lags, people.recent, people.name) if rng else ""
    people.recent = set()
    report = None
    try:
        report = services.reconciler.run()
    except TransientFailure as failure:  # its sweep's listing failed: nothing done
        people.log.append(f"run raised {type(failure).__name__}: {failure}")
    finally:
        stack.faults.clear()
        lags.stop()
    people.log.append(f"-- run (faults: {faults or 'none'}) at +{clock() - 1_795_000_000:.0f} s")
    check_run(client, stack, people, before, guarded)
    return report


def records(client: Client, networks: list[Network]) -> dict[str, dict[str, Any]]:
    return {n.request_id: record(client, n.request_id) for n in networks}


def check_run(
    client: Client, stack: Stack, people: People, before: World, guarded: dict[str, str]
) -> None:
    """What a run may never do, whatever it met."""
    after = read_world(stack.truth.ec2)
    problems = []
    for gone in sorted(set(before.everything) - set(after.everything), key=people.name):
        if gone in guarded:
            problems.append(f"deleted {people.name(gone)}, live: {guarded[gone]}")
        tags = tag_map(before.everything[gone])
        if tags.get(DEPLOYMENT_TAG) != TABLE or REQUEST_ID_TAG not in tags:
            problems.append(f"deleted {people.name(gone)}, not this deployment's: {tags}")
    now = records(client, people.networks)
    for network in people.networks:
        rec = now[network.request_id]
        noted = {o["id"] for o in rec["orphans"]} & set(named_ids(rec))
        if rec["status"] != "SUCCEEDED" or noted:
            named = sorted(map(people.name, noted))
            problems.append(f"{network} {rec['status']}, names what it notes as orphans {named}")
    assert not problems, problems


def check_quiet(client: Client, stack: Stack, people: People, report: ReconcileReport) -> None:
    """After runs with no lag and no fault: every record decided, true and adopted."""
    world = read_world(stack.truth.ec2)
    now = records(client, people.networks)
    checked = (report.drift.complete, report.drift.checked, report.drift.unknown)
    problems = []
    if checked != (True, len(people.networks), 0):
        problems.append(f"drift check (complete, checked, unknown) {checked}")
    for network in people.networks:
        rec = now[network.request_id]
        expected, shown = expected_drift(world, network, rec), drift_items(rec)
        if shown != expected:
            said = sorted((t, people.name(i), p) for t, i, p in shown)
            truth = sorted((t, people.name(i), p) for t, i, p in expected)
            problems.append(f"{network} drift {said}, EC2 says {truth}")
        if (rec["drift_detected_at"] is None) != (not shown):
            problems.append(f"{network} drift_detected_at {rec['drift_detected_at']}")
        problems += [
            f"{network} names {people.name(old)}, not {people.name(new)} made in its place"
            for new, old in unadopted(world, network, rec)
        ]
    problems += [
        f"{network} notes {people.name(orphan)} as an orphan, live: {why}"
        for network, orphan, why in live_orphans(world, people.networks, now)
    ]
    listed = client.http.get("/vpcs?drift=true", headers=auth()).json_body["items"]
    drifted = {n.request_id for n in people.networks if now[n.request_id]["drift"]}
    if {item["request_id"] for item in listed} != drifted:
        problems.append(f"?drift=true lists {listed}, the drifted are {drifted}")
    assert not problems, problems
