"""What vpcctl shows people: tables, a record, the progress of --wait.

Machines get `--json` instead (the API's own shapes); nothing here is a contract.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import click
import yaml  # type: ignore[import-untyped]

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
    """`text` (a status, maybe padded) in its status's colour, if `colour`."""
    hue = STATUS_COLOURS.get(str(status)) if colour else None
    return click.style(text, fg=hue) if hue else text


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    colour: bool = False,
    status_column: str | None = None,
) -> str:
    """Left-aligned columns, two spaces apart, a header row first. With `colour`, the
    header is bold and `status_column`'s cells have their status's colour."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    painted = headers.index(status_column) if colour and status_column in headers else None
    lines = []
    for n, row in enumerate((headers, *rows)):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        if n and painted is not None:
            cells[painted] = paint_status(cells[painted], row[painted], colour)
        line = "  ".join(cells).rstrip()
        lines.append(click.style(line, bold=True) if colour and not n else line)
    return "\n".join(lines)


def _width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
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
        longest = max([len(r[i]) for r in kept_rows] + [len("NAME")])
        room = max(MIN_NAME_CHARS, longest - excess)
        for row in kept_rows:
            if len(row[i]) > room:
                row[i] = row[i][: room - 1] + "…"
    return kept_headers, kept_rows


def to_yaml(data: Any) -> str:
    """`data` (JSON's shapes) as a YAML document, keys in the API's order."""
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def plain(value: Any) -> str:
    """What a --query selected, for people and `read`/`xargs` (-o table): a scalar as its
    text (null: nothing), a list of scalars one a line, a list of objects as a table of
    their keys, an object as a table of key and value."""
    if value is None:
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
    """(subnets that exist, subnets asked for)."""
    subnets = record.get("subnets") or []
    return sum(1 for s in subnets if s.get("subnet_id")), len(subnets)


def _text(value: Any) -> str:
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
                _text(pool.get("name")),
                _text(pool.get("cidr")),
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
        done, total = subnets_done(item)
        rows.append(
            [
                _text(item.get("request_id")),
                _text(item.get("status")),
                _text(item.get("cidr") or vpc.get("cidr")),
                _text(vpc.get("name")),
                _text(item.get("vpc_id")),
                f"{done}/{total}",
                _text(item.get("created_by_username")),
                _text(item.get("created_at")),
            ]
        )
    return rows


RESOURCE_HEADERS = ("TYPE", "ID", "CIDR", "AZ", "PUBLIC", "NAME")
# The tag every resource of a request carries (chalicelib.aws.ec2.REQUEST_ID_TAG).
REQUEST_ID_TAG = "RequestId"


def resource_rows(record: dict[str, Any]) -> list[list[str]]:
    """What the request makes in EC2, one row each: its VPC, its subnets, and for a
    request with a public subnet the internet gateway and the route table. An ID of "-":
    not made yet, or deleted (rolled back, torn down)."""
    request = record.get("request") or {}
    vpc = request.get("vpc") or {}
    # The record's subnets are the body's, in its order: a sized one has no cidr to match.
    public = [bool(s.get("public")) for s in request.get("subnets") or []]
    rows = [
        [
            "vpc",
            _text(record.get("vpc_id")),
            _text(record.get("cidr") or vpc.get("cidr")),
            "-",
            "-",
            _text(vpc.get("name")),
        ]
    ]
    for i, subnet in enumerate(record.get("subnets") or []):
        rows.append(
            [
                "subnet",
                _text(subnet.get("subnet_id")),
                _text(subnet.get("cidr")),
                _text(subnet.get("az")),
                "yes" if i < len(public) and public[i] else "no",
                _text(subnet.get("name")),
            ]
        )
    routed = any(public)
    for kind, key in (
        ("internet-gateway", "internet_gateway_id"),
        ("route-table", "route_table_id"),
    ):
        if routed or record.get(key):
            rows.append([kind, _text(record.get(key)), "-", "-", "-", "-"])
    return rows


def describe(record: dict[str, Any], colour: bool = False) -> str:
    """A request record for people: the fields that matter, then what it made in EC2."""
    vpc = (record.get("request") or {}).get("vpc") or {}
    request_id = _text(record.get("request_id"))
    status = record.get("status")
    lines = [
        f"request     {request_id}",
        f"status      {paint_status(_text(status), status, colour)}",
        f"vpc         {_text(record.get('vpc_id'))}  {_text(record.get('cidr') or vpc.get('cidr'))}"
        f"  {_text(vpc.get('name'))}",
        f"created     {_text(record.get('created_at'))} by "
        f"{_text(record.get('created_by_username'))}",
        f"updated     {_text(record.get('updated_at'))}",
        f"attempts    {_text(record.get('attempts'))}",
    ]
    error = record.get("error")
    if error:
        lines.append(f"error       {_text(error.get('code'))}: {_text(error.get('message'))}")
    for name in ("rollback", "teardown"):
        report = record.get(name)
        if report:
            remaining = ", ".join(report.get("remaining") or []) or "nothing"
            line = f"{name:<11} deleted {len(report.get('deleted') or [])}, remaining {remaining}"
            if report.get("error"):
                line += f" ({report['error']})"
            lines.append(line)
    for orphan in record.get("orphans") or []:
        state = (
            f"removed {orphan['removed_at']}"
            if orphan.get("removed_at")
            else f"not removed: {_text(orphan.get('error'))}"
        )
        lines.append(f"orphan      {_text(orphan.get('id'))} {state}")
    drift = record.get("drift") or []
    if drift:
        lines.append(
            f"drift       since {_text(record.get('drift_detected_at'))}: EC2 no longer "
            "matches the record"
        )
        for item in drift:
            lines.append(
                f"  {_text(item.get('type'))} {_text(item.get('resource_id'))} "
                f"{_text(item.get('problem'))}: {_text(item.get('detail'))}"
            )
    done, total = subnets_done(record)
    lines.append(f"subnets     {done}/{total}")
    rows = resource_rows(record)
    lines.append(
        f"resources   in EC2, tagged {REQUEST_ID_TAG}={request_id} (ID -: not made, or deleted)"
    )
    lines.extend(f"  {line}" for line in table(RESOURCE_HEADERS, rows).splitlines())
    lines.append(f"  aws ec2 describe-vpcs --filters Name=tag:{REQUEST_ID_TAG},Values={request_id}")
    lines.append(
        "  (the same filter: describe-subnets, describe-internet-gateways, describe-route-tables)"
    )
    return "\n".join(lines)


class Progress:
    """The state of a request while vpcctl waits for it, on `stream` (stderr).

    On a terminal, one line rewritten in place with the time waited; otherwise
    (a pipe, a log file) one plain line each time the status or the count of
    subnets changes.
    """

    def __init__(
        self, stream: TextIO, live: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._live = live
        self._clock = clock
        self._started = clock()
        self._last: str | None = None

    def show(self, record: dict[str, Any]) -> None:
        done, total = subnets_done(record)
        text = (
            f"{_text(record.get('request_id'))}  {_text(record.get('status'))}"
            f"  vpc {_text(record.get('vpc_id'))}  subnets {done}/{total}"
        )
        if self._live:
            waited = self._clock() - self._started
            self._stream.write(f"\r\x1b[K{text}  {waited:.0f}s")
            self._stream.flush()
        elif text != self._last:
            self._stream.write(text + "\n")
            self._stream.flush()
        self._last = text

    def close(self) -> None:
        if self._live and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
