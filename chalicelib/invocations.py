"""One `invocation` log line per Lambda invocation, and the context every line inside it carries.

`observe` is the app's Chalice middleware (all event types): it binds the
function's name and the Lambda request id (and, for the API, the route, API
Gateway's request id and the caller's `sub`) for every line logged while the
invocation runs, then logs how it ended: the HTTP status, or the exception
that will make Lambda (and SQS) retry (at INFO for RetryLater, the worker's
normal request for another delivery, DEBUG for the usual race it marks `quiet`;
ERROR for anything else). A scheduled run that did nothing (its handler returned
False) is logged at DEBUG: idle upkeep every few seconds would drown the local
stack's output. Headers and bodies are never logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib import logs
from chalicelib.errors import RetryLater

logger = logging.getLogger(__name__)


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Run the invocation inside its log context and log its `invocation` line."""
    fields = _fields(event)
    started = time.perf_counter()
    with logs.bound(**fields):
        try:
            response = get_response(event)
        except RetryLater as exc:
            # The worker's normal way to ask for another delivery: not an error.
            _log_end(
                started, logging.DEBUG if exc.quiet else logging.INFO, outcome=RetryLater.__name__
            )
            raise
        except Exception as exc:
            _log_end(started, logging.ERROR, outcome=type(exc).__name__)
            raise
        if isinstance(response, Response):
            status = response.status_code
            level = logging.ERROR if status >= 500 else logging.INFO
            _log_end(started, level, outcome=str(status), status=status)
        elif response is False:
            _log_end(started, logging.DEBUG, outcome="idle")
        else:
            _log_end(started, logging.INFO, outcome="ok")
        return response


def _fields(event: Any) -> dict[str, Any]:
    lambda_context = event.lambda_context if isinstance(event, Request) else event.context
    fields: dict[str, Any] = {
        # Lambda sets both; the local stack only the context's (its reaper and reconciler
        # were both "CloudWatchEvent" in `make run`'s output).
        "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        or getattr(lambda_context, "function_name", None)
        or type(event).__name__,
        "lambda_request_id": getattr(lambda_context, "aws_request_id", None),
    }
    if isinstance(event, Request):
        context = event.context or {}
        claims = (context.get("authorizer") or {}).get("claims") or {}
        fields["route"] = f"{event.method} {context.get('resourcePath', '?')}"
        fields["api_request_id"] = context.get("requestId")
        fields["caller"] = claims.get("sub")
        request_id = (event.uri_params or {}).get("request_id")
        if request_id:
            # Bounded: a path parameter is client input.
            fields["request_id"] = request_id[:64]
    return fields


def _log_end(started: float, level: int, **fields: Any) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logs.event(logger, "invocation", level, duration_ms=duration_ms, **fields)
