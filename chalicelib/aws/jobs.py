"""The SQS job queue: body `{"request_id": ...}` to create a request's VPC, and
`{"request_id": ..., "operation": "delete"}` to tear it down (DELETE)."""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import BackendFailure, InvalidJob
from chalicelib.models import Operation, is_request_id

logger = logging.getLogger(__name__)

# SQS's limit for a message's visibility timeout.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60


@dataclass(frozen=True)
class Job:
    """One delivery of a request's message."""

    request_id: str
    receive_count: int = 1
    # SQS's handle of this delivery, for ChangeMessageVisibility (None: not from SQS).
    receipt_handle: str | None = None
    operation: Operation = Operation.CREATE
    # When the message was sent (SQS's SentTimestamp, epoch seconds; None: unknown).
    sent_at: float | None = None


@dataclass(frozen=True)
class JobSpec:
    """A job message's content."""

    request_id: str
    operation: Operation = Operation.CREATE


class JobQueue:
    """Sends jobs, and delays the redelivery of one being worked on."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url
        self._sender: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def send_soon(self, request_id: str) -> Future[None]:
        """Start sending the job for `request_id` beside what the caller does next; the
        future's `result()` waits for SQS's answer and raises what `send` would."""
        with self._lock:
            if self._sender is None:
                self._sender = ThreadPoolExecutor(max_workers=4, thread_name_prefix="send")
            sender = self._sender
        # In the caller's context: its log fields go with the send's log lines.
        return sender.submit(contextvars.copy_context().run, self.send, request_id)

    def send(self, request_id: str, operation: Operation = Operation.CREATE) -> None:
        """Enqueue the job for `request_id`. Sending twice is harmless: the worker is idempotent.

        Raises BackendFailure when SQS fails.
        """
        if not self._queue_url:
            raise BackendFailure("SQS SendMessage", RuntimeError("QUEUE_URL is not configured"))
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=job_body(request_id, operation)
            )
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure("SQS SendMessage", exc) from exc

    def remove(self, receipt_handle: str) -> bool:
        """Delete a received message (the worker, before the queue's last receive of it is
        worked on: a worker that dies then never makes SQS move it to the dead-letter
        queue). True when SQS answered (a receipt it does not know included: nothing of
        that delivery is left to delete); False when the call failed."""
        try:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt_handle)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ReceiptHandleIsInvalid":
                return True
            logger.warning("could not delete the job's message: %s", exc)
            return False
        except BotoCoreError as exc:
            logger.warning("could not delete the job's message: %s", exc)
            return False
        return True

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in `seconds` (instead of after the queue's
        visibility timeout). Best effort: if it fails, the queue's timeout applies."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_SECONDS)),
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("could not set the job's retry delay (%s): %s", seconds, exc)


@dataclass(frozen=True)
class DeadLetter:
    """A message in the dead-letter queue: its request (None: not a job) and receipt."""

    request_id: str | None
    receipt_handle: str


class DeadLetters:
    """The dead-letter queue: written by the worker (only for a request it recorded FAILED
    or DELETE_FAILED), read and pruned by the reaper. Raises BackendFailure."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def send(self, request_id: str, operation: Operation = Operation.CREATE) -> None:
        """Put the job of a request recorded FAILED (DELETE_FAILED) in the dead-letter queue,
        for a person to read."""
        if not self._queue_url:
            raise BackendFailure("SQS SendMessage (dead letter)", RuntimeError("no DLQ_URL"))
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=job_body(request_id, operation)
            )
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure("SQS SendMessage (dead letter)", exc) from exc

    def receive(self, hide_seconds: int) -> list[DeadLetter]:
        """Up to 10 messages, hidden from the next receive for `hide_seconds`."""
        if not self._queue_url:
            return []
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hide_seconds,
                WaitTimeSeconds=0,
            ).get("Messages", [])
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure("SQS ReceiveMessage (dead letters)", exc) from exc
        letters = []
        for message in messages:
            try:
                request_id: str | None = parse_job(message["Body"]).request_id
            except InvalidJob:
                request_id = None
            letters.append(DeadLetter(request_id, message["ReceiptHandle"]))
        return letters

    def release(self, letters: list[DeadLetter]) -> None:
        """Make these letters visible again at once (best effort: else they reappear when
        their hiding runs out)."""
        for start in range(0, len(letters), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for i, letter in enumerate(letters[start : start + 10])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("could not release dead letters: %s", exc)
                return

    def delete(self, letter: DeadLetter) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=letter.receipt_handle)
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure("SQS DeleteMessage (dead letters)", exc) from exc


def job_body(request_id: str, operation: Operation = Operation.CREATE) -> str:
    """The message body for a request's job (a create job's body names no operation)."""
    body = {"request_id": request_id}
    if operation is not Operation.CREATE:
        body["operation"] = operation.value
    return json.dumps(body)


def parse_job(body: str) -> JobSpec:
    """What a job message asks. Raises InvalidJob if the body is not a job."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise InvalidJob(f"message body is not JSON: {body[:200]!r}") from None
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(request_id, str) or not is_request_id(request_id):
        raise InvalidJob(f"message body has no valid request_id: {body[:200]!r}")
    try:
        operation = Operation(data.get("operation", Operation.CREATE.value))
    except ValueError:
        raise InvalidJob(f"message body has an unknown operation: {body[:200]!r}") from None
    return JobSpec(request_id, operation)


def job_of(body: str, attributes: Mapping[str, Any], receipt_handle: str | None) -> Job:
    """One delivery as the worker takes it: the message's job, and SQS's attributes of the
    delivery (its receive count, when it was sent). Raises InvalidJob if the body is not
    a job."""
    spec = parse_job(body)
    sent = str(attributes.get("SentTimestamp", ""))
    return Job(
        spec.request_id,
        int(attributes.get("ApproximateReceiveCount", "1")),
        receipt_handle,
        spec.operation,
        int(sent) / 1000 if sent.isdigit() else None,
    )
