"""What vpcctl shows people: tables (the list, the pools, what a --query selects), each
status in its colour; one request and the progress of --wait are request_view.py's.

Machines get `--json` instead (the API's own shapes); nothing here is a contract.
"""

from __future__ import annotations

import codecs
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

import click
import yaml

# A status's colour on a terminal: done well, done badly, not done yet.
STATUS_COLOURS = {
    "SUCCEEDED": "green",
    "DELETED": "green",
    "FAILED": "red",
    "DELETE_FAILED": "red",
    "CANCELLED": "magenta",
    "QUEUED": "yellow",
    "IN_PROGRESS": "yellow",
    "ROLLING_BACK": "yellow",
    "DELETING": "yellow",
}


def paint_status(text: str, status: Any, colour: bool) -> str:
    """`text` (a status, maybe padded, maybe marked DRIFTED) in its status's colour, if
    `colour`."""
    hue = STATUS_COLOURS.get(str(status).split(" ")[0]) if colour else None
    return click.style(text, fg=hue) if hue else text


def width_of(text: str) -> int:
    """The columns a terminal gives `text`: a wide character (東) two, a combining mark
    (the accent of "cafe\u0301") none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _padded(text: str, width: int) -> str:
    return text + " " * (width - width_of(text))


def cut(text: str, room: int) -> str:
    """`text` in at most `room` columns, ending in "…" when cut."""
    if width_of(text) <= room:
        return text
    kept, used = "", 0
    for char in text:
        used += width_of(char)
        if used > room - 1:
            break
        kept += char
    return kept + "…"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    colour: bool = False,
    status_column: str | None = None,
) -> str:
    """Left-aligned columns, two spaces apart, a header row first. With `colour`, the
    header is bold and `status_column`'s cells have their status's colour."""
    widths = [width_of(h) for h in headers]
    for row in rows:
        widths = [max(w, width_of(cell)) for w, cell in zip(widths, row, strict=True)]
    painted = headers.index(status_column) if colour and status_column in headers else None
    lines = []
    for n, row in enumerate((headers, *rows)):
        cells = [_padded(cell, w) for cell, w in zip(row, widths, strict=True)]
        if n and painted is not None:
            cells[painted] = paint_status(cells[painted], row[painted], colour)
        line = "  ".join(cells).rstrip()
        lines.append(click.style(line, bold=True) if colour and not n else line)
    return "\n".join(lines)


def _width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = [width_of(h) for h in headers]
    for row in rows:
        widths = [max(w, width_of(cell)) for w, cell in zip(widths, row, strict=True)]
    return sum(widths) + 2 * (len(widths) - 1)


# What a narrow terminal drops of the list, first to last; then NAME is cut short.
LIST_DROPPED_FIRST = ("BY", "CREATED_AT", "VPC_ID", "SUBNETS")
MIN_NAME_CHARS = 6


def fit(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None
) -> tuple[list[str], list[list[str]]]:
    """The list's columns for a terminal `width` characters wide (None: any width): the
    columns of LIST_DROPPED_FIRST dropped in turn until the table fits, then NAME cut
    (ending in "…"). What still does not fit wraps, as the terminal does."""
    kept_headers, kept_rows = list(headers), [list(r) for r in rows]
    if width is None:
        return kept_headers, kept_rows
    for column in LIST_DROPPED_FIRST:
        if _width(kept_headers, kept_rows) <= width or column not in kept_headers:
            continue
        i = kept_headers.index(column)
        kept_headers.pop(i)
        for row in kept_rows:
            row.pop(i)
    excess = _width(kept_headers, kept_rows) - width
    if excess > 0 and "NAME" in kept_headers:
        i = kept_headers.index("NAME")
        longest = max([width_of(r[i]) for r in kept_rows] + [len("NAME")])
        room = max(MIN_NAME_CHARS, longest - excess)
        for row in kept_rows:
            row[i] = cut(row[i], room)
    return kept_headers, kept_rows


def json_text(value: Any, **options: Any) -> str:
    """`value` as JSON: a name's letters as they are where stdout writes Unicode (UTF-8,
    as terminals and pipes mostly do: -o yaml and the table write them so too), else as
    JSON's \\u escapes (a Latin-1 or cp1252 stdout could not write them: the same JSON)."""
    return json.dumps(value, ensure_ascii=not _stdout_writes_unicode(), **options)


def _stdout_writes_unicode() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def to_yaml(data: Any) -> str:
    """`data` (JSON's shapes) as a YAML document, keys in the API's order: a name's letters
    as they are where stdout writes Unicode, else as YAML's \\u escapes (as `json_text`:
    the same document)."""
    text: str = yaml.safe_dump(
        data,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=_stdout_writes_unicode(),
    )
    return text


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json_text(value, separators=(",", ":"))
    return str(value)


def plain(value: Any) -> str:
    """What a --query selected, for people and `read`/`xargs` (-o table): a scalar as its
    text (null: nothing), a list of scalars one a line, a list of objects as a table of
    their keys, an object as a table of key and value. Nothing (null, an empty list or
    object) is "": no line at all, not an empty one (`invocation.emit`)."""
    if value is None or value in ([], {}):
        return ""
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value) and value:
            keys: list[str] = []
            for item in value:
                keys.extend(k for k in item if k not in keys)
            rows = [[_cell(item.get(k)) for k in keys] for item in value]
            return table([k.upper() for k in keys], rows)
        return "\n".join("" if v is None else _cell(v) for v in value)
    if isinstance(value, dict):
        return table(["KEY", "VALUE"], [[str(k), _cell(v)] for k, v in value.items()])
    return _cell(value)


def subnets_done(record: dict[str, Any]) -> tuple[int, int]:
    """(subnets that exist, subnets asked for): one the record's drift says is missing does
    not (someone deleted it)."""
    subnets = record.get("subnets") or []
    gone = drifted_missing(record)
    return sum(1 for s in subnets if s.get("subnet_id") and s["subnet_id"] not in gone), len(
        subnets
    )


# The drift types whose `missing` means the resource itself is gone (a `route` or an
# `association` missing names a table or a subnet that is still there).
_RESOURCES = frozenset({"vpc", "subnet", "internet_gateway", "route_table"})


def drifted_missing(record: dict[str, Any]) -> set[str]:
    """The ids of the resources the record's drift says no longer exist."""
    return {
        str(d.get("resource_id"))
        for d in record.get("drift") or []
        if isinstance(d, dict) and d.get("problem") == "missing" and d.get("type") in _RESOURCES
    }


def status_shown(record: dict[str, Any]) -> str:
    """A request's status as the list shows it: marked DRIFTED while EC2 differs from it."""
    status = text_or_dash(record.get("status"))
    return f"{status} DRIFTED" if record.get("drift") else status


# Requests that are over, nothing of them left in EC2.
ENDED = frozenset({"DELETED", "CANCELLED"})


def subnets_shown(record: dict[str, Any]) -> str:
    """A request's subnets as vpcctl shows them: made / asked for while the request lives
    (its progress: 1/2, 2/2; 0/2 after a rollback); of a DELETED or CANCELLED one, how many
    it asked for, as the web console shows every request's (its "0/2" read as two subnets
    never made, when a deleted request's were made and then deleted)."""
    done, total = subnets_done(record)
    return str(total) if record.get("status") in ENDED else f"{done}/{total}"


def text_or_dash(value: Any) -> str:
    """`value` as a cell or field shows it: "-" for none."""
    return "-" if value is None or value == "" else str(value)


LIST_HEADERS = ("REQUEST_ID", "STATUS", "CIDR", "NAME", "VPC_ID", "SUBNETS", "BY", "CREATED_AT")


POOL_HEADERS = ("POOL", "CIDR", "USED", "FREE ADDRESSES", "LARGEST FREE", "ALLOCATIONS")


def pool_rows(items: Sequence[dict[str, Any]]) -> list[list[str]]:
    """GET /pools as rows: how full, what is free, the largest block a VPC can still get."""
    rows = []
    for pool in items:
        total = int(pool.get("total_addresses") or 0)
        used = int(pool.get("allocated_addresses") or 0)
        largest = pool.get("largest_free_netmask_length")
        rows.append(
            [
                text_or_dash(pool.get("name")),
                text_or_dash(pool.get("cidr")),
                f"{100 * used / total:.1f}%" if total else "-",
                str(pool.get("free_addresses")),
                f"/{largest}" if largest is not None else "none",
                str(pool.get("allocations")),
            ]
        )
    return rows


def list_rows(items: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for item in items:
        vpc = (item.get("request") or {}).get("vpc") or {}
        rows.append(
            [
                text_or_dash(item.get("request_id")),
                status_shown(item),
                text_or_dash(item.get("cidr") or vpc.get("cidr")),
                text_or_dash(vpc.get("name")),
                text_or_dash(item.get("vpc_id")),
                subnets_shown(item),
                text_or_dash(item.get("created_by_username")),
                text_or_dash(item.get("created_at")),
            ]
        )
    return rows
