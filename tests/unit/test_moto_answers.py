"""DynamoDB's item answers written as JSON directly (devstack/moto_answers.py) are the
answers moto's own serializer writes: same status, Content-Type and JSON, for every
operation our code calls and every attribute type, binary included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from devstack.moto_answers import ITEM_OPERATIONS, plain_dynamodb_answers

TABLE = "answers"
EVERY_TYPE = {
    "pk": {"S": "request#1"},
    "sk": {"S": "meta"},
    "status": {"S": "SUCCEEDED"},
    "version": {"N": "7"},
    "ratio": {"N": "0.25"},
    "blob": {"B": b"\x00\xffbinary"},
    "blobs": {"BS": [b"a", b"\x01"]},
    "names": {"SS": ["a", "b"]},
    "counts": {"NS": ["1", "2.5"]},
    "public": {"BOOL": True},
    "nothing": {"NULL": True},
    "subnets": {"L": [{"M": {"cidr": {"S": "10.0.1.0/24"}, "public": {"BOOL": False}}}]},
    "drift": {"L": []},
    "history": {"M": {"QUEUED": {"N": "1795000000.5"}, "empty": {"M": {}}}},
}


@pytest.fixture
def answers() -> Iterator[tuple[Any, list[tuple[str, Any, Any]]]]:
    """A moto DynamoDB client, and each item answer as written directly and by moto."""
    plain_dynamodb_answers()
    direct = DynamoResult.execute_result
    by_moto = direct.moto_serializer  # type: ignore[attr-defined]
    written: list[tuple[str, Any, Any]] = []

    def both(self: DynamoResult, context: Any) -> Any:
        answer = direct(self, context)
        written.append((context.operation_model.name, answer, by_moto(self, context)))
        return answer

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoResult, "execute_result", both)
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client, written


def _key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"request#{n}"}, "sk": {"S": "meta"}}


def test_every_item_answer_is_the_one_motos_serializer_writes(
    answers: tuple[Any, list[tuple[str, Any, Any]]],
) -> None:
    client, written = answers
    capacity = {"ReturnConsumedCapacity": "INDEXES"}
    client.put_item(TableName=TABLE, Item=EVERY_TYPE, **capacity)
    client.put_item(TableName=TABLE, Item={**EVERY_TYPE, **_key(2)}, ReturnValues="ALL_OLD")
    client.put_item(TableName=TABLE, Item={**EVERY_TYPE, **_key(2)}, ReturnValues="ALL_OLD")
    client.get_item(TableName=TABLE, Key=_key(1), ConsistentRead=True, **capacity)
    client.get_item(TableName=TABLE, Key=_key(9))
    client.get_item(
        TableName=TABLE,
        Key=_key(1),
        ProjectionExpression="#b, subnets[0]",
        ExpressionAttributeNames={"#b": "blob"},
    )
    client.batch_get_item(
        RequestItems={TABLE: {"Keys": [_key(1), _key(2), _key(9)], "ConsistentRead": True}},
        ReturnConsumedCapacity="TOTAL",
    )
    client.query(
        TableName=TABLE,
        IndexName="by-status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "SUCCEEDED"}},
        Limit=1,
        ScanIndexForward=False,
        **capacity,
    )
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "request#1"}},
        Select="COUNT",
    )
    client.scan(TableName=TABLE, Limit=1)
    client.update_item(
        TableName=TABLE,
        Key=_key(1),
        UpdateExpression="SET version = version + :one, drift = :none REMOVE nothing",
        ExpressionAttributeValues={":one": {"N": "1"}, ":none": {"L": []}},
        ReturnValues="ALL_NEW",
        **capacity,
    )
    client.update_item(
        TableName=TABLE,
        Key=_key(1),
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "DELETING"}},
        ReturnValues="UPDATED_OLD",
    )
    client.update_item(
        TableName=TABLE,
        Key=_key(3),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "1"}},
    )
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**_key(4), "v": {"N": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key(3)}},
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": _key(1)}}])
    client.batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": {**_key(5), "v": {"N": "1"}}}}]}
    )
    client.delete_item(TableName=TABLE, Key=_key(2), ReturnValues="ALL_OLD")

    operations = {name for name, _, _ in written} - {"CreateTable"}
    assert operations == ITEM_OPERATIONS, ITEM_OPERATIONS - operations
    for name, (status, headers, body), (moto_status, moto_headers, moto_body) in written:
        assert status == moto_status, name
        assert headers["Content-Type"] == moto_headers["Content-Type"], name
        assert json.loads(body) == json.loads(moto_body), name


def test_an_answer_it_does_not_write_is_left_to_motos_serializer(
    answers: tuple[Any, list[tuple[str, Any, Any]]],
) -> None:
    client, written = answers

    client.describe_table(TableName=TABLE)
    client.list_tables()
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=TABLE, Item=_key(1), ConditionExpression="attribute_exists(pk)")

    # CreateTable (the fixture's) and DescribeTable: moto's own writing, byte for byte.
    assert [name for name, _, _ in written] == ["CreateTable", "DescribeTable"]
    for name, (status, headers, body), (moto_status, moto_headers, moto_body) in written:
        # moto adds its own headers (date, request id) to the answer's afterwards.
        assert (status, headers["Content-Type"], body) == (
            moto_status,
            moto_headers["Content-Type"],
            moto_body,
        ), name
