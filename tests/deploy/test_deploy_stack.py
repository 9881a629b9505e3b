"""`make deploy` and `make destroy` end to end, against a moto server.

What `make deploy STAGE=dev` runs (`infra.deploy.main`, in this process, its
package written to a temporary folder instead of dist/), with the environment a
person with an account has (AWS_DEFAULT_REGION, credentials; AWS_ENDPOINT_URL
pointing at moto): it packages, uploads to the artifacts bucket, and creates the
one SAM stack through a change set. CloudFormation here is moto's, with the SAM
transform and what it makes (`support/moto_stack_gaps.py`), so the stack is
built from exactly the template `make test` validates. boto3 then reads the
wiring back: every function runs python3.12 from the uploaded zip with the
stack's resources in its environment, the table has its listing indexes, the
jobs queue redrives to the DLQ, the worker consumes the queue, every role holds
its policy, every route is behind the user pool's authorizer on one throttled,
traced, access-logged stage with the app's gateway responses, the schedules
call their functions. A second deploy changes nothing; `make destroy` leaves
nothing (in `prod`, the table, the user pool and the DLQ). The module takes
about 8 s.

moto cannot run the functions (no Docker here): what they do is the rest of
the suite's business. tests/deploy/test_deploy.py pins down the deployer's
calls and messages case by case, with CloudFormation stubbed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from infra.deploy import main as deploy_main
from infra.gateway_responses import GATEWAY_RESPONSES
from infra.stage import (
    ACCESS_LOG_FORMAT,
    API_BURST_LIMIT,
    API_RATE_LIMIT,
    FUNCTIONS,
    PROJECT_DIR,
    Stage,
    load_stage,
)
from support import deployed_wiring
from support.moto_server import MotoServer

STAGE = "dev"
HANDLERS = {
    "api_handler": "app.app",
    "worker": "app.worker",
    "reaper": "app.reaper",
    "reconciler": "app.reconciler",
}


@dataclass
class StackDeployment:
    """The moto server, the stage, where it was packaged, and what `make deploy` said."""

    moto: MotoServer
    stage: Stage
    out: Path
    said: str
    runs: list[tuple[int, str, str]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=self.moto.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def make(self, action: str, stage: str = STAGE) -> tuple[int, str, str]:
        """What `make deploy|destroy STAGE=<stage>` runs: exit code, stdout, stderr."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = deploy_main([action, "--stage", stage, "--out", str(self.out / stage)])
        return code, out.getvalue(), err.getvalue()

    def function(self, function: str) -> dict[str, Any]:
        return dict(
            self.client("lambda").get_function_configuration(
                FunctionName=self.stage.function_name(function)
            )
        )

    def stack_output(self, key: str) -> str:
        stack = self.client("cloudformation").describe_stacks(StackName=self.stage.stack_name)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
        return str(outputs[key])


def _environment(env: pytest.MonkeyPatch, moto: MotoServer) -> None:
    """What a person deploying has: a region, credentials; and moto for AWS."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        env.delenv(name)
    env.setenv("AWS_ENDPOINT_URL", moto.endpoint_url)
    env.setenv("AWS_DEFAULT_REGION", moto.region)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_CONFIG_FILE", os.devnull)
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="module")
def deployed(
    stack_moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackDeployment]:
    stack_moto.reset()
    with pytest.MonkeyPatch.context() as env:
        _environment(env, stack_moto)
        deployment = StackDeployment(
            stack_moto, load_stage(STAGE), tmp_path_factory.mktemp("make-deploy"), ""
        )
        # Once per account and region, by hand (docs/deploy.md, "API Gateway's logging role").
        deployment.client("apigateway").update_account(
            patchOperations=[
                {
                    "op": "replace",
                    "path": "/cloudwatchRoleArn",
                    "value": f"arn:aws:iam::{stack_moto.account_id}:role/apigateway-logs",
                }
            ]
        )
        code, said, err = deployment.make("deploy")
        assert code == 0, said + err
        deployment.said = said
        yield deployment


def test_make_deploy_creates_the_stack_and_prints_where_it_is(deployed: StackDeployment) -> None:
    stack = deployed.client("cloudformation").describe_stacks(StackName=deployed.stage.stack_name)
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    (api,) = deployed.client("apigateway").get_rest_apis()["items"]
    (pool,) = deployed.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    (client,) = deployed.client("cognito-idp").list_user_pool_clients(UserPoolId=pool["Id"])[
        "UserPoolClients"
    ]
    region = deployed.moto.region

    assert f"API URL:             https://{api['id']}.execute-api.{region}" in deployed.said
    assert f"user pool id:        {pool['Id']}\n" in deployed.said
    assert f"user pool client id: {client['ClientId']}\n" in deployed.said
    assert pool["Name"] == deployed.stage.user_pool_name


def test_the_user_pool_has_the_admins_group(deployed: StackDeployment) -> None:
    """The first admin is made by adding a user to it (docs/deploy.md): it must exist."""
    cognito = deployed.client("cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    groups = cognito.list_groups(UserPoolId=pool["Id"])["Groups"]
    assert [g["GroupName"] for g in groups] == ["admins"]


def test_every_function_runs_python312_from_the_uploaded_zip(deployed: StackDeployment) -> None:
    """Chalice's template with its runtime pinned (infra/chalice_cli.py), the code the zip
    `make deploy` packaged and uploaded."""
    deployed_wiring.assert_functions_run_the_runtime(deployed.client, deployed.stage)
    packaged = (deployed.out / STAGE / "cloudformation" / "deployment.zip").read_bytes()
    digest = base64.b64encode(hashlib.sha256(packaged).digest()).decode()
    for function in FUNCTIONS:
        configuration = deployed.function(function)
        assert configuration["Handler"] == HANDLERS[function], function
        assert configuration["CodeSha256"] == digest, function


def test_every_functions_environment_names_the_stacks_resources(
    deployed: StackDeployment,
) -> None:
    stage, sqs = deployed.stage, deployed.client("sqs")
    pool_arn = deployed.client("cognito-idp").describe_user_pool(
        UserPoolId=deployed.stack_output("UserPoolId")
    )["UserPool"]["Arn"]
    expected = {
        "TABLE_NAME": stage.table_name,
        "QUEUE_NAME": stage.queue_name,
        # A queue's URL by its path: moto names its own host where AWS says sqs.<region>.
        "QUEUE_URL": _path(sqs.get_queue_url(QueueName=stage.queue_name)["QueueUrl"]),
        "DLQ_URL": _path(sqs.get_queue_url(QueueName=stage.dlq_name)["QueueUrl"]),
        "USER_POOL_ARN": pool_arn,
        "PAGE_TOKEN_SECRET_SSM_PARAMETER": stage.page_token_secret_parameter,
    }
    for function in FUNCTIONS:
        environment = deployed.function(function)["Environment"]["Variables"]
        actual = {name: environment.get(name) for name in expected}
        for url in ("QUEUE_URL", "DLQ_URL"):
            assert str(actual[url]).startswith("https://sqs."), (function, actual[url])
            actual[url] = _path(str(actual[url]))
        assert actual == expected, function
        assert "PAGE_TOKEN_SECRET" not in environment, function
        assert "UNBACKED_STAGE" not in environment, function
        assert environment["MAX_RECEIVE_COUNT"] == str(stage.max_receive_count), function
    parameter = deployed.client("ssm").get_parameter(Name=stage.page_token_secret_parameter)
    assert parameter["Parameter"]["Type"] == "SecureString"


def test_the_table_has_its_key_and_listing_indexes(deployed: StackDeployment) -> None:
    deployed_wiring.assert_listing_indexes(deployed.client, deployed.stage)


def test_the_jobs_queue_redrives_to_its_dlq_after_max_receive_count(
    deployed: StackDeployment,
) -> None:
    deployed_wiring.assert_jobs_queue_redrives_to_its_dlq(deployed.client, deployed.stage)


def test_the_worker_consumes_the_queue_one_message_at_a_time_with_its_concurrency(
    deployed: StackDeployment,
) -> None:
    deployed_wiring.assert_worker_consumes_the_jobs_queue(deployed.client, deployed.stage)


def test_every_role_holds_its_template_with_the_real_arns_and_nothing_else(
    deployed: StackDeployment,
) -> None:
    deployed_wiring.assert_roles_hold_their_policies(
        deployed.client, deployed.stage, deployed.moto.region, deployed.moto.account_id
    )


def test_every_route_is_behind_the_user_pool_on_one_throttled_traced_logged_stage(
    deployed: StackDeployment,
) -> None:
    apigateway = deployed.client("apigateway")
    api_id = deployed.stack_output("RestAPIId")
    pool_arn = deployed.function("api_handler")["Environment"]["Variables"]["USER_POOL_ARN"]

    deployed_wiring.assert_every_route_is_behind_the_user_pool(
        deployed.client, deployed.stage, api_id, pool_arn
    )
    (stage,) = apigateway.get_stages(restApiId=api_id)["item"]
    assert stage["stageName"] == "api"
    assert stage["tracingEnabled"] is True
    access_log = deployed.client("logs").describe_log_groups(
        logGroupNamePrefix=deployed.stage.access_log_group
    )["logGroups"]
    assert stage["accessLogSettings"] == {
        "destinationArn": access_log[0]["arn"].removesuffix(":*"),
        "format": ACCESS_LOG_FORMAT,
    }
    throttle = stage["methodSettings"]["*/*"]
    assert (throttle["throttlingRateLimit"], throttle["throttlingBurstLimit"]) == (
        API_RATE_LIMIT,
        API_BURST_LIMIT,
    )
    responses = {
        r["responseType"]: r for r in apigateway.get_gateway_responses(restApiId=api_id)["items"]
    }
    assert set(GATEWAY_RESPONSES) <= set(responses)
    for kind, (status, code) in GATEWAY_RESPONSES.items():
        template = responses[kind]["responseTemplates"]["application/json"]
        assert f'"Code": "{code}"' in template, kind
        assert responses[kind].get("statusCode") == status, kind


def test_the_reaper_and_the_reconciler_run_on_their_schedules(deployed: StackDeployment) -> None:
    events = deployed.client("events")
    schedules = {
        target["Arn"]: rule["ScheduleExpression"]
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    }

    assert schedules == {
        deployed.function("reaper")["FunctionArn"]: "rate(5 minutes)",
        deployed.function("reconciler")["FunctionArn"]: "rate(3 minutes)",
    }


def test_a_second_make_deploy_changes_nothing(deployed: StackDeployment) -> None:
    """The same code packages into the same zip and template (content-addressed keys):
    CloudFormation is given nothing to change, and the key is kept."""
    key = deployed.client("ssm").get_parameter(Name=deployed.stage.page_token_secret_parameter)

    code, said, err = deployed.make("deploy")

    assert code == 0, said + err
    assert "No changes: the stack is up to date." in said
    stack = deployed.client("cloudformation").describe_stacks(StackName=deployed.stage.stack_name)
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    again = deployed.client("ssm").get_parameter(Name=deployed.stage.page_token_secret_parameter)
    assert again["Parameter"]["Version"] == key["Parameter"]["Version"] == 1


def test_make_destroy_leaves_nothing_but_the_artifacts_bucket(deployed: StackDeployment) -> None:
    """Last but one: it takes the stage down."""
    code, said, err = deployed.make("destroy")

    assert code == 0, said + err
    assert _left(deployed) == {}
    stacks = deployed.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks} == {"DELETE_COMPLETE"}
    assert deployed.client("ssm").describe_parameters()["Parameters"] == []
    buckets = [b["Name"] for b in deployed.client("s3").list_buckets()["Buckets"]]
    assert buckets == [
        f"vpc-provisioner-artifacts-{deployed.moto.account_id}-{deployed.moto.region}"
    ]


def test_make_destroy_keeps_prods_table_user_pool_and_dead_letters(
    deployed: StackDeployment,
) -> None:
    prod = load_stage("prod")
    for action in ("deploy", "destroy"):
        code, said, err = deployed.make(action, "prod")
        assert code == 0, said + err

    assert "The table, the user pool and the dead-letter queue are kept" in said
    assert _left(deployed) == {
        "tables": [prod.table_name],
        "queues": [prod.dlq_name],
        "user pools": [prod.user_pool_name],
    }


def test_the_make_targets_run_the_deployer_for_the_stage() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed on this machine")
    for target in ("deploy", "destroy"):
        dry_run = subprocess.run(
            [make, "-n", "-C", str(PROJECT_DIR), target, "STAGE=qa"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"-m infra.deploy {target} --stage qa" in dry_run.stdout


def _left(deployed: StackDeployment) -> dict[str, list[str]]:
    """What the account holds of any stage, by kind (kinds with nothing left omitted)."""
    client = deployed.client
    found = {
        "functions": [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]],
        "event sources": [
            m["UUID"] for m in client("lambda").list_event_source_mappings()["EventSourceMappings"]
        ],
        "roles": [r["RoleName"] for r in client("iam").list_roles()["Roles"]],
        "rest apis": [a["name"] for a in client("apigateway").get_rest_apis()["items"]],
        "rules": [r["Name"] for r in client("events").list_rules()["Rules"]],
        "tables": client("dynamodb").list_tables()["TableNames"],
        "queues": [u.rsplit("/", 1)[-1] for u in client("sqs").list_queues().get("QueueUrls", [])],
        "user pools": [
            p["Name"] for p in client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
        ],
        "log groups": [
            g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]
        ],
    }
    return {kind: sorted(names) for kind, names in found.items() if names}


def _path(url: str) -> str:
    return urlparse(url).path
