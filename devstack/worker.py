"""The local worker: polls the jobs queue and runs the app's own SQS handler, like Lambda.

SQS semantics are kept, not shortcut: a message is deleted only when the
handler returns; when it raises, the message becomes visible again after the
visibility timeout, its ApproximateReceiveCount grows, and after the queue's
maxReceiveCount SQS moves it to the dead-letter queue. While a handler runs,
the message's visibility is extended, so a slow job is never delivered twice
at once (Lambda gets the same from a visibility timeout of 6x its timeout).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from chalice.local import LambdaContext

from .events import sqs_record

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
            except Exception:
                if self._halt.is_set():
                    return
                logger.exception("receiving from the jobs queue failed; retrying")
                self._halt.wait(1)
                continue
            for message in messages:
                self._process(message)

    def _process(self, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_invisible, args=(receipt, done), daemon=True)
        keeper.start()
        try:
            record = sqs_record(message, self._queue_arn, self._region)
            self._handler({"Records": [record]}, _context("worker"))
        except Exception as exc:
            done.set()
            keeper.join()
            count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            logger.warning(
                "job failed on receive %s (%s: %s); SQS will deliver it again after %ss",
                count,
                type(exc).__name__,
                exc,
                self._visibility,
            )
            self._change_visibility(receipt, self._visibility)
            return
        done.set()
        keeper.join()
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)

    def _keep_invisible(self, receipt: str, done: threading.Event) -> None:
        while not done.wait(self._visibility / 2):
            self._change_visibility(receipt, self._visibility)

    def _change_visibility(self, receipt: str, seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except Exception as exc:
            logger.warning("could not change a message's visibility: %s", exc)


class Ticker(threading.Thread):
    """Runs a scheduled handler every `period` seconds (the reaper's rate)."""

    def __init__(self, handler: Handler, period: float, stop: threading.Event, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._handler = handler
        self._period = period
        self._halt = stop

    def run(self) -> None:
        while not self._halt.wait(self._period):
            try:
                self._handler(_scheduled_event(), _context(self.name))
            except Exception:
                logger.exception("%s failed", self.name)


def _context(function_name: str) -> LambdaContext:
    return LambdaContext(function_name, memory_size=512, max_runtime_ms=900_000)


def _scheduled_event() -> dict[str, Any]:
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
