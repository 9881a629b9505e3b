"""The body of POST /vpcs parsed as strict JSON, before any field rule sees it.

Pure (no AWS): raises `BadRequest` for an empty body, bytes that are not UTF-8, text
that is not JSON, a key given twice, `NaN` or `Infinity`, an integer longer than any
field takes, or nesting deeper than the parser goes. The field rules are `validation`'s.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.echo import quote
from chalicelib.errors import BadRequest


def declares_json(content_type: str | None) -> bool:
    """Whether a request's Content-Type (None: not sent) lets its body be read as JSON:
    absent, or exactly the media type `application/json` (any case, parameters such as
    `charset` after it). Not a list of types (`text/plain, application/json`), nor
    `*/*`: Chalice's own check, written for Accept headers, takes both as JSON."""
    if content_type is None:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" and "," not in content_type


def parse_json_body(raw: bytes | str | None) -> Any:
    """Parse a request body as JSON, rejecting duplicate keys and non-standard numbers."""
    if raw is None or (isinstance(raw, bytes | str) and not raw.strip()):
        raise BadRequest("The request body is empty: send a JSON object with 'vpc' and 'subnets'.")
    try:
        # A leading byte order mark (Windows tools write one) is ignored, as RFC 8259 allows.
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
        )
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        # Some of json's messages end "... at" (they name a position): said once.
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg.removesuffix(' at')} "
            f"at line {exc.lineno} column {exc.colno}."
        ) from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None


# No field takes an integer this long. Python refuses to convert one of more than
# 4,300 digits with a ValueError that is not a JSONDecodeError (it was a 500), and a
# long one costs quadratic time: both are refused before int() sees them.
_MAX_INT_DIGITS = 20


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise BadRequest(
            f"The request body has a number of {digits} digits; "
            f"no field takes more than {_MAX_INT_DIGITS}."
        )
    return int(text)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(
                f"The request body repeats the key {quote(key)}; send each field once."
            )
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"The request body contains {name}, which is not valid JSON.")
