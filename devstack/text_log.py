"""The local stack's log lines for a person (`make run`, unless LOG_FORMAT=json): the
deployed functions write JSON (chalicelib/logs.py), which a terminal reads badly. Lives
here, not in chalicelib: only the local stack uses it, and the Lambda zip has a budget."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from chalicelib import logs

# What a person reading the local stack's output needs of a line's fields, in order.
_TEXT_FIELDS = ("function", "route", "request_id", "outcome", "status", "duration_ms", "attempts")
_TEXT_VALUE_CHARS = 80


class TextFormatter(logging.Formatter):
    """One readable line (the local stack's, unless LOG_FORMAT=json): time, level, logger,
    message, then the fields that matter: the function, the route or the request id, the
    outcome and the duration."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] = dict(logs.context())
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            fields.update(extra)
        shown = [
            f"{name}={_text_value(logs.scrub(fields[name], name))}"
            for name in _TEXT_FIELDS
            if fields.get(name) not in (None, "")
        ]
        return f"{line}  {' '.join(shown)}" if shown else line


def log_text_to_stderr(level: int = logging.INFO) -> None:
    """Every line of this process to stderr as TextFormatter writes it: the stack's process
    and moto's (`devstack.moto_process`, whose `devstack.snapshot` lines went out with
    another time format) alike, so that `make run`'s output reads as one log."""
    handler = logging.StreamHandler()
    handler.setFormatter(TextFormatter())
    logging.basicConfig(level=level, handlers=[handler])


def _text_value(value: Any) -> str:
    text = str(value)[:_TEXT_VALUE_CHARS]
    return json.dumps(text) if any(c.isspace() for c in text) or not text.isprintable() else text
