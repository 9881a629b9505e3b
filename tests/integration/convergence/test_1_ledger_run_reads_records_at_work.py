"""What the records at work (or left by a teardown: HOLDING_STATUSES) name is theirs,
whatever tags it carries. A reconciler run removes, by id, what the FAILED records on its
ledger say may remain, even when its sweep lists no possible orphan: such a run must read
what the records at work name too, and keep it, as a run that lists an unrelated orphan
does (`[True]`).

How a FAILED record comes to name another request's resource: its rollback found it by
the request's tag (someone copied the tag onto B's subnet) while the records at work could
not be read (OwnerUnknown: `tally.left_alone`, kept as `remaining`); the tag was then put
right."""

from __future__ import annotations

import uuid

import pytest
from chalice.test import Client

from chalicelib.store.items import serialize
from chalicelib.store.reconciler import ReconcilerStore
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack, deliver, record, set_fields, submit
from integration.test_reconciler import ended_stray

LONG_AGO = "2020-01-01T00:00:00Z"


def _failed_naming(stack: Stack, request_id: str, remaining: str) -> None:
    """A FAILED record, long ago, whose rollback says `remaining` may still be there."""
    stack.truth.dynamodb.put_item(
        TableName=TABLE,
        Item=serialize(
            {
                "request_id": request_id,
                "type": "VPC_REQUEST",
                "list_pk": "VPC_REQUEST",
                "status": "FAILED",
                "created_by": "u",
                "created_at": LONG_AGO,
                "created_sort": "2020-01-01T00:00:00.000000Z",
                "updated_at": LONG_AGO,
                "request": {"vpc": {"cidr": "10.97.0.0/16"}, "subnets": []},
                "history": [{"status": "FAILED", "at": LONG_AGO}],
                "error": {"code": "VpcLimitExceeded", "message": "x"},
                "rollback": {
                    "deleted": [],
                    "remaining": [remaining],
                    "error": f"{remaining}: found by tag, not named by the record; who else "
                    "names it is unknown (OwnerUnknown)",
                },
                "version": 4,
            }
        ),
    )


@pytest.mark.parametrize("another_orphan", [False, True])
def test_a_ledger_run_never_removes_what_a_record_left_by_a_teardown_names(
    client: Client, stack: Stack, services: Services, another_orphan: bool
) -> None:
    """[False] fails today; [True] (an unrelated old orphan listed: the records at work are
    read) passes: whether B's live subnet survives depends on an unrelated resource."""
    b = submit(client, subnets=1)
    deliver(client, b)
    b_subnet = record(client, b)["subnets"][0]["subnet_id"]
    set_fields(stack, b, status="DELETE_FAILED")  # B's teardown was refused: B's network
    a = str(uuid.uuid4())
    _failed_naming(stack, a, remaining=b_subnet)
    ReconcilerStore(stack.truth.dynamodb, TABLE).add_pending([a])  # as its worker did
    if another_orphan:
        ended_stray(stack, str(uuid.uuid4()), cidr="10.95.0.0/16")

    report = services.reconciler.run()

    assert b_subnet not in report.removed
    assert b_subnet in {s["SubnetId"] for s in stack.subnets(record(client, b)["vpc_id"])}
