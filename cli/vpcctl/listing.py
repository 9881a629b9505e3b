"""`vpcctl list` (every page, or --watch until Ctrl-C) and `vpcctl pools`: what there is,
as tables for people or the API's shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from click.shell_completion import CompletionItem

from .api import is_utf8
from .errors import CliError, usage_error
from .invocation import Invocation, command, pipe_closed
from .options import QUIET_OPTION, finite_seconds, quiet_option
from .output import LIST_HEADERS, POOL_HEADERS, fit, json_text, list_rows, pool_rows, table, to_yaml
from .request_ids import ids_of
from .waiting import STATUSES

MOST_INTERVAL_SECONDS = 86400.0
NEXT_TOKEN_INVALID = (
    "--next-token is not valid: pass the token a `vpcctl list --limit` printed, "
    "unchanged and with the same --status, --mine or --drift, or leave it out to "
    "start from the newest request"
)


def _complete_status(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(s) for s in STATUSES if s.startswith(incomplete.upper())]


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--status, in any case, as the API spells it."""
    if value is None or value.upper() in STATUSES:
        return value.upper() if value else value
    raise click.BadParameter(f"{value!r} is none of {', '.join(STATUSES)}")


@click.command(name="list")
@click.option(
    "--status",
    metavar="STATUS",
    callback=_status,
    shell_complete=_complete_status,
    help=f"Only the requests in this status: {', '.join(STATUSES)}.",
)
@click.option("--mine", is_flag=True, help="Only my requests.")
@click.option(
    "--drift",
    is_flag=True,
    help="Only the requests whose record shows drift (EC2 changed behind their back).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most this many requests (default: all; pages are followed for you).",
)
@click.option("--next-token", metavar="TOKEN", help="Go on from where a --limit stopped.")
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="List again every --interval seconds until Ctrl-C (then exit 0): on a terminal "
    "the table redrawn in place, else printed again when it changed; with -o json|yaml "
    "each request that is new or changed, one document (JSON: one line) each.",
)
@click.option(
    "--interval",
    # At most a day: time.sleep refuses what overflows its clock (1e10 s already).
    type=click.FloatRange(min=0.5, max=MOST_INTERVAL_SECONDS),
    callback=finite_seconds,
    default=2.0,
    show_default=True,
    help="Seconds between two listings of --watch.",
)
@QUIET_OPTION
@command
def list_requests(
    inv: Invocation,
    status: str | None,
    mine: bool,
    drift: bool,
    limit: int | None,
    next_token: str | None,
    watch: bool,
    interval: float,
) -> int:
    """List requests, newest first (GET /vpcs, every page).

    SUBNETS is made/asked for (1/2 while a request is worked on); of a DELETED or
    CANCELLED request, the number it asked for."""
    given = [
        flag for flag, on in (("--status", status), ("--mine", mine), ("--drift", drift)) if on
    ]
    if len(given) > 1:
        # The API filters a listing by one of them (its index), and would say so in the
        # names of its parameters.
        raise usage_error(
            f"give one of {', '.join(given)}, not {'both' if len(given) == 2 else 'all'}: "
            "a listing has one filter (`vpcctl list --mine` shows each request's status)"
        )
    filters: dict[str, str] = {}
    if status:
        filters["status"] = status
    if mine:
        filters["created_by"] = "me"
    if drift:
        filters["drift"] = "true"
    if next_token is not None and not is_utf8(next_token):
        # (a token the API printed is ASCII: this one's bytes were not UTF-8 at all)
        raise usage_error(NEXT_TOKEN_INVALID)
    if watch and (inv.quiet or inv.query is not None):
        raise usage_error("--watch shows the table, or the requests that changed: not -q, --query")
    if watch:
        return _watch(inv, filters, limit, next_token, interval)
    items, resume = _listing(inv, filters, limit, next_token)
    inv.emit({"items": items, "next_token": resume}, _list_table(inv, items), ids=ids_of(items))
    if resume and not inv.quiet:  # -q: the ids, nothing else (a hint is for a person)
        inv.note(f"more: add --next-token {resume}")
    return 0


def _list_table(inv: Invocation, items: list[dict[str, Any]]) -> str:
    if not items:
        return "No requests."
    headers, rows = fit(LIST_HEADERS, list_rows(items), inv.width())
    return table(headers, rows, colour=inv.colour, status_column="STATUS")


def _watch(
    inv: Invocation,
    filters: dict[str, str],
    limit: int | None,
    next_token: str | None,
    interval: float,
) -> int:
    """list --watch: until Ctrl-C, which ends it as it should end (exit 0), or until what
    reads stdout has gone (exit 141, as any command's output into a closed pipe). Off a
    terminal it writes only what changed, so a write may never fail for it to notice
    (`vpcctl list --watch | head -1`): it looks before each listing (`reader_gone`)."""
    live = inv.runtime.stdout_is_tty() and not inv.as_json
    shown: dict[str, str] = {}
    last: str | None = None
    try:
        while True:
            if inv.runtime.stdout_gone():
                return pipe_closed()
            items, _ = _listing(inv, filters, limit, next_token)
            if inv.as_json:
                for item in items:
                    text = json_text(item) if inv.output == "json" else "---\n" + to_yaml(item)
                    if shown.get(str(item.get("request_id"))) != text:
                        shown[str(item.get("request_id"))] = text
                        inv.print(text, nl=inv.output == "json")
            else:
                human = _list_table(inv, items)
                if live:
                    when = datetime.fromtimestamp(inv.runtime.clock(), UTC).strftime("%H:%M:%SZ")
                    heading = f"Every {interval:g}s: vpcctl list  ({when}; Ctrl-C ends)"
                    inv.print(f"\x1b[H\x1b[2J{heading}\n\n{human}", color=True)
                elif human != last:
                    inv.print(human if last is None else f"\n{human}")
                last = human
            inv.runtime.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _listing(
    inv: Invocation, filters: dict[str, str], limit: int | None, next_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The requests, every page up to `limit`, and the token that goes on after them."""
    items: list[dict[str, Any]] = []
    resume: str | None = None
    try:
        for page in inv.api().pages(filters, limit, next_token):
            items.extend(page.items)
            resume = page.next_token
    except CliError as err:
        if next_token and err.http_status == 400 and err.message.startswith("next_token "):
            # The API's words are its parameter's; here the token came from --next-token.
            err.message = NEXT_TOKEN_INVALID
        raise
    return items, resume


@click.command()
@quiet_option("the pool names")
@command
def pools(inv: Invocation) -> int:
    """Show how full each address pool is (GET /pools)."""
    items = inv.api().pools()
    inv.emit(
        {"items": items},
        table(POOL_HEADERS, pool_rows(items), colour=inv.colour),
        ids=[str(p.get("name")) for p in items],
    )
    return 0
