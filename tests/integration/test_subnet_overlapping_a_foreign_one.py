"""A subnet someone else added to the request's VPC that overlaps one of the request's CIDRs
(a /23 holding its /24) makes EC2 answer CreateSubnet InvalidSubnet.Conflict for good: the
request ends FAILED with EC2's code on the delivery that met it (docs/how-it-works.md: a
permanent error ends FAILED with the AWS code and message), as with a foreign subnet at the
very CIDR (test_worker.py), not retried delivery after delivery as EC2's lag until
RetriesExhausted.
A review found the conflict taken for lag: the look keyed on the exact CIDR saw nothing."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from integration.conftest import Stack, deliver, record
from integration.test_worker import a_foreign_subnet_in_the_way


def test_a_foreign_subnet_overlapping_the_requests_cidr_fails_it_with_ec2s_conflict(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    # Someone adds a /23 that contains the request's /24 to the VPC.
    request_id, _ = a_foreign_subnet_in_the_way(client, stack, clock, settings, "10.30.0.0/23")

    # The very next delivery (not the last receive) meets the conflict.
    deliver(client, request_id, receive_count=2)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED", rec
    assert rec["error"]["code"] == "InvalidSubnet.Conflict", rec["error"]
