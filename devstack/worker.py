"""The local worker: polls the jobs queue and runs the app's own SQS handler, like Lambda.

SQS semantics are kept, not shortcut: a message is deleted only when the
handler returns; when it raises, the message becomes visible again when its
visibility timeout runs out (the queue's, or the retry delay the worker set
with ChangeMessageVisibility before raising), its ApproximateReceiveCount
grows, and after the queue's maxReceiveCount SQS moves it to the dead-letter
queue. As in Lambda, nothing extends a message's visibility while the
handler runs: the queue's visibility timeout outlasts any local job.

A receive or a scheduled run that fails is logged and retried; when AWS (moto) cannot
be reached, as one line, not botocore's traceback once a second per thread.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from chalice.local import LambdaContext

from chalicelib.errors import RetryLater

from .events import sqs_record
from .moto_process import UNREACHABLE

logger = logging.getLogger("devstack.worker")

Handler = Callable[[dict[str, Any], Any], Any]


class QueuePoller(threading.Thread):
    """One consumer thread: receive one message, run the handler, delete on success."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: Handler,
        visibility_timeout: int,
        stop: threading.Event,
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._visibility = visibility_timeout
        self._halt = stop

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:
                if self._halt.is_set():
                    return
                _log_failure("receiving from the jobs queue failed; retrying", exc)
                self._halt.wait(1)
                continue
            for message in messages:
                self._process(message)

    def _process(self, message: dict[str, Any]) -> None:
        try:
            record = sqs_record(message, self._queue_arn, self._region)
            self._handler({"Records": [record]}, _context("worker"))
        except Exception as exc:
            count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            delay = getattr(exc, "delay_seconds", None)
            logger.log(
                _level(exc),
                "job failed on receive %s (%s: %s); SQS delivers it again in %ss",
                count,
                type(exc).__name__,
                exc,
                self._visibility if delay is None else delay,
            )
            return
        try:
            self._sqs.delete_message(
                QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        except Exception as exc:
            # As Lambda's poller: the message comes back (or SQS moved it to the dead-letter
            # queue meanwhile: its handle is then no longer valid). The poller goes on: a
            # thread that died here stopped the local stack's jobs, one poller at a time.
            logger.warning(
                "deleting a finished job's message failed (%s: %s); SQS delivers it again",
                type(exc).__name__,
                exc,
            )


def _level(error: Exception) -> int:
    """How loud a job's failed receive is in `make run`. Asked to come back later
    (RetryLater: a lease held elsewhere, a record not stored yet) is the design at work,
    not a failure: INFO, not a WARNING. And a first receive that beat its POST's record, or
    met its transaction (the job is sent beside it: about a third of POSTs), is the usual
    race of milliseconds, which the app marks `quiet` (chalicelib/worker/handler.py): DEBUG;
    still not stored a receive later, it is worth an INFO."""
    if not isinstance(error, RetryLater):
        return logging.WARNING
    return logging.DEBUG if error.quiet else logging.INFO


class Ticker(threading.Thread):
    """Runs a scheduled handler every `period` seconds (the reaper's, the reconciler's rate)."""

    def __init__(self, handler: Handler, period: float, stop: threading.Event, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._handler = handler
        self._period = period
        self._halt = stop

    def run(self) -> None:
        while not self._halt.wait(self._period):
            try:
                self._handler(scheduled_event(), _context(self.name))
            except Exception as exc:
                _log_failure(f"{self.name} failed", exc)


def _log_failure(what: str, error: Exception) -> None:
    """Log, at ERROR, that `what` failed with `error`: one line when moto could not be
    reached (UNREACHABLE), else with the traceback."""
    if isinstance(error, UNREACHABLE):
        logger.error("%s (%s: %s)", what, type(error).__name__, error)
    else:
        logger.error("%s", what, exc_info=error)


def _context(function_name: str) -> LambdaContext:
    return LambdaContext(function_name, memory_size=512, max_runtime_ms=900_000)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
