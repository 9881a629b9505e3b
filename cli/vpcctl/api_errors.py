"""What the API's answers that are not 2xx mean to vpcctl: which are retried, which are
refusals no retry changes, and each error as a CliError with its exit code and hint."""

from __future__ import annotations

import re

import requests

from .errors import CliError, ExitCode, exit_code_for_status
from .urls import quoted

# Retried by api.py (docs/api.md: every call is safe to repeat), unless a refusal.
RETRIED_STATUSES = frozenset({409, 429, 502, 503, 504})
QUOTA_EXCEEDED = "QuotaExceeded"
# The addresses asked for cannot be had: the API's message says what to ask for instead
# (in the flags' terms: create.py); the hint adds only what the API cannot say.
ADDRESS_REFUSALS: dict[str, str | None] = {
    "CidrConflict": None,
    "PoolExhausted": "`vpcctl pools` shows what is free in each pool",
}
REFUSALS = frozenset({QUOTA_EXCEEDED, *ADDRESS_REFUSALS})
# The API's advice on getting a token is for curl users too (`make token`, the local
# stack's, with the STATE of a stack with a state folder of its own); a vpcctl user gets
# one with `vpcctl login`.
ADVICE_FOR_VPCCTL = (
    (re.compile(r"`make token(?: STATE=[^`]*)?`, or `vpcctl login`"), "`vpcctl login`"),
    (re.compile(r"`make token(?: STATE=[^`]*)?` prints one"), "`vpcctl login` gets one"),
)
QUOTA_HINT = "`vpcctl delete <request-id>` frees a place (an admin is not limited)"
# Said by the hint only when the API's message does not say it already.
QUOTA_LIST_HINT = "`vpcctl list --mine` shows your live requests"


def is_refusal(response: requests.Response) -> bool:
    """A 429 QuotaExceeded (the caller's live requests are at the per-user limit), or a
    409 CidrConflict or PoolExhausted (the addresses asked for cannot be had): answers
    about the input, which the same request will get again."""
    if response.status_code not in (409, 429):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("Code") in REFUSALS


def api_error(response: requests.Response, attempts: int) -> CliError:
    """An error answer as a CliError: the API's Code and Message, an exit code for its status."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "Code" in body:
        code, message = str(body["Code"]), str(body.get("Message", ""))
    elif isinstance(body, dict) and "message" in body:  # API Gateway's own answers
        code, message = f"Http{status}", str(body["message"])
    else:
        code, message = f"Http{status}", (response.text or response.reason or "")[:300]
    for advice, for_vpcctl in ADVICE_FOR_VPCCTL:
        message = advice.sub(for_vpcctl, message)
    exit_code = exit_code_for_status(status)
    if status in RETRIED_STATUSES and attempts > 1:
        message = f"{message} (still {status} after {attempts} attempts)"
    hint = None
    if exit_code is ExitCode.AUTH and status == 401:
        hint = "run `vpcctl login`"
    if code == QUOTA_EXCEEDED:
        listing = "" if "list --mine" in message else f"{QUOTA_LIST_HINT}; "
        exit_code, hint = ExitCode.USAGE, listing + QUOTA_HINT
    if code in ADDRESS_REFUSALS:
        exit_code, hint = ExitCode.USAGE, ADDRESS_REFUSALS[code]
    if 300 <= status < 400:
        # Never followed (the token would go along): the URL vpcctl was given is not the API's.
        where = quoted(response.headers.get("Location") or "nowhere")
        message = f"the API URL answered {status}, redirecting to {where}"
        exit_code = ExitCode.USAGE
        hint = "vpcctl follows no redirect: set --api-url (or VPCCTL_API_URL) to the API's URL"
    return CliError(message, code=code, exit_code=exit_code, http_status=status, hint=hint)
