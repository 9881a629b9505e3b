"""How a message shows what a client sent: `quote` (a value, bounded), `quote_names` (a
list of names, the first few) and `type_name` (what kind of JSON value it is).

Every value a client sent reaches a message only through `quote` (and lists of
names only through `quote_names`), so a message stays a few hundred characters
whatever the size of the request: an echo of a megabyte-sized key or CIDR
would otherwise make the 400 itself larger than Lambda's 6 MB response limit,
which API Gateway turns into a 502.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# How much of a client's value a message shows, and how many names of a list.
QUOTE_LIMIT = 100
NAMES_SHOWN = 5


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Show a value a client sent, repr-style, in a bounded number of characters.

    Guarantees: a value whose repr has at most `limit` characters between its
    quotes comes out as exactly `repr(value)`. A longer string comes out as the
    start of its repr (never cut inside an escape sequence) holding at most
    `limit` characters between the quotes, closed with the same quote, then
    "… (N more characters)" where N counts the characters of the value left
    out: at most `limit` + 30 characters for any value under ten million
    characters (far more than a request can carry). Any other object comes out
    as its repr cut after `limit` characters, the count then being of repr
    characters. A string costs O(`limit`) beyond one scan to choose the quote,
    however long it is.
    """
    if not isinstance(value, str):
        text = repr(value)
        if len(text) <= limit:
            return text
        return f"{text[:limit]}… ({_more(len(text) - limit)})"
    # The quote repr() would choose, so that the result is a prefix of repr(value).
    delimiter = '"' if "'" in value and '"' not in value else "'"
    body: list[str] = []
    length = 0
    # Every character escapes to at least one, so no more than limit + 1 can matter.
    for char in value[: limit + 1]:
        escaped = "\\'" if char == delimiter == "'" else repr(char)[1:-1]
        if length + len(escaped) > limit:
            break
        body.append(escaped)
        length += len(escaped)
    else:
        return repr(value)
    return f"{delimiter}{''.join(body)}{delimiter}… ({_more(len(value) - len(body))})"


def _more(count: int) -> str:
    return f"{count} more character{'' if count == 1 else 's'}"


def quote_names(names: Iterable[str]) -> str:
    # Sorted so that the same request always gets the same message.
    ordered = sorted(names)
    shown = ", ".join(quote(name) for name in ordered[:NAMES_SHOWN])
    rest = len(ordered) - NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
