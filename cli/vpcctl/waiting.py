"""A request's statuses and waiting for it (--wait, `vpcctl wait`): where each wait stops
and which of those statuses is a success, the polling with its progress on stderr, and
the exit a settled request gives."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .api import ApiClient, Deadline, DeadlinePassed
from .errors import CliError, ExitCode
from .invocation import Invocation, report
from .options import finite_seconds
from .request_ids import ids_of
from .request_view import Progress, describe
from .runtime import colour_on

POLL_SECONDS = 1.0
STATUSES = (
    "QUEUED",
    "IN_PROGRESS",
    "ROLLING_BACK",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "DELETING",
    "DELETED",
    "DELETE_FAILED",
)
# Where --wait stops after a create (only SUCCEEDED is a success), and after a delete.
CREATE_FINAL = frozenset(STATUSES) - {"QUEUED", "IN_PROGRESS", "ROLLING_BACK"}
CREATE_OK = frozenset({"SUCCEEDED"})
DELETE_FINAL = frozenset({"DELETED", "CANCELLED", "DELETE_FAILED"})
DELETE_OK = frozenset({"DELETED", "CANCELLED"})
# Where `vpcctl wait` and `get --wait` stop: no worker is on the request any more; only
# SUCCEEDED and DELETED are a success (CANCELLED is one only for `delete --wait`).
SETTLED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "DELETED", "DELETE_FAILED"})
SETTLED_OK = frozenset({"SUCCEEDED", "DELETED"})
DEFAULT_WAIT_TIMEOUT_SECONDS = 600.0


def timeout_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--timeout, the seconds `what` waits."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        callback=finite_seconds,
        default=DEFAULT_WAIT_TIMEOUT_SECONDS,
        show_default=True,
        help=f"Seconds {what} waits in all, its retries included; then exit 6.",
    )


def deadline_of(inv: Invocation, timeout: float) -> Deadline:
    """The deadline of a wait that begins now and lasts --timeout seconds."""
    return Deadline.after(timeout, inv.runtime.monotonic)


def _progress(inv: Invocation) -> Progress | None:
    """--wait's progress on stderr; none under -o json|yaml unless it is a terminal."""
    live = inv.runtime.stderr_is_tty()
    if inv.as_json and not live:
        return None
    return Progress(sys.stderr, live=live, clock=inv.runtime.monotonic)


def wait_until(
    inv: Invocation, api: ApiClient, request_id: str, final: frozenset[str], deadline: Deadline
) -> Any:
    """Poll the request until its status is in `final`; the record. Raises CliError
    (exit 6) once `deadline` has come, also while a poll is being retried (a busy or
    unreachable API: a poll sleeps no longer than what is left)."""
    progress = _progress(inv)
    status = None
    try:
        while True:
            try:
                record = api.get(request_id, deadline)
            except DeadlinePassed as passed:
                raise _gave_up(
                    request_id, status, deadline, f" (the API: {passed.last})"
                ) from passed
            status = record.get("status")
            if progress:
                progress.show(record)
            if status in final:
                return record
            left = deadline.left()
            if left <= 0:
                raise _gave_up(request_id, status, deadline)
            inv.runtime.sleep(min(POLL_SECONDS, left))
    except KeyboardInterrupt as interrupted:
        raise CliError(
            "stopped waiting",
            code="Interrupted",
            exit_code=ExitCode.INTERRUPTED,
            hint=f"the request goes on: `vpcctl get {request_id}`",
        ) from interrupted
    finally:
        if progress:
            progress.close()


def _gave_up(request_id: str, status: Any, deadline: Deadline, why: str = "") -> CliError:
    """The wait for `request_id`, last seen `status` (None: not yet), gave up (exit 6)."""
    seen = f"is {status}" if status is not None else "was not seen yet"
    return CliError(
        f"gave up waiting after {deadline.seconds:g}s: request {request_id} {seen}{why}; "
        f"it goes on (`vpcctl get {request_id}`)",
        code="WaitTimedOut",
        exit_code=ExitCode.TIMEOUT,
    )


def finish(inv: Invocation, record: dict[str, Any], ok: frozenset[str]) -> int:
    """Print the final record; exit 1 unless its status is in `ok`."""
    inv.emit(record, describe(record, inv.colour), ids=ids_of([record]))
    status = record.get("status")
    if status in ok:
        return 0
    error = record.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    report(
        CliError(
            f"request {record.get('request_id')} ended {status}{why}",
            code=str(status),
            exit_code=ExitCode.REQUEST_FAILED,
        ),
        inv.as_json,
        colour_on(inv.runtime.env, inv.runtime.stderr_is_tty, inv.as_json),
    )
    return ExitCode.REQUEST_FAILED
