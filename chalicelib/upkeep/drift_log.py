"""The drift check's log: one line per record whose drift changed (and, in JSON, the
same as the fields of an event `drift`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from chalicelib.findings import DriftItem
from chalicelib.models import RequestRecord
from chalicelib.upkeep.differences import expected

logger = logging.getLogger("chalicelib.upkeep.drift")


def log_change(before: RequestRecord, after: RequestRecord) -> None:
    """One line per record whose drift changed: what appeared, what cleared, what it now
    names in place of what was gone (and, in JSON, the same as fields of an event `drift`)."""
    old = {item.key: item for item in before.drift}
    new = {item.key: item for item in after.drift}
    appeared = [_text(i) for k, i in new.items() if old.get(k) != i]
    cleared = [_text(i) for k, i in old.items() if k not in new]
    adopted = [
        f"{b} -> {a}"
        for (_, b), (_, a) in zip(expected(before), expected(after), strict=False)
        if a != b
    ]
    fields = {
        "event": "drift",
        "request_id": before.request_id,
        "drift": len(after.drift),
        "appeared": appeared,
        "cleared": cleared,
        "adopted": adopted,
    }
    logger.log(
        logging.WARNING if after.drift else logging.INFO,
        "request %s: %s",
        before.request_id,
        _summary(appeared, cleared, adopted),
        extra={"fields": fields},
    )


def _summary(appeared: Iterable[str], cleared: Iterable[str], adopted: Iterable[str]) -> str:
    parts = []
    if appeared:
        parts.append("drift " + "; ".join(appeared))
    if cleared:
        parts.append("cleared " + "; ".join(cleared))
    if adopted:
        parts.append("now names " + ", ".join(adopted) + " (restored)")
    return ", ".join(parts) or "drift unchanged"


def _text(item: DriftItem) -> str:
    return f"{item.type.value} {item.resource_id} {item.problem.value}: {item.detail}"
