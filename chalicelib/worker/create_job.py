"""One claimed attempt at creating a request's VPC and subnets.

1. The VPC: created tagged with the request id. A later attempt with no
   checkpoint looks it up by tag first; a first attempt does not (there is
   nothing to find).
2. The subnets (`subnets`), concurrently, while the VPC's id is checkpointed
   beside them; for public ones, the internet gateway and route table beside
   them (`internet_access`), then the public subnets routed through them.
3. After any uncertainty, one more look for a second VPC with the request's
   tag and CIDR (a lookup after a lost answer can miss the first): it is deleted
   and the record's `orphans` says so. A VPC is only ever taken for the request's
   own (adopted, or removed as its duplicate) if it has both and no SUCCEEDED
   record names it: a tag alone is no proof.
4. SUCCEEDED, conditional on the lease and on the record still IN_PROGRESS, sent
   beside any checkpoint still in flight (both are conditional on the same
   version; the SUCCEEDED write carries every id).

Nothing here rolls back: a permanent failure is returned as `Failed` and the
provisioner records ROLLING_BACK before anything is deleted.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import replace

from chalicelib import metrics
from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway, Tagging
from chalicelib.aws.faults import error_code
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.teardown import Teardown
from chalicelib.clock import Clock, iso_timestamp
from chalicelib.config import Settings
from chalicelib.errors import (
    BackendFailure,
    LeaseLost,
    PermanentFailure,
    TransientFailure,
)
from chalicelib.findings import Orphan, merge_orphans
from chalicelib.models import ErrorInfo, RequestRecord, Status
from chalicelib.resource_ids import Resources, known_resources
from chalicelib.worker.checkpoints import CheckpointWriter
from chalicelib.worker.internet_access import InternetAccess
from chalicelib.worker.lease import Lease
from chalicelib.worker.results import Done, Failed, RunResult, Stopped, Transient
from chalicelib.worker.subnets import Subnets

logger = logging.getLogger(__name__)


class CreateJob:
    """Creates what one request asks for. `run` once; `known_vpcs` says what it made."""

    def __init__(
        self,
        record: RequestRecord,
        lease: Lease,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        calls: Ec2Calls,
        teardown: Teardown,
        checkpoints: CheckpointWriter,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._record = record
        self._lease = lease
        self._ec2 = ec2
        self._routing = routing
        self._calls = calls
        self._teardown = teardown
        self._checkpoints = checkpoints
        self._clock = clock
        self._tagging = Tagging(settings.project_tag, settings.deployment)
        self._subnets = Subnets(
            record, ec2, calls, self._tagging, checkpoints, settings.subnet_concurrency, clock
        )
        self._made_vpcs: list[str] = []
        self._lock = threading.Lock()

    @property
    def _request_id(self) -> str:
        return self._record.request_id

    @property
    def known_vpcs(self) -> list[str]:
        """Every VPC this run knows belongs to the request (for a rollback)."""
        known = [self._record.vpc_id] if self._record.vpc_id else []
        return known + [v for v in self._made_vpcs if v not in known]

    def run(self) -> RunResult:
        """Create the VPC and subnets and record SUCCEEDED. Never raises for AWS failures."""
        try:
            return self._provision()
        except PermanentFailure as failure:
            return Failed(ErrorInfo(failure.code, failure.message))
        except TransientFailure as failure:
            return Transient(failure.code, failure.message)
        except LeaseLost:
            return Stopped("the lease was lost")
        except BackendFailure as exc:
            return Transient(error_code(exc.cause), str(exc))
        finally:
            self._checkpoints.close()
            # The rollback's records carry it too (the same record object).
            self._note_lost_answers()

    def _note_lost_answers(self) -> None:
        """Say on the record whether a create's answer was lost: its teardown looks twice."""
        self._record.lost_answers = self._record.lost_answers or self._calls.uncertain

    def _provision(self) -> RunResult:
        record = self._record
        made_here = False
        # A VPC made or found in this run that EC2 calls "not found" is EC2's lag;
        # one from an earlier attempt's checkpoint that is not found is gone.
        fresh = record.vpc_id is None
        if record.vpc_id is None:
            record.vpc_id, made_here = self._ensure_vpc()
            self._checkpoints.network(vpc_id=record.vpc_id)
        make_subnets = functools.partial(
            self._subnets.ensure, record.vpc_id, look_first=not made_here, vpc_is_fresh=fresh
        )
        if record.request.has_public_subnets:
            internet = InternetAccess(
                record,
                self._routing,
                self._calls,
                self._tagging,
                self._checkpoints,
                self._clock,
                self._unclaimed,
            )
            internet.set_up(record.vpc_id, not made_here, fresh, make_subnets)
        else:
            make_subnets()
        if not all(s.subnet_id for s in record.subnets):
            # Never SUCCEEDED without every subnet's id (what made none is a defect).
            return Transient("Incomplete", "a subnet has no id")
        # The finishing write carries every id: it need not wait for a checkpoint in flight.
        self._checkpoints.finish()
        if self._calls.uncertain:
            record.orphans = merge_orphans(record.orphans, self._remove_duplicates(record.vpc_id))
        self._note_lost_answers()
        succeeded = replace(record, status=Status.SUCCEEDED, error=None)
        # A write whose outcome is unknown stops the run: a SUCCEEDED that may have
        # landed is never rolled back on a guess.
        stopped = self._lease.transition(succeeded, Status.IN_PROGRESS)
        if stopped:
            return stopped
        self._checkpoints.all_written()
        logger.info("request %s succeeded: %s", self._request_id, record.vpc_id)
        return Done(succeeded)

    # --- the VPC -----------------------------------------------------------------

    def _ensure_vpc(self) -> tuple[str, bool]:
        """The request's VPC, created if absent; True when no earlier attempt can have
        given it subnets (this run made it, and no answer of the run was lost)."""
        spec = self._record.request.vpc
        if self._calls.uncertain:
            existing = self._find_vpc()
            if existing:
                return existing, False

        def create() -> str:
            tags = self._tagging.resource(self._request_id, spec.name, self._clock())
            vpc_id = self._ec2.create_vpc(self._record.cidr, tags)
            with self._lock:
                self._made_vpcs.append(vpc_id)
            return vpc_id

        vpc_id = self._calls.create_once("CreateVpc", create, self._find_vpc)
        # One found after a lost answer may be an earlier attempt's, with its subnets.
        return vpc_id, not self._calls.uncertain

    def _find_vpc(self) -> str | None:
        """The request's VPC, found after a lost answer: the first, if a race made several
        (the others are removed before the request succeeds).

        A tag is not proof: a VPC is adopted only if it carries the request's tag and its
        CIDR (a VPC this job made has both), and no other request's record names it
        (SUCCEEDED, or at work: `named_by_records`). Adopting
        another request's network would have this request's rollback or DELETE remove it.
        Raises TransientFailure if the records cannot be read (nothing is created then).
        """
        found = self._tagged_vpcs()
        if not found:
            return None
        found = list(self._unclaimed(Resources(vpcs=tuple(found))).vpcs)
        if not found:
            return None
        with self._lock:
            self._made_vpcs.extend(v for v in found if v not in self._made_vpcs)
        return found[0]

    def _unclaimed(self, found: Resources) -> Resources:
        """What of `found` (by the request's tag) no other request's record names (a tag
        is no proof). Raises TransientFailure if the records cannot be read."""
        mine, refused = self._teardown.ownership.unclaimed(self._request_id, found, Resources())
        if unknown := [str(f) for f in refused.values() if f.transient]:
            raise TransientFailure("OwnerUnknown", "; ".join(unknown))
        return mine

    def _tagged_vpcs(self) -> list[str]:
        """The VPCs with this request's tag and CIDR: a duplicate this job made has both."""
        return self._calls.read(
            "DescribeVpcs", lambda: self._ec2.find_vpcs(self._request_id, self._record.cidr)
        )

    def _remove_duplicates(self, keep: str) -> list[Orphan]:
        """Delete any other VPC tagged with this request; what happened goes into `orphans`.

        A duplicate that cannot be deleted does not fail the request (its own
        VPC is complete): the record names it, with the error, and the
        reconciler keeps trying.
        """
        others = [v for v in self._tagged_vpcs() if v != keep]
        if not others:
            return []
        logger.error("request %s: duplicate VPC(s) %s; deleting", self._request_id, others)
        # The proof that nothing live references them: they carry this request's and this
        # deployment's tags and its CIDR and are not `keep`, the one VPC its record names;
        # the request is this worker's (IN_PROGRESS, the lease checked before every delete),
        # so its record cannot name them; and no other record names them (`unclaimed`:
        # a copied or changed tag is no proof). What is recorded removed is what a delete
        # answered for (aws/teardown.py).
        named = set(known_resources(self._record).all)  # never a duplicate's, whatever
        subnets = [
            s.resource_id
            for s in self._calls.read(
                "DescribeSubnets",  # pragma: no mutate
                lambda: self._ec2.find_request_subnets(self._request_id),
            )
            if s.vpc_id in others and s.resource_id not in named
        ]
        found, left = self._teardown.ownership.unclaimed(
            self._request_id,
            Resources(vpcs=tuple(others), subnets=tuple(subnets)),
            Resources(vpcs=(keep,)),
        )
        removal = self._teardown.remove(found, self._request_id)
        now = iso_timestamp(self._clock())
        error = "; ".join(removal.errors) or None
        # Another request's (by its record) is not this one's orphan: only the log says it.
        unknown = [(i, str(f)) for i, f in left.items() if f.transient]
        # Only "not found" answered for one made moments ago: EC2 may lag, not proof. Noted
        # not removed, the reconciler deletes it again once it is old (gone_for_good).
        doubted = self._calls.found_not_found(removal.deleted)
        metrics.count(metrics.ORPHANS_REMOVED, len(removal.deleted) - len(doubted))
        return (
            [Orphan(i, removed_at=now) for i in removal.deleted if i not in doubted]
            + [Orphan(i, error=error) for i in (*removal.remaining, *sorted(doubted))]
            + [Orphan(i, error=message) for i, message in unknown]
        )
