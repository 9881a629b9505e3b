"""One listing that lags behind a fresh subnet's tags never makes the request fail for good.
After CreateSubnet's answer is lost (it ran), the lookup lists the subnet at its CIDR; if
that listing does not show its tags yet, the subnet is not called someone else's on that
one read (the request would be rolled back and fail with InvalidSubnet.Conflict, naming
its own subnet as "not created by this request"): it is looked at again."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.errors import RetryLater
from chalicelib.worker.subnets import Subnets
from integration.conftest import Stack, deliver, record, submit


@pytest.mark.parametrize("lagging", [1, 2])
def test_a_lookup_lagging_behind_the_tags_of_the_subnet_it_just_made_is_not_a_permanent_conflict(
    client: Client, stack: Stack, lagging: int
) -> None:
    request_id = submit(client, subnets=1)
    # CreateSubnet runs, its answer is lost.
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", 500, when="after")
    # The first listings of the VPC's subnets after that show the subnet without its tags
    # yet (EC2's read lags behind the tags); later ones show it as it is.
    lagged: list[bool] = []

    def lag(parsed: dict[str, Any], **_: Any) -> None:
        subnets = parsed.get("Subnets") or []
        if subnets and len(lagged) < lagging:
            lagged.append(True)
            for subnet in subnets:
                subnet["Tags"] = []

    stack.clients.ec2.meta.events.register("after-call.ec2.DescribeSubnets", lag)
    try:
        deliver(client, request_id)
    finally:
        stack.clients.ec2.meta.events.unregister("after-call.ec2.DescribeSubnets", lag)

    assert len(lagged) == lagging  # the lag happened
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec["error"]
    assert rec["subnets"][0]["subnet_id"] is not None


def test_never_succeeded_with_a_subnet_that_has_no_id(
    client: Client, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever leaves a subnet without its id (here: making subnets does nothing), the
    request is not recorded SUCCEEDED: the run is tried again."""
    request_id = submit(client, subnets=1)
    monkeypatch.setattr(Subnets, "ensure", lambda self, *args, **kwargs: None)

    with pytest.raises(RetryLater, match="a subnet has no id"):
        deliver(client, request_id)

    assert record(client, request_id)["status"] == "IN_PROGRESS"
    monkeypatch.undo()
    deliver(client, request_id, receive_count=2)
    assert record(client, request_id)["status"] == "SUCCEEDED"
