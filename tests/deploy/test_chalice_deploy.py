"""`make backing` + `chalice deploy`, the Chalice way, against a moto server.

In a temporary copy of the project (app.py, chalicelib/, requirements.txt,
.chalice/: the real tree is never written), as a person would with an
account: `python -m infra.backing deploy` (what `make backing` runs, with
`--config` pointing at the copy), then `chalice deploy --stage dev`, then
boto3 checks that the wiring is real: the functions' environment names the
resources the backing stack made, the worker's event source has batch size
1 and the configured maximum concurrency, every role's policy is its
template rendered with those resources' ARNs, every method of the REST API
is behind the Cognito authorizer of the stack's user pool, the schedules
call their functions. Then `chalice delete` and `make backing-destroy`
remove everything, and the copy's `.chalice/` is as committed again.

moto cannot run the functions (no Docker here), so what they do once
deployed is the rest of the suite's business. The server is
`support.moto_server`'s, with CloudFormation models for the user pool, its
client and the queue policy (`support/moto_chalice_gaps.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from infra.backing_config import SECRET_VARIABLE, secret_parameter, stack_name
from infra.policies import load_policy, render
from infra.stage import CONFIG_PATH, FUNCTIONS, PROJECT_DIR, Stage, load_stage
from support.moto_chalice_gaps import chalice_moto_server
from support.moto_server import MotoServer

STAGE = "dev"
CHALICE = Path(sys.executable).with_name("chalice")
# What `chalice deploy` takes from the project: the rest of the tree is not the app's.
APP_FILES = ("app.py", "requirements.txt")
APP_DIRS = ("chalicelib",)
TIMEOUT = 120


@dataclass
class Deployment:
    """The copy, the moto server, and what each `make backing` printed."""

    project: Path
    moto: MotoServer
    stage: Stage
    committed_config: bytes
    backing_runs: list[str]

    @property
    def config(self) -> Path:
        return self.project / ".chalice" / "config.json"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=self.moto.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A command in the copy, against moto, as a person with credentials would run it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.moto.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            # What the README says to export (boto3 and Chalice read no other).
            AWS_DEFAULT_REGION=self.moto.region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONPATH=str(PROJECT_DIR),
        )
        return subprocess.run(
            command,
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def backing(self, action: str) -> subprocess.CompletedProcess[str]:
        """What `make backing[-destroy] STAGE=dev` runs, on the copy's config."""
        return self.run(
            sys.executable,
            "-m",
            "infra.backing",
            action,
            "--stage",
            STAGE,
            "--config",
            str(self.config),
        )

    def chalice(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(CHALICE), "--project-dir", str(self.project), *args)

    def function(self, function: str) -> dict[str, Any]:
        return dict(
            self.client("lambda").get_function_configuration(
                FunctionName=self.stage.function_name(function)
            )
        )


def _ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _copy_project(target: Path) -> None:
    for name in APP_FILES:
        shutil.copy2(PROJECT_DIR / name, target / name)
    for name in APP_DIRS:
        shutil.copytree(
            PROJECT_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copytree(
        CONFIG_PATH.parent,
        target / ".chalice",
        ignore=shutil.ignore_patterns("deployed", "deployments", "policy-*-*.json"),
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if not CHALICE.exists():
        pytest.skip(f"chalice is not installed next to {sys.executable}")

    project = tmp_path_factory.mktemp("chalice-project")
    _copy_project(project)
    real_tree = {p.name for p in CONFIG_PATH.parent.iterdir()}
    with chalice_moto_server() as moto:
        deployment = Deployment(
            project=project,
            moto=moto,
            stage=load_stage(STAGE, project / ".chalice" / "config.json"),
            committed_config=(project / ".chalice" / "config.json").read_bytes(),
            backing_runs=[],
        )
        for step in ("backing", "backing again"):
            deployment.backing_runs.append(_ok(deployment.backing("deploy"), f"make {step}"))
        _ok(deployment.chalice("deploy", "--stage", STAGE), "chalice deploy")
        yield deployment
    # The developer's own .chalice/ saw nothing of this (no deployment record, no policies).
    appeared = {p.name for p in CONFIG_PATH.parent.iterdir()} - real_tree
    assert not [n for n in appeared if n.startswith(("deploy", "policy-"))], appeared


def test_make_backing_wrote_the_stages_wiring_and_a_second_run_changed_nothing(
    deployed: Deployment,
) -> None:
    first, second = deployed.backing_runs
    assert "wrote .chalice/config.json" in first
    assert "wrote .chalice/" + f"policy-{STAGE}-worker.json" in first
    assert "is up to date" in second
    assert "wrote" not in second
    stack = deployed.client("cloudformation").describe_stacks(StackName=stack_name(deployed.stage))[
        "Stacks"
    ][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "LastUpdatedTime" not in stack
    parameter = deployed.client("ssm").get_parameter(Name=secret_parameter(deployed.stage))
    assert parameter["Parameter"]["Type"] == "SecureString"
    assert parameter["Parameter"]["Version"] == 1  # drawn once, kept


def test_every_functions_environment_names_the_stacks_resources(deployed: Deployment) -> None:
    stage = deployed.stage
    sqs, cognito = deployed.client("sqs"), deployed.client("cognito-idp")
    pools = [
        p
        for p in cognito.list_user_pools(MaxResults=60)["UserPools"]
        if p["Name"] == stage.user_pool_name
    ]
    assert len(pools) == 1, pools
    pool_arn = cognito.describe_user_pool(UserPoolId=pools[0]["Id"])["UserPool"]["Arn"]
    (client,) = cognito.list_user_pool_clients(UserPoolId=pools[0]["Id"])["UserPoolClients"]
    table = deployed.client("dynamodb").describe_table(TableName=stage.table_name)["Table"]
    expected = {
        "TABLE_NAME": table["TableName"],
        # A queue's URL by its path: moto names its own host where AWS says sqs.<region>.
        "QUEUE_URL": _path(sqs.get_queue_url(QueueName=stage.queue_name)["QueueUrl"]),
        "QUEUE_NAME": stage.queue_name,
        "DLQ_URL": _path(sqs.get_queue_url(QueueName=stage.dlq_name)["QueueUrl"]),
        "USER_POOL_ARN": pool_arn,
        "USER_POOL_CLIENT_ID": client["ClientId"],
        SECRET_VARIABLE: secret_parameter(stage),
    }
    for function in FUNCTIONS:
        environment = deployed.function(function)["Environment"]["Variables"]
        actual = {name: environment.get(name) for name in expected}
        for url in ("QUEUE_URL", "DLQ_URL"):
            assert str(actual[url]).startswith("https://sqs."), (function, actual[url])
            actual[url] = _path(str(actual[url]))
        assert actual == expected, function
        assert "PAGE_TOKEN_SECRET" not in environment, function
        # The stage's own settings came along (Chalice merges them into each function).
        assert environment["MAX_RECEIVE_COUNT"] == str(stage.max_receive_count), function


def test_the_worker_consumes_the_queue_one_message_at_a_time_with_its_concurrency(
    deployed: Deployment,
) -> None:
    stage = deployed.stage
    queue_url = deployed.client("sqs").get_queue_url(QueueName=stage.queue_name)["QueueUrl"]
    queue_arn = deployed.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    mappings = deployed.client("lambda").list_event_source_mappings(
        FunctionName=deployed.function("worker")["FunctionArn"]
    )["EventSourceMappings"]

    assert [m["EventSourceArn"] for m in mappings] == [queue_arn]
    assert mappings[0]["BatchSize"] == 1
    assert mappings[0]["ScalingConfig"] == {
        "MaximumConcurrency": int(stage.env["WORKER_MAX_CONCURRENCY"])
    }


def test_every_role_holds_its_template_with_the_real_arns_and_nothing_else(
    deployed: Deployment,
) -> None:
    """The same least privilege as the packaged outputs: each role's one policy is the
    function's template rendered with the ARNs of what the stack made (and, for the API
    handler, reading the listing tokens' key parameter)."""
    stage, iam = deployed.stage, deployed.client("iam")
    sqs = deployed.client("sqs")

    def queue_arn(name: str) -> str:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    table_arn = deployed.client("dynamodb").describe_table(TableName=stage.table_name)["Table"][
        "TableArn"
    ]
    parameter_arn = deployed.client("ssm").get_parameter(Name=secret_parameter(stage))["Parameter"][
        "ARN"
    ]
    region, account = deployed.moto.region, deployed.moto.account_id
    log_groups = {
        g["logGroupName"]: g["arn"]
        for g in deployed.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")[
            "logGroups"
        ]
    }
    for function in FUNCTIONS:
        role_name = deployed.function(function)["Role"].rsplit("/", 1)[1]
        names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        assert len(names) == 1, (function, names)
        document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        assert stage.log_group(function) in log_groups, function  # made by the stack
        expected = render(
            load_policy(stage, function),
            {
                "table_arn": table_arn,
                "queue_arn": queue_arn(stage.queue_name),
                "dlq_arn": queue_arn(stage.dlq_name),
                "log_group_arn": f"arn:aws:logs:{region}:{account}:log-group:"
                + stage.log_group(function),
                "partition": "aws",
                "region": region,
                "account": account,
                "project_tag": stage.project_tag,
                "deployment": stage.deployment,
            },
        )
        if function == "api_handler":
            expected["Statement"].append(
                {
                    "Sid": "ReadPageTokenSecret",
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter"],
                    "Resource": parameter_arn,
                }
            )
        assert document == expected, function
        assert "{{" not in json.dumps(document), function


# The only methods without an authorizer: the web console's page and files.
CONSOLE_METHODS = {("/console", "GET"), ("/console/{asset}", "GET")}


def test_every_method_of_the_api_is_behind_the_cognito_authorizer_of_the_pool(
    deployed: Deployment,
) -> None:
    apigateway = deployed.client("apigateway")
    api_id = _deployed_resource(deployed, "rest_api")["rest_api_id"]
    pool_arn = deployed.function("api_handler")["Environment"]["Variables"]["USER_POOL_ARN"]
    handler_arn = deployed.function("api_handler")["FunctionArn"]

    methods = {
        (resource["path"], verb): apigateway.get_method(
            restApiId=api_id, resourceId=resource["id"], httpMethod=verb
        )
        for resource in apigateway.get_resources(restApiId=api_id)["items"]
        for verb in resource.get("resourceMethods", {})
    }

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
            # The web console's page and files: a browser loads them before signing in.
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
    stages = apigateway.get_stages(restApiId=api_id)["item"]
    settings = json.loads(deployed.config.read_text())["stages"][STAGE]
    assert [s["stageName"] for s in stages] == [settings["api_gateway_stage"]]


def test_the_reaper_and_the_reconciler_run_on_their_schedules(deployed: Deployment) -> None:
    stage, events = deployed.stage, deployed.client("events")
    rules = events.list_rules(NamePrefix=f"{stage.app_name}-{stage.name}-")["Rules"]
    schedules = {
        rule["Name"]: (
            rule["ScheduleExpression"],
            [t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]],
        )
        for rule in rules
    }

    assert schedules == {
        f"{stage.function_name('reaper')}-event": (
            "rate(5 minutes)",
            [deployed.function("reaper")["FunctionArn"]],
        ),
        f"{stage.function_name('reconciler')}-event": (
            "rate(3 minutes)",
            [deployed.function("reconciler")["FunctionArn"]],
        ),
    }


def test_chalice_delete_then_backing_destroy_remove_everything(deployed: Deployment) -> None:
    """Last: it takes the deployment down. `make backing-destroy` refuses while the
    functions exist; after `chalice delete` it removes the rest, and the stage's config
    is as committed again."""
    stage = deployed.stage
    refused = deployed.backing("destroy")
    assert refused.returncode == 1
    assert f"chalice delete --stage {STAGE}" in refused.stderr

    _ok(deployed.chalice("delete", "--stage", STAGE), "chalice delete")
    _ok(deployed.backing("destroy"), "make backing-destroy")

    prefix = f"{stage.app_name}-{stage.name}"
    functions = deployed.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(prefix)] == []
    roles = deployed.client("iam").list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith(prefix)] == []
    assert deployed.client("apigateway").get_rest_apis()["items"] == []
    assert deployed.client("events").list_rules(NamePrefix=prefix)["Rules"] == []
    assert deployed.client("dynamodb").list_tables()["TableNames"] == []
    assert deployed.client("sqs").list_queues().get("QueueUrls", []) == []
    assert deployed.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"] == []
    assert deployed.client("ssm").describe_parameters()["Parameters"] == []
    stacks = deployed.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks} <= {"DELETE_COMPLETE"}
    assert deployed.config.read_bytes() == deployed.committed_config
    assert sorted((deployed.project / ".chalice").glob("policy-*-*.json")) == []


def test_backing_destroy_keeps_prods_table_and_user_pool(deployed: Deployment) -> None:
    """As `make destroy` does: in `prod` the data outlives the stack (DeletionPolicy Retain)."""
    prod = load_stage("prod", deployed.config)
    for action in ("deploy", "destroy"):
        result = deployed.run(
            sys.executable,
            "-m",
            "infra.backing",
            action,
            "--stage",
            "prod",
            "--config",
            str(deployed.config),
        )
        _ok(result, f"make backing{'-destroy' if action == 'destroy' else ''} STAGE=prod")

    assert prod.table_name in deployed.client("dynamodb").list_tables()["TableNames"]
    pools = deployed.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools] == [prod.user_pool_name]
    queues = deployed.client("sqs").list_queues().get("QueueUrls", [])
    assert [url.rsplit("/", 1)[-1] for url in queues] == [prod.dlq_name]
    assert "The table, the user pool and the dead-letter queue are kept" in result.stdout
    # A create/destroy cycle leaves the stage as committed (it names the generated policy
    # files, not the templates, and is marked unbacked again).
    assert deployed.config.read_bytes() == deployed.committed_config


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_deploy_before_make_backing_stops_before_sending_anything(
    tmp_path: Path, stage: str
) -> None:
    """As committed, a stage has no backing resources: `chalice deploy` must say to run
    `make backing` (not send `{{placeholders}}` to IAM, nor fail on a policy file that
    `make backing` writes). AWS here is a port nothing listens on: anything sent fails."""
    if not CHALICE.exists():
        pytest.skip(f"chalice is not installed next to {sys.executable}")
    _copy_project(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = MotoServer(endpoint_url=f"http://127.0.0.1:{port}")
    committed = (tmp_path / ".chalice" / "config.json").read_bytes()
    nobody = Deployment(tmp_path, moto, load_stage(stage), committed, [])

    result = nobody.chalice("deploy", "--stage", stage)

    assert result.returncode != 0
    assert result.stderr == (
        f"error: stage {stage} has no backing resources yet: run `make backing STAGE={stage}`, "
        f"then `chalice deploy --stage {stage}` again\n"
    ), result.stdout + result.stderr
    assert not (tmp_path / ".chalice" / "deployed").exists()
    assert not (tmp_path / ".chalice" / "deployments").exists()


def _path(url: str) -> str:
    return urlparse(url).path


def _deployed_resource(deployed: Deployment, resource_type: str) -> dict[str, Any]:
    record = json.loads((deployed.project / ".chalice" / "deployed" / f"{STAGE}.json").read_text())
    (resource,) = [r for r in record["resources"] if r["resource_type"] == resource_type]
    return dict(resource)
