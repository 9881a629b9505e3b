"""vpcctl's exit codes and the errors that end a command with one of them.

The exit codes are part of the CLI's contract: a script may rely on them. They are
described once, in `EXIT_CODES` below; `vpcctl --help` prints that table, and docs/local-stack.md's
table ("The same with vpcctl") is `exit_codes_markdown()`, word for word (a test holds
both).
"""

from __future__ import annotations

import textwrap
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a vpcctl process exits with (what each means: `EXIT_CODES`)."""

    OK = 0
    REQUEST_FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5
    TIMEOUT = 6
    # A bug in vpcctl itself (sysexits' EX_SOFTWARE): never mistaken for a FAILED request.
    INTERNAL = 70
    # The output could not be written (sysexits' EX_IOERR): a full disk, `> /dev/full`.
    OUTPUT_FAILED = 74
    INTERRUPTED = 130
    # What a shell reports of a process a closed pipe's SIGPIPE ended (128 + 13), as
    # `yes | head -1` ends, and gh or kubectl (Go programs) in its place.
    PIPE_CLOSED = 141


# The one description of the exit codes, in Markdown (the help shows it without backticks).
EXIT_CODES: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "done"),
    (
        ExitCode.REQUEST_FAILED,
        "`--wait`: the create ended `FAILED` or `CANCELLED`, the delete `DELETE_FAILED`; "
        "`vpcctl wait`, `get --wait`: the request settled `FAILED`, `CANCELLED` or "
        "`DELETE_FAILED`",
    ),
    (
        ExitCode.USAGE,
        "usage error (flags, an unreadable or non-JSON spec file, a URL or `stack.json` "
        "vpcctl will not trust, a tokens file it cannot read or save, the start of a "
        "request id that none or several of your requests have), the API refused the "
        "input (400, 415, 422), or you are at the limit of live requests (429 "
        "`QuotaExceeded`: delete one), or the addresses cannot be had (409 "
        "`CidrConflict`, `PoolExhausted`: ask for a size, another pool), or the API URL "
        "redirects (3xx: never followed, the token would go along; it is not the API's)",
    ),
    (
        ExitCode.AUTH,
        "not logged in, login or token refresh refused, 401, 403; also after the local "
        "stack restarted without `PERSIST=1` (its users are new: `vpcctl login` again)",
    ),
    (
        ExitCode.NOT_FOUND,
        'no such request (404), or a request id no URL can carry (".", "..", empty, not '
        "UTF-8), not sent",
    ),
    (
        ExitCode.UNAVAILABLE,
        "the API is down or busy: the local stack is not running (no `stack.json`, or "
        "nothing listens on its port, or at any API URL on this machine, logged in or not: "
        "not retried), or the API stayed unavailable or busy "
        "(409, 429, 502, 503, 504, a lost connection: each retried with the same key) after "
        "`--max-attempts` (5) attempts, or answered another 5xx (not retried), or a 2xx "
        "that is not the API's (`UnexpectedAnswer`: not a JSON object, or without its "
        "fields); a create that "
        "may have reached the API (even if the stack stopped since) then names its "
        "`Idempotency-Key`: rerun with `--idempotency-key` to finish that request",
    ),
    (
        ExitCode.TIMEOUT,
        "`--wait` or `vpcctl wait` gave up after `--timeout` (600 s), which bounds the "
        "whole command, its retries included (`create --wait` its POST's too, then names "
        "its `Idempotency-Key`; `delete --wait` asks again while the API answers "
        "409, a worker still on the request, until then); the request goes on",
    ),
    (ExitCode.INTERNAL, "a bug in vpcctl (please report it)"),
    (
        ExitCode.OUTPUT_FAILED,
        "the output could not be written (a full disk, `> /dev/full`): vpcctl says so on stderr",
    ),
    (
        ExitCode.INTERRUPTED,
        "interrupted (Ctrl-C); not `list --watch`, which runs until Ctrl-C and then exits 0",
    ),
    (
        ExitCode.PIPE_CLOSED,
        "what reads the output stopped first (`head -1`): vpcctl stops, saying nothing, "
        "as a process a closed pipe ends (128 + SIGPIPE)",
    ),
)


def exit_codes_markdown() -> str:
    """The exit codes as docs/local-stack.md's table."""
    rows = "".join(f"| {int(code)} | {meaning} |\n" for code, meaning in EXIT_CODES)
    return "| Exit | Meaning |\n| --- | --- |\n" + rows


def exit_codes_help(width: int = 78) -> str:
    """The exit codes as `vpcctl --help` shows them (click keeps a \\b paragraph as it is)."""
    lines = ["\b", "Exit codes:"]
    for code, meaning in EXIT_CODES:
        lead = f"  {int(code):>3}  "
        # What is in backticks stays on one line.
        parts = meaning.split("`")
        kept = "".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
        wrapped = textwrap.wrap(
            kept, width=width, initial_indent=lead, subsequent_indent=" " * len(lead)
        )
        lines.extend(line.replace("\0", " ") for line in wrapped)
    return "\n".join(lines)


EXIT_CODES_HELP = exit_codes_help()


class CliError(Exception):
    """An error that ends the command: printed on stderr, then exit with `exit_code`."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        exit_code: ExitCode,
        http_status: int | None = None,
        hint: str | None = None,
        sent_nothing: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code
        self.http_status = http_status
        self.hint = hint
        # Known to have sent nothing of the call it ended (a connection refused at the first
        # attempt): a create then cannot have been accepted. False when not known so.
        self.sent_nothing = sent_nothing

    def to_json(self) -> dict[str, Any]:
        """The error as `--json` prints it on stderr: the API's error shape, and more."""
        body: dict[str, Any] = {"Code": self.code, "Message": self.message}
        if self.http_status is not None:
            body["http_status"] = self.http_status
        if self.hint:
            body["hint"] = self.hint
        body["exit_code"] = int(self.exit_code)
        return body


class OutputFailed(CliError):
    """stdout could not be written (not a closed pipe: `pipe_closed`), e.g. a full disk."""

    def __init__(self, error: OSError) -> None:
        super().__init__(
            f"cannot write the output: {error.strerror or error}",
            code="OutputFailed",
            exit_code=ExitCode.OUTPUT_FAILED,
        )


# The Code of "the local stack is not running" (no stack.json, or nothing on its port).
STACK_NOT_RUNNING = "StackNotRunning"

# What the API's messages call what a vpcctl user sets with a flag, and that flag.
API_TERMS_AS_FLAGS = (
    ("Idempotency-Key header", "--idempotency-key"),
    ("Idempotency-Key", "--idempotency-key"),
)


def in_vpcctl_terms(message: str) -> str:
    """An API message as a vpcctl user acts on it: "This Idempotency-Key was already
    used..." names the flag that sets it ("This --idempotency-key was already used...")."""
    for api_term, flag in API_TERMS_AS_FLAGS:
        message = message.replace(api_term, flag)
    return message


def usage_error(message: str) -> CliError:
    return CliError(message, code="UsageError", exit_code=ExitCode.USAGE)


def auth_error(message: str, code: str = "NotAuthenticated") -> CliError:
    return CliError(message, code=code, exit_code=ExitCode.AUTH)


def unavailable(
    message: str, code: str = "Unavailable", hint: str | None = None, sent_nothing: bool = False
) -> CliError:
    return CliError(
        message, code=code, exit_code=ExitCode.UNAVAILABLE, hint=hint, sent_nothing=sent_nothing
    )


def connection_refused(exc: BaseException) -> bool:
    """Whether `exc` is, or wraps (requests', urllib3's, botocore's errors), a refused
    connection: nothing listens on that port."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        error = todo.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        if isinstance(error, ConnectionRefusedError):
            return True
        seen.add(id(error))
        todo.extend([error.__cause__, error.__context__, getattr(error, "reason", None)])
        todo.extend(error.args)
    return False


def stack_not_running(url: str, start: str, *, sent_nothing: bool = True) -> CliError:
    """A connection to `url`, on this machine, was refused: the local stack is not running
    (exit 5, StackNotRunning), and `start` starts it. `sent_nothing`: nothing of the call
    reached it before (not so when an earlier attempt did, and the stack stopped since)."""
    return unavailable(
        f"nothing answers at {url} (connection refused): the local stack is not running; "
        f"start it with `{start}`",
        code=STACK_NOT_RUNNING,
        sent_nothing=sent_nothing,
    )


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code of an API error answer that retrying did not (or cannot) cure."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (409, 429) or status >= 500:
        return ExitCode.UNAVAILABLE
    if 400 <= status < 500:
        return ExitCode.USAGE
    return ExitCode.UNAVAILABLE
