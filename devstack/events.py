"""Lambda-shaped inputs for running the app outside Lambda: SQS records and unsigned tokens.

Used by the local stack's worker (records from real ReceiveMessage answers),
and by the tests and the benchmark (hand-made deliveries and callers).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from chalicelib.aws.jobs import job_body
from chalicelib.models import Operation


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The record Lambda's SQS event source builds for a ReceiveMessage `message`."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def job_message(
    request_id: str, receive_count: int = 1, operation: Operation = Operation.CREATE
) -> dict[str, Any]:
    """A ReceiveMessage-shaped delivery of a request's job: its own message id and
    receipt handle, and the given receive count."""
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": str(uuid.uuid4()),
        "Body": job_body(request_id, operation),
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795000000000",
            "ApproximateFirstReceiveTimestamp": "1795000000000",
            "SenderId": "local",
        },
    }


def unsigned_token(claims: dict[str, Any]) -> str:
    """A JWT with these claims and no signature: what `chalice.test.Client` (like
    `chalice local`) decodes into authorizer claims without checking anything."""

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.sig"
