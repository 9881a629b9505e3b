"""Creates the backing resources (table, queues) exactly as the deployment defines them.

Used by the local stack's bootstrap and by the tests, so both run against the
same table layout the store expects: the key, the two sparse indexes and the
TTL attribute. The infrastructure-as-code templates describe the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.store import LIST_INDEX, STATUS_INDEX

TTL_ATTRIBUTE = "ttl_epoch"

TABLE_KEY_SCHEMA = [{"AttributeName": "request_id", "KeyType": "HASH"}]
TABLE_ATTRIBUTES = [
    {"AttributeName": "request_id", "AttributeType": "S"},
    {"AttributeName": "list_pk", "AttributeType": "S"},
    {"AttributeName": "status", "AttributeType": "S"},
    {"AttributeName": "created_sort", "AttributeType": "S"},
]
TABLE_INDEXES = [
    {
        "IndexName": LIST_INDEX,
        "KeySchema": [
            {"AttributeName": "list_pk", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": STATUS_INDEX,
        "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"},
            {"AttributeName": "created_sort", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
]


def create_table(dynamodb: Any, table_name: str) -> None:
    """Create the requests table (on-demand) with its indexes and TTL, and wait for it."""
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=TABLE_KEY_SCHEMA,
        AttributeDefinitions=TABLE_ATTRIBUTES,
        GlobalSecondaryIndexes=TABLE_INDEXES,
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


@dataclass(frozen=True)
class Queues:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def create_queues(
    sqs: Any, queue_name: str, max_receive_count: int, visibility_timeout: int
) -> Queues:
    """Create the jobs queue and its dead-letter queue, with the redrive between them."""
    dlq_url = sqs.create_queue(
        QueueName=f"{queue_name}-dlq",
        Attributes={"MessageRetentionPeriod": str(14 * 24 * 60 * 60)},
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    return Queues(queue_url, _queue_arn(sqs, queue_url), dlq_url, dlq_arn)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])
