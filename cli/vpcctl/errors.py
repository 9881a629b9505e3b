"""vpcctl's exit codes and the errors that end a command with one of them.

The exit codes are part of the CLI's contract (`vpcctl --help`, and the table in
README "Try it (local stack)"): a script may rely on them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What a vpcctl process exits with."""

    OK = 0
    # --wait saw a create end FAILED or CANCELLED, or a delete end DELETE_FAILED.
    REQUEST_FAILED = 1
    # Bad flags or spec file, or the API refused the input (400, 415, 422, ...), or the
    # caller is at the per-user limit of live requests (429 QuotaExceeded).
    USAGE = 2
    # Not logged in, login or token refresh refused, 401, 403.
    AUTH = 3
    NOT_FOUND = 4
    # 503, 409, 5xx or no connection, still so after the retries; an unexpected answer.
    UNAVAILABLE = 5
    # --wait gave up (--timeout) before the request reached a final status.
    TIMEOUT = 6
    # A bug in vpcctl itself (sysexits' EX_SOFTWARE): never mistaken for a FAILED request.
    INTERNAL = 70
    INTERRUPTED = 130


EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  --wait: the create ended FAILED or CANCELLED, the delete DELETE_FAILED
  2  usage error, the API refused the input (400, 415, 422), or you are at
     the limit of live requests (429 QuotaExceeded: delete one)
  3  not logged in, login or token refresh refused, 401, 403
  4  no such request (404)
  5  the API stayed unavailable or busy (503, 409, 5xx, no connection) after the retries
  6  --wait timed out before the request reached a final status
  70  an internal error of vpcctl (a bug: please report it)
  130  interrupted (Ctrl-C)"""


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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code
        self.http_status = http_status
        self.hint = hint

    def to_json(self) -> dict[str, Any]:
        """The error as `--json` prints it on stderr: the API's error shape, and more."""
        body: dict[str, Any] = {"Code": self.code, "Message": self.message}
        if self.http_status is not None:
            body["http_status"] = self.http_status
        if self.hint:
            body["hint"] = self.hint
        body["exit_code"] = int(self.exit_code)
        return body


def usage_error(message: str) -> CliError:
    return CliError(message, code="UsageError", exit_code=ExitCode.USAGE)


def auth_error(message: str, code: str = "NotAuthenticated") -> CliError:
    return CliError(message, code=code, exit_code=ExitCode.AUTH)


def unavailable(message: str, code: str = "Unavailable", hint: str | None = None) -> CliError:
    return CliError(message, code=code, exit_code=ExitCode.UNAVAILABLE, hint=hint)


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
