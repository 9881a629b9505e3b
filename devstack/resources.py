"""Creates the backing resources (table, queues, user pool) for the local stack and the tests.

The table comes from the layout `chalicelib.store.layout` defines (the key, the
sparse indexes, the TTL attribute), the same one both deployment outputs
describe.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.store.schema import ATTRIBUTES, INDEXES, KEY_SCHEMA, TTL_ATTRIBUTE


def create_table(dynamodb: Any, table_name: str) -> None:
    """Create the requests table (on-demand) with its indexes and TTL, and wait for it.

    Idempotent: an existing table of that name is kept, and given the indexes it lacks
    (a PERSIST=1 state saved by an older version: the address pools' `by_pool`,
    drift's `by_drift`).
    """
    try:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            GlobalSecondaryIndexes=INDEXES,
            BillingMode="PAY_PER_REQUEST",
        )
    except dynamodb.exceptions.ResourceInUseException:
        add_missing_indexes(dynamodb, table_name)
        return
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def add_missing_indexes(dynamodb: Any, table_name: str) -> list[str]:
    """Create the indexes of INDEXES an existing table lacks; their names."""
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []}
    added: list[str] = []
    for index in INDEXES:
        if index["IndexName"] in present:
            continue
        names = {k["AttributeName"] for k in index["KeySchema"]}
        dynamodb.update_table(
            TableName=table_name,
            AttributeDefinitions=[a for a in ATTRIBUTES if a["AttributeName"] in names],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        added.append(index["IndexName"])
    return added


@dataclass(frozen=True)
class Queues:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def create_queues(
    sqs: Any, queue_name: str, max_receive_count: int, visibility_timeout: int
) -> Queues:
    """Create the jobs queue and its dead-letter queue, with the redrive between them.

    Idempotent as SQS's CreateQueue is (same name, same attributes).
    """
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


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    pool_arn: str
    client_id: str
    username: str
    password: str


ADMINS_GROUP = "admins"


def create_user_pool(cognito: Any, name: str, username: str, password: str) -> UserPool:
    """The user pool, an app client for USER_PASSWORD_AUTH/SRP, and a demo user.

    Idempotent: an existing pool, client or user of that name is reused (and
    the user's password set to `password`), so a restart against a long-lived
    endpoint does not pile up pools.
    """
    pool = _find(cognito.list_user_pools(MaxResults=60)["UserPools"], name)
    if pool is None:
        pool = cognito.create_user_pool(
            PoolName=name,
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireUppercase": True,
                    "RequireLowercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": False,
                }
            },
            AutoVerifiedAttributes=["email"],
            UsernameConfiguration={"CaseSensitive": False},
        )["UserPool"]
    pool_id = str(pool["Id"])
    pool_arn = str(cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"])
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client = _find(clients, name, key="ClientName")
    if client is None:
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            GenerateSecret=False,
            ExplicitAuthFlows=[
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            IdTokenValidity=60,
            AccessTokenValidity=60,
            TokenValidityUnits={"IdToken": "minutes", "AccessToken": "minutes"},
        )["UserPoolClient"]
    create_user(cognito, pool_id, username, password)
    return UserPool(pool_id, pool_arn, str(client["ClientId"]), username, password)


def create_user(
    cognito: Any, pool_id: str, username: str, password: str, group: str | None = None
) -> None:
    """A confirmed user with this password (and in `group`, made if absent). Idempotent."""
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[
                {"Name": "email", "Value": f"{username}@example.com"},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    if group:
        with contextlib.suppress(cognito.exceptions.GroupExistsException):
            cognito.create_group(GroupName=group, UserPoolId=pool_id)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def _find(items: list[dict[str, Any]], name: str, key: str = "Name") -> dict[str, Any] | None:
    return next((item for item in items if item.get(key) == name), None)


def id_token(cognito: Any, client_id: str, username: str, password: str) -> str:
    """A fresh ID token for the user (USER_PASSWORD_AUTH)."""
    result = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])
