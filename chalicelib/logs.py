"""Structured logs: one JSON object per line, carrying what the invocation is about.

Every line has `time`, `level`, `logger`, `message`, and the fields bound for
the current invocation (`function`, `lambda_request_id`, and once known
`request_id`, `operation`); an `event` line adds its own fields (`event`:
`invocation`, `job`, `aws_call`, ...). docs/operating.md, "Operating it" section lists
the fields worth searching and alarming on.

Nothing secret is ever written: a field whose name says token, password,
secret, authorization or cookie is replaced by "[redacted]", and any text that
looks like a JWT or a `Bearer` credential is masked, wherever it appears.

Standard library only: the Lambda zip carries no logging dependency.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

_NOTHING_BOUND: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=_NOTHING_BOUND
)

_SECRET_KEY = re.compile(r"token|password|secret|authorization|cookie|credential", re.IGNORECASE)
# A JWT (three base64url parts, the first a JSON header: "eyJ"), or a Bearer credential.
_SECRET_TEXT = re.compile(
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
)
REDACTED = "[redacted]"


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (and in threads started with a
    copy of this context); the previous fields come back when it ends."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**fields: Any) -> None:
    """Add `fields` for the rest of the enclosing `bound` block (e.g. a request id learnt
    half-way through a route). Outside any block it does nothing: fields set there would
    outlive the work they describe."""
    current = _CONTEXT.get()
    if current is not _NOTHING_BOUND:
        _CONTEXT.set({**current, **fields})


def context() -> Mapping[str, Any]:
    """The fields bound now."""
    return _CONTEXT.get()


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event: `name` is both its message and its `event` field."""
    logger.log(level, name, extra={"fields": {"event": name, **fields}})


def scrub(value: Any, key: str = "") -> Any:
    """`value` with every secret-looking field and text replaced (see the module's doc)."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_TEXT.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: the bound context, the record, its event fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_CONTEXT.get())
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(scrub(line), default=str, separators=(",", ":"))


def configure(stream: TextIO | None = None) -> None:
    """Format every line of the process as JSON, at INFO.

    In Lambda the runtime has put its own handler on the root logger (it sends
    lines to CloudWatch Logs); that handler gets the JSON formatter. Elsewhere
    a handler writing to `stream` (stdout) is added. Idempotent.
    """
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if not root.handlers:
        root.addHandler(logging.StreamHandler(stream or sys.stdout))
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    # botocore's own INFO lines (credential lookups) are noise next to ours.
    logging.getLogger("botocore").setLevel(logging.WARNING)


_aws_logger = logging.getLogger("chalicelib.aws")


def observe_calls(client: Any) -> None:
    """Log every AWS call `client` makes: one `aws_call` line with its service, operation,
    duration, botocore's retries and, when it failed, the error code."""
    events = client.meta.events
    events.register("before-call", _call_started)
    events.register("after-call", _call_answered)
    events.register("after-call-error", _call_unanswered)


def _call_started(model: Any, context: dict[str, Any], **_: Any) -> None:
    context["observed"] = (model.service_model.service_id.hyphenize(), model.name)
    context["observed_start"] = time.perf_counter()


def _call_answered(http_response: Any, parsed: Mapping[str, Any], context: Any, **_: Any) -> None:
    failed = http_response.status_code >= 300
    error = parsed.get("Error", {}).get("Code") if failed else None
    _log_call(context, error, parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def _call_unanswered(exception: BaseException, context: Any, **_: Any) -> None:
    _log_call(context, type(exception).__name__, 0)


def _log_call(context: Mapping[str, Any], error: str | None, retries: int) -> None:
    try:
        _write_call(context, error, retries)
    except Exception:  # a log line must never fail the call it describes
        logging.getLogger(__name__).exception("could not log an AWS call")


def _write_call(context: Mapping[str, Any], error: str | None, retries: int) -> None:
    service, operation = context.get("observed", (None, None))
    started = context.get("observed_start")
    fields: dict[str, Any] = {
        "aws_service": service,
        "aws_operation": operation,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
    }
    if error:
        fields["error"] = error
    if retries:
        fields["sdk_retries"] = retries
    # INFO even when it failed: a refused condition is how claims and settles work; the
    # code that acted on a real failure logs its own WARNING.
    event(_aws_logger, "aws_call", **fields)
