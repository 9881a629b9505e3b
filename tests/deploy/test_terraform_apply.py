"""`terraform apply` of dev's dist/terraform against moto, checked with boto3; then
`terraform destroy`, and nothing is left.

What an operator would run (`terraform init` from the provider mirror, `plan`,
`apply`), against a moto server with the gaps `support/moto_gaps.py` lists
patched. The apply starts in the background with the first deploy test
(`terraform_runs` in conftest.py) and these tests run last (`after_all`), so
its minute of waiting overlaps the rest of the suite. The tests of this module
run in order: the last one destroys the deployment.

moto cannot run the functions (no Docker here): what they do once deployed is
the rest of the suite's business; this proves the deployment is whole and wired.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from deploy.conftest import TerraformRuns
from infra.gateway_responses import FIXED_MESSAGES, GATEWAY_RESPONSES, gateway_response_template
from infra.policies import load_policy, render, with_page_token_secret
from infra.stage import (
    ACCESS_LOG_FIELDS,
    API_BURST_LIMIT,
    API_RATE_LIMIT,
    FUNCTIONS,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    Stage,
    load_stage,
)
from support.terraform_run import TIMEOUT_SECONDS, Background, Terraform

pytestmark = [pytest.mark.after_all, pytest.mark.timeout(2 * TIMEOUT_SECONDS)]

API_STAGE = "api"


@dataclass(frozen=True)
class Applied:
    """The applied dev deployment: its working copy, outputs and state, and boto3 on moto."""

    terraform: Terraform
    stage: Stage
    outputs: dict[str, Any]
    state: dict[str, Any]
    aws: Callable[[str], Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The state's managed resources of one type: {name: values}."""
        return {
            r["name"]: r["values"]
            for r in self.state["values"]["root_module"]["resources"]
            if r["mode"] == "managed" and r["type"] == kind
        }


@pytest.fixture(scope="module")
def applied(terraform_runs: TerraformRuns, terraform_applied: Background[None]) -> Applied:
    terraform_applied.result()
    dev = terraform_runs.copies["dev"]
    server = terraform_runs.server

    def aws(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return Applied(dev, load_stage("dev"), dev.outputs(), dev.show(), aws)


@dataclass(frozen=True)
class Backing:
    """The real names and ARNs of the backing resources, read from AWS (moto)."""

    table_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    user_pool_arn: str
    user_pool_client_id: str


@pytest.fixture(scope="module")
def backing(applied: Applied) -> Backing:
    stage, sqs = applied.stage, applied.aws("sqs")
    queue_url = sqs.get_queue_url(QueueName=stage.queue_name)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=stage.dlq_name)["QueueUrl"]

    def arn(url: str) -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    pool = applied.aws("cognito-idp").describe_user_pool(UserPoolId=applied.outputs["UserPoolId"])
    table = applied.aws("dynamodb").describe_table(TableName=stage.table_name)["Table"]
    return Backing(
        table_arn=table["TableArn"],
        queue_url=queue_url,
        queue_arn=arn(queue_url),
        dlq_url=dlq_url,
        dlq_arn=arn(dlq_url),
        user_pool_arn=pool["UserPool"]["Arn"],
        user_pool_client_id=applied.outputs["UserPoolClientId"],
    )


def test_apply_creates_every_resource_the_plan_announced(
    applied: Applied, terraform_runs: TerraformRuns
) -> None:
    plan = terraform_runs.plans["dev"].result()
    planned = {
        c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]
    }
    in_state = {
        r["address"]
        for r in applied.state["values"]["root_module"]["resources"]
        if r["mode"] == "managed"
    }

    assert len(planned) >= 40
    assert in_state == planned


def test_each_function_environment_names_the_real_table_queues_and_user_pool(
    applied: Applied, backing: Backing
) -> None:
    stage, awslambda = applied.stage, applied.aws("lambda")
    parameters = set()

    for function in FUNCTIONS:
        config = awslambda.get_function_configuration(FunctionName=stage.function_name(function))
        env = config["Environment"]["Variables"]
        assert config["Runtime"] == LAMBDA_RUNTIME, function
        assert env["TABLE_NAME"] == stage.table_name == applied.outputs["TableName"], function
        assert env["QUEUE_URL"] == backing.queue_url, function
        assert env["QUEUE_NAME"] == stage.queue_name, function
        assert env["DLQ_URL"] == backing.dlq_url, function
        assert env["USER_POOL_ARN"] == backing.user_pool_arn, function
        assert env["USER_POOL_CLIENT_ID"] == backing.user_pool_client_id, function
        assert "PAGE_TOKEN_SECRET" not in env, function  # never in plain text here
        parameters.add(env["PAGE_TOKEN_SECRET_SSM_PARAMETER"])
    (name,) = parameters  # one key for every function, so tokens work across them
    key = applied.aws("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert key["Type"] == "SecureString"
    assert len(key["Value"]) >= 32


def test_the_listing_tokens_key_is_strong_and_in_neither_the_state_nor_the_plan(
    applied: Applied, terraform_runs: TerraformRuns
) -> None:
    """The key reaches its SecureString through a write-only argument from an ephemeral
    password: Terraform keeps no copy of it, so the state (read as `terraform show`
    renders it, and as stored) and the plan that was applied do not hold it."""
    stage, dev = applied.stage, applied.terraform
    key = applied.aws("ssm").get_parameter(
        Name=stage.page_token_secret_parameter, WithDecryption=True
    )["Parameter"]["Value"]
    kept = {
        "terraform show -json": json.dumps(applied.state),
        "terraform state pull": dev.run("state", "pull"),
        "the plan applied": json.dumps(terraform_runs.plans["dev"].result()),
        **{path.name: path.read_text() for path in dev.workdir.glob("*.tfstate*")},
    }

    assert "terraform.tfstate" in kept
    assert [where for where, text in kept.items() if key in text] == []
    # 64 characters of 62 (letters, digits): about 381 bits, above the 32 random bytes of the
    # other deployments; nothing the app's reader (the text, UTF-8 encoded) could mangle.
    assert re.fullmatch(r"[A-Za-z0-9]{64}", key), len(key)
    assert len(key) * math.log2(62) >= 256
    (parameter,) = applied.resources("aws_ssm_parameter").values()
    assert parameter["value"] in ("", None)
    assert parameter["value_wo_version"] == 1
    assert "terraform_data" not in {
        r["type"] for r in applied.state["values"]["root_module"]["resources"]
    }


def test_the_user_pool_has_the_admins_group(applied: Applied) -> None:
    groups = applied.aws("cognito-idp").list_groups(UserPoolId=applied.outputs["UserPoolId"])
    assert [g["GroupName"] for g in groups["Groups"]] == ["admins"]


def test_the_original_walkthrough_runs_verbatim_after_apply(applied: Applied) -> None:
    """Its first steps, as written (AWS CLI, `terraform output -raw demo_*`), against
    the same moto server; then `"$API_URL/vpcs"` is the API's `/vpcs` route."""
    walkthrough = """
USER_POOL_ID="$(terraform output -raw demo_user_pool_id)"
CLIENT_ID="$(terraform output -raw demo_user_pool_client_id)"

aws cognito-idp admin-create-user \\
  --user-pool-id "$USER_POOL_ID" \\
  --username "demo-user" \\
  --user-attributes Name=email,Value=demo@example.com \\
  --message-action SUPPRESS

aws cognito-idp admin-set-user-password \\
  --user-pool-id "$USER_POOL_ID" \\
  --username "demo-user" \\
  --password 'TempPassw0rd!234' \\
  --permanent

TOKENS_JSON=$(aws cognito-idp initiate-auth \\
  --auth-flow USER_PASSWORD_AUTH \\
  --client-id "$CLIENT_ID" \\
  --auth-parameters USERNAME=demo-user,PASSWORD='TempPassw0rd!234')

ID_TOKEN=$(echo "$TOKENS_JSON" | python3 -c "import sys,json; print(json.load(sys.stdin)['AuthenticationResult']['IdToken'])")
API_URL="$(terraform output -raw demo_api_url)"
echo "$API_URL/vpcs"
test -n "$ID_TOKEN"
"""  # noqa: E501 (verbatim)
    if shutil.which("aws") is None:
        pytest.skip("the AWS CLI is not installed")
    env = {
        **applied.terraform.env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough],
        cwd=applied.terraform.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    vpcs = result.stdout.strip().splitlines()[-1]
    assert urlparse(vpcs).path == "/api/vpcs"  # not /api//vpcs
    assert vpcs == str(applied.outputs["EndpointURL"]) + "vpcs"
    users = applied.aws("cognito-idp").list_users(UserPoolId=applied.outputs["UserPoolId"])
    assert [u["Username"] for u in users["Users"]] == ["demo-user"]


def test_the_worker_takes_one_job_at_a_time_from_the_jobs_queue_with_bounded_concurrency(
    applied: Applied, backing: Backing
) -> None:
    stage, awslambda = applied.stage, applied.aws("lambda")
    worker = awslambda.get_function_configuration(FunctionName=stage.function_name("worker"))

    (mapping,) = awslambda.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["FunctionArn"] == worker["FunctionArn"]
    assert mapping["EventSourceArn"] == backing.queue_arn
    assert mapping["BatchSize"] == 1
    assert mapping["ScalingConfig"] == {
        "MaximumConcurrency": int(stage.env["WORKER_MAX_CONCURRENCY"])
    }


def test_the_jobs_queue_sends_to_the_dlq_after_max_receive_count_and_both_refuse_plain_http(
    applied: Applied, backing: Backing
) -> None:
    stage, sqs = applied.stage, applied.aws("sqs")
    jobs = sqs.get_queue_attributes(QueueUrl=backing.queue_url, AttributeNames=["All"])
    dlq = sqs.get_queue_attributes(QueueUrl=backing.dlq_url, AttributeNames=["All"])
    jobs, dlq = jobs["Attributes"], dlq["Attributes"]
    worker_env = applied.aws("lambda").get_function_configuration(
        FunctionName=stage.function_name("worker")
    )["Environment"]["Variables"]

    assert json.loads(jobs["RedrivePolicy"]) == {
        "deadLetterTargetArn": backing.dlq_arn,
        "maxReceiveCount": int(worker_env["MAX_RECEIVE_COUNT"]),
    }
    assert json.loads(dlq["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [backing.queue_arn],
    }
    assert int(jobs["VisibilityTimeout"]) == stage.visibility_timeout
    for attributes, arn in ((jobs, backing.queue_arn), (dlq, backing.dlq_arn)):
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Resource"] == arn
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_each_role_policy_is_its_template_rendered_with_the_real_arns(
    applied: Applied, backing: Backing
) -> None:
    stage, iam, logs = applied.stage, applied.aws("iam"), applied.aws("logs")
    account = applied.aws("sts").get_caller_identity()["Account"]
    key_arn = applied.aws("ssm").get_parameter(Name=stage.page_token_secret_parameter)["Parameter"][
        "ARN"
    ]

    for function in FUNCTIONS:
        role = applied.resources("aws_iam_role")[f"{function}_role"]["name"]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        group = _log_group(logs, stage.log_group(function))
        expected = with_page_token_secret(
            render(
                load_policy(stage, function),
                {
                    "table_arn": backing.table_arn,
                    "queue_arn": backing.queue_arn,
                    "dlq_arn": backing.dlq_arn,
                    "log_group_arn": group["arn"].removesuffix(":*"),
                    "partition": "aws",
                    "region": applied.outputs["Region"],
                    "account": account,
                    "project_tag": stage.project_tag,
                    "deployment": stage.deployment,
                },
            ),
            function,
            key_arn,
        )
        assert document == expected, function
        assert group["retentionInDays"] == LOG_RETENTION_DAYS


def test_every_method_is_behind_the_user_pools_authorizer(
    applied: Applied, backing: Backing
) -> None:
    apigateway = applied.aws("apigateway")
    api_id = applied.outputs["RestAPIId"]
    authorizers = {a["id"]: a for a in apigateway.get_authorizers(restApiId=api_id)["items"]}
    methods = [
        (
            resource["path"],
            verb,
            apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=verb),
        )
        for resource in apigateway.get_resources(restApiId=api_id)["items"]
        for verb in resource.get("resourceMethods", {})
    ]

    assert {(path, verb) for path, verb, _ in methods} >= {
        ("/vpcs", "POST"),
        ("/vpcs", "GET"),
        ("/vpcs/{request_id}", "GET"),
        ("/vpcs/{request_id}", "DELETE"),
    }
    for path, verb, method in methods:
        if (path, verb) in {("/console", "GET"), ("/console/{asset}", "GET")}:
            # The web console's page and files: a browser loads them before signing in.
            assert method["authorizationType"] == "NONE", (path, verb)
            continue
        assert method["authorizationType"] == "COGNITO_USER_POOLS", (path, verb)
        authorizer = authorizers[method["authorizerId"]]
        assert authorizer["providerARNs"] == [backing.user_pool_arn], (path, verb)


def test_the_stage_throttles_traces_and_logs_each_request_as_json_to_its_own_log_group(
    applied: Applied,
) -> None:
    stage, apigateway = applied.stage, applied.aws("apigateway")
    api_stage = apigateway.get_stage(restApiId=applied.outputs["RestAPIId"], stageName=API_STAGE)
    group = _log_group(applied.aws("logs"), stage.access_log_group)

    settings = api_stage["accessLogSettings"]
    assert settings["destinationArn"] == group["arn"].removesuffix(":*")
    assert json.loads(settings["format"]) == ACCESS_LOG_FIELDS
    assert {"requestId", "sub", "route", "status", "latencyMs"} <= set(ACCESS_LOG_FIELDS)
    assert group["retentionInDays"] == LOG_RETENTION_DAYS
    assert api_stage["tracingEnabled"] is True
    throttle = api_stage["methodSettings"]["*/*"]
    assert (throttle["throttlingRateLimit"], throttle["throttlingBurstLimit"]) == (
        API_RATE_LIMIT,
        API_BURST_LIMIT,
    )


def test_the_gateway_responses_answer_in_the_apps_error_shape(applied: Applied) -> None:
    apigateway = applied.aws("apigateway")
    responses = {
        r["responseType"]: r
        for r in apigateway.get_gateway_responses(restApiId=applied.outputs["RestAPIId"])["items"]
    }

    for kind, (status, code) in GATEWAY_RESPONSES.items():
        response = responses[kind]
        assert response["responseTemplates"] == {
            "application/json": gateway_response_template(code, FIXED_MESSAGES.get(kind))
        }, kind
        assert response.get("statusCode") == status, kind


def test_the_deployment_is_made_after_the_gateway_responses(applied: Applied) -> None:
    (deployment,) = [
        r
        for r in applied.state["values"]["root_module"]["resources"]
        if r["address"] == "aws_api_gateway_deployment.rest_api"
    ]
    responses = {f"aws_api_gateway_gateway_response.{kind.lower()}" for kind in GATEWAY_RESPONSES}

    # What Terraform recorded it waited for: a deployment snapshots the API as it is.
    assert responses <= set(deployment["depends_on"])


def test_a_plan_right_after_the_apply_changes_nothing(applied: Applied) -> None:
    """With a refresh, the plan is empty: the deployment is not replaced (what API
    Gateway reads back, `response_parameters` {} where null was sent, is not what its
    trigger hashes: the configuration is), and nothing else changes either."""
    plan = applied.terraform.plan("again.tfplan")

    changing = {
        c["address"]: c["change"]["actions"]
        for c in plan["resource_changes"]
        if c["change"]["actions"] != ["no-op"]
    }
    assert _actions(plan, "aws_api_gateway_deployment.rest_api") == ["no-op"]
    assert changing == {}
    assert len(plan["resource_changes"]) > 20


def test_a_changed_gateway_response_deploys_the_api_again_and_nothing_else_does(
    applied: Applied,
) -> None:
    """What `make package` writes when a gateway response's configuration changes: the
    response, and the deployment's trigger (a digest of that configuration)."""
    dev = applied.terraform
    backing_tf, chalice_tf = dev.workdir / "backing.tf.json", dev.workdir / "chalice.tf.json"
    shipped = {path: path.read_text() for path in (backing_tf, chalice_tf)}
    edited = json.loads(shipped[backing_tf])
    unauthorized = edited["resource"]["aws_api_gateway_gateway_response"]["unauthorized"]
    unauthorized["response_templates"]["application/json"] += " "
    redeploy = json.loads(shipped[chalice_tf])
    trigger = redeploy["resource"]["aws_api_gateway_deployment"]["rest_api"]["triggers"]
    trigger["redeployment"] = trigger["redeployment"].replace('"]', '-changed"]')

    unchanged = dev.plan("unchanged.tfplan", "-refresh=false")
    backing_tf.write_text(json.dumps(edited))
    chalice_tf.write_text(json.dumps(redeploy))
    try:
        changed = dev.plan("changed.tfplan", "-refresh=false")
    finally:
        for path, text in shipped.items():
            path.write_text(text)

    assert _actions(unchanged, "aws_api_gateway_deployment.rest_api") == ["no-op"]
    assert _actions(changed, "aws_api_gateway_deployment.rest_api") == ["create", "delete"]


def test_destroy_removes_everything_it_made(applied: Applied) -> None:
    applied.terraform.destroy()

    aws = applied.aws
    left = {
        "functions": aws("lambda").list_functions()["Functions"],
        "event source mappings": aws("lambda").list_event_source_mappings()["EventSourceMappings"],
        "tables": aws("dynamodb").list_tables()["TableNames"],
        "queues": aws("sqs").list_queues().get("QueueUrls", []),
        "user pools": aws("cognito-idp").list_user_pools(MaxResults=60)["UserPools"],
        "roles": aws("iam").list_roles()["Roles"],
        "rest apis": aws("apigateway").get_rest_apis()["items"],
        "log groups": aws("logs").describe_log_groups()["logGroups"],
        "rules": aws("events").list_rules()["Rules"],
        "parameters": aws("ssm").describe_parameters()["Parameters"],
    }
    assert {kind: found for kind, found in left.items() if found} == {}


def _log_group(logs: Any, name: str) -> dict[str, Any]:
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    (group,) = [g for g in found if g["logGroupName"] == name]
    return dict(group)


def _actions(plan: dict[str, Any], address: str) -> list[str]:
    (change,) = [c for c in plan["resource_changes"] if c["address"] == address]
    actions: list[str] = change["change"]["actions"]
    return actions
