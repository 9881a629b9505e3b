"""The integration tests' moto (tests/support/moto_state.py): started once for the folder,
each test starts from nothing any earlier test made, with the table and the queues the
API makes (devstack/resources.py), made again by replaying moto's backend calls."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.aws.clients import AwsClients
from devstack.resources import create_queues, create_table
from support.moto_state import drop_state

from .conftest import QUEUE, TABLE, Moto, Stack

# Answers that differ between two makings of the same thing.
_MOMENTS = {"CreationDateTime", "CreatedTimestamp", "LastModifiedTimestamp"}


def _table(dynamodb: Any) -> dict[str, Any]:
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    return {**{k: v for k, v in table.items() if k not in _MOMENTS}, "ttl": ttl}


def _queues(sqs: Any) -> dict[str, dict[str, str]]:
    out = {}
    for name in (QUEUE, f"{QUEUE}-dlq"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        out[name] = {k: v for k, v in attributes["Attributes"].items() if k not in _MOMENTS}
    return out


def test_the_replayed_table_and_queues_are_the_ones_the_api_makes(
    stack: Stack, moto: Moto, aws_clients: tuple[AwsClients, AwsClients]
) -> None:
    truth = aws_clients[1]
    replayed = _table(truth.dynamodb), _queues(truth.sqs)
    drop_state()

    create_table(truth.dynamodb, TABLE)
    queues = create_queues(truth.sqs, QUEUE, max_receive_count=5, visibility_timeout=1800)

    assert (_table(truth.dynamodb), _queues(truth.sqs)) == replayed
    assert queues == moto.queues
    assert replayed[0]["ttl"]["TimeToLiveStatus"] == "ENABLED"
    assert replayed[0]["GlobalSecondaryIndexes"]


def test_a_test_leaves_a_vpc_an_item_and_a_message(stack: Stack) -> None:
    """The first of two: what it makes, the next must not see."""
    stack.ec2.create_vpc(CidrBlock="10.9.0.0/16")
    stack.truth.dynamodb.put_item(TableName=TABLE, Item={"request_id": {"S": "left-behind"}})
    stack.truth.sqs.send_message(QueueUrl=stack.queues.queue_url, MessageBody="left behind")
    assert stack.vpcs()


def test_the_next_test_finds_none_of_them(stack: Stack) -> None:
    """The second (pytest runs a file's tests in order, on one worker): moto holds only
    what every test starts with."""
    assert stack.vpcs() == []
    assert stack.truth.dynamodb.scan(TableName=TABLE)["Items"] == []
    assert stack.messages() == []
    default = stack.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    assert [v["CidrBlock"] for v in default["Vpcs"]] == ["172.31.0.0/16"]


BUCKET = "left-behind"


def test_a_test_makes_a_bucket(aws: None) -> None:
    """The first of two: S3 keeps its buckets' names (one namespace for all accounts)
    outside the backends a test's state is dropped with."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]


def test_the_next_test_makes_a_bucket_of_that_name(aws: None) -> None:
    """The second: the name is free again, as moto's own reset leaves it."""
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.list_buckets()["Buckets"] == []
    s3.create_bucket(Bucket=BUCKET)
