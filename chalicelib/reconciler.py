"""Makes EC2 agree with the records, whatever happened to the workers.

A worker that lost its lease stops without cleaning up, a lookup can miss
what a lost answer made, a rollback can be refused: each can leave a VPC or
subnet behind. The reconciler runs on a schedule and tears down every
resource that carries this deployment's tag and a `RequestId`, is older than
the grace period, and is not referenced by its request:

- the request's record is SUCCEEDED and names another VPC / other subnets
  (or another internet gateway / route table);
- the request's record is FAILED, DELETED or CANCELLED (it keeps nothing);
- there is no record of the request at all.

A request that is not finished (QUEUED, IN_PROGRESS, ROLLING_BACK) is its
worker's, and one being deleted (DELETING, DELETE_FAILED) its teardown's:
left alone. The grace period is longer than the worker's timeout,
and a resource's age comes from its creation tag, so no worker can still be
working on what the reconciler deletes. What it did, or could not do, goes
into the request's `orphans` (for a FAILED request, its ids and `rollback`
are brought up to date too).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from . import metrics
from .calls import Ec2Calls
from .clock import Clock, iso_timestamp, system_clock
from .config import Settings
from .ec2 import Ec2Gateway, Tagged
from .faults import Backoff
from .metrics import Metrics, Unit
from .models import DeletionReport, Orphan, RequestRecord, Status, merge_orphans
from .rollback import known_resources, only_remaining
from .routing import RoutingGateway
from .store.reconciler import ReconcilerStore
from .teardown import Removal, Resources, Teardown

logger = logging.getLogger(__name__)

# A request in one of these keeps nothing: whatever carries its tags is an orphan.
_KEEPS_NOTHING = frozenset({Status.FAILED, Status.DELETED, Status.CANCELLED})
# Requests handled per run: bounds a run's duration (the rest wait for the next).
BATCH_LIMIT = 50
_SAVE_ATTEMPTS = 3


@dataclass
class ReconcileReport:
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Reconciler:
    """One pass. Safe to run concurrently with itself and with the workers.

    Raises TransientFailure / PermanentFailure when EC2 cannot be listed and
    BackendFailure when DynamoDB fails (the next run tries again).
    """

    def __init__(
        self,
        store: ReconcilerStore,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        settings: Settings,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        metrics_sink: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics_sink or Metrics()
        self._ec2 = ec2
        self._routing = routing
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(
            base=settings.ec2_backoff_base_seconds, cap=settings.ec2_backoff_cap_seconds
        )

    def run(self) -> ReconcileReport:
        """Tear down the orphans of up to BATCH_LIMIT requests, and note it in their records.

        Writes the run's metrics (OrphansRemoved, OrphansRemaining) when it finishes.
        """
        report = self._run()
        self._metrics.put(
            {"Function": "reconciler"},
            {
                metrics.ORPHANS_REMOVED: (len(report.removed), Unit.COUNT),
                "OrphansRemaining": (len(report.failed), Unit.COUNT),
            },
        )
        return report

    def _run(self) -> ReconcileReport:
        calls = Ec2Calls(self._settings, self._sleep, self._backoff)
        resources: dict[str, list[Tagged]] = defaultdict(list)
        for operation, listing in (
            ("DescribeVpcs", self._ec2.tagged_vpcs),
            ("DescribeSubnets", self._ec2.tagged_subnets),
            ("DescribeInternetGateways", self._routing.tagged_internet_gateways),
            ("DescribeRouteTables", self._routing.tagged_route_tables),
        ):
            for tagged in calls.read(operation, listing):
                resources[tagged.request_id].append(tagged)
        report = ReconcileReport()
        if not resources:
            return report
        records = self._store.records(resources)
        teardown = Teardown(self._ec2, self._routing, calls)
        now = self._clock()
        handled = 0
        for request_id in sorted(resources):
            record = records.get(request_id)
            orphans = self._orphans(record, resources[request_id], now)
            if not orphans.all:
                continue
            logger.warning(
                "request %s (%s): removing orphans %s",
                request_id,
                record.status.value if record else "no record",
                list(orphans.all),
            )
            removal = teardown.remove(orphans)
            report.removed.extend(removal.deleted)
            report.failed.extend(removal.remaining)
            if record is not None:
                self._note(record, removal)
            handled += 1
            if handled >= BATCH_LIMIT:
                break
        return report

    def _orphans(self, record: RequestRecord | None, tagged: list[Tagged], now: float) -> Resources:
        """The request's resources that are old enough and unreferenced."""
        if record is None or record.status in _KEEPS_NOTHING:
            referenced: set[str] = set()
        elif record.status is Status.SUCCEEDED:
            referenced = set(known_resources(record).all)
        else:
            return Resources()  # still its worker's (or its teardown's)

        def eligible(resource: Tagged) -> bool:
            old = (
                resource.created_at is not None
                and now - resource.created_at > self._settings.reconcile_grace_seconds
            )
            return old and resource.resource_id not in referenced

        def ids(prefix: str) -> tuple[str, ...]:
            return tuple(
                t.resource_id for t in tagged if t.resource_id.startswith(prefix) and eligible(t)
            )

        # A VPC goes only with everything of the request in it.
        vpcs = tuple(
            v.resource_id
            for v in tagged
            if v.resource_id.startswith("vpc-")
            and eligible(v)
            and all(eligible(t) for t in tagged if t.vpc_id == v.resource_id)
        )
        return Resources(
            vpcs=vpcs, subnets=ids("subnet-"), gateways=ids("igw-"), tables=ids("rtb-")
        )

    def _note(self, record: RequestRecord, removal: Removal) -> None:
        """Write what was removed into the record, retrying if it changed meanwhile."""
        for _ in range(_SAVE_ATTEMPTS):
            updated = _noted(record, removal, iso_timestamp(self._clock()))
            if self._store.save_orphans(updated, record, self._clock()):
                return
            fresh = self._store.records([record.request_id]).get(record.request_id)
            if fresh is None:
                return
            record = fresh
        logger.error("request %s: could not record its orphans", record.request_id)


def _noted(record: RequestRecord, removal: Removal, now: str) -> RequestRecord:
    error = "; ".join(removal.errors) or None
    orphans = merge_orphans(
        record.orphans,
        [Orphan(i, removed_at=now) for i in removal.deleted]
        + [Orphan(i, error=error) for i in removal.remaining],
    )
    if record.status is not Status.FAILED:
        return replace(record, orphans=orphans)
    gone = set(removal.deleted)
    previous = record.rollback or DeletionReport(deleted=(), remaining=())
    remaining = tuple(i for i in previous.remaining if i not in gone) + tuple(
        i for i in removal.remaining if i not in previous.remaining
    )
    return replace(
        only_remaining(record, set(known_resources(record).all) - gone),
        orphans=orphans,
        rollback=replace(previous, remaining=remaining, error=error if remaining else None),
    )
