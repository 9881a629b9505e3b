"""How every vpcctl command runs: its settings resolved (flags, environment, the local
stack's stack.json), its API client and token cache, and its errors turned into the
documented exit codes (`command`)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click
import jmespath  # type: ignore[import-untyped]
import requests

from .api import DEFAULT_MAX_ATTEMPTS, ApiClient
from .auth import Authenticator, CognitoFactory, TokenCache, boto3_cognito
from .config import API_URL_ENV, CLIENT_ID_ENV, REGION_ENV, Target, default_config_dir, resolve
from .errors import CliError, ExitCode, usage_error
from .output import Progress, plain, to_yaml

MAX_ATTEMPTS_ENV = "VPCCTL_MAX_ATTEMPTS"
POLL_SECONDS = 1.0
NO_COLOR_ENV = "NO_COLOR"
# What may be the start of a request id (a lowercase UUID), short of a whole one.
_ID_PREFIX = re.compile(r"[0-9a-f-]{1,35}")
_WHOLE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# How many requests an unknown or ambiguous prefix's error names.
ID_CANDIDATES_SHOWN = 5
# -o: what stdout carries. `table` is for people; json and yaml carry the API's shapes
# (`--json` is `-o json`), and then stderr carries only an error, as JSON (which is YAML).
OUTPUTS = ("table", "json", "yaml")


def colour_on(env: Mapping[str, str], is_tty: Callable[[], bool], machine: bool = False) -> bool:
    """Colour on a stream: a terminal, output for people (not -o json or yaml), and no
    NO_COLOR (https://no-color.org). Decides stdout's colours and stderr's error prefix."""
    return not machine and not env.get(NO_COLOR_ENV) and is_tty()


def _isatty(stream: TextIO) -> bool:
    # Looked up at each call: sys.stdin and sys.stderr may be swapped (click's CliRunner).
    return stream.isatty()


@dataclass
class Runtime:
    """The world outside a command; tests replace parts of it."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    config_dir: Path | None = None
    cognito: CognitoFactory = boto3_cognito
    http: Callable[[], requests.Session] = requests.Session
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    stdin_is_tty: Callable[[], bool] = lambda: _isatty(sys.stdin)
    stderr_is_tty: Callable[[], bool] = lambda: _isatty(sys.stderr)
    stdout_is_tty: Callable[[], bool] = lambda: _isatty(sys.stdout)
    terminal_width: Callable[[], int] = lambda: shutil.get_terminal_size().columns
    new_key: Callable[[], str] = lambda: str(uuid.uuid4())

    def token_cache(self) -> TokenCache:
        return TokenCache(self.config_dir or default_config_dir(self.env))


@dataclass
class Invocation:
    """One command's runtime, target and output mode."""

    runtime: Runtime
    target: Target
    output: str = "table"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # --query, compiled (a jmespath ParsedResult), or None.
    query: Any = None
    # -q: the ids only (of pools, their names), one a line.
    quiet: bool = False

    @property
    def as_json(self) -> bool:
        """Machine output (-o json or yaml): stdout is data, stderr carries only an error."""
        return self.output != "table"

    def authenticator(self) -> Authenticator:
        return Authenticator(
            self.target, self.runtime.token_cache(), self.runtime.cognito, self.runtime.clock
        )

    def api(self) -> ApiClient:
        return ApiClient(
            self.target.api_url,
            self.authenticator(),
            session=self.runtime.http(),
            sleep=self.runtime.sleep,
            clock=self.runtime.clock,
            max_attempts=self.max_attempts,
            on_retry=self.note,
        )

    @property
    def colour(self) -> bool:
        """Colour on stdout: a terminal, -o table, and no NO_COLOR (https://no-color.org)."""
        return colour_on(self.runtime.env, self.runtime.stdout_is_tty, self.as_json)

    def width(self) -> int | None:
        """The terminal's width a table is fitted to; None when stdout is no terminal."""
        return self.runtime.terminal_width() if self.runtime.stdout_is_tty() else None

    def request_id(self, api: ApiClient, given: str) -> str:
        """The request `given` names: a whole id as it is; the start of one (hex digits and
        dashes) as the one request of the caller's own (GET /vpcs?created_by=me) whose id
        starts so. A start that none or several of them have is a usage error naming a few.
        Anything else goes to the API as it is (which answers 404 for what is no id)."""
        lowered = given.lower()
        if _WHOLE_ID.fullmatch(lowered):
            return lowered
        if not _ID_PREFIX.fullmatch(lowered):
            return given
        mine = [item for page in api.pages({"created_by": "me"}, None) for item in page.items]
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

    def note(self, message: str) -> None:
        """A line for people on stderr; with --json, stderr carries only the error."""
        if not self.as_json:
            click.echo(f"vpcctl: {message}", err=True)

    def emit(self, data: Any, human: str, ids: list[str] | None = None) -> None:
        """The command's result on stdout: `ids` one a line under -q; else `data` (what
        --query selects of it) as JSON or YAML; else `human`, or for -o table with a
        --query the selection as plain text."""
        if self.quiet and ids is not None:
            for request_id in ids:
                click.echo(request_id)
            return
        if self.query is not None:
            try:
                data = self.query.search(data)
            except jmespath.exceptions.JMESPathError as exc:
                raise usage_error(f"--query cannot be applied: {exc}") from exc
        if self.output == "json":
            click.echo(json.dumps(data, indent=2))
        elif self.output == "yaml":
            click.echo(to_yaml(data), nl=False)
        else:
            # color=True keeps the colours click would strip from what is no terminal.
            shown = plain(data) if self.query is not None else human
            click.echo(shown, color=True if self.colour else None)

    def progress(self) -> Progress | None:
        live = self.runtime.stderr_is_tty()
        if self.as_json and not live:
            return None
        return Progress(sys.stderr, live=live, clock=self.runtime.monotonic)

    def wait(self, api: ApiClient, request_id: str, final: frozenset[str], timeout: float) -> Any:
        """Poll the request until its status is in `final`; the record. Raises CliError
        (exit 6) after `timeout` seconds."""
        progress = self.progress()
        deadline = self.runtime.monotonic() + timeout
        try:
            while True:
                record = api.get(request_id)
                if progress:
                    progress.show(record)
                if record.get("status") in final:
                    return record
                if self.runtime.monotonic() >= deadline:
                    raise CliError(
                        f"gave up waiting after {timeout:g}s: request {request_id} is "
                        f"{record.get('status')}; it goes on (`vpcctl get {request_id}`)",
                        code="WaitTimedOut",
                        exit_code=ExitCode.TIMEOUT,
                    )
                self.runtime.sleep(POLL_SECONDS)
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


def _candidates(records: list[dict[str, Any]]) -> str:
    """A few requests, as an unknown or ambiguous id prefix's error names them."""
    shown = []
    for record in records[:ID_CANDIDATES_SHOWN]:
        name = ((record.get("request") or {}).get("vpc") or {}).get("name")
        status = record.get("status")
        shown.append(f"{record.get('request_id')} ({status}{', ' + name if name else ''})")
    more = len(records) - ID_CANDIDATES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def report(error: CliError, as_json: bool, colour: bool = False) -> None:
    """The error on stderr: one JSON object under -o json|yaml; else a line (its prefix in
    red with `colour`: see `colour_on`) and maybe a hint."""
    if as_json:
        click.echo(json.dumps(error.to_json()), err=True)
        return
    where = f"{error.code}, HTTP {error.http_status}" if error.http_status else error.code
    prefix = click.style("vpcctl: error:", fg="red") if colour else "vpcctl: error:"
    # color=True keeps the colour click would strip from what it takes for no terminal.
    click.echo(f"{prefix} {error.message} ({where})", err=True, color=True if colour else None)
    if error.hint:
        click.echo(f"vpcctl: hint: {error.hint}", err=True)


def _max_attempts(flag: int | None, env: Mapping[str, str]) -> int:
    if flag is not None:
        return flag
    raw = env.get(MAX_ATTEMPTS_ENV)
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise usage_error(f"{MAX_ATTEMPTS_ENV} must be a whole number >= 1, not {raw!r}")
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
            "AWS_REGION).",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(min=1, max=100),
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
_COMMON_OPTIONS = _connection_options(hidden=True) + _OUTPUT_OPTIONS


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


def quiet_option(what: str) -> Callable[[Any], Any]:
    """-q, --quiet: the command prints only `what` (its results' ids), one a line."""
    return click.option("-q", "--quiet", is_flag=True, help=f"Print only {what}, one a line.")


QUIET_OPTION = quiet_option("the request ids")


def _output_mode(
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


def wants_machine_output(args: list[str]) -> bool:
    """Whether a command line asks for JSON or YAML (--json, -o/--output json|yaml), before
    any `--`: its usage errors then are JSON too."""
    args = args[: args.index("--")] if "--" in args else args
    machine = ("json", "yaml")
    for i, arg in enumerate(args):
        following = args[i + 1].lower() if i + 1 < len(args) else ""
        if arg == "--json":
            return True
        if arg in ("-o", "--output") and following in machine:
            return True
        if arg.startswith("--output=") and arg.split("=", 1)[1].lower() in machine:
            return True
        if arg.startswith("-o") and not arg.startswith("--") and arg[2:].lower() in machine:
            return True
    return False


def command(view: Callable[..., int | None]) -> Callable[..., None]:
    """A vpcctl command: the target options and --json, and its errors turned into exit codes.

    The view gets an Invocation first, then its own parameters; it returns its exit code
    (None: 0), or raises CliError."""

    def wrapper(
        ctx: click.Context,
        /,
        api_url: str | None,
        client_id: str | None,
        region: str | None,
        max_attempts: int | None,
        output: str | None,
        as_json: bool,
        query: str | None,
        **params: Any,
    ) -> None:
        runtime: Runtime = ctx.find_object(Runtime) or Runtime()
        # A global flag given before the command, unless given after it too.
        before = ctx.parent.params if ctx.parent is not None else {}
        api_url = api_url if api_url is not None else before.get("api_url")
        client_id = client_id if client_id is not None else before.get("client_id")
        region = region if region is not None else before.get("region")
        max_attempts = max_attempts if max_attempts is not None else before.get("max_attempts")
        query = query if query is not None else before.get("query")
        if output is None and not as_json:  # -o and --json are one choice
            output, as_json = before.get("output"), bool(before.get("as_json"))
        quiet = bool(params.pop("quiet", False))
        json_flag = as_json
        # Errors are JSON whenever the command line asks for json or yaml output.
        as_json = as_json or (output or "").lower() in ("json", "yaml")
        # Colour on stderr as on stdout: its "vpcctl: error:" in red on a terminal.
        colour = colour_on(runtime.env, runtime.stderr_is_tty, as_json)
        try:
            chosen, compiled = _output_mode(output, json_flag, query, quiet)
            target = resolve(
                runtime.env, runtime.cwd, api_url=api_url, client_id=client_id, region=region
            )
            invocation = Invocation(
                runtime,
                target,
                output=chosen,
                max_attempts=_max_attempts(max_attempts, runtime.env),
                query=compiled,
                quiet=quiet,
            )
            code = view(invocation, **params) or 0
        except CliError as err:
            report(err, as_json, colour)
            code = err.exit_code
        except (KeyboardInterrupt, click.Abort):
            if not as_json:
                click.echo(err=True)  # after the terminal's ^C
            report(
                CliError("interrupted", code="Interrupted", exit_code=ExitCode.INTERRUPTED),
                as_json,
                colour,
            )
            code = ExitCode.INTERRUPTED
        except Exception as exc:
            if not as_json:  # with --json, stderr holds only the error
                traceback.print_exc()
            report(
                CliError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    code="InternalError",
                    exit_code=ExitCode.INTERNAL,
                    hint="a bug in vpcctl: please report it",
                ),
                as_json,
                colour,
            )
            code = ExitCode.INTERNAL
        ctx.exit(int(code))

    functools.update_wrapper(wrapper, view)  # the command's name and help
    decorated: Callable[..., None] = click.pass_context(wrapper)
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated
