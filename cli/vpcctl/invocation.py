"""How every vpcctl command runs (`command`): its settings resolved (flags, environment,
the local stack's stack.json) into an `Invocation`, which builds its API client and
prints its result; and its errors reported (`report`) and turned into the documented
exit codes."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import click
import jmespath  # type: ignore[import-untyped]

from .api import DEFAULT_MAX_ATTEMPTS, ApiClient
from .auth import Authenticator
from .config import NO_TARGET, Target, resolve
from .errors import STACK_NOT_RUNNING, CliError, ExitCode, OutputFailed, usage_error
from .options import COMMON_OPTIONS, output_mode, resolve_max_attempts
from .output import json_text, plain, to_yaml
from .runtime import Runtime, colour_on


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
            start=self.target.start,
        )

    @property
    def colour(self) -> bool:
        """Colour on stdout: a terminal, -o table, and no NO_COLOR (https://no-color.org)."""
        return colour_on(self.runtime.env, self.runtime.stdout_is_tty, self.as_json)

    def width(self) -> int | None:
        """The terminal's width a table is fitted to; None when stdout is no terminal."""
        return self.runtime.terminal_width() if self.runtime.stdout_is_tty() else None

    def note(self, message: str) -> None:
        """A line for people on stderr; with --json, stderr carries only the error."""
        if not self.as_json:
            click.echo(f"vpcctl: {message}", err=True)

    def emit(self, data: Any, human: str, ids: list[str] | None = None) -> None:
        """The command's result on stdout: `ids` one a line under -q; else `data` (what
        --query selects of it) as JSON or YAML; else `human`, or for -o table with a
        --query the selection as plain text (nothing at all when it selected nothing)."""
        if self.quiet and ids is not None:
            for request_id in ids:
                self.print(request_id)
            return
        if self.query is not None:
            try:
                data = self.query.search(data)
            except jmespath.exceptions.JMESPathError as exc:
                raise usage_error(f"--query cannot be applied: {exc}") from exc
        if self.output == "json":
            self.print(json_text(data, indent=2))
        elif self.output == "yaml":
            self.print(to_yaml(data), nl=False)
        else:
            # color=True keeps the colours click would strip from what is no terminal.
            shown = plain(data) if self.query is not None else human
            if shown or self.query is None:  # a --query that selected nothing: no line
                self.print(shown, color=True if self.colour else None)

    def print(self, text: str, *, nl: bool = True, color: bool | None = None) -> None:
        """`text` on stdout, as click.echo writes it. Raises OutputFailed when it cannot be
        written (a full disk), or stdout is closed (`1>&-`: sys.stdout is None, which
        click.echo would pass over in silence); a closed pipe stays BrokenPipeError
        (`pipe_closed`)."""
        if sys.stdout is None:
            raise OutputFailed(OSError(errno.EBADF, "stdout is closed"))
        try:
            click.echo(text, nl=nl, color=color)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc) from exc


def report(error: CliError, as_json: bool, colour: bool = False) -> None:
    """The error on stderr: one JSON object under -o json|yaml; else a line (its prefix in
    red with `colour`: see `colour_on`) and maybe a hint."""
    if as_json:
        click.echo(json.dumps(error.to_json()), err=True)
        return
    where = f"{error.code}, HTTP {error.http_status}" if error.http_status else error.code
    # color=True keeps the colour click would strip from what it takes for no terminal.
    click.echo(
        f"{error_prefix(colour)} {error.message} ({where})",
        err=True,
        color=True if colour else None,
    )
    if error.hint:
        click.echo(f"vpcctl: hint: {error.hint}", err=True)


def error_prefix(colour: bool) -> str:
    """What starts every error line vpcctl prints for people: red with `colour`."""
    return click.style("vpcctl: error:", fg="red") if colour else "vpcctl: error:"


def pipe_closed() -> ExitCode:
    """What vpcctl does when what reads its output has stopped reading (`vpcctl list -q |
    head -1`): nothing more to say, and no one to say it to. Python's advice
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe): point stdout (here
    stderr too, which `2>&1` joins to the same pipe) at /dev/null, so that what is still
    buffered does not fail again when Python exits ("Exception ignored ... BrokenPipeError"),
    and exit; with the code a shell gives a process the pipe's SIGPIPE ended, not Python's 1,
    which is vpcctl's "the request failed". Returns that code."""
    _discard(sys.stdout, sys.stderr)
    return ExitCode.PIPE_CLOSED


def output_failed(error: OSError, as_json: bool) -> ExitCode:
    """What vpcctl does when its output cannot be written by click itself (--help,
    --version, `completion`; a command's own output is `Invocation.print`'s): says so on
    stderr, if it can, and points stdout at /dev/null, so that what is still buffered does
    not fail again as Python exits. Returns the exit code."""
    _discard(sys.stdout)
    with contextlib.suppress(OSError):  # stderr cannot be written either: the code says it
        report(OutputFailed(error), as_json)
    return ExitCode.OUTPUT_FAILED


def _discard(*streams: TextIO) -> None:
    """Point each stream's file descriptor at /dev/null: what is still buffered for it is
    dropped when Python flushes it, not failed on again."""
    for stream in streams:
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            continue  # not a file (click's CliRunner): nothing will flush it at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


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
            chosen, compiled = output_mode(output, json_flag, query, quiet)
            try:
                target = resolve(
                    runtime.env, runtime.cwd, api_url=api_url, client_id=client_id, region=region
                )
            except CliError as err:
                # A command that can do without an API (logout) gets NO_TARGET instead.
                if err.code != STACK_NOT_RUNNING or not getattr(view, "without_api", False):
                    raise
                target = NO_TARGET
            invocation = Invocation(
                runtime,
                target,
                output=chosen,
                max_attempts=resolve_max_attempts(max_attempts, runtime.env),
                query=compiled,
                quiet=quiet,
            )
            code = view(invocation, **params) or 0
        except CliError as err:
            if isinstance(err, OutputFailed):
                _discard(sys.stdout)  # (see `output_failed`)
            if as_json and err.code == "UsageError" and not err.hint:
                err.hint = f"`{ctx.command_path} --help`"  # as click's usage errors have
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
        except BrokenPipeError:
            raise  # no bug: the reader has gone (VpcctlGroup: `pipe_closed`)
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
    for option in reversed(COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated
