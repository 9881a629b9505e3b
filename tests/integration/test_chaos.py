"""Randomized fault schedules over the whole lifecycle: whatever fails, the records end up
telling the truth about EC2, and nothing live is ever deleted.

Several requests (some with public subnets, some with duplicate jobs) are worked on by
three concurrent workers polling a real (moto) queue with a dead-letter queue, while
DELETEs arrive for about half of them at random moments (some while still QUEUED:
cancels), the reaper and the reconciler run concurrently (the reconciler's grace
period short enough that it acts during the storm), and every AWS call may be
throttled, fail, lose its answer (EC2 creates, attaches, routes, associations and
deletes; DynamoDB writes), read stale (Describe answers that lag: empty), hand its
keys back unprocessed (BatchGetItem), or find its worker dead or its lease lapsed.
A monitor reads every record all along. Then the faults stop, the reaper and the
workers finish what is pending (the DELETEs are repeated until accepted), the
reconciler runs, and EC2's ground truth is checked against the records:

- every record is final (SUCCEEDED, FAILED, DELETED, CANCELLED or DELETE_FAILED), and
  nothing a SUCCEEDED record names was ever deleted (checked before the reconciler);
- SUCCEEDED: exactly the VPC, subnets, gateway and route table it names exist for it,
  the gateway attached to its VPC, the route to it present, the public subnets (and
  only they) associated with the table;
- FAILED, DELETED, CANCELLED: nothing tagged with it remains;
- DELETE_FAILED: everything it names still exists;
- a request fails (FAILED, DELETE_FAILED) only for a fault the storm made permanent (a
  limit, a VPC an earlier attempt made that EC2 calls "not found") or for its retries
  running out: never for an "already done" answer or a read that lagged;
- every request that was to be deleted ends DELETED or CANCELLED;
- no tagged resource without its record;
- (monitor) DELETED was never observed while something tagged with the request was
  left; a terminal status only ever moved on through DELETE; versions only grow;
  no record ever showed drift (nobody changes EC2 behind the service's back here, so
  any would be invented by a read that lagged or failed: the drift check runs all
  along, its records settled after a second);
- the dead-letter queue only ever received requests recorded FAILED or DELETE_FAILED
  at that moment, and the reaper never had to prune a letter of any other.

`make test` runs a fixed set of seeds; `make chaos` runs many more
(CHAOS_RUNS, CHAOS_FIRST_SEED). A failure prints its seed and the fault log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import threading
import time
from ipaddress import IPv4Network
from typing import Any

import pytest

import app as app_module
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import ApiError
from chalicelib.models import Caller, Status
from chalicelib.resource_ids import has_ended
from chalicelib.store.items import deserialize, item_to_record
from chalicelib.wiring import Services
from devstack.fault_rules import WorkerKilled
from devstack.worker import QueuePoller
from integration.conftest import REGION, TABLE, Stack, body, tags
from support.chaos import EC2_CREATES, WORKER_THREAD_PREFIX, ChaosMonkey, Odds

# `make test` runs these two seeds (a double and a quadruple storm: cancels, failures,
# keys handed back unprocessed; a seed costs 10-20 s of CPU, and the suite is CPU-bound
# on two cores); `make chaos` runs CHAOS_RUNS seeds from CHAOS_FIRST_SEED (100).
if "CHAOS_RUNS" in os.environ:
    _first = int(os.environ.get("CHAOS_FIRST_SEED", "1"))
    SEEDS = list(range(_first, _first + int(os.environ["CHAOS_RUNS"])))
else:
    SEEDS = [5, 12]
WORKERS = 3
MAX_RECEIVE_COUNT = 5  # the fixture queue's redrive count
CHAOS_SECONDS = 20.0


class ChaosPoller(QueuePoller):
    """The local stack's poller, for whom a killed worker is a message left in flight; it
    notes the requests whose job outlived its message's visibility (`outlived`)."""

    def __init__(self, *args: Any, outlived: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outlived = outlived

    def _process(self, message: dict[str, Any]) -> None:
        started = time.monotonic()
        # As if its Lambda died: the message comes back after its visibility timeout.
        with contextlib.suppress(WorkerKilled):
            super()._process(message)
        if time.monotonic() - started > self._visibility:
            # Received again meanwhile, perhaps past the queue's last receive: SQS itself
            # may have moved it to the dead-letter queue (a loaded machine, not the code).
            self.outlived.add(json.loads(message["Body"])["request_id"])


@pytest.mark.parametrize("seed", SEEDS)
def test_random_faults_never_make_the_record_lie(
    seed: int, stack: Stack, settings: Settings, reconfigure: Any, clock: Any
) -> None:
    rng = random.Random(seed)
    queues = stack.queues
    # A dead worker's message comes back in 2 s (not the fixture's 30 minutes).
    stack.truth.sqs.set_queue_attributes(
        QueueUrl=queues.queue_url, Attributes={"VisibilityTimeout": "2"}
    )
    services: Services = reconfigure(
        settings,
        queue_url=queues.queue_url,
        dlq_url=queues.dlq_url,
        max_receive_count=MAX_RECEIVE_COUNT,
        retry_delay_base_seconds=0,
        retry_delay_cap_seconds=1,
        # Old enough after one lapsed lease: the reconciler acts during the storm.
        reconcile_grace_seconds=int(settings.lease_seconds) + 1,
        # Every SUCCEEDED record is checked for drift from the first lapse on.
        drift_settle_seconds=1,
    )
    # Some schedules are storms: enough faults to exhaust retries and fill the DLQ.
    storm = rng.choice([1, 1, 2, 4])
    monkey = ChaosMonkey(
        seed, lapse=lambda: clock.advance(settings.lease_seconds + 1), odds=Odds().scaled(storm)
    )
    letters = DeadLetterWatch(stack, queues.dlq_url)
    app_clients = (stack.clients.dynamodb, stack.clients.sqs, stack.clients.ec2)
    for client in app_clients:
        monkey.attach(client)
    letters.attach(stack.clients.sqs)
    stop = threading.Event()
    monitor = Monitor(stack)
    try:
        request_ids = _submit(rng, services)
        monitor.watch(request_ids, stop)
        doomed = [r for r in request_ids if rng.random() < 0.5]
        if rng.random() < 0.5:
            monkey.cursed.add(rng.choice(request_ids))
        monkey.enabled = True
        pollers = [
            ChaosPoller(
                stack.truth.sqs,
                queues.queue_url,
                queues.queue_arn,
                REGION,
                _worker_handler,
                2,
                stop,
                name=f"{WORKER_THREAD_PREFIX}-{i}",
                outlived=letters.outlived,
            )
            for i in range(WORKERS)
        ]
        for poller in pollers:
            poller.start()
        deleter = threading.Thread(target=_delete_at_random, args=(rng, services, doomed, stop))
        upkeep = threading.Thread(target=_upkeep, args=(services, letters, stop), name="upkeep")
        deleter.start()
        upkeep.start()
        _drain(stack, queues.queue_url, CHAOS_SECONDS)
        monkey.enabled = False
        _settle(stack, services, letters, queues.queue_url, clock, settings, request_ids, doomed)
        stop.set()
        for thread in [*pollers, deleter, upkeep, monitor]:
            thread.join(timeout=30)
        _check_what_succeeded_records_name_exists(stack, request_ids)
        clock.advance(settings.reconcile_grace_seconds + 1)
        reconciled = services.reconciler.run()
        services.pool_keeper.run()
        outcomes = _check_invariants(stack, queues.dlq_url, request_ids, doomed)
        _check_addresses(stack, request_ids)
        # Every SUCCEEDED request checked after the storm: EC2 matches every one.
        assert reconciled.drift.checked == outcomes.get("SUCCEEDED", 0)
        assert reconciled.drift.drifted == 0
        monitor.check()
        letters.check()
        print(
            f"chaos seed {seed} (storm x{storm}): faults {dict(monkey.counts)}; "
            f"outcomes {outcomes}; orphans removed {len(letters.reconciled)} during the storm, "
            f"{len(reconciled.removed)} after; drift checks {letters.drift_checks} during "
            f"the storm; observations {monitor.observations}; letters {len(letters.sent)}; "
            f"cursed {sorted(monkey.cursed)}"
        )
    except BaseException:
        print(f"chaos seed {seed}: faults {dict(monkey.counts)}")
        print("\n".join(monkey.log[-200:]))
        raise
    finally:
        stop.set()
        for client in app_clients:
            monkey.detach(client)
        letters.detach(stack.clients.sqs)


class Monitor(threading.Thread):
    """Reads every record all along (uninstrumented client): the statuses each request went
    through, its versions, and what EC2 held for it the first time it was seen DELETED."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(name="monitor", daemon=True)
        self._stack = stack
        self._ids: list[str] = []
        self._done = threading.Event()
        self.history: dict[str, list[tuple[str, int]]] = {}
        self.left_when_deleted: dict[str, set[str]] = {}
        # The record as first seen DELETED: what it said it deleted, and what came before.
        self.deleted_records: dict[str, dict[str, Any]] = {}
        self.drift: dict[str, Any] = {}
        self.observations = 0

    def watch(self, request_ids: list[str], stop: threading.Event) -> None:
        self._ids, self._done = list(request_ids), stop
        self.start()

    def run(self) -> None:
        while not self._done.is_set():
            self.observe()
            time.sleep(0.02)
        self.observe()

    def observe(self) -> None:
        for request_id in self._ids:
            item = self._stack.truth.dynamodb.get_item(
                TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
            )["Item"]
            status, version = item["status"]["S"], int(item.get("version", {}).get("N", "0"))
            seen = self.history.setdefault(request_id, [])
            if not seen or seen[-1] != (status, version):
                seen.append((status, version))
            if status == "DELETED" and request_id not in self.left_when_deleted:
                self.left_when_deleted[request_id] = _tagged_with(self._stack, request_id)
                self.deleted_records[request_id] = item
            if item.get("drift", {}).get("L"):
                self.drift.setdefault(request_id, item["drift"])
            self.observations += 1

    def check(self) -> None:
        for request_id, seen in self.history.items():
            versions = [v for _, v in seen]
            assert versions == sorted(versions), (request_id, seen)
            for (before, _), (after, _) in itertools.pairwise(seen):
                assert after in NEXT.get(before, set(Status)), (request_id, before, after, seen)
        for request_id, left in self.left_when_deleted.items():
            record = self.deleted_records.get(request_id, {})
            said = {key: record.get(key) for key in ("teardown", "rollback", "history", "orphans")}
            assert not left, (request_id, "DELETED while these were left", left, said)
        assert self.drift == {}, ("drift invented", self.drift)


# What may follow a status once the record is terminal for creation: a terminal status
# only moves on through DELETE (the same status again: a note, a new version).
NEXT = {
    "SUCCEEDED": {"SUCCEEDED", "DELETING", "DELETED", "DELETE_FAILED"},
    "FAILED": {"FAILED", "DELETING", "DELETED", "DELETE_FAILED"},
    "DELETING": {"DELETING", "DELETED", "DELETE_FAILED"},
    "DELETE_FAILED": {"DELETE_FAILED", "DELETING", "DELETED"},
    "DELETED": {"DELETED"},
    "CANCELLED": {"CANCELLED"},
}


_ENDED_FAILING = ("FAILED", "DELETE_FAILED")


class DeadLetterWatch:
    """Every dead letter the app sends, with its request's status at that moment; and the
    letters the reaper had to prune."""

    def __init__(self, stack: Stack, dlq_url: str) -> None:
        self._stack = stack
        self._dlq_url = dlq_url
        self.sent: list[tuple[str, str]] = []
        self.pruned: list[str] = []
        self.outlived: set[str] = set()  # the ChaosPollers' (ChaosPoller.outlived)
        # Orphans the reconciler removed while the storm raged, and records it checked
        # for drift meanwhile.
        self.reconciled: list[str] = []
        self.drift_checks = 0

    def attach(self, sqs: Any) -> None:
        sqs.meta.events.register("provide-client-params.sqs.SendMessage", self._sending)

    def detach(self, sqs: Any) -> None:
        sqs.meta.events.unregister("provide-client-params.sqs.SendMessage", self._sending)

    def _sending(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("QueueUrl") == self._dlq_url:
            request_id = json.loads(params["MessageBody"])["request_id"]
            item = self._stack.truth.dynamodb.get_item(
                TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
            )["Item"]
            data = deserialize(item)
            status = data["status"]
            recorded = [str(c["status"]) for c in data.get("history") or []]
            ends = [i for i, s in enumerate(recorded) if s in _ENDED_FAILING]
            since = recorded[ends[-1] + 1 :] if ends else []
            if status not in _ENDED_FAILING and since and set(since) <= {"DELETING", "DELETED"}:
                # Recorded FAILED (or DELETE_FAILED) on its last receive, then a user's
                # DELETE moved it on between that write and the letter: DELETED, or
                # DELETING when its teardown must look in EC2 first (the reaper prunes
                # such a letter). Nothing but that DELETE since.
                status = f"{status} after {recorded[ends[-1]]}"
            self.sent.append((request_id, status))

    def check(self) -> None:
        assert all(s in _ENDED_FAILING or " after " in s for _, s in self.sent), self.sent
        failed = {r for r, _ in self.sent}
        # Pruned: the app's own letters whose request moved on through DELETE, or those SQS
        # moved itself because a job outlived its message's visibility (2 s here: a loaded
        # machine), which the reaper exists to revive. Any other is a message the last
        # receive's delete-first let SQS move.
        others = set(self.pruned) - failed - self.outlived
        assert not others, ("the reaper pruned other letters", others, self.pruned)


def _upkeep(services: Services, letters: DeadLetterWatch, stop: threading.Event) -> None:
    """The reaper and the reconciler on their schedules (compressed), faults and all."""
    while not stop.wait(0.3):
        with contextlib.suppress(Exception):
            letters.pruned += services.reaper.run().revived
        with contextlib.suppress(Exception):
            report = services.reconciler.run()
            letters.reconciled += report.removed
            letters.drift_checks += report.drift.checked
        with contextlib.suppress(Exception):
            services.pool_keeper.run()


def _tagged_with(stack: Stack, request_id: str) -> set[str]:
    """Ids of everything in EC2 tagged with the request (ground truth)."""
    ec2 = stack.ec2
    tag = [{"Name": f"tag:{REQUEST_ID_TAG}", "Values": [request_id]}]
    return {
        *(v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]),
        *(s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]),
        *(
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]
        ),
        *(t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tag)["RouteTables"]),
    }


CALLER = Caller(sub="chaos-user", username="chaos")


def _submit(rng: random.Random, services: Services) -> list[str]:
    """Several requests of 1-4 subnets, a third with a public one; some get duplicate jobs
    (replays, the reaper)."""
    caller = CALLER
    request_ids = []
    for index in range(rng.randint(4, 6)):
        payload = body(cidr=f"10.{40 + index}.0.0/16", subnets=rng.randint(1, 4))
        if rng.random() < 0.35:
            payload["subnets"][0]["public"] = True
        submission = services.submissions.submit(caller, f"chaos-{index}", json.dumps(payload))
        request_ids.append(submission.record.request_id)
        for _ in range(rng.choice([0, 0, 1, 2])):
            services.submissions.submit(caller, f"chaos-{index}", json.dumps(payload))
    return request_ids


def _delete_at_random(
    rng: random.Random, services: Services, doomed: list[str], stop: threading.Event
) -> None:
    """DELETE the doomed requests at random moments while the faults rage (a refused or
    failed DELETE is simply tried again later, as a client would)."""
    pending = list(doomed)
    moment = random.Random(rng.random())
    while pending and not stop.wait(moment.uniform(0.05, 0.6)):
        request_id = moment.choice(pending)
        with contextlib.suppress(ApiError):
            services.deletes.delete(CALLER, request_id)
            pending.remove(request_id)


def _worker_handler(event: dict[str, Any], context: Any) -> Any:
    return app_module.app.handler_map["worker"](event, context)


def _in_queue(stack: Stack, queue_url: str) -> int:
    attributes = stack.truth.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _drain(stack: Stack, queue_url: str, seconds: float) -> None:
    """Wait until the queue holds nothing (visible or in flight), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while _in_queue(stack, queue_url) and time.monotonic() < deadline:
        time.sleep(0.1)


def _settle(
    stack: Stack,
    services: Services,
    letters: DeadLetterWatch,
    queue_url: str,
    clock: Any,
    settings: Settings,
    request_ids: list[str],
    doomed: list[str],
) -> None:
    """No more faults: the reaper re-sends what is pending (and what a dead worker left in
    the DLQ), and DELETEs are repeated until accepted, until every record is final and the
    queues are quiet."""
    for _ in range(12):
        _drain(stack, queue_url, 15)
        for request_id in doomed:
            status = _status(stack, request_id)
            if status is Status.DELETE_FAILED:
                # Before it is DELETEd again: a teardown never fails for lag alone.
                failed = _record(stack, request_id)
                assert failed["error"] in LEGITIMATE_FAILURES, (request_id, failed)
            if status not in (Status.DELETED, Status.CANCELLED):
                with contextlib.suppress(ApiError):
                    services.deletes.delete(CALLER, request_id)
        _drain(stack, queue_url, 15)
        clock.advance(max(settings.stale_after_seconds, settings.lease_seconds) + 1)
        report = services.reaper.run()
        letters.pruned += report.revived
        statuses = {r: _status(stack, r) for r in request_ids}
        final = all(s in FINAL for s in statuses.values()) and all(
            statuses[r] in (Status.DELETED, Status.CANCELLED) for r in doomed
        )
        if final and not report.requeued and not report.revived:
            return


# The codes a request may fail with here: what the storm makes permanent, and retries run out.
LEGITIMATE_FAILURES = frozenset(
    {*EC2_CREATES.values(), "InvalidVpcID.NotFound", "RetriesExhausted"}
)

FINAL = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.DELETED, Status.CANCELLED, Status.DELETE_FAILED}
)


def _status(stack: Stack, request_id: str) -> Status:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return Status(item["status"]["S"])


def _record(stack: Stack, request_id: str) -> dict[str, Any]:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    data = deserialize(item)
    public = {s["cidr"] for s in data["request"]["subnets"] if s.get("public")}
    return {
        "status": data["status"],
        "vpc_id": data.get("vpc_id"),
        "subnets": {s["cidr"]: s.get("subnet_id") for s in data["subnets"]},
        "public": {s.get("subnet_id") for s in data["subnets"] if s["cidr"] in public},
        "gateway": data.get("internet_gateway_id"),
        "table": data.get("route_table_id"),
        "error": (data.get("error") or {}).get("code"),
    }


def _check_what_succeeded_records_name_exists(stack: Stack, request_ids: list[str]) -> None:
    """Before any reconciliation: no worker ever deleted what a SUCCEEDED record names."""
    vpcs = {v["VpcId"] for v in stack.ec2.describe_vpcs()["Vpcs"]}
    subnets = {s["SubnetId"] for s in stack.ec2.describe_subnets()["Subnets"]}
    for request_id in request_ids:
        rec = _record(stack, request_id)
        if rec["status"] == "SUCCEEDED":
            assert rec["vpc_id"] in vpcs, (request_id, rec)
            assert set(rec["subnets"].values()) <= subnets, (request_id, rec)


def _check_addresses(stack: Stack, request_ids: list[str]) -> None:
    """Every live request holds its block, every ended one holds none (freed exactly once:
    each ancestor counts exactly the held blocks inside it)."""
    items = stack.truth.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    plain = [deserialize(i) for i in items]
    held = {i["holder"]: i["cidr"] for i in plain if i.get("holder")}
    for request_id in request_ids:
        rec = next(i for i in plain if i["request_id"] == request_id)
        if has_ended(item_to_record(rec)):
            assert request_id not in held, (request_id, rec["status"], "still holds a block")
            assert rec.get("allocation") in ("released", ""), (request_id, rec.get("allocation"))
        else:
            assert held.get(request_id) == rec["cidr"], (request_id, rec["status"], held)
    blocks = [IPv4Network(c) for c in held.values()]
    for item in plain:
        if "descendants" in item:
            ancestor = IPv4Network(item["request_id"].removeprefix("block#"))
            inside = sum(1 for b in blocks if b != ancestor and b.subnet_of(ancestor))
            assert int(item["descendants"]) == inside, (item["request_id"], item, held)


def _check_invariants(
    stack: Stack, dlq_url: str, request_ids: list[str], doomed: list[str]
) -> dict[str, int]:
    ours = [{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [TABLE]}]
    vpcs = stack.ec2.describe_vpcs(Filters=ours)["Vpcs"]
    subnets = stack.ec2.describe_subnets(Filters=ours)["Subnets"]
    gateways = stack.ec2.describe_internet_gateways(Filters=ours)["InternetGateways"]
    tables = stack.ec2.describe_route_tables(Filters=ours)["RouteTables"]
    records = {r: _record(stack, r) for r in request_ids}

    for resource in [*vpcs, *subnets, *gateways, *tables]:
        owner = tags(resource).get(REQUEST_ID_TAG)
        assert owner in records, f"{resource} has no record"
    for request_id, rec in records.items():
        assert rec["status"] in FINAL, (request_id, rec)
        if rec["status"] in ("FAILED", "DELETE_FAILED"):
            assert rec["error"] in LEGITIMATE_FAILURES, (request_id, rec)
        if request_id in doomed:
            assert rec["status"] in ("DELETED", "CANCELLED"), (request_id, rec)

        def its(resources: list[dict[str, Any]], key: str) -> list[str]:
            return sorted(
                r[key]
                for r in resources
                if tags(r)[REQUEST_ID_TAG] == request_id  # noqa: B023
            )

        its_subnets = {
            s["CidrBlock"]: s["SubnetId"] for s in subnets if tags(s)[REQUEST_ID_TAG] == request_id
        }
        named = [
            i for i in (rec["vpc_id"], rec["gateway"], rec["table"], *rec["subnets"].values()) if i
        ]
        existing = {
            *its(vpcs, "VpcId"),
            *its(subnets, "SubnetId"),
            *its(gateways, "InternetGatewayId"),
            *its(tables, "RouteTableId"),
        }
        if rec["status"] in ("FAILED", "DELETED", "CANCELLED"):
            assert existing == set(), (request_id, rec["status"], existing)
            continue
        if rec["status"] == "DELETE_FAILED":
            assert set(named) <= existing, (request_id, rec, existing)
            continue
        assert its(vpcs, "VpcId") == [rec["vpc_id"]], (request_id, rec)
        assert its_subnets == rec["subnets"], (request_id, its_subnets, rec)
        assert its(gateways, "InternetGatewayId") == [i for i in [rec["gateway"]] if i], rec
        assert its(tables, "RouteTableId") == [i for i in [rec["table"]] if i], rec
        in_vpc = {s["SubnetId"] for s in subnets if s["VpcId"] == rec["vpc_id"]}
        assert in_vpc == set(rec["subnets"].values())
        if rec["gateway"]:
            [gateway] = [g for g in gateways if g["InternetGatewayId"] == rec["gateway"]]
            assert [a["VpcId"] for a in gateway["Attachments"]] == [rec["vpc_id"]], rec
            [table] = [t for t in tables if t["RouteTableId"] == rec["table"]]
            routes = {r["DestinationCidrBlock"]: r.get("GatewayId") for r in table["Routes"]}
            assert routes.get("0.0.0.0/0") == rec["gateway"], (rec, routes)
            associated = {a["SubnetId"] for a in table["Associations"] if not a.get("Main")}
            assert associated == rec["public"], (rec, associated)

    dead = stack.messages(dlq_url)
    for message in dead:
        request_id = json.loads(message["Body"])["request_id"]
        assert records[request_id]["status"] in ("FAILED", "DELETE_FAILED"), (request_id, "DLQ")
    statuses = [
        f"{r['status']}({r['error']})" if r["status"].endswith("FAILED") else r["status"]
        for r in records.values()
    ]
    return {status: statuses.count(status) for status in sorted(set(statuses))} | {
        "dead letters": len(dead)
    }
