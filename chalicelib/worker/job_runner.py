"""Runs one claimed request's job and says what it came to (a `RunResult`).

A DELETE is torn down (`delete_job`); a ROLLING_BACK request is rolled back further,
never provisioned (`rollback`); any other is created (`create_job`), and rolled back
when AWS refuses for good, or when its last try fails. A request past its attempts is
rolled back without another try. Every EC2 call is fenced by the run's lease.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.teardown import Teardown
from chalicelib.backoff import Backoff
from chalicelib.clock import Clock, epoch_of
from chalicelib.config import Settings
from chalicelib.models import ErrorInfo, Operation, RequestRecord, Status
from chalicelib.resource_ids import known_resources
from chalicelib.store.worker import WorkerStore
from chalicelib.worker.checkpoints import CheckpointWriter
from chalicelib.worker.create_job import CreateJob
from chalicelib.worker.delete_job import DeleteJob
from chalicelib.worker.lease import Lease
from chalicelib.worker.results import RETRIES_EXHAUSTED, Failed, RunResult, Transient
from chalicelib.worker.rollback import Rollback


class JobRunner:
    """Picks and runs the work a claimed request needs: creation, rollback or deletion."""

    def __init__(
        self,
        store: WorkerStore,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        settings: Settings,
        clock: Clock,
        sleep: Callable[[float], None],
        backoff: Backoff,
    ) -> None:
        self._store = store
        self._ec2 = ec2
        self._routing = routing
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff

    def run(
        self,
        record: RequestRecord,
        owner: str,
        lease: Lease,
        operation: Operation,
        last_receive: bool,
    ) -> RunResult:
        """Run the claimed request's work under `lease` (held by `owner`); `last_receive`
        says whether this is its message's last receive (then the request ends)."""
        settings = self._settings
        # On its last try a request ends: FAILED, with whatever could not be undone named.
        final = last_receive or record.attempts >= settings.max_attempts
        # A teardown soon after the creation ended: EC2's reads may not show yet what it made.
        lately = operation is Operation.DELETE and _ended_lately(
            record, self._clock(), settings.drift_settle_seconds
        )
        calls = Ec2Calls(
            settings,
            self._sleep,
            self._backoff,
            fence=lease.check,
            # Could anything exist that this run does not know about? Yes after a creation
            # that lost an answer, after an earlier attempt at creating (a DELETE's claim
            # counts as an attempt too), and, later, after an ambiguous failure in this run.
            uncertain=record.lost_answers
            or (operation is not Operation.DELETE and record.attempts > 1),
            # What it made is then as new to EC2 as if this job had made it ("not found"
            # is lag, never proof it is gone).
            made=known_resources(record).all if lately else (),
        )
        # What only a tag ties to the request is deleted once no other record names it.
        teardown = Teardown(self._ec2, self._routing, calls, claims=self._store.named_by_records)
        if operation is Operation.DELETE:
            # After a lost answer, a look by tag that finds nothing is no proof then either.
            deletion = DeleteJob(
                record, lease, teardown, self._clock, lately and record.lost_answers
            )
            if record.attempts > settings.max_attempts:
                # Every try died before it could write (a timeout, say): it ends here. (A try
                # that deleted everything, kept DELETING while EC2's looks may lag, counts
                # the tries from none: `DeleteJob.run`.)
                return deletion.give_up(record.attempts - 1)
            return deletion.run(final)
        rollback = Rollback(record, lease, teardown, self._clock, self._store.add_pending)
        if record.status is Status.ROLLING_BACK:
            return rollback.resume(final)
        if record.attempts > settings.max_attempts:
            exhausted = ErrorInfo(
                RETRIES_EXHAUSTED, f"{record.attempts - 1} attempts made, none finished"
            )
            return rollback.start(exhausted, [], final=True)
        checkpoints = CheckpointWriter(
            self._store,
            record.request_id,
            lease,
            owner,
            self._clock,
            self._sleep,
            self._backoff,
            settings.store_write_attempts,
        )
        creation = CreateJob(
            record,
            lease,
            self._ec2,
            self._routing,
            calls,
            teardown,
            checkpoints,
            settings,
            self._clock,
        )
        result = creation.run()
        match result:
            case Failed(error):
                return rollback.start(error, creation.known_vpcs, final)
            case Transient(code, message) if final:
                exhausted = ErrorInfo(
                    RETRIES_EXHAUSTED,
                    f"Gave up after {record.attempts} attempt(s); last error {code}: {message}",
                )
                return rollback.start(exhausted, creation.known_vpcs, final=True)
            case _:
                return result


def _ended_lately(record: RequestRecord, now: float, seconds: float) -> bool:
    """Whether the record's creation ended (SUCCEEDED, FAILED) less than `seconds` ago:
    EC2's reads may not have caught up with what it made (as the drift check waits)."""
    ends = [c.at for c in record.history if c.status in (Status.SUCCEEDED, Status.FAILED)]
    ended = epoch_of(ends[-1]) if ends else None
    return ended is not None and now - ended < seconds
