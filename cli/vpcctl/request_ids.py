"""A request named on the command line: the REQUEST_ID argument and its shell completion,
the start of an id resolved to the one request of the caller's it names, and the ids
-q prints."""

from __future__ import annotations

import re
from typing import Any

import click
from click.shell_completion import CompletionItem

from .api import MAX_PAGE_SIZE, ApiClient, Deadline, DeadlinePassed
from .config import resolve
from .errors import CliError, ExitCode, usage_error
from .invocation import Invocation
from .options import setting
from .runtime import Runtime

# What may be the start of a request id (a lowercase UUID), short of a whole one.
_ID_PREFIX = re.compile(r"[0-9a-f-]{1,35}")
_WHOLE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# How many requests an unknown or ambiguous prefix's error names.
ID_CANDIDATES_SHOWN = 5


def resolve_request_id(api: ApiClient, given: str, deadline: Deadline | None = None) -> str:
    """The request `given` names: a whole id as it is; the start of one (hex digits and
    dashes) as the one request of the caller's own (GET /vpcs?created_by=me) whose id
    starts so. A start that none or several of them have is a usage error naming a few.
    Anything else goes to the API as it is (which answers 404 for what is no id), but for
    `.`, `..` and the empty id, which no URL carries as a path segment: refused so, unsent
    (api._path_segment). A wait's `deadline` (--timeout) bounds the lookup too: exit 6
    when it comes while the listing is being retried."""
    lowered = given.lower()
    if _WHOLE_ID.fullmatch(lowered):
        return lowered
    if not _ID_PREFIX.fullmatch(lowered):
        return given
    try:
        mine = [
            item
            for page in api.pages({"created_by": "me"}, None, deadline=deadline)
            for item in page.items
        ]
    except DeadlinePassed as passed:
        raise CliError(
            f"gave up after {passed.deadline.seconds:g}s looking up the request whose id "
            f"starts with {given!r} (the API: {passed.last}); try again, or give the whole id",
            code="WaitTimedOut",
            exit_code=ExitCode.TIMEOUT,
        ) from passed
    matches = [r for r in mine if str(r.get("request_id") or "").startswith(lowered)]
    if len(matches) == 1:
        return str(matches[0]["request_id"])
    if matches:
        raise usage_error(
            f"{given!r} is the start of {len(matches)} of your requests' ids: "
            f"{_candidates(matches)}; give more of the id"
        )
    newest = f"; your newest: {_candidates(mine)}" if mine else "; you have no request"
    error = usage_error(f"no request of yours has an id that starts with {given!r}{newest}")
    error.hint = "another user's request (as an admin) needs its whole id"
    raise error


def _candidates(records: list[dict[str, Any]]) -> str:
    """A few requests, as an unknown or ambiguous id prefix's error names them."""
    shown = []
    for record in records[:ID_CANDIDATES_SHOWN]:
        name = ((record.get("request") or {}).get("vpc") or {}).get("name")
        status = record.get("status")
        shown.append(f"{record.get('request_id')} ({status}{', ' + name if name else ''})")
    more = len(records) - ID_CANDIDATES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def complete_request_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The ids of the caller's newest requests (one page), when logged in to the API the
    command line names; nothing otherwise, and never an error (completion is silent)."""
    try:
        runtime = ctx.find_object(Runtime) or Runtime()
        target = resolve(
            runtime.env,
            runtime.cwd,
            api_url=setting(ctx, "api_url"),
            client_id=setting(ctx, "client_id"),
            region=setting(ctx, "region"),
        )
        if runtime.token_cache().load(target.api_url) is None:
            return []
        page = (
            Invocation(runtime, target, max_attempts=1)
            .api()
            .page({"created_by": "me", "limit": str(MAX_PAGE_SIZE)})
        )
    except Exception:  # a completion that fails offers nothing
        return []
    items = []
    for record in page.items:
        request_id = str(record.get("request_id") or "")
        if request_id.startswith(incomplete.lower()):
            name = ((record.get("request") or {}).get("vpc") or {}).get("name")
            items.append(
                CompletionItem(
                    request_id,
                    help=" ".join(str(part) for part in (record.get("status"), name) if part),
                )
            )
    return items


REQUEST_ID_ARGUMENT = click.argument("request_id", shell_complete=complete_request_id)


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    """The ids of `records`, what -q prints of them."""
    return [str(r.get("request_id")) for r in records]
