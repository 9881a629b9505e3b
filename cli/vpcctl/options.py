"""The flags every vpcctl command shares, and how they are read: the global ones (the
API, its client, --max-attempts, -o/--json/--query; given before the command or after
it, where they win) and -q."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import click
import jmespath  # type: ignore[import-untyped]

from .api import DEFAULT_MAX_ATTEMPTS
from .config import API_URL_ENV, AWS_REGION_ENVS, CLIENT_ID_ENV, REGION_ENV
from .errors import usage_error

MAX_ATTEMPTS_ENV = "VPCCTL_MAX_ATTEMPTS"
# -o: what stdout carries. `table` is for people; json and yaml carry the API's shapes
# (`--json` is `-o json`), and then stderr carries only an error, as JSON (which is YAML).
OUTPUTS = ("table", "json", "yaml")
MOST_ATTEMPTS = 100  # --max-attempts' and VPCCTL_MAX_ATTEMPTS' bound (the least: 1)


def resolve_max_attempts(flag: int | None, env: Mapping[str, str]) -> int:
    """--max-attempts, else its environment variable, else the default; a usage error
    for a variable that is no whole number within the flag's bounds."""
    if flag is not None:
        return flag
    raw = env.get(MAX_ATTEMPTS_ENV)
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MOST_ATTEMPTS:
        raise usage_error(
            f"{MAX_ATTEMPTS_ENV} must be a whole number from 1 to {MOST_ATTEMPTS}, not {raw[:20]!r}"
        )
    return value


def _connection_options(hidden: bool) -> tuple[Callable[[Any], Any], ...]:
    """--api-url, --client-id, --region, --max-attempts: global flags (`vpcctl --api-url
    URL list`), also taken after the command (hidden there; that one wins)."""
    return (
        click.option(
            "--api-url",
            metavar="URL",
            hidden=hidden,
            help=f"The API (env {API_URL_ENV}; default: the local stack's, from "
            ".local/stack.json).",
        ),
        click.option(
            "--client-id",
            metavar="ID",
            hidden=hidden,
            help=f"The Cognito app client id (env {CLIENT_ID_ENV}; default: the local stack's).",
        ),
        click.option(
            "--region",
            metavar="REGION",
            hidden=hidden,
            help=f"The user pool's region (env {REGION_ENV}, else the local stack's, else "
            f"{', then '.join(AWS_REGION_ENVS)}, then the AWS profile's region).",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(min=1, max=MOST_ATTEMPTS),
            hidden=hidden,
            help="Attempts of each API call: 409, 429, 502, 503, 504 and lost connections are "
            f"retried (env {MAX_ATTEMPTS_ENV}; default {DEFAULT_MAX_ATTEMPTS}).",
        ),
    )


# -o, --json, --query: before the command (global) or after it (that one wins).
_OUTPUT_OPTIONS = (
    click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUTS, case_sensitive=False),
        help="table (for people; the default), json or yaml (the API's shapes; on stderr "
        "only an error, as JSON).",
    ),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="The same as -o json.",
    ),
    click.option(
        "--query",
        metavar="JMESPATH",
        help="Print only what this JMESPath expression selects of the JSON output, as "
        "the AWS CLI's --query (e.g. 'items[].request_id', 'vpc_id').",
    ),
)

# The group's (`vpcctl --help` lists them), and each command's.
GLOBAL_OPTIONS = _connection_options(hidden=False) + _OUTPUT_OPTIONS
COMMON_OPTIONS = _connection_options(hidden=True) + _OUTPUT_OPTIONS


def global_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The global flags, on vpcctl's group."""
    for option in reversed(GLOBAL_OPTIONS):
        f = option(f)
    return f


def setting(ctx: click.Context, name: str) -> Any:
    """A global flag's value: given after the command, else before it (the group's)."""
    value = ctx.params.get(name)
    if value is None and ctx.parent is not None:
        value = ctx.parent.params.get(name)
    return value


def finite_seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A number of seconds (--timeout, --interval) that is one: click.FloatRange takes nan
    (no comparison holds for it) and inf, and a wait for nan seconds would never end, a
    sleep of nan or inf seconds raise."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(
            f"{value!r} is not a finite number of seconds: give one such as 10"
        )
    return value


def quiet_option(what: str) -> Callable[[Any], Any]:
    """-q, --quiet: the command prints only `what` (its results' ids), one a line."""
    return click.option("-q", "--quiet", is_flag=True, help=f"Print only {what}, one a line.")


QUIET_OPTION = quiet_option("the request ids")


def output_mode(
    output: str | None, as_json: bool, query: str | None, quiet: bool
) -> tuple[str, Any]:
    """The output format and compiled --query; a usage error for flags that contradict."""
    if as_json and output not in (None, "json"):
        raise usage_error(f"--json is -o json: give one of --json and -o {output}")
    chosen = "json" if as_json else (output or "table").lower()
    if quiet and (chosen != "table" or query is not None):
        raise usage_error(
            "-q prints the ids only (of pools, their names): give it without -o, --json, --query"
        )
    if query is None:
        return chosen, None
    try:
        return chosen, jmespath.compile(query)
    except jmespath.exceptions.JMESPathError as exc:
        raise usage_error(f"--query {query!r} is not a JMESPath expression: {exc}") from exc


# The short flags that take a value (-o, create's -f): in a group of short flags, as click
# reads it, the rest of the group is its value (`-wojson`), else the next argument (`-wo
# json`); the others (-h, -q, -w) take none.
_SHORT_WITH_VALUE = frozenset("of")


def wants_machine_output(args: list[str]) -> bool:
    """Whether a command line asks for JSON or YAML (--json, -o/--output json|yaml, -o
    also in a group of short flags: `-qo json`), before any `--`: its usage errors then
    are JSON too."""
    args = args[: args.index("--")] if "--" in args else args
    machine = ("json", "yaml")
    for i, arg in enumerate(args):
        following = args[i + 1].lower() if i + 1 < len(args) else ""
        if arg == "--json":
            return True
        if arg == "--output" and following in machine:
            return True
        if arg.startswith("--output=") and arg.split("=", 1)[1].lower() in machine:
            return True
        if arg.startswith("-") and not arg.startswith("--"):
            for at, flag in enumerate(arg[1:], start=2):
                if flag in _SHORT_WITH_VALUE:
                    value = arg[at:].lower() or following
                    if flag == "o" and value in machine:
                        return True
                    break
    return False
