"""A delivery as the worker takes it (aws/jobs.py `job_of`): the message's job and SQS's
attributes of the delivery; a body that is not a job is refused."""

from __future__ import annotations

import pytest

from chalicelib.aws.jobs import Job, job_body, job_of
from chalicelib.errors import InvalidJob
from chalicelib.models import Operation

REQUEST = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_a_delivery_carries_its_receive_count_and_when_it_was_sent() -> None:
    attributes = {"ApproximateReceiveCount": "3", "SentTimestamp": "1795000000123"}

    job = job_of(job_body(REQUEST, Operation.DELETE), attributes, "handle-1")

    assert job == Job(REQUEST, 3, "handle-1", Operation.DELETE, 1_795_000_000.123)


def test_a_delivery_without_attributes_is_a_first_receive_sent_at_an_unknown_time() -> None:
    assert job_of(job_body(REQUEST), {}, None) == Job(REQUEST, 1, None, Operation.CREATE, None)


@pytest.mark.parametrize("body", ["not json", '{"request_id": "x"}', '{"operation": "create"}'])
def test_a_body_that_is_not_a_job_is_refused(body: str) -> None:
    with pytest.raises(InvalidJob):
        job_of(body, {}, None)
