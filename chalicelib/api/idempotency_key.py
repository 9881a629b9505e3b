"""The rule of the Idempotency-Key header that every POST /vpcs carries.

Pure (no AWS): `validate_idempotency_key` raises `BadRequest` saying what to send. What
the key does (one request per caller and key) is `submit_request`'s.
"""

from __future__ import annotations

import re

from chalicelib.errors import BadRequest

MAX_IDEMPOTENCY_KEY_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def validate_idempotency_key(value: str | None) -> str:
    """Return the Idempotency-Key header if it is 1..255 printable ASCII characters."""
    if value is None:
        raise BadRequest(
            "The Idempotency-Key header is required: send a unique value per request, "
            "and the same value when you retry it."
        )
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH or not _PRINTABLE_ASCII.fullmatch(value):
        raise BadRequest(
            f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable "
            "ASCII characters."
        )
    return value
