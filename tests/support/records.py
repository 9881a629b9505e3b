"""A request's record for the tests of code that needs no table: a QUEUED request for
10.30.0.0/16 with one subnet not made yet, changed as a test needs (`dataclasses.replace`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.models import RequestRecord, Status, SubnetState
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec

REQUEST_ID = "6f0c2a8e-1b7d-4c55-9a43-2f1e0d9c8b7a"


def request_record(**changes: Any) -> RequestRecord:
    record = RequestRecord(
        request_id=REQUEST_ID,
        status=Status.QUEUED,
        created_by="sub-1",
        created_by_username="demo",
        created_at="2026-11-28T20:17:26Z",
        updated_at="2026-11-28T20:17:26Z",
        request=ProvisioningRequest(
            VpcSpec("10.30.0.0/16"), (SubnetSpec("10.30.1.0/24", "us-east-1a"),)
        ),
        subnets=[SubnetState("10.30.1.0/24", "us-east-1a")],
    )
    return replace(record, **changes)
