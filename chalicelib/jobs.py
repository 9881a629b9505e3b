"""The SQS job queue: one message per request, body `{"request_id": ...}`."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import BackendFailure
from .validation import is_request_id


class InvalidJob(ValueError):
    """A queue message that is not a job of ours (never retried into success)."""


class JobQueue:
    """Sends provisioning jobs. Raises BackendFailure when SQS fails."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def send(self, request_id: str) -> None:
        """Enqueue the job for `request_id`. Sending twice is harmless: the worker is idempotent."""
        if not self._queue_url:
            raise BackendFailure("SQS SendMessage", RuntimeError("QUEUE_URL is not configured"))
        try:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=job_body(request_id))
        except (ClientError, BotoCoreError) as exc:
            raise BackendFailure("SQS SendMessage", exc) from exc


def job_body(request_id: str) -> str:
    """The message body for a request's job."""
    return json.dumps({"request_id": request_id})


def parse_job(body: str) -> str:
    """The request id in a job message body. Raises InvalidJob if the body is not a job."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise InvalidJob(f"message body is not JSON: {body[:200]!r}") from None
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(request_id, str) or not is_request_id(request_id):
        raise InvalidJob(f"message body has no valid request_id: {body[:200]!r}")
    return request_id
