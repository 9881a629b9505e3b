"""A look by tag refused for good (UnauthorizedOperation on DescribeSubnets: a policy that
lost ec2:DescribeSubnets) ends the teardown DELETE_FAILED with AWS's code, as any other
refusal for good does, so that a person knows what to fix: not RetriesExhausted, on a
first receive that retried nothing."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record
from integration.convergence.conftest import _delete, tag_lookup


def test_a_lookup_refused_for_good_ends_with_awss_code(
    client: Client, stack: Stack, succeeded: str
) -> None:
    assert _delete(client, succeeded).status_code == 202
    stack.faults.fail(
        "ec2", "DescribeSubnets", "UnauthorizedOperation", 403, times=-1, match=tag_lookup
    )

    deliver(client, succeeded, receive_count=1, operation=Operation.DELETE)

    rec: dict[str, Any] = record(client, succeeded)
    assert rec["status"] == "DELETE_FAILED", rec
    assert rec["error"]["code"] == "UnauthorizedOperation", rec["error"]
