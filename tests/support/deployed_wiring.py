"""What a deployed stage's backing resources must be, read back with boto3: the same
checks for every way to deploy (`make deploy`, `make backing` + `make chalice-deploy`).

Each takes `client`, a function from a service name to a boto3 client of the account
deployed to, and the stage; each raises AssertionError naming what differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.store.schema import INDEXES, KEY_SCHEMA
from infra.policies import load_policy, render, with_page_token_secret
from infra.stage import FUNCTIONS, LAMBDA_RUNTIME, Stage

Clients = Callable[[str], Any]


def queue_arn(client: Clients, name: str) -> str:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def assert_functions_run_the_runtime(client: Clients, stage: Stage) -> None:
    """Every function of the stage runs LAMBDA_RUNTIME, whatever Python deployed it."""
    runtimes = {
        function: client("lambda").get_function_configuration(
            FunctionName=stage.function_name(function)
        )["Runtime"]
        for function in FUNCTIONS
    }
    assert runtimes == dict.fromkeys(FUNCTIONS, LAMBDA_RUNTIME), runtimes


def assert_listing_indexes(client: Clients, stage: Stage) -> None:
    """The table is keyed as chalicelib/store/layout.py says, with each listing index."""
    table = client("dynamodb").describe_table(TableName=stage.table_name)["Table"]
    assert table["KeySchema"] == KEY_SCHEMA
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        index["IndexName"]: (index["KeySchema"], index["Projection"]) for index in INDEXES
    }


def assert_jobs_queue_redrives_to_its_dlq(client: Clients, stage: Stage) -> None:
    """After MAX_RECEIVE_COUNT receives a job moves to the DLQ, which takes only the jobs
    queue's; a job is never redelivered while a worker may still run it (visibility 6x
    the worker's timeout); both queues refuse plain HTTP."""
    sqs = client("sqs")
    jobs, dlq = (
        sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["All"]
        )["Attributes"]
        for name in (stage.queue_name, stage.dlq_name)
    )
    assert json.loads(jobs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": stage.max_receive_count,
    }
    assert int(jobs["VisibilityTimeout"]) == stage.visibility_timeout
    assert json.loads(dlq["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [jobs["QueueArn"]],
    }
    for attributes in (jobs, dlq):
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert attributes["QueueArn"] in statement["Resource"]


def assert_worker_consumes_the_jobs_queue(client: Clients, stage: Stage) -> None:
    """One event source: the jobs queue, one message per invocation, bounded concurrency."""
    worker = client("lambda").get_function_configuration(FunctionName=stage.function_name("worker"))
    # All of them, filtered here: moto filters by the name the mapping was made with
    # (an ARN from Chalice, a name from CloudFormation), AWS by the function.
    mappings = [
        mapping
        for mapping in client("lambda").list_event_source_mappings()["EventSourceMappings"]
        if mapping["FunctionArn"] == worker["FunctionArn"]
    ]
    assert [m["EventSourceArn"] for m in mappings] == [queue_arn(client, stage.queue_name)]
    assert mappings[0]["BatchSize"] == 1
    assert mappings[0]["ScalingConfig"] == {
        "MaximumConcurrency": int(stage.env["WORKER_MAX_CONCURRENCY"])
    }


def assert_roles_hold_their_policies(
    client: Clients, stage: Stage, region: str, account: str
) -> None:
    """The least privilege of every output: each function's role holds one policy, its
    template rendered with the ARNs of what was deployed (and, for the API handler,
    reading the listing tokens' key parameter), and its log group exists."""
    iam = client("iam")
    table_arn = client("dynamodb").describe_table(TableName=stage.table_name)["Table"]["TableArn"]
    parameter_arn = client("ssm").get_parameter(Name=stage.page_token_secret_parameter)[
        "Parameter"
    ]["ARN"]
    log_groups = {
        group["logGroupName"]
        for group in client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")[
            "logGroups"
        ]
    }
    for function in FUNCTIONS:
        configuration = client("lambda").get_function_configuration(
            FunctionName=stage.function_name(function)
        )
        role_name = configuration["Role"].rsplit("/", 1)[1]
        names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        assert len(names) == 1, (function, names)
        document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        assert stage.log_group(function) in log_groups, function
        expected = with_page_token_secret(
            render(
                load_policy(stage, function),
                {
                    "table_arn": table_arn,
                    "queue_arn": queue_arn(client, stage.queue_name),
                    "dlq_arn": queue_arn(client, stage.dlq_name),
                    "log_group_arn": f"arn:aws:logs:{region}:{account}:log-group:"
                    + stage.log_group(function),
                    "partition": "aws",
                    "region": region,
                    "account": account,
                    "project_tag": stage.project_tag,
                    "deployment": stage.deployment,
                },
            ),
            function,
            parameter_arn,
        )
        assert document == expected, function
        assert "{{" not in json.dumps(document), function


def rest_api_methods(client: Clients, api_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every method of the REST API: {(path, verb): GetMethod's answer}."""
    apigateway = client("apigateway")
    return {
        (resource["path"], verb): apigateway.get_method(
            restApiId=api_id, resourceId=resource["id"], httpMethod=verb
        )
        for resource in apigateway.get_resources(restApiId=api_id)["items"]
        for verb in resource.get("resourceMethods", {})
    }


# The web console's page and files: a browser loads them before signing in.
CONSOLE_METHODS = {("/console", "GET"), ("/console/{asset}", "GET")}


def assert_every_route_is_behind_the_user_pool(
    client: Clients, stage: Stage, api_id: str, pool_arn: str
) -> None:
    """Every route of the app, each behind the Cognito authorizer of the stage's user pool
    (but the console's page and files), each calling the API function."""
    apigateway = client("apigateway")
    handler_arn = client("lambda").get_function_configuration(
        FunctionName=stage.function_name("api_handler")
    )["FunctionArn"]
    methods = rest_api_methods(client, api_id)
    assert set(methods) == {
        ("/pools", "GET"),
        ("/vpcs", "GET"),
        ("/vpcs", "POST"),
        ("/vpcs/{request_id}", "GET"),
        ("/vpcs/{request_id}", "DELETE"),
        *CONSOLE_METHODS,
    }
    for key, method in methods.items():
        if key in CONSOLE_METHODS:
            assert method["authorizationType"] == "NONE", key
            assert handler_arn in method["methodIntegration"]["uri"], key
            continue
        assert method["authorizationType"] == "COGNITO_USER_POOLS", key
        authorizer = apigateway.get_authorizer(
            restApiId=api_id, authorizerId=method["authorizerId"]
        )
        assert authorizer["type"] == "COGNITO_USER_POOLS", key
        assert authorizer["providerARNs"] == [pool_arn], key
        assert handler_arn in method["methodIntegration"]["uri"], key
