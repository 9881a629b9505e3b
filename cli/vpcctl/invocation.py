"""How every vpcctl command runs: its settings resolved (flags, environment, the local
stack's stack.json), its API client and token cache, and its errors turned into the
documented exit codes (`command`)."""

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
from pathlib import Path
from typing import Any, TextIO

import click
import requests

from .api import DEFAULT_MAX_ATTEMPTS, ApiClient
from .auth import Authenticator, CognitoFactory, TokenCache, boto3_cognito
from .config import API_URL_ENV, CLIENT_ID_ENV, REGION_ENV, Target, default_config_dir, resolve
from .errors import CliError, ExitCode, usage_error
from .output import Progress

MAX_ATTEMPTS_ENV = "VPCCTL_MAX_ATTEMPTS"
POLL_SECONDS = 1.0


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


def report(error: CliError, as_json: bool) -> None:
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
        help=f"Attempts of each API call: 409, 429, 502, 503, 504 and lost connections are retried "
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
            report(err, as_json)
            code = err.exit_code
        except (KeyboardInterrupt, click.Abort):
            if not as_json:
                click.echo(err=True)  # after the terminal's ^C
            report(
                CliError("interrupted", code="Interrupted", exit_code=ExitCode.INTERRUPTED), as_json
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
            )
            code = ExitCode.INTERNAL
        ctx.exit(int(code))

    functools.update_wrapper(wrapper, view)  # the command's name and help
    decorated: Callable[..., None] = click.pass_context(wrapper)
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated
