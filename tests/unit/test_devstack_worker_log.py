"""The local stack's worker says a job asked to come back later (RetryLater: the design at
work) at INFO, and a job that failed at WARNING; a job whose first receive beat its
POST's record (the usual race, about a third of POSTs) at DEBUG. A queue it cannot reach
(moto's process died) is one line per receive, not a traceback."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.errors import RetryLater
from devstack.worker import QueuePoller

MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "r-1",
    "Body": '{"request_id": "r"}',
    "Attributes": {"ApproximateReceiveCount": "1"},
    "MessageAttributes": {},
}


class _Sqs:
    def delete_message(self, **_: Any) -> None:
        raise AssertionError("a job that failed is not deleted")


def _poller(error: Exception) -> QueuePoller:
    def handler(event: Any, context: Any) -> None:
        raise error

    return QueuePoller(
        _Sqs(),
        "url",
        "arn:aws:sqs:us-east-1:1:jobs",
        "us-east-1",
        handler,
        30,
        threading.Event(),
        "worker-0",
    )


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (RetryLater("request r is held by another worker", 2), logging.INFO),
        (ValueError("x"), logging.WARNING),
    ],
)
def test_a_job_asked_to_come_back_later_is_info_and_a_failed_one_a_warning(
    caplog: pytest.LogCaptureFixture, error: Exception, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="devstack.worker")

    _poller(error)._process(MESSAGE)

    (record,) = [r for r in caplog.records if "job failed on receive 1" in r.getMessage()]
    assert record.levelno == level


@pytest.mark.parametrize(("receive", "level"), [("1", logging.DEBUG), ("2", logging.INFO)])
def test_a_first_receive_before_the_record_is_stored_is_debug_a_later_one_info(
    caplog: pytest.LogCaptureFixture, receive: str, level: int
) -> None:
    """The job is sent beside the POST's transaction: its first receive often comes first
    (milliseconds). A second receive, a second later, still before it is not usual."""
    caplog.set_level(logging.DEBUG, logger="devstack.worker")
    message = {**MESSAGE, "Attributes": {"ApproximateReceiveCount": receive}}

    # As the app raises it (chalicelib/worker/handler.py): quiet on the first receive only.
    _poller(RetryLater("request r is not stored yet", 1, quiet=receive == "1"))._process(message)

    (record,) = [r for r in caplog.records if "job failed on receive" in r.getMessage()]
    assert record.levelno == level


class _UnreachableSqs:
    """The jobs queue of a moto that is gone; the poller stops after `receives` receives."""

    def __init__(self, halt: threading.Event, receives: int) -> None:
        self._halt = halt
        self._receives = receives

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self._receives -= 1
        if self._receives == 0:
            self._halt.set()
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def test_a_queue_it_cannot_reach_is_one_line_per_receive_not_a_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="devstack.worker")
    halt = threading.Event()
    monkeypatch.setattr(halt, "wait", lambda timeout=None: halt.is_set())  # no second's pause
    poller = QueuePoller(
        _UnreachableSqs(halt, receives=3), "url", "arn", "us-east-1", print, 30, halt, "worker-0"
    )

    poller.run()

    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == 2 * [
        (
            logging.ERROR,
            "receiving from the jobs queue failed; retrying (EndpointConnectionError: "
            'Could not connect to the endpoint URL: "http://127.0.0.1:1")',
            None,
        )
    ]


def test_a_finished_jobs_message_that_cannot_be_deleted_is_logged_and_the_poller_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQS moved the message to the dead-letter queue while the job ran past its visibility
    (its handle is no longer valid): the poller thread once died there, and with it, one
    by one, the local stack's workers. Now a line, and the next message."""

    class Moved(_Sqs):
        def delete_message(self, **_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "invalid"}},
                "DeleteMessage",
            )

    poller = QueuePoller(
        Moved(),
        "url",
        "arn:aws:sqs:us-east-1:1:jobs",
        "us-east-1",
        lambda event, context: None,
        30,
        threading.Event(),
        "worker-0",
    )
    caplog.set_level(logging.DEBUG, logger="devstack.worker")

    poller._process(MESSAGE)

    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "deleting a finished job's message failed" in line.getMessage()
