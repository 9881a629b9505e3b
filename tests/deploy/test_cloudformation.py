"""dist/cloudformation/: cfn-lint clean, and every property the deployment relies on."""

from __future__ import annotations

import ast
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from chalicelib.store.layout import CREATOR_INDEX, DRIFT_INDEX, LIST_INDEX, POOL_INDEX, STATUS_INDEX
from infra.cloudformation import PAGE_TOKEN_SECRET_PARAMETER
from infra.gateway_responses import UNAUTHORIZED_MESSAGE, UNKNOWN_ROUTE_MESSAGE
from infra.package import Packages, package
from infra.stage import (
    CONFIG_PATH,
    DLQ_RETENTION_SECONDS,
    FUNCTIONS,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    LOGICAL_IDS,
    ROLE_IDS,
    VISIBILITY_TIMEOUT_FACTOR,
    Stage,
)
from support.cloudformation_lint import cfn_lint

# Standard library modules Python 3.12 no longer has (PEP 594's early ones, PEP 632's
# distutils, imp): a module of the zip importing one fails on the Lambda runtime.
REMOVED_IN_PYTHON_312 = frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"})


def resources(sam: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == kind}


def statements(sam: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = sam["Resources"][ROLE_IDS[function]]
    [policy] = role["Properties"]["Policies"]
    return list(policy["PolicyDocument"]["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def handler(function: str) -> str:
    """Chalice's handler: the Chalice object for the API, else the decorated function."""
    return "app.app" if function == "api_handler" else f"app.{function}"


def test_cfn_lint_finds_nothing(cfn_lint_findings: dict[str, str], stage: Stage) -> None:
    assert cfn_lint_findings[f"{stage.name}/sam.json"] == ""


def test_every_route_but_the_console_is_behind_the_cognito_authorizer(sam: dict[str, Any]) -> None:
    body = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    operations = [
        (path, method, operation)
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    ]

    assert {(p, m) for p, m, _ in operations} >= {
        ("/vpcs", "post"),
        ("/vpcs", "get"),
        ("/vpcs/{request_id}", "get"),
    }
    for path, method, operation in operations:
        if (path, method) in {("/console", "get"), ("/console/{asset}", "get")}:
            # The web console's page and files: a browser loads them before signing in.
            assert "security" not in operation, (path, method)
            continue
        assert operation["security"] == [{"CognitoUserPool": []}], (path, method)
    authorizer = body["securityDefinitions"]["CognitoUserPool"]
    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": ["UserPool", "Arn"]}
    ]


def test_the_table_has_its_key_indexes_ttl_and_recovery(sam: dict[str, Any], stage: Stage) -> None:
    table = sam["Resources"]["RequestsTable"]
    props = table["Properties"]

    assert props["TableName"] == stage.table_name
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {
        LIST_INDEX,
        STATUS_INDEX,
        CREATOR_INDEX,
        DRIFT_INDEX,
        POOL_INDEX,
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl_epoch", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == ("Retain" if stage.name == "prod" else "Delete")


def test_the_queue_redrives_to_a_dlq_and_outlives_the_worker(
    sam: dict[str, Any], stage: Stage
) -> None:
    queue = sam["Resources"]["JobsQueue"]["Properties"]
    dlq = sam["Resources"]["JobsDeadLetterQueue"]["Properties"]
    worker = sam["Resources"]["Worker"]["Properties"]

    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": int(worker["Environment"]["Variables"]["MAX_RECEIVE_COUNT"]),
    }
    assert queue["VisibilityTimeout"] >= VISIBILITY_TIMEOUT_FACTOR * worker["Timeout"]
    assert dlq["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    # Dead letters are failed jobs a person must still look at: kept with prod's data.
    kept = "Retain" if stage.retain_data else "Delete"
    resource = sam["Resources"]["JobsDeadLetterQueue"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == (kept, kept)


def test_the_worker_takes_one_message_at_a_time_with_bounded_concurrency(
    sam: dict[str, Any],
) -> None:
    event = sam["Resources"]["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]
    props = event["Properties"]

    assert event["Type"] == "SQS"
    assert props["Queue"] == {"Fn::Sub": "${JobsQueue.Arn}"}
    assert props["BatchSize"] == 1
    assert props["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_functions_run_on_a_supported_runtime_wired_to_the_backing_resources(
    sam: dict[str, Any], stage: Stage
) -> None:
    for function in FUNCTIONS:
        props = sam["Resources"][LOGICAL_IDS[function]]["Properties"]
        env = props["Environment"]["Variables"]
        assert props["Runtime"] == LAMBDA_RUNTIME
        assert props["FunctionName"] == stage.function_name(function)
        assert props["Role"] == {"Fn::GetAtt": [ROLE_IDS[function], "Arn"]}
        assert env["TABLE_NAME"] == {"Ref": "RequestsTable"}
        assert env["QUEUE_URL"] == {"Ref": "JobsQueue"}
        assert env["USER_POOL_ARN"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
        assert env["USER_POOL_CLIENT_ID"] == {"Ref": "UserPoolClient"}


def test_each_function_has_its_own_role(sam: dict[str, Any]) -> None:
    roles = resources(sam, "AWS::IAM::Role")

    assert set(roles) == set(ROLE_IDS.values())
    for function in FUNCTIONS:
        [policy] = roles[ROLE_IDS[function]]["Properties"]["Policies"]
        assert policy["PolicyName"] == f"{ROLE_IDS[function]}Policy"


def test_each_function_has_its_log_group_created_first(sam: dict[str, Any], stage: Stage) -> None:
    functions = resources(sam, "AWS::Serverless::Function")

    assert set(functions) == set(LOGICAL_IDS.values())
    assert set(resources(sam, "AWS::Logs::LogGroup")) == {
        *(f"{LOGICAL_IDS[f]}LogGroup" for f in FUNCTIONS),
        "ApiAccessLogGroup",  # API Gateway's access log
    }
    for function in FUNCTIONS:
        logical_id = LOGICAL_IDS[function]
        log_group = sam["Resources"][f"{logical_id}LogGroup"]["Properties"]
        assert log_group == {
            "LogGroupName": stage.log_group(function),
            "RetentionInDays": LOG_RETENTION_DAYS,
        }
        assert functions[logical_id]["DependsOn"] == [f"{logical_id}LogGroup"]
        assert functions[logical_id]["Properties"]["Handler"] == handler(function)


def test_the_reaper_and_the_reconciler_run_on_their_schedules(sam: dict[str, Any]) -> None:
    schedules = {"reaper": "rate(5 minutes)", "reconciler": "rate(3 minutes)"}

    for function in FUNCTIONS:
        events = sam["Resources"][LOGICAL_IDS[function]]["Properties"].get("Events", {})
        kinds = {event["Type"] for event in events.values()}
        if function not in schedules:
            assert "Schedule" not in kinds, function
            continue
        assert events == {
            f"{LOGICAL_IDS[function]}Event": {
                "Type": "Schedule",
                "Properties": {"Schedule": schedules[function]},
            }
        }


def test_every_function_gets_the_grace_period_and_the_page_token_secrets_parameter(
    sam: dict[str, Any], stage: Stage
) -> None:
    for function in FUNCTIONS:
        env = sam["Resources"][LOGICAL_IDS[function]]["Properties"]["Environment"]["Variables"]
        assert env["RECONCILE_GRACE_SECONDS"] == str(stage.reconcile_grace_seconds), function
        assert int(env["RECONCILE_GRACE_SECONDS"]) > stage.worker_timeout, function
        # Where the API reads the key at first use; the key itself is in no environment.
        assert env["PAGE_TOKEN_SECRET_SSM_PARAMETER"] == {"Ref": PAGE_TOKEN_SECRET_PARAMETER}
        assert "PAGE_TOKEN_SECRET" not in env, function
        assert "UNBACKED_STAGE" not in env, function


def test_the_page_token_secret_is_never_a_value_of_the_template(
    sam: dict[str, Any], stage: Stage
) -> None:
    """A key passed as a (NoEcho) parameter would be plain text in the functions'
    environment: the template names the SecureString parameter, CloudFormation checks it
    exists, and only the API handler may read it."""
    assert set(sam["Parameters"]) == {PAGE_TOKEN_SECRET_PARAMETER}
    parameter = sam["Parameters"][PAGE_TOKEN_SECRET_PARAMETER]
    assert parameter["Type"] == "AWS::SSM::Parameter::Name"
    assert parameter["Default"] == f"/vpc-provisioner/{stage.name}/page-token-secret"
    assert "put-parameter --type SecureString" in parameter["Description"]
    readers = {
        function
        for function in FUNCTIONS
        for statement in statements(sam, function)
        if "ssm:GetParameter" in as_list(statement["Action"])
    }
    assert readers == {"api_handler"}
    [read] = [s for s in statements(sam, "api_handler") if s.get("Sid") == "ReadPageTokenSecret"]
    assert read["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        "${PageTokenSecretParameter}"
    }


def test_the_user_pool_has_the_admins_group(sam: dict[str, Any], stage: Stage) -> None:
    group = sam["Resources"]["AdminsGroup"]
    assert group["Type"] == "AWS::Cognito::UserPoolGroup"
    assert group["Properties"]["GroupName"] == "admins"
    assert group["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    # Kept with the pool in prod: a retained pool keeps its admins.
    assert group["DeletionPolicy"] == sam["Resources"]["UserPool"]["DeletionPolicy"]


def test_no_function_environment_refers_to_the_stack_id(sam: dict[str, Any], stage: Stage) -> None:
    """The stack id tags every resource and shows in events and CloudTrail: not a secret."""
    for function in FUNCTIONS:
        env = sam["Resources"][LOGICAL_IDS[function]]["Properties"]["Environment"]["Variables"]
        assert "AWS::StackId" not in json.dumps(env), function


def test_no_policy_grants_a_wildcard_action(sam: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for statement in statements(sam, function):
            for action in as_list(statement["Action"]):
                assert "*" not in action, (function, action)


def test_dynamodb_and_sqs_are_granted_only_on_the_table_and_queues(sam: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for statement in statements(sam, function):
            services = {a.split(":")[0] for a in as_list(statement["Action"])}
            resources_ = as_list(statement["Resource"])
            if "dynamodb" in services:
                assert all(
                    isinstance(r, dict) and r["Fn::Sub"].startswith("${RequestsTable.Arn}")
                    for r in resources_
                ), (function, statement)
            if "sqs" in services:
                # The jobs queue; and the dead-letter queue, only the reaper (which prunes
                # it) and the worker (which writes a FAILED request's letter, nothing else).
                allowed = [[{"Fn::Sub": "${JobsQueue.Arn}"}]]
                if function == "reaper":
                    allowed.append([{"Fn::Sub": "${JobsDeadLetterQueue.Arn}"}])
                if function == "worker" and as_list(statement["Action"]) == ["sqs:SendMessage"]:
                    allowed.append([{"Fn::Sub": "${JobsDeadLetterQueue.Arn}"}])
                assert resources_ in allowed, (function, statement)


def test_ec2_tags_and_deletes_are_conditioned(sam: dict[str, Any], stage: Stage) -> None:
    by_sid = {s["Sid"]: s for s in statements(sam, "worker")}

    assert by_sid["TagOnlyWhileCreating"]["Condition"] == {
        "StringEquals": {
            "ec2:CreateAction": [
                "CreateVpc",
                "CreateSubnet",
                "CreateInternetGateway",
                "CreateRouteTable",
            ]
        }
    }
    assert by_sid["DeleteOnlyThisDeploymentsNetworks"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/vpc-provisioner:deployment": stage.deployment},
        "Null": {"aws:ResourceTag/RequestId": "false"},
    }
    assert {a for s in statements(sam, "api_handler") for a in as_list(s["Action"])} == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",  # the records of a full per-user quota
        "dynamodb:ConditionCheckItem",  # ...each still ended when its place is given back
        "dynamodb:DeleteItem",  # the address block of a request that ended
        "dynamodb:Query",
        "sqs:SendMessage",
        "ec2:DescribeAvailabilityZones",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "ssm:GetParameter",  # the listing tokens' key
    }


def test_the_user_pool_client_signs_in_users_without_a_secret(sam: dict[str, Any]) -> None:
    client = sam["Resources"]["UserPoolClient"]["Properties"]
    pool = sam["Resources"]["UserPool"]["Properties"]

    assert client["GenerateSecret"] is False
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(client["ExplicitAuthFlows"])
    assert client["IdTokenValidity"] == 60
    assert client["TokenValidityUnits"]["IdToken"] == "minutes"
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_gateway_errors_use_the_apps_error_shape(sam: dict[str, Any]) -> None:
    responses = sam["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]

    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    # The authorizer's refusal says what to send (API Gateway's own: "Unauthorized").
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"]) == {
        "Code": "UnauthorizedError",
        "Message": UNAUTHORIZED_MESSAGE,
    }
    # A path no route has: a fixed message, never API Gateway's, which quotes the caller's
    # Authorization header.
    unrouted = responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]
    assert json.loads(unrouted) == {"Code": "ForbiddenError", "Message": UNKNOWN_ROUTE_MESSAGE}


def test_outputs_give_what_a_user_needs(sam: dict[str, Any]) -> None:
    assert {"EndpointURL", "UserPoolId", "UserPoolClientId", "Region"} <= set(sam["Outputs"])


def test_the_lambda_zip_holds_only_the_app(built: dict[str, Packages], stage: Stage) -> None:
    with zipfile.ZipFile(built[stage.name].cloudformation / "deployment.zip") as archive:
        names = archive.namelist()

    assert "app.py" in names
    assert "chalicelib/worker/handler.py" in names
    assert all(n == "app.py" or n.startswith(("chalicelib/", "chalice/")) for n in names), names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_everything_the_lambda_zip_holds_runs_on_python312(
    built: dict[str, Packages], stage: Stage
) -> None:
    """The zip runs on LAMBDA_RUNTIME, not on the Python that packaged it (3.11 here):
    nothing compiled for another Python (a dependency in requirements.txt would be built
    by Chalice for the pinned runtime, infra/chalice_cli.py; today there is none, boto3
    being in the runtime), and no module imports one that Python 3.12 removed."""
    assert LAMBDA_RUNTIME == "python3.12"
    with zipfile.ZipFile(built[stage.name].cloudformation / "deployment.zip") as archive:
        modules = {n: archive.read(n) for n in archive.namelist() if n.endswith(".py")}
        names = archive.namelist()
        wheels = [archive.read(n).decode() for n in names if n.endswith(".dist-info/WHEEL")]

    compiled = [n for n in names if n.endswith((".so", ".pyd"))]
    assert [n for n in compiled if "cpython-312" not in n and ".abi3." not in n] == []
    tags = [line.split(": ", 1)[1] for w in wheels for line in w.splitlines() if "Tag:" in line]
    assert [tag for tag in tags if not _runs_on_python312(tag)] == []
    for name, source in modules.items():
        tree = ast.parse(source, name, feature_version=(3, 12))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and not node.level
        }
        assert imported.isdisjoint(REMOVED_IN_PYTHON_312), (name, imported & REMOVED_IN_PYTHON_312)


def _runs_on_python312(wheel_tag: str) -> bool:
    """Whether a wheel of this tag (`python-abi-platform`) runs on CPython 3.12."""
    python, abi, _ = wheel_tag.split("-")
    return abi in ("cp312", "abi3") or (abi == "none" and python.startswith("py"))


def test_the_merged_template_is_valid_json_without_leftover_placeholders(
    built: dict[str, Packages], stage: Stage
) -> None:
    text = (built[stage.name].cloudformation / "sam.json").read_text()

    assert "{{" not in text
    json.loads(text)


def test_reserved_concurrency_set_in_the_config_reaches_both_outputs(tmp_path: Path) -> None:
    """The option: Chalice's `reserved_concurrency` key of a function in .chalice/config.json."""
    config_dir = tmp_path / ".chalice"
    shutil.copytree(CONFIG_PATH.parent, config_dir, ignore=shutil.ignore_patterns("deploy*"))
    config = json.loads((config_dir / "config.json").read_text())
    config["stages"]["dev"]["lambda_functions"]["worker"]["reserved_concurrency"] = 2
    (config_dir / "config.json").write_text(json.dumps(config))

    packages = package("dev", tmp_path / "dist", config_dir / "config.json")

    sam = json.loads((packages.cloudformation / "sam.json").read_text())
    assert sam["Resources"]["Worker"]["Properties"]["ReservedConcurrentExecutions"] == 2
    tf = json.loads((packages.terraform / "chalice.tf.json").read_text())
    assert tf["resource"]["aws_lambda_function"]["worker"]["reserved_concurrent_executions"] == 2


def test_the_one_lint_run_places_each_finding_on_its_own_template(tmp_path: Path) -> None:
    """The lint of every template in one cfn-lint run can fail: a template with a bad
    property gets its findings, the clean one beside it none."""
    clean = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    broken = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Nope": 1}}}}
    (tmp_path / "clean.json").write_text(json.dumps(clean))
    (tmp_path / "broken.json").write_text(json.dumps(broken))

    findings = cfn_lint([tmp_path / "clean.json", tmp_path / "broken.json"])

    assert findings[tmp_path / "clean.json"] == ""
    assert "Nope" in findings[tmp_path / "broken.json"]
