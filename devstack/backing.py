"""The local stack's backing resources in moto, named as the deployment names them.

`bootstrap` creates them, or reuses those of that name already there (a PERSIST=1 state,
the moto AWS_ENDPOINT_URL names): the table, the queue and its DLQ, and the Cognito user
pool with its demo user and an admin user (in the `admins` group), each given a fresh
password. It then puts them in the app's settings (this process's environment), for
app.py to read when it is imported.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.store.layout import LIST_INDEX, LIST_PARTITION
from chalicelib.store.ledger import LEDGER_ID
from chalicelib.store.table import error_code

from .resources import (
    ADMINS_GROUP,
    Queues,
    UserPool,
    create_queues,
    create_table,
    create_user,
    create_user_pool,
)
from .server import MAX_CONCURRENT_REQUESTS
from .settings import QUEUE_VISIBILITY_SECONDS, STAGE, WORKER_THREADS, local_environment

DEMO_USER = "demo"
# A second demo user, in the `admins` group: may delete anyone's requests.
ADMIN_USER = "admin"


@dataclass(frozen=True)
class Backing:
    """What `bootstrap` made, and the AWS clients that reach it."""

    clients: AwsClients
    queues: Queues
    pool: UserPool
    table_name: str
    admin_password: str


def bootstrap(region: str) -> Backing:
    """Create (or reuse) the table, queues and user pool, and point the app's settings at them."""
    env = local_environment(os.environ)
    clients = AwsClients(
        region,
        # Each worker makes up to SUBNET_CONCURRENCY EC2 calls at once.
        ec2_pool_size=WORKER_THREADS * int(env.get("SUBNET_CONCURRENCY", "25")) + 4,
        # The API's requests at work, the workers, the reaper and the reconciler.
        pool_size=MAX_CONCURRENT_REQUESTS + WORKER_THREADS + 2,
    )
    create_table(clients.dynamodb, env["TABLE_NAME"])
    queues = create_queues(
        clients.sqs,
        env["QUEUE_NAME"],
        max_receive_count=int(env["MAX_RECEIVE_COUNT"]),
        visibility_timeout=QUEUE_VISIBILITY_SECONDS,
    )
    cognito = boto3.session.Session(region_name=region).client("cognito-idp")
    pool = create_user_pool(cognito, f"vpc-provisioner-{STAGE}", DEMO_USER, _demo_password())
    admin_password = _demo_password()
    create_user(cognito, pool.pool_id, ADMIN_USER, admin_password, group=ADMINS_GROUP)
    env.update(
        QUEUE_URL=queues.queue_url,
        DLQ_URL=queues.dlq_url,
        USER_POOL_ARN=pool.pool_arn,
        # The web console signs people in with this app client (docs/console.md).
        USER_POOL_CLIENT_ID=pool.client_id,
        # Random per `make run`: listing tokens of an earlier run are refused.
        PAGE_TOKEN_SECRET=secrets.token_hex(32),
    )
    os.environ.update(env)
    return Backing(clients, queues, pool, env["TABLE_NAME"], admin_password)


def count_requests(clients: AwsClients, table: str) -> int:
    """The requests in the table (a COUNT query of the listing index, page by page)."""
    pages = clients.dynamodb.get_paginator("query").paginate(
        TableName=table,
        IndexName=LIST_INDEX,
        KeyConditionExpression="list_pk = :p",
        ExpressionAttributeValues={":p": {"S": LIST_PARTITION}},
        Select="COUNT",
    )
    return sum(int(page["Count"]) for page in pages)


def end_runs_left_under_way(clients: AwsClients, table: str) -> bool:
    """End the reconciler run a stopped stack left under way (PERSIST=1 saved its claim with
    moto's state): one stack at a time uses a state folder (its lock), so no run is under
    way when it starts. Otherwise the next runs wait for that claim to lapse, up to twice
    RECONCILE_RUN_SECONDS (5 minutes). True if there was one."""
    try:
        clients.dynamodb.update_item(
            TableName=table,
            Key={"request_id": {"S": LEDGER_ID}},
            UpdateExpression="REMOVE run_owner, run_until",
            ConditionExpression="attribute_exists(run_owner)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _demo_password() -> str:
    # Meets the pool's policy: 12+ characters, upper, lower, digit.
    return f"Demo-{secrets.token_urlsafe(12)}-9a"
