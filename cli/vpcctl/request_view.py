"""One request for people: the record as `vpcctl get` shows it, what it made in EC2, and
its progress while vpcctl waits for it (nothing here is a contract either: output.py)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any, TextIO

from .output import cut, drifted_missing, paint_status, subnets_shown, table, text_or_dash

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
    gone = drifted_missing(record)

    def named(resource_id: Any) -> str:
        """The id, said missing when the record's drift says someone deleted it."""
        shown = text_or_dash(resource_id)
        return f"{shown} (missing)" if resource_id in gone else shown

    rows = [
        [
            "vpc",
            named(record.get("vpc_id")),
            text_or_dash(record.get("cidr") or vpc.get("cidr")),
            "-",
            "-",
            text_or_dash(vpc.get("name")),
        ]
    ]
    for i, subnet in enumerate(record.get("subnets") or []):
        rows.append(
            [
                "subnet",
                named(subnet.get("subnet_id")),
                text_or_dash(subnet.get("cidr")),
                text_or_dash(subnet.get("az")),
                "yes" if i < len(public) and public[i] else "no",
                text_or_dash(subnet.get("name")),
            ]
        )
    routed = any(public)
    for kind, key in (
        ("internet-gateway", "internet_gateway_id"),
        ("route-table", "route_table_id"),
    ):
        if routed or record.get(key):
            rows.append([kind, named(record.get(key)), "-", "-", "-", "-"])
    return rows


def describe(record: dict[str, Any], colour: bool = False) -> str:
    """A request record for people: the fields that matter, then what it made in EC2."""
    vpc = (record.get("request") or {}).get("vpc") or {}
    request_id = text_or_dash(record.get("request_id"))
    status = record.get("status")
    lines = [
        f"request     {request_id}",
        f"status      {paint_status(text_or_dash(status), status, colour)}",
        f"vpc         {text_or_dash(record.get('vpc_id'))}  "
        f"{text_or_dash(record.get('cidr') or vpc.get('cidr'))}  {text_or_dash(vpc.get('name'))}",
        f"created     {text_or_dash(record.get('created_at'))} by "
        f"{text_or_dash(record.get('created_by_username'))}",
        f"updated     {text_or_dash(record.get('updated_at'))}",
        f"attempts    {text_or_dash(record.get('attempts'))}",
    ]
    error = record.get("error")
    if error:
        code, message = text_or_dash(error.get("code")), text_or_dash(error.get("message"))
        lines.append(f"error       {code}: {message}")
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
            else f"not removed: {text_or_dash(orphan.get('error'))}"
        )
        lines.append(f"orphan      {text_or_dash(orphan.get('id'))} {state}")
    drift = record.get("drift") or []
    if drift:
        lines.append(
            f"drift       since {text_or_dash(record.get('drift_detected_at'))}: EC2 no longer "
            "matches the record"
        )
        for item in drift:
            lines.append(
                f"  {text_or_dash(item.get('type'))} {text_or_dash(item.get('resource_id'))} "
                f"{text_or_dash(item.get('problem'))}: {text_or_dash(item.get('detail'))}"
            )
    lines.append(f"subnets     {subnets_shown(record)}")
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

    On a terminal, one line rewritten in place with the time waited, cut to the
    terminal's width (a line that wrapped would leave its head behind at each
    rewrite); otherwise (a pipe, a log file) one plain line each time the status or
    the count of subnets changes.
    """

    def __init__(
        self,
        stream: TextIO,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
        columns: Callable[[], int] = lambda: shutil.get_terminal_size((80, 24)).columns,
    ) -> None:
        self._stream = stream
        self._live = live
        self._clock = clock
        self._columns = columns
        self._started = clock()
        self._last: str | None = None

    def show(self, record: dict[str, Any]) -> None:
        text = (
            f"{text_or_dash(record.get('request_id'))}  {text_or_dash(record.get('status'))}"
            f"  vpc {text_or_dash(record.get('vpc_id'))}  subnets {subnets_shown(record)}"
        )
        if self._live:
            waited = f"  {self._clock() - self._started:.0f}s"
            room = max(10, self._columns() - 1 - len(waited))
            self._stream.write(f"\r\x1b[K{cut(text, room)}{waited}")
            self._stream.flush()
        elif text != self._last:
            self._stream.write(text + "\n")
            self._stream.flush()
        self._last = text

    def close(self) -> None:
        if self._live and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
