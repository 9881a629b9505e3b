"""JSON text edited in place: the values an edit changes are rewritten where they stand,
and every other character of the text (indentation, key order, spacing, escapes, line
endings, the trailing newline) is kept as it was, so an edit and its undo give back the
text they started from, byte for byte.

Pure: no files. `infra.backing_config` edits `.chalice/config.json` with it: a person's
file, laid out as they like, that `make backing-destroy` promises to leave as
`make backing` found it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

# Where a value sits in a document: the keys and indexes leading to it.
JsonPath = tuple[str | int, ...]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
# The first indented line of a document written with indentation: its indent.
_INDENT = re.compile(r"\n([ \t]+)\S")


def edited(text: str, edit: Callable[[Any], None]) -> str:
    """`text`, a JSON document, with `edit` applied to its parsed value.

    Where `edit` only changes scalar values (strings, numbers, booleans, null) of members
    and items that were there, each is replaced in place and nothing else of the text
    changes. Anything else (a member added or removed, a list grown) writes the document
    again, with the text's indentation and its leading and trailing whitespace. Raises
    json.JSONDecodeError (a ValueError) when `text` is not JSON.
    """
    before = json.loads(text)
    after = copy.deepcopy(before)
    edit(after)
    changes = _scalar_changes(before, after, ())
    if changes is None:
        return _rewritten(text, after)
    spans = _spans(text)
    # From the end backwards: a replacement moves only what follows it.
    for path, value in sorted(changes, key=lambda change: spans[change[0]][0], reverse=True):
        start, end = spans[path]
        text = text[:start] + json.dumps(value) + text[end:]
    return text


def _scalar_changes(before: Any, after: Any, path: JsonPath) -> list[tuple[JsonPath, Any]] | None:
    """The scalars that differ between two documents of the same shape, by path; None
    when their shapes differ (members or items added, removed, or made another kind)."""
    if isinstance(before, dict) and isinstance(after, dict):
        if before.keys() != after.keys():
            return None
        return _joined(_scalar_changes(before[k], after[k], (*path, k)) for k in before)
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return None
        pairs = enumerate(zip(before, after, strict=True))
        return _joined(_scalar_changes(b, a, (*path, i)) for i, (b, a) in pairs)
    if isinstance(before, dict | list) or isinstance(after, dict | list):
        return None
    # The same value keeps its spelling (1 is not 1.0, nor True; NaN is not equal to itself).
    if before is after or (type(before) is type(after) and before == after):
        return []
    return [(path, after)]


def _joined(
    parts: Iterable[list[tuple[JsonPath, Any]] | None],
) -> list[tuple[JsonPath, Any]] | None:
    """The changes of every part; None if any part's shape differs."""
    changes: list[tuple[JsonPath, Any]] = []
    for part in parts:
        if part is None:
            return None
        changes += part
    return changes


def _spans(text: str) -> dict[JsonPath, tuple[int, int]]:
    """Where each value of `text` (valid JSON) starts and ends. Of two equal keys in one
    object, the last (as json.loads reads it)."""
    spans: dict[JsonPath, tuple[int, int]] = {}

    def skip(index: int) -> int:
        while index < len(text) and text[index] in _WHITESPACE:
            index += 1
        return index

    def value(index: int, path: JsonPath) -> int:
        start = skip(index)
        opening = text[start]
        if opening in "{[":
            closing = "}" if opening == "{" else "]"
            index = skip(start + 1)
            position = 0
            while text[index] != closing:
                if opening == "{":
                    key, index = _DECODER.raw_decode(text, index)
                    index = skip(index) + 1  # the colon
                    index = value(index, (*path, key))
                else:
                    index = value(index, (*path, position))
                    position += 1
                index = skip(index)
                if text[index] == ",":
                    index = skip(index + 1)
            end = index + 1
        else:
            _, end = _DECODER.raw_decode(text, start)
        spans[path] = (start, end)
        return end

    value(0, ())
    return spans


def _rewritten(text: str, document: Any) -> str:
    """`document` written as `text` is laid out: its indentation (none: one line), and its
    leading and trailing whitespace."""
    match = _INDENT.search(text)
    body = json.dumps(document, indent=match.group(1) if match else None)
    if "\r\n" in text:
        body = body.replace("\n", "\r\n")
    stripped = text.strip()
    leading = text[: len(text) - len(text.lstrip())]
    return leading + body + text[len(leading) + len(stripped) :]
