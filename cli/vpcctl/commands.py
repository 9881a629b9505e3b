"""`vpcctl`: the commands (README "Try it (local stack)": "The same with vpcctl")."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
import requests

from .api import DEFAULT_MAX_ATTEMPTS, ApiClient
from .auth import Authenticator, CognitoFactory, TokenCache, boto3_cognito
from .config import (
    API_URL_ENV,
    CLIENT_ID_ENV,
    REGION_ENV,
    Target,
    default_config_dir,
    resolve,
)
from .errors import EXIT_CODES_HELP, CliError, ExitCode, usage_error
from .output import LIST_HEADERS, Progress, describe, list_rows, table

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
POLL_SECONDS = 1.0
DEFAULT_WAIT_TIMEOUT_SECONDS = 600.0
USERNAME_ENV = "VPCCTL_USERNAME"
PASSWORD_ENV = "VPCCTL_PASSWORD"
MAX_ATTEMPTS_ENV = "VPCCTL_MAX_ATTEMPTS"


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
    new_key: Callable[[], str] = lambda: str(uuid.uuid4())

    def token_cache(self) -> TokenCache:
        return TokenCache(self.config_dir or default_config_dir(self.env))


@dataclass
class Invocation:
    """One command's runtime, target and output mode."""

    runtime: Runtime
    target: Target
    as_json: bool
    max_attempts: int

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

    def note(self, message: str) -> None:
        """A line for people on stderr; with --json, stderr carries only the error."""
        if not self.as_json:
            click.echo(f"vpcctl: {message}", err=True)

    def emit(self, data: Any, human: str) -> None:
        click.echo(json.dumps(data, indent=2) if self.as_json else human)

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


def _report(error: CliError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(error.to_json()), err=True)
        return
    where = f"{error.code}, HTTP {error.http_status}" if error.http_status else error.code
    click.echo(f"vpcctl: error: {error.message} ({where})", err=True)
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


_COMMON_OPTIONS = (
    click.option(
        "--api-url",
        metavar="URL",
        help=f"The API (env {API_URL_ENV}; default: the local stack's, from .local/stack.json).",
    ),
    click.option(
        "--client-id",
        metavar="ID",
        help=f"The Cognito app client id (env {CLIENT_ID_ENV}; default: the local stack's).",
    ),
    click.option(
        "--region",
        metavar="REGION",
        help=f"The user pool's region (env {REGION_ENV}, else the local stack's, else AWS_REGION).",
    ),
    click.option(
        "--max-attempts",
        type=click.IntRange(min=1, max=100),
        help=f"Attempts of each API call: 503, 409, 5xx and lost connections are retried "
        f"(env {MAX_ATTEMPTS_ENV}; default {DEFAULT_MAX_ATTEMPTS}).",
    ),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="JSON on stdout (the API's shapes); on stderr only an error, as JSON.",
    ),
)


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
        as_json: bool,
        **params: Any,
    ) -> None:
        runtime: Runtime = ctx.find_object(Runtime) or Runtime()
        try:
            target = resolve(
                runtime.env, runtime.cwd, api_url=api_url, client_id=client_id, region=region
            )
            invocation = Invocation(
                runtime, target, as_json, _max_attempts(max_attempts, runtime.env)
            )
            code = view(invocation, **params) or 0
        except CliError as err:
            _report(err, as_json)
            code = err.exit_code
        except (KeyboardInterrupt, click.Abort):
            click.echo("\nvpcctl: interrupted", err=True)
            code = ExitCode.INTERRUPTED
        except Exception as exc:
            traceback.print_exc()
            click.echo(f"vpcctl: internal error: {type(exc).__name__}: {exc}", err=True)
            code = ExitCode.INTERNAL
        ctx.exit(int(code))

    functools.update_wrapper(wrapper, view)  # the command's name and help
    decorated: Callable[..., None] = click.pass_context(wrapper)
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated


HELP = f"""Create, inspect, list and delete VPC requests of the vpc-provisioner API.

\b
Settings, each from its flag, else its environment variable, else the local
stack's .local/stack.json (found in this directory or a parent, or under
$DEVSTACK_STATE_DIR; used only when the API is the local stack's own):
  --api-url    {API_URL_ENV}
  --client-id  {CLIENT_ID_ENV}
  --region     {REGION_ENV} (else AWS_REGION)

`vpcctl login` signs in with Cognito (USER_PASSWORD_AUTH) and keeps the tokens,
per API URL, in $XDG_CONFIG_HOME/vpcctl/tokens.json (~/.config/vpcctl/), a file
only you can read; the ID token is refreshed when it expires.

{EXIT_CODES_HELP}
"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vpcctl")
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.obj is None:
        ctx.obj = Runtime()


@cli.command()
@click.option(
    "--username",
    metavar="NAME",
    help=f"The Cognito user (env {USERNAME_ENV}; default: the local stack's demo user).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help=f"Read the password from stdin (else env {PASSWORD_ENV}, the local stack's "
    "stack.json for its users, or a prompt).",
)
@command
def login(inv: Invocation, username: str | None, password_stdin: bool) -> None:
    """Sign in and cache the tokens (0600) for this API."""
    local = inv.target.local
    env = inv.runtime.env
    username = username or env.get(USERNAME_ENV) or (local.username if local else None)
    if not username:
        raise usage_error(f"who? pass --username or set {USERNAME_ENV}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif env.get(PASSWORD_ENV):
        password = env[PASSWORD_ENV]
    elif local and username in local.passwords:
        password = local.passwords[username]
    elif inv.runtime.stdin_is_tty():
        password = click.prompt(f"Password for {username}", hide_input=True, err=True)
    else:
        raise usage_error(f"no password: pass --password-stdin or set {PASSWORD_ENV}")
    if not password:
        raise usage_error("the password is empty")
    tokens = inv.authenticator().login(username, password)
    expires = _iso(tokens.expires_at)
    inv.emit(
        {"api_url": inv.target.api_url, "username": username, "expires_at": expires},
        f"Logged in to {inv.target.api_url} as {username} (ID token valid until {expires}, "
        "then refreshed).",
    )


@cli.command()
@command
def logout(inv: Invocation) -> None:
    """Forget the cached tokens of this API."""
    forgotten = inv.runtime.token_cache().forget(inv.target.api_url)
    inv.emit(
        {"api_url": inv.target.api_url, "logged_out": forgotten},
        f"Logged out of {inv.target.api_url}."
        if forgotten
        else f"Not logged in to {inv.target.api_url}.",
    )


@cli.command()
@click.option(
    "-f",
    "--file",
    "spec_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help='The request body (README "Body of POST /vpcs"), sent as it is; - for stdin.',
)
@click.option("--wait", is_flag=True, help="Wait until it SUCCEEDED or FAILED, showing progress.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds --wait waits.",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Send this Idempotency-Key (default: a new one): re-running a create with the key "
    "it printed finishes that request, never makes a second VPC.",
)
@command
def create(
    inv: Invocation, spec_file: str, wait: bool, timeout: float, idempotency_key: str | None
) -> int:
    """Ask for a VPC and its subnets (POST /vpcs)."""
    body = _read_spec(spec_file, inv.runtime.cwd)
    key = inv.runtime.new_key() if idempotency_key is None else idempotency_key
    api = inv.api()
    unsure = (
        f"the request may have been accepted: run the same command with "
        f"--idempotency-key {key} to finish it without a second VPC"
    )
    try:
        answer = api.create(body, key)
    except CliError as err:
        if err.exit_code is ExitCode.UNAVAILABLE:
            err.hint = unsure
        raise
    except KeyboardInterrupt as interrupted:
        raise CliError(
            "interrupted", code="Interrupted", exit_code=ExitCode.INTERRUPTED, hint=unsure
        ) from interrupted
    accepted = answer.body
    request_id = str(accepted["request_id"])
    replayed = answer.headers.get("Idempotent-Replayed") == "true"
    if not wait:
        inv.emit(
            {
                **accepted,
                "location": answer.headers.get("Location"),
                "replayed": replayed,
                "idempotency_key": key,
            },
            f"{request_id}  {accepted.get('status')}"
            + ("  (replayed: the request this key made before)" if replayed else ""),
        )
        return 0
    if replayed:
        inv.note(f"{request_id}: the request this Idempotency-Key made before")
    record = inv.wait(api, request_id, CREATE_FINAL, timeout)
    return _finish(inv, record, CREATE_OK)


@cli.command()
@click.argument("request_id")
@command
def get(inv: Invocation, request_id: str) -> None:
    """Show a request (GET /vpcs/ID)."""
    record = inv.api().get(request_id)
    inv.emit(record, describe(record))


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--status, in any case, as the API spells it."""
    if value is None or value.upper() in STATUSES:
        return value.upper() if value else value
    raise click.BadParameter(f"{value!r} is none of {', '.join(STATUSES)}")


@cli.command(name="list")
@click.option(
    "--status",
    metavar="STATUS",
    callback=_status,
    help=f"Only the requests in this status: {', '.join(STATUSES)}.",
)
@click.option("--mine", is_flag=True, help="Only my requests.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most this many requests (default: all; pages are followed for you).",
)
@click.option("--next-token", metavar="TOKEN", help="Go on from where a --limit stopped.")
@command
def list_requests(
    inv: Invocation, status: str | None, mine: bool, limit: int | None, next_token: str | None
) -> None:
    """List requests, newest first (GET /vpcs, every page)."""
    filters: dict[str, str] = {}
    if status:
        filters["status"] = status
    if mine:
        filters["created_by"] = "me"
    items: list[dict[str, Any]] = []
    resume: str | None = None
    for page in inv.api().pages(filters, limit, next_token):
        items.extend(page.items)
        resume = page.next_token
    human = table(LIST_HEADERS, list_rows(items)) if items else "No requests."
    inv.emit({"items": items, "next_token": resume}, human)
    if resume:
        inv.note(f"more: add --next-token {resume}")


@cli.command()
@click.argument("request_id")
@click.option("--wait", is_flag=True, help="Wait until it is DELETED (or DELETE_FAILED).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds --wait waits.",
)
@command
def delete(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Delete a request's VPC, or cancel a QUEUED request (DELETE /vpcs/ID)."""
    api = inv.api()
    answer = api.delete(request_id)
    if not wait:
        inv.emit(answer, f"{answer.get('request_id')}  {answer.get('status')}")
        return 0
    record = inv.wait(api, request_id, DELETE_FINAL, timeout)
    return _finish(inv, record, DELETE_OK)


def _finish(inv: Invocation, record: dict[str, Any], ok: frozenset[str]) -> int:
    """Print the final record; exit 1 unless its status is in `ok`."""
    inv.emit(record, describe(record))
    status = record.get("status")
    if status in ok:
        return 0
    error = record.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    _report(
        CliError(
            f"request {record.get('request_id')} ended {status}{why}",
            code=str(status),
            exit_code=ExitCode.REQUEST_FAILED,
        ),
        inv.as_json,
    )
    return ExitCode.REQUEST_FAILED


def _read_spec(spec_file: str, cwd: Path) -> bytes:
    try:
        body = sys.stdin.buffer.read() if spec_file == "-" else (cwd / spec_file).read_bytes()
    except OSError as exc:
        raise usage_error(f"cannot read {spec_file}: {exc.strerror or exc}") from exc
    try:
        json.loads(body)
    except ValueError as exc:
        raise usage_error(f"{spec_file} is not JSON: {exc}") from exc
    return body


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    """The console script."""
    cli.main(prog_name="vpcctl")
