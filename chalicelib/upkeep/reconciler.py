"""Makes EC2 agree with the records, whatever happened to the workers, and only on proof.

A worker that lost its lease stops without cleaning up, a lookup can miss
what a lost answer made, a rollback can be refused: each can leave a VPC or
subnet behind. The reconciler runs on a schedule and tears down every
resource that carries this deployment's tag and a `RequestId`, is older than
the grace period, and is not referenced by its request:

- the request's record is SUCCEEDED and names another VPC / other subnets
  (or another internet gateway / route table);
- the request's record is FAILED, DELETED or CANCELLED (it keeps nothing).

A resource whose request has no record at all is left alone, and counted in the run's
log: the table may be younger than the resource (a stage destroyed and deployed again
makes a new, empty table of the same name; so does a backup restored), and the networks
an earlier table recorded are the teams' who asked for them (docs/deploy.md).

A run: claim the ledger (one run at a time: a run that finds another under way does
nothing; the claim reads the ledger before any record), list EC2 once
(`aws.inventory`: four listings, every page; all but the route tables' filtered by
tags), hand that sweep to the drift check (`upkeep.drift`), which compares every
SUCCEEDED record with it, then remove the
orphans (`upkeep.orphan_removal`: what "only on proof" means there, step by step). When
the SUCCEEDED records cannot be read (every page), what they name is unknown: the run
removes nothing. Then the run's metrics.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from chalicelib import metrics
from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.inventory import Inventory
from chalicelib.aws.routing import RoutingGateway
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock, system_clock
from chalicelib.config import Settings
from chalicelib.errors import BackendFailure
from chalicelib.metrics import Metrics, Unit
from chalicelib.store.ledger import Ledger
from chalicelib.store.reconciler import ReconcilerStore
from chalicelib.upkeep.drift import DriftCheck
from chalicelib.upkeep.orphan_removal import OrphanRemoval, ReconcileReport

logger = logging.getLogger(__name__)


class Reconciler:
    """One pass. Safe to run concurrently with the workers; one run at a time (a run that
    finds another under way does nothing: `ReconcilerStore.claim_run`).

    Raises TransientFailure / PermanentFailure when EC2 cannot be listed and
    BackendFailure when DynamoDB fails before anything was deleted (the next run
    tries again).
    """

    def __init__(
        self,
        store: ReconcilerStore,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        inventory: Inventory,
        drift: DriftCheck,
        settings: Settings,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        metrics_sink: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics_sink or Metrics()
        self._inventory = inventory
        self._drift = drift
        self._orphans = OrphanRemoval(store, ec2, routing, settings, clock)
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(
            base=settings.ec2_backoff_base_seconds, cap=settings.ec2_backoff_cap_seconds
        )

    def run(self, seconds_left: float | None = None) -> ReconcileReport:
        """Check every SUCCEEDED request for drift, then tear down the orphans of up to
        `batch_limit` requests, noting both in their records.

        Writes the run's metrics (OrphansRemoved, OrphansRemaining, RecordsUnknown, and
        DriftedRequests when the drift check could read the records) when it finishes.
        `seconds_left`: the function's time left (Lambda's context); the run takes no
        request once half of it, or RECONCILE_RUN_SECONDS, is gone, whichever is first.
        """
        started = self._clock()
        budget = float(self._settings.reconcile_run_seconds)
        if seconds_left is not None:
            budget = min(budget, seconds_left / 2)
        # Under way until the function's timeout ends it at the latest (outside Lambda:
        # twice the time it takes requests for, its teardowns' retries included).
        owner = str(uuid.uuid4())
        until = started + (seconds_left if seconds_left is not None else 2 * budget)
        ledger = self._store.claim_run(owner, started, until)
        if ledger is None:
            logger.warning("another reconciler run is under way: this one does nothing")
            return ReconcileReport()
        try:
            report = self._checked(started, started + budget, ledger)
        finally:
            self._release(owner)
        values = {
            metrics.ORPHANS_REMOVED: (len(report.removed), Unit.COUNT),
            "OrphansRemaining": (len(report.failed), Unit.COUNT),
            "RecordsUnknown": (len(report.unknown), Unit.COUNT),
            "RequestsUnrecorded": (len(report.unrecorded), Unit.COUNT),
        }
        if report.drift.complete:
            values[metrics.DRIFTED_REQUESTS] = (report.drift.drifted, Unit.COUNT)
            values["DriftUnknown"] = (report.drift.unknown, Unit.COUNT)
        self._metrics.put({"Function": "reconciler"}, values)
        return report

    def _checked(self, started: float, deadline: float, ledger: Ledger) -> ReconcileReport:
        """The drift check, then the orphans (none when the SUCCEEDED records are unknown)."""
        calls = Ec2Calls(self._settings, self._sleep, self._backoff)
        sweep = self._inventory.sweep(calls)
        drift = self._drift.check(sweep, calls, started)
        if drift.complete:
            report = self._orphans.run(calls, sweep, drift.named, deadline, ledger)
        else:
            # What the SUCCEEDED records name is unknown: a tag alone proves no resource an
            # orphan (it may have been copied onto another request's network).
            logger.warning("no orphan is removed this run: the SUCCEEDED records were not read")
            report = ReconcileReport()
        report.drift = drift
        return report

    def _release(self, owner: str) -> None:
        try:
            self._store.release_run(owner)
        except BackendFailure as exc:
            logger.warning("the run could not be ended (%s): the next one may wait", exc)
