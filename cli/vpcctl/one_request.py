"""The commands on one request, named by its REQUEST_ID: `vpcctl get`, `vpcctl wait` and
`vpcctl delete`."""

from __future__ import annotations

import click

from .api import DeadlinePassed
from .errors import CliError, ExitCode
from .invocation import Invocation, command
from .options import QUIET_OPTION
from .request_ids import REQUEST_ID_ARGUMENT, ids_of, resolve_request_id
from .request_view import describe
from .waiting import (
    DELETE_FINAL,
    DELETE_OK,
    SETTLED,
    SETTLED_OK,
    deadline_of,
    finish,
    timeout_option,
    wait_until,
)


@click.command()
@REQUEST_ID_ARGUMENT
@click.option(
    "--wait",
    is_flag=True,
    help="First wait until it settles, as `vpcctl wait` (and exit as it does).",
)
@timeout_option("--wait")
@QUIET_OPTION
@command
def get(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Show a request (GET /vpcs/ID)."""
    api = inv.api()
    if wait:
        # --timeout bounds the whole command: the lookup of an id's start too.
        deadline = deadline_of(inv, timeout)
        request_id = resolve_request_id(api, request_id, deadline)
        return finish(inv, wait_until(inv, api, request_id, SETTLED, deadline), SETTLED_OK)
    record = api.get(resolve_request_id(api, request_id))
    inv.emit(record, describe(record, inv.colour), ids=ids_of([record]))
    return 0


@click.command(
    name="wait", short_help="Wait until a request settles; exit 0 if it SUCCEEDED or was DELETED."
)
@REQUEST_ID_ARGUMENT
@timeout_option("it")
@QUIET_OPTION
@command
def wait_for(inv: Invocation, request_id: str, timeout: float) -> int:
    """Wait until a request settles, showing its progress; then show it as `get` does.

    It settles when it is SUCCEEDED, FAILED, CANCELLED, DELETED or DELETE_FAILED (a
    DELETING request is waited for until it is DELETED). Exit 0 when it SUCCEEDED or was
    DELETED, 1 otherwise, 6 after --timeout."""
    api = inv.api()
    deadline = deadline_of(inv, timeout)  # bounding the lookup of an id's start too
    request_id = resolve_request_id(api, request_id, deadline)
    return finish(inv, wait_until(inv, api, request_id, SETTLED, deadline), SETTLED_OK)


@click.command()
@REQUEST_ID_ARGUMENT
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until it is DELETED (or DELETE_FAILED); while a worker is still on the "
    "request (409), keep asking until --timeout.",
)
@timeout_option("--wait")
@command
def delete(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Delete a request's VPC, or cancel a QUEUED request (DELETE /vpcs/ID)."""
    api = inv.api()
    if not wait:
        answer = api.delete(resolve_request_id(api, request_id))
        inv.emit(answer, f"{answer.get('request_id')}  {answer.get('status')}")
        return 0
    # The wait begins with the lookup of an id's start, then the DELETE: a request still
    # being provisioned refuses it (409, retry after Retry-After) until its worker is done.
    deadline = deadline_of(inv, timeout)
    request_id = resolve_request_id(api, request_id, deadline)
    try:
        api.delete(request_id, deadline)
    except DeadlinePassed as passed:
        raise CliError(
            f"gave up after {timeout:g}s: the DELETE of request {request_id} was not "
            f"accepted ({passed.last}); run `vpcctl delete {request_id}` again",
            code="WaitTimedOut",
            exit_code=ExitCode.TIMEOUT,
        ) from passed
    record = wait_until(inv, api, request_id, DELETE_FINAL, deadline)
    return finish(inv, record, DELETE_OK)
