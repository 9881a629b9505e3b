"""What an earlier try of a teardown deleted (a delete's answer, in the record's report)
is gone for good: a later try neither tries it again nor says it remains, and a look that
still lists it lags (`Teardown.request(gone=...)`: "its 'not found' now is believed,
listed or not"). One way out of the teardown forgets that: a look that fails after a look
that listed the earlier-deleted subnet (`_doubting`, which does not leave `gone` out)
moves it from `deleted` to `remaining`. The record then says a subnet whose DeleteSubnet
answered is still present, drops the answer that proved it gone, and every later try
doubts it again while the listing lags: the DELETE cannot end DELETED (an audit of the
delete paths, 2026-12-06)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from integration.conftest import Stack, deliver, record, set_fields
from integration.test_delete_earlier_answers_stand import (
    _first_try_stops_at_the_vpc,
    _lagging_subnet_listing,
)


def _looks_by_tag(p: dict[str, Any]) -> bool:
    return "tag:" in str(p.get("Filters"))


def test_a_failed_look_after_a_lagging_one_never_unsays_an_earlier_deletion(
    client: Client,
    stack: Stack,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rec, first = _first_try_stops_at_the_vpc(client, stack, clock, settings)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    gone = rec["subnets"][0]["subnet_id"]
    assert gone in first["teardown"]["deleted"]  # its DeleteSubnet answered
    assert gone not in [s["SubnetId"] for s in stack.subnets()]  # EC2: it is gone
    # Its creation lost an answer (two clean looks wanted), long enough ago that nothing
    # it made is fresh any more.
    set_fields(stack, request_id, lost_answers=True)
    # EC2's tag listing of subnets lags the delete: it still shows the subnet.
    _lagging_subnet_listing(monkeypatch, request_id, gone, vpc_id)
    # The first look and the first look after the deletes answer; the next one fails.
    stack.faults.fail(
        "ec2", "DescribeVpcs", "InternalError", 500, skip=2, times=-1, match=_looks_by_tag
    )

    with pytest.raises(RetryLater):
        deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    stack.faults.clear()

    second = record(client, request_id)
    assert second["status"] == "DELETING", second
    assert gone in second["teardown"]["deleted"], second["teardown"]
    assert gone not in second["teardown"]["remaining"], second["teardown"]

    # The looks answer again, the listing still lags: as for a look that never failed
    # (test_delete_earlier_answers_stand.py), the teardown ends DELETED.
    deliver(client, request_id, receive_count=3, operation=Operation.DELETE)
    after = record(client, request_id)
    assert after["status"] == "DELETED", (after["status"], after["teardown"], after["error"])
