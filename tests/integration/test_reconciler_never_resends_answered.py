"""What a DELETE's teardown deleted (its delete answered: the DELETED record's `teardown`,
less its `not_found`) is gone for good to the reconciler too (`orphans_of`, through
`gone_for_good`): a run whose sweep still lists those resources (EC2's reads lag its
deletes) takes none of them for an orphan and sends no delete again; so AWS refusing such
a delete (UnauthorizedOperation, the by-id reads lagging) never leaves the DELETED record
naming its own VPC and subnet as orphans not removed."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.inventory import Inventory, Sweep
from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record, submit
from support.tokens import auth


def test_the_reconciler_never_resends_what_a_deleted_records_teardown_deleted(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    made = record(client, request_id)
    assert made["status"] == "SUCCEEDED", made
    # Long after its creation: what it made is older than the grace period.
    clock.advance(settings.reconcile_grace_seconds + 60)

    # EC2's listings from now on lag the deletes: the sweep still shows what it showed.
    real_sweep = Inventory.sweep
    shown: dict[str, Any] = {}

    def lagging(self: Inventory, calls: Any) -> Sweep:
        sweep = real_sweep(self, calls)
        if not shown:
            shown.update({i: s for i, s in sweep.seen.items() if s.request_id == request_id})
        return Sweep({**shown, **sweep.seen}, sweep.tables)

    monkeypatch.setattr(Inventory, "sweep", lagging)
    services.reconciler.run()  # SUCCEEDED, as EC2 lists it: nothing to do
    assert shown

    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    deliver(client, request_id, operation=Operation.DELETE)
    deleted = record(client, request_id)
    assert deleted["status"] == "DELETED", deleted
    answered = set(deleted["teardown"]["deleted"])
    assert set(shown) <= answered

    # AWS: IAM's tag condition cannot see the tags of what is gone; the by-id reads lag.
    for operation in ("DeleteVpc", "DeleteSubnet"):
        stack.faults.fail("ec2", operation, "UnauthorizedOperation", times=-1)
    monkeypatch.setattr(Ec2Gateway, "vpc_gone", lambda self, i: False)
    monkeypatch.setattr(Ec2Gateway, "subnet_gone", lambda self, i: False)
    stack.faults.reset_counts()
    services.reconciler.run()
    resent = stack.faults.count("ec2", "DeleteVpc") + stack.faults.count("ec2", "DeleteSubnet")
    stack.faults.clear()

    after = record(client, request_id)
    said_left = [o for o in after["orphans"] if o["removed_at"] is None]
    assert not said_left, (after["status"], after["orphans"])
    assert resent == 0
