"""Convergence never destroys and never lies, defect 5: versions: an old worker's late
write never lands on a newer state (no ABA). Every write to a record is conditioned on its
version, not on its owner and status alone, and the version counts transitions. Every test
ends on EC2's ground truth."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.store.items import deserialize
from chalicelib.wiring import Services
from integration.conftest import (
    TABLE,
    Stack,
    assert_nothing_left,
    assert_provisioned,
    deliver,
    record,
    submit,
)
from integration.convergence.conftest import _delete, _failed_with_leftover, _writes


def test_5_a_stale_delete_failed_never_lands_on_a_new_delete(
    client: Client, stack: Stack, settings: Settings, succeeded: str
) -> None:
    """Teardown A is refused (DependencyViolation) and writes DELETE_FAILED; the answer is
    lost. Before A settles it with a read, the user DELETEs again (DELETE_FAILED ->
    DELETING, the lease owner still A's). Before: A read "DELETING, owner A", took its
    write for not landed and wrote DELETE_FAILED over the user's DELETE."""
    assert _delete(client, succeeded).status_code == 202
    stack.messages()
    stack.faults.fail(
        "ec2", "DeleteVpc", "DependencyViolation", 400, times=settings.ec2_max_attempts
    )
    stack.lose_an_update_answer(_writes("DELETE_FAILED"))
    may_settle = threading.Event()
    hold = stack.faults.hold("dynamodb", "GetItem", until=may_settle, timeout=20)
    answers: list[Any] = []

    def delete_again() -> None:
        while _truth_status(stack, succeeded) != "DELETE_FAILED":
            time.sleep(0.01)
        answers.append(_delete(client, succeeded).json_body)  # no GetItem on this path
        may_settle.set()

    again = threading.Thread(target=delete_again)
    again.start()
    with pytest.raises(RetryLater):  # teardown A stops: the record moved on
        deliver(client, succeeded, operation=Operation.DELETE)
    again.join()

    assert hold.timeouts == 0
    assert answers == [{"request_id": succeeded, "status": "DELETING"}]
    assert _truth_status(stack, succeeded) == "DELETING"  # the user's DELETE stands
    deliver(client, succeeded, operation=Operation.DELETE)
    assert record(client, succeeded)["status"] == "DELETED"
    assert_nothing_left(stack, succeeded)


def _truth_status(stack: Stack, request_id: str) -> str:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return str(item["status"]["S"])


def test_5_no_write_is_conditioned_on_owner_and_status_alone(
    client: Client, stack: Stack, services: Services, settings: Settings, clock: Any, hook: Any
) -> None:
    """Every UpdateItem of a whole lifecycle (create, a failure and its rollback, the
    reconciler, DELETE and its teardown, the reaper) that names a lease owner or a
    status in its condition also names the version it read; the only ones that do not
    are decisions taken without a read (a claim, DELETE's first bet), which bump it.
    So does every write to a request's record inside a transaction (the release of its
    addresses once it ended)."""
    conditions: list[str] = []
    in_transactions: list[str] = []
    hook(
        "dynamodb",
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: conditions.append(params.get("ConditionExpression", "")),
    )

    def transaction(params: dict[str, Any], **_: Any) -> None:
        for item in params["TransactItems"]:
            for kind in ("Update", "Delete", "ConditionCheck"):
                write = item.get(kind)
                if write and _is_request_id(write["Key"]["request_id"]["S"]):
                    in_transactions.append(write.get("ConditionExpression", ""))

    hook("dynamodb", "provide-client-params.dynamodb.TransactWriteItems", transaction)
    ok = submit(client, subnets=2)
    deliver(client, ok)
    failing = _failed_with_leftover(client, stack, settings, clock)
    services.reconciler.run()
    assert _delete(client, ok).status_code == 202
    deliver(client, ok, operation=Operation.DELETE)
    # (its creation lost a worker; the reconciler's complete sweep, once FAILED was older
    # than the grace period, found nothing more of it: no teardown needed)
    assert _delete(client, failing).json_body["status"] == "DELETED"
    services.reaper.run()

    assert in_transactions  # the two requests' releases
    assert all("#version" in c for c in in_transactions), in_transactions
    blind = [c for c in conditions if "#version" not in c]
    assert len(conditions) > 15
    assert all(
        ("lease_until <= :now" in c and "#status IN" in c)  # a claim (bumps the version)
        or ("#status IN" in c and "lease_owner" not in c)  # DELETE's first bet (bumps it)
        or c == ""  # the ledger's ADD (a set: commutes)
        # A reconciler run's claim on the ledger item and its end: a run's owner is new
        # for every run (a UUID), never reused, so no older run can pass for it.
        or "#owner = :owner" in c
        for c in blind
    ), blind


def _is_request_id(key: str) -> bool:
    """A request's record (its id a UUID), not a lock, a block or a quota item."""
    return (
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key)
        is not None
    )


def test_a_redelivered_job_of_a_finished_request_writes_nothing(
    client: Client, stack: Stack
) -> None:
    """The version counts transitions: created (1), claimed (2), SUCCEEDED (3); a second
    delivery's claim is refused and bumps nothing."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    deliver(client, request_id)

    assert_provisioned(stack, client, request_id, subnets=1)
    item = stack.truth.dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": request_id}})
    assert deserialize(item["Item"])["version"] == 3
