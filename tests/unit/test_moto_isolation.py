"""devstack.isolation: moto's DynamoDB behaves like one item-atomic DynamoDB under threads.

The chaos test (tests/integration/test_chaos.py) and the local stack rely on it: a
write whose condition and effect interleave with another's would make the emulator,
not our code, break exactly-once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from devstack.isolation import make_dynamodb_atomic

REGION = "us-east-1"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"k": {"S": "x"}, "n": {"N": "0"}})
        yield client


def _update(client: Any, name: str) -> None:
    client.update_item(
        TableName="t",
        Key={"k": {"S": "x"}},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": name},
        ExpressionAttributeValues={":v": {"S": name}},
    )


def test_an_action_begins_only_after_a_concurrent_write_is_done(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's UpdateItem copies the item before calling the backend: that copy must not run
    while another thread's write changes the item (it once raised "dictionary changed
    size during iteration" in a chaos seed), so a whole action holds the lock."""
    events: list[str] = []
    inside, release, begun = threading.Event(), threading.Event(), threading.Event()
    first_thread: list[threading.Thread] = []
    original_update = DynamoDBBackend.update_item
    original_action = DynamoHandler.call_action

    def slow_update(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() in first_thread:
            events.append("first writes")
            inside.set()
            release.wait(timeout=5)
            events.append("first done")
        return original_update(self, *args, **kwargs)

    def action(self: Any) -> Any:
        if threading.current_thread() not in first_thread:
            events.append("second begins")
            begun.set()
        return original_action(self)

    monkeypatch.setattr(DynamoDBBackend, "update_item", slow_update)
    monkeypatch.setattr(DynamoHandler, "call_action", action)
    make_dynamodb_atomic(monkeypatch.setattr)

    first = threading.Thread(target=_update, args=(table, "a"))
    first_thread.append(first)
    first.start()
    assert inside.wait(timeout=5)
    second = threading.Thread(target=_update, args=(table, "b"))
    second.start()
    # Unlocked, the second action begins at once; locked, not until the first is done.
    begun.wait(timeout=0.5)
    release.set()
    first.join()
    second.join()

    assert events == ["first writes", "first done", "second begins"]
    item = table.get_item(TableName="t", Key={"k": {"S": "x"}})["Item"]
    assert item["a"] == {"S": "a"}
    assert item["b"] == {"S": "b"}
