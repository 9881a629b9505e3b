"""The query parameters of GET /vpcs: `limit`, and which requests a listing shows.

Pure functions (no AWS), each raising `BadRequest` with a message that names
the parameter, quotes at most a bounded part of what was sent, and says what
to send instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from chalicelib.api.echo import quote, quote_names
from chalicelib.errors import BadRequest
from chalicelib.models import Status

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


def parse_limit(value: str | None) -> int:
    """Parse the `limit` query parameter: an integer 1..50, default 20."""
    if value is None:
        return DEFAULT_LIMIT
    # Leading zeros are fine ("07"), but int() refuses (ValueError, a 500) any
    # text of more than 4300 digits, so only the significant digits reach it.
    digits = value.lstrip("0")
    if (
        not value.isascii()
        or not value.isdigit()
        or len(digits) > 2
        or not 1 <= int(digits or "0") <= MAX_LIMIT
    ):
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {quote(value)}.")
    return int(digits)


def query_parameters(params: Mapping[str, list[str]], allowed: Collection[str]) -> dict[str, str]:
    """The query parameters as single values.

    Rejects parameters the route does not know (so a typo is not silently
    ignored) and parameters given more than once.
    """
    unknown = set(params) - set(allowed)
    if unknown:
        allowed_names = ", ".join(sorted(allowed))
        raise BadRequest(
            f"Unknown query parameter(s) {quote_names(unknown)}; allowed: {allowed_names}."
        )
    repeated = [name for name, values in params.items() if len(values) != 1]
    if repeated:
        raise BadRequest(f"Give each query parameter once; repeated: {quote_names(repeated)}.")
    return {name: values[0] for name, values in params.items()}


# The query parameters of GET /vpcs, and the one value `created_by` (and `drift`) takes.
LIST_PARAMETERS = ("limit", "next_token", "status", "created_by", "drift")
CREATED_BY_ME = "me"
DRIFTED = "true"


@dataclass(frozen=True)
class ListFilter:
    """Which requests a listing shows: all, those in one status, the caller's own, or
    those whose record shows drift."""

    status: Status | None = None
    mine: bool = False
    drifted: bool = False


def parse_list_filter(
    status: str | None, created_by: str | None, drift: str | None = None
) -> ListFilter:
    """Parse GET /vpcs's `status`, `created_by` and `drift` parameters (at most one)."""
    given = [
        name
        for name, value in (("status", status), ("created_by", created_by), ("drift", drift))
        if value is not None
    ]
    if len(given) > 1:
        which = " or ".join(given) + (", not both" if len(given) == 2 else ", not all three")
        raise BadRequest(f"Give either {which}: use one filter per listing.")
    if drift is not None:
        if drift != DRIFTED:
            raise BadRequest(
                f"drift accepts only {DRIFTED!r} (the requests whose record shows drift; "
                f"leave it out to list every request), got {quote(drift)}."
            )
        return ListFilter(drifted=True)
    if status is not None:
        valid_statuses = [s.value for s in Status]
        if status not in valid_statuses:
            valid = ", ".join(valid_statuses)
            raise BadRequest(f"status {quote(status)} is not a status; use one of: {valid}.")
        return ListFilter(status=Status(status))
    if created_by is not None:
        if created_by != CREATED_BY_ME:
            raise BadRequest(
                f"created_by accepts only {CREATED_BY_ME!r} (your own requests), "
                f"got {quote(created_by)}."
            )
        return ListFilter(mine=True)
    return ListFilter()
