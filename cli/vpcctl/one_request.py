"""The commands on one request, named by its REQUEST_ID: `vpcctl get`, `vpcctl wait` and
`vpcctl delete`."""

from __future__ import annotations

import click

from .invocation import Invocation, command
from .options import QUIET_OPTION
from .request_ids import REQUEST_ID_ARGUMENT, ids_of, resolve_request_id
from .request_view import describe
from .waiting import (
    DELETE_FINAL,
    DELETE_OK,
    SETTLED,
    SETTLED_OK,
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
    request_id = resolve_request_id(api, request_id)
    if wait:
        return finish(inv, wait_until(inv, api, request_id, SETTLED, timeout), SETTLED_OK)
    record = api.get(request_id)
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
    request_id = resolve_request_id(api, request_id)
    return finish(inv, wait_until(inv, api, request_id, SETTLED, timeout), SETTLED_OK)


@click.command()
@REQUEST_ID_ARGUMENT
@click.option("--wait", is_flag=True, help="Wait until it is DELETED (or DELETE_FAILED).")
@timeout_option("--wait")
@command
def delete(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Delete a request's VPC, or cancel a QUEUED request (DELETE /vpcs/ID)."""
    api = inv.api()
    request_id = resolve_request_id(api, request_id)
    answer = api.delete(request_id)
    if not wait:
        inv.emit(answer, f"{answer.get('request_id')}  {answer.get('status')}")
        return 0
    record = wait_until(inv, api, request_id, DELETE_FINAL, timeout)
    return finish(inv, record, DELETE_OK)
