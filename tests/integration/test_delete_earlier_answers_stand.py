"""What an earlier try of a teardown deleted (a delete's answer, in the record's report)
is gone for good: a later try neither tries it again nor says it remains, whatever that
try meets (here: the VPC's RequestId taken off between the tries, which keeps the VPC and
the request's other ids with it)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record
from integration.test_drift import public_request
from support.tokens import auth


def test_what_an_earlier_try_deleted_is_never_said_to_remain(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    subnets = [s["subnet_id"] for s in rec["subnets"]]
    clock.advance(settings.drift_settle_seconds + 2)
    # Try 1: everything in the VPC goes; DeleteVpc fails in a way that may clear.
    stack.faults.fail("ec2", "DeleteVpc", "RequestLimitExceeded", 503, times=-1)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)
    stack.faults.clear()
    first = record(client, request_id)
    assert first["status"] == "DELETING", first
    assert set(subnets) <= set(first["teardown"]["deleted"]), first["teardown"]
    assert not stack.subnets(vpc_id)  # EC2: they are gone
    # A person takes the VPC's RequestId off (to keep the empty VPC).
    stack.truth.ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": REQUEST_ID_TAG}])

    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)

    after = record(client, request_id)
    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged")
    still = set(after["teardown"]["remaining"]) | {
        s["subnet_id"] for s in after["subnets"] if s["subnet_id"]
    }
    assert not still & set(subnets), (after["teardown"], after["error"]["message"])
