"""`make deploy` / `make destroy` against moto's S3 and STS, with CloudFormation stubbed.

Not a substitute for a real deployment (none was run from here): this pins
down what the deployer asks of AWS, in which order, and how it reports.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import ResponseParserError
from botocore.stub import ANY, Stubber
from moto import mock_aws

import infra.deploy
from deploy.conftest import OTHER_KEY, FailedStacks, key_of, terraform_holds
from infra.aws import DeployError, caller_identity, exit_code_of
from infra.backing import BackingDeployer
from infra.backing import main as backing_main
from infra.cloudformation import PAGE_TOKEN_SECRET_PARAMETER
from infra.deploy import Deployer
from infra.deploy import main as deploy_main
from infra.package import Packages, StateInTheWay
from infra.stack_lifecycle import CAPABILITIES
from infra.stage import CONFIG_PATH, LOGICAL_IDS, PROJECT_DIR, load_stage

ACCOUNT = "123456789012"
BUCKET = f"vpc-provisioner-artifacts-{ACCOUNT}-eu-west-1"
STACK = "vpc-provisioner-dev"
OUTPUTS = [
    {"OutputKey": "EndpointURL", "OutputValue": "https://api.example/api/"},
    {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_abc"},
    {"OutputKey": "UserPoolClientId", "OutputValue": "client123"},
    {"OutputKey": "Region", "OutputValue": "eu-west-1"},
]
# The deploys that package as `make deploy` does; the others copy the session's packages.
PACKAGES_FOR_REAL = {"test_a_first_deploy_uploads_privately_and_creates_the_stack"}


@pytest.fixture(autouse=True)
def _packaged_once(
    request: pytest.FixtureRequest, built: dict[str, Packages], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy's `make package` is a copy of the session's (`built`, the same function
    of the same config): each packaging is two `chalice package` runs, and this module
    deploys a dozen times. Packaging is checked on its own (test_backing.py,
    test_lambda_zip.py) and by the first deploy here."""
    if request.node.originalname in PACKAGES_FOR_REAL:
        return

    def copied(stage_name: str, out: Path) -> Packages:
        for kind in ("cloudformation", "terraform"):
            shutil.rmtree(out / kind, ignore_errors=True)
            shutil.copytree(getattr(built[stage_name], kind), out / kind)
        return Packages(out / "cloudformation", out / "terraform")

    monkeypatch.setattr(infra.deploy, "package", copied)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.session.Session(region_name="eu-west-1")
        _set_api_gateway_logging_role(session)
        yield session


def _set_api_gateway_logging_role(session: Any) -> None:
    """What an account that can have access logs has set once (README)."""
    session.client("apigateway").update_account(
        patchOperations=[
            {
                "op": "replace",
                "path": "/cloudwatchRoleArn",
                "value": f"arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-logs",
            }
        ]
    )


@pytest.fixture
def cloudformation(session: Any) -> Iterator[tuple[Any, Stubber]]:
    client = session.client("cloudformation")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


# How describe_stacks showed the key when it was a NoEcho parameter (before issue 22).
MASKED_SECRET = [{"ParameterKey": "PageTokenSecret", "ParameterValue": "****"}]
KEY_PARAMETER = "/vpc-provisioner/dev/page-token-secret"
NAMED_KEY = [{"ParameterKey": PAGE_TOKEN_SECRET_PARAMETER, "ParameterValue": KEY_PARAMETER}]


def _stack(
    status: str,
    outputs: list[dict[str, str]] | None = None,
    parameters: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    stack: dict[str, Any] = {
        "StackName": STACK,
        "StackStatus": status,
        "CreationTime": "2026-11-28T00:00:00Z",
    }
    if outputs:
        stack["Outputs"] = outputs
    if parameters:
        stack["Parameters"] = parameters
    return {"Stacks": [stack]}


def _change_set_parameters(client: Any) -> list[list[dict[str, Any]]]:
    """The `Parameters` of every create_change_set the client sends, in order."""
    sent: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(copy.deepcopy(params.get("Parameters", [])))

    client.meta.events.register("provide-client-params.cloudformation.CreateChangeSet", record)
    return sent


def _no_backing_stack(stubber: Stubber) -> None:
    """The deploy's first look: no `make backing` stack holds the stage."""
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK}-backing does not exist",
        expected_params={"StackName": f"{STACK}-backing"},
    )


def _deploys(stubber: Stubber, stack: dict[str, Any] | None) -> None:
    """A deploy that creates (no `stack`) or updates `stack`, and succeeds."""
    _no_backing_stack(stubber)
    if stack is None:
        _missing(stubber)
    else:
        stubber.add_response("describe_stacks", stack)
    done = "CREATE_COMPLETE" if stack is None else "UPDATE_COMPLETE"
    stubber.add_response(
        "create_change_set",
        {"Id": "cs-1"},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE" if stack is None else "UPDATE",
            "TemplateURL": ANY,
            "Parameters": ANY,
            "Capabilities": CAPABILITIES,
            "Tags": ANY,
        },
    )
    stubber.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"})
    stubber.add_response("execute_change_set", {})
    stubber.add_response("describe_stacks", _stack(done, parameters=NAMED_KEY))
    stubber.add_response("describe_stacks", _stack(done, OUTPUTS, NAMED_KEY))


def _fresh_secret(parameters: list[dict[str, Any]]) -> str:
    """The one parameter sent: a new PageTokenSecret value, 32 random bytes as hex."""
    [parameter] = parameters
    assert set(parameter) == {"ParameterKey", "ParameterValue"}
    assert parameter["ParameterKey"] == PAGE_TOKEN_SECRET_PARAMETER
    value = str(parameter["ParameterValue"])
    assert re.fullmatch(r"[0-9a-f]{64}", value), "not 64 hex characters"
    return value


def _nowhere_but_the_change_set(
    secret: str, said: list[str], capsys: pytest.CaptureFixture[str], *folders: Path
) -> None:
    """The secret is not printed, not logged, and not written to any artifact."""
    out, err = capsys.readouterr()
    assert secret not in "\n".join(said) + out + err
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def _missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
    )


def test_a_first_deploy_uploads_privately_and_creates_the_stack(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _no_backing_stack(stubber)
    _missing(stubber)
    stubber.add_response(
        "create_change_set",
        {"Id": "cs-1"},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateURL": ANY,
            "Parameters": ANY,
            "Capabilities": CAPABILITIES,
            "Tags": ANY,
        },
    )
    stubber.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"})
    stubber.add_response("execute_change_set", {})
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE", OUTPUTS))
    said: list[str] = []

    deployment = Deployer(session, tmp_path, said.append, client).deploy(load_stage("dev"))

    assert deployment.outputs["EndpointURL"] == "https://api.example/api/"
    assert "https://api.example/api/" in said[-1]
    assert "eu-west-1_abc" in said[-1]
    s3 = session.client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    template_key = next(k for k in keys if k.endswith(".json"))
    zip_key = next(k for k in keys if k.endswith(".zip"))
    template = json.loads(s3.get_object(Bucket=BUCKET, Key=template_key)["Body"].read())
    for logical_id in LOGICAL_IDS.values():
        code = template["Resources"][logical_id]["Properties"]["CodeUri"]
        assert code == {"Bucket": BUCKET, "Key": zip_key}


def test_a_deploy_without_changes_leaves_the_stack_alone(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _no_backing_stack(stubber)
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE", parameters=MASKED_SECRET))
    stubber.add_response("create_change_set", {"Id": "cs-1"})
    failed = {
        "Status": "FAILED",
        "StatusReason": "The submitted information didn't contain changes.",
    }
    stubber.add_response("describe_change_set", failed)
    stubber.add_response("describe_change_set", failed)
    stubber.add_response("delete_change_set", {})
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE", OUTPUTS))
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).deploy(load_stage("dev"))

    assert "No changes: the stack is up to date." in said


def _key(session: Any) -> dict[str, Any]:
    parameter: dict[str, Any] = session.client("ssm").get_parameter(
        Name=KEY_PARAMETER, WithDecryption=True
    )["Parameter"]
    return parameter


def test_a_first_deploy_draws_the_key_into_a_securestring_the_stack_only_names(
    session: Any,
    cloudformation: tuple[Any, Stubber],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a stack parameter: CloudFormation would write it, in plain text, into every
    function's environment. The API reads it at first use (PAGE_TOKEN_SECRET_SSM_PARAMETER)."""
    client, stubber = cloudformation
    sent = _change_set_parameters(client)
    _deploys(stubber, None)
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).deploy(load_stage("dev"))

    key = _key(session)
    assert key["Type"] == "SecureString"
    secret = str(key["Value"])
    assert re.fullmatch(r"[0-9a-f]{64}", secret), "not 64 hex characters"
    assert sent == [
        [{"ParameterKey": PAGE_TOKEN_SECRET_PARAMETER, "ParameterValue": KEY_PARAMETER}]
    ]
    _nowhere_but_the_parameter(secret, said, capsys, session, tmp_path)
    s3 = session.client("s3")
    [template_key] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        if o["Key"].endswith(".json")
    ]
    template = json.loads(s3.get_object(Bucket=BUCKET, Key=template_key)["Body"].read())
    for logical_id in LOGICAL_IDS.values():
        env = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert "PAGE_TOKEN_SECRET" not in env, logical_id
        assert env["PAGE_TOKEN_SECRET_SSM_PARAMETER"] == {"Ref": PAGE_TOKEN_SECRET_PARAMETER}


def _nowhere_but_the_parameter(
    secret: str,
    said: list[str],
    capsys: pytest.CaptureFixture[str],
    session: Any,
    *folders: Path,
) -> None:
    """The key is not printed, not logged, not in any artifact or uploaded object."""
    _nowhere_but_the_change_set(secret, said, capsys, *folders)
    s3 = session.client("s3")
    for key in (o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]):
        assert secret.encode() not in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), key


def test_an_update_keeps_the_key(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _deploys(stubber, None)
    _deploys(stubber, _stack("UPDATE_COMPLETE", OUTPUTS, NAMED_KEY))
    said: list[str] = []
    stage = load_stage("dev")

    Deployer(session, tmp_path / "first", said.append, client).deploy(stage)
    first = _key(session)
    Deployer(session, tmp_path / "second", said.append, client).deploy(stage)

    assert _key(session) == first
    assert first["Version"] == 1
    assert not any("stop working" in line for line in said)


def test_a_stack_deployed_with_the_key_as_a_noecho_parameter_gets_the_securestring(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    """Deployed before the key moved (a NoEcho `PageTokenSecret`, unreadable): a new key."""
    client, stubber = cloudformation
    _deploys(stubber, _stack("UPDATE_COMPLETE", OUTPUTS, MASKED_SECRET))
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).deploy(load_stage("dev"))

    assert _key(session)["Type"] == "SecureString"
    assert any("next_tokens issued before this deploy stop working" in line for line in said)


def test_a_stage_that_make_backing_holds_is_refused_before_any_upload(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    """Both ways name the table, queues and pool alike: one way per stage."""
    client, stubber = cloudformation
    stubber.add_response(
        "describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": f"{STACK}-backing"}
    )

    with pytest.raises(DeployError, match=r"make backing.*make backing-destroy STAGE=dev"):
        Deployer(session, tmp_path, print, client).deploy(load_stage("dev"))
    assert not list(tmp_path.iterdir())  # nothing packaged


def test_a_stack_that_failed_to_create_must_be_destroyed_first(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _no_backing_stack(stubber)
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))

    with pytest.raises(DeployError, match="make destroy"):
        Deployer(session, tmp_path, print, client).deploy(load_stage("dev"))


def _must_not_package(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("packaged, and would have gone on to create a stack")


@pytest.mark.parametrize("stack", [None, "ROLLBACK_COMPLETE"])
def test_a_stage_whose_table_no_stack_of_ours_holds_is_refused_before_the_key_or_packaging(
    session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: str | None
) -> None:
    """Terraform's deployment of the stage (or what a destroy of `prod` kept): its table
    exists, with no stack of ours (or one that failed over it, and holds nothing). A
    stack would fail on the names; refused up front, naming the table and what to do."""
    stage = load_stage("dev")
    terraform_holds(session, stage)
    session.client("ssm").delete_parameter(Name=KEY_PARAMETER)  # a key drawn would show
    monkeypatch.setattr(infra.deploy, "package", _must_not_package)
    cfn = FailedStacks(session, {STACK: stack} if stack else {})

    with pytest.raises(DeployError, match=rf"{stage.table_name} exists.*terraform destroy"):
        Deployer(session, tmp_path, print, cfn).deploy(stage)

    assert key_of(session, KEY_PARAMETER) is None
    assert not list(tmp_path.iterdir())


def test_a_stage_whose_table_our_stack_holds_is_deployed_again(
    session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update: the table is the stack's own, so the deploy goes on to package."""
    stage = load_stage("dev")
    terraform_holds(session, stage)
    monkeypatch.setattr(infra.deploy, "package", _must_not_package)
    cfn = FailedStacks(session, {STACK: "UPDATE_COMPLETE"})

    with pytest.raises(AssertionError, match="packaged"):
        Deployer(session, tmp_path, print, cfn).deploy(stage)


def test_destroy_of_a_stack_that_failed_over_another_deployments_table_keeps_its_key(
    session: Any, tmp_path: Path
) -> None:
    """A stack that failed to create over Terraform's table (ROLLBACK_COMPLETE, which the
    next `make deploy` asks to delete with `make destroy`) holds nothing: the table and
    the key are still Terraform's, whose API reads the key at its first listing."""
    stage = load_stage("dev")
    terraform_holds(session, stage)
    cfn = FailedStacks(session, {STACK: "ROLLBACK_COMPLETE"})
    said: list[str] = []

    Deployer(session, tmp_path, said.append, cfn).destroy(stage)

    assert cfn.stacks == {}
    assert key_of(session, KEY_PARAMETER) == OTHER_KEY, "Terraform's key deleted"
    assert f"{KEY_PARAMETER} is kept" in said[-1], said


def test_destroy_of_a_stack_that_failed_with_no_other_deployment_deletes_its_key(
    session: Any, tmp_path: Path
) -> None:
    """The same failed stack with nothing else holding the stage: the key is the one the
    failed deploy drew, and goes with the stack."""
    session.client("ssm").put_parameter(Name=KEY_PARAMETER, Value="d" * 64, Type="SecureString")
    cfn = FailedStacks(session, {STACK: "ROLLBACK_COMPLETE"})
    said: list[str] = []

    Deployer(session, tmp_path, said.append, cfn).destroy(load_stage("dev"))

    assert cfn.stacks == {}
    assert key_of(session, KEY_PARAMETER) is None
    assert f"deleted the key {KEY_PARAMETER}" in said[-1], said


def test_a_local_terraform_state_in_dist_is_refused_before_the_key_is_drawn(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    """`make deploy` of any stage packages into dist/, whose terraform/ may hold the only
    state of a stage Terraform applied without a backend."""
    client, stubber = cloudformation
    _no_backing_stack(stubber)
    state = tmp_path / "terraform" / "terraform.tfstate"
    state.parent.mkdir()
    state.write_text(json.dumps({"version": 4, "resources": [{"type": "aws_dynamodb_table"}]}))

    with pytest.raises(StateInTheWay, match=r"terraform\.tfstate.*-migrate-state"):
        Deployer(session, tmp_path, print, client).deploy(load_stage("dev"))

    assert key_of(session, KEY_PARAMETER) is None
    assert state.exists()


def test_a_deploy_to_an_account_without_api_gateways_logging_role_stops_before_uploading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.session.Session(region_name="eu-west-1")

        with pytest.raises(DeployError, match=r"no CloudWatch Logs role.*docs/deploy.md"):
            Deployer(session, tmp_path, print, cloudformation=object()).deploy(load_stage("dev"))

        assert session.client("s3").list_buckets()["Buckets"] == []


def test_destroy_deletes_the_stack_and_says_what_it_leaves(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stubber.add_response("delete_stack", {}, {"StackName": STACK})
    _missing(stubber)  # the waiter sees the stack gone
    said: list[str] = []

    session.client("ssm").put_parameter(Name=KEY_PARAMETER, Value="k" * 64, Type="SecureString")

    Deployer(session, tmp_path, said.append, client).destroy(load_stage("dev"))

    assert "VPCs the API created are not deleted" in said[-1]
    assert session.client("ssm").describe_parameters()["Parameters"] == []


def test_destroy_of_a_missing_stack_does_nothing(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _missing(stubber)
    _no_backing_stack(stubber)
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).destroy(load_stage("dev"))

    assert "nothing to do" in said[-1]


def test_destroy_deletes_the_key_a_deploy_that_stopped_before_its_stack_left(
    session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/deploy.md: `make destroy` deletes the key's parameter. `make deploy` draws the
    key before it packages, makes the bucket and uploads: one of those failing (a newcomer
    without s3:CreateBucket, say) leaves the parameter and no stack, and `make destroy`
    deletes it all the same, saying so."""
    stage = load_stage("dev")
    said: list[str] = []

    def failing_package(*_args: Any, **_kwargs: Any) -> Any:
        raise DeployError("chalice package failed")  # or the bucket, or the upload

    monkeypatch.setattr(infra.deploy, "package", failing_package)
    deployer = Deployer(session, tmp_path, said.append)
    with pytest.raises(DeployError, match="chalice package failed"):
        deployer.deploy(stage)
    assert _key(session)  # drawn before the failure

    deployer.destroy(stage)

    assert session.client("ssm").describe_parameters()["Parameters"] == []
    assert f"deleted the key {KEY_PARAMETER}" in said[-1], said


@pytest.mark.parametrize("holder", ["make backing", "terraform"])
def test_destroy_without_a_stack_keeps_the_key_of_another_deployment_of_the_stage(
    session: Any, tmp_path: Path, holder: str
) -> None:
    """No `make deploy` stack, but the stage deployed another way: `make backing`'s stack,
    or Terraform's resources (its table): the parameter is that deployment's key, which its
    API reads at its first listing. `make destroy` keeps it, and says whose it is."""
    stage = load_stage("dev")
    session.client("ssm").put_parameter(Name=KEY_PARAMETER, Value="k" * 64, Type="SecureString")
    if holder == "make backing":
        session.client("cloudformation").create_stack(
            StackName=f"{STACK}-backing",
            TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
        )
    else:
        session.client("dynamodb").create_table(
            TableName=stage.table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    said: list[str] = []

    Deployer(session, tmp_path, said.append).destroy(stage)

    assert _key(session)["Value"] == "k" * 64
    assert f"{KEY_PARAMETER} is kept" in said[-1], said
    assert (f"{STACK}-backing" if holder == "make backing" else stage.table_name) in said[-1]


def test_no_region_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    session = boto3.session.Session()

    with pytest.raises(DeployError, match="AWS_REGION"):
        Deployer(session, tmp_path, print, cloudformation=object()).deploy(load_stage("dev"))


def test_unknown_or_local_stages_cannot_be_deployed() -> None:
    for name in ("local", "staging"):
        with pytest.raises(ValueError, match="deployable stages: dev, prod"):
            load_stage(name)


# --- what a person with an account sees first (issue 22: 1-4) -------------------------


def _only_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **values: str) -> None:
    """The AWS environment a user would have: nothing but `values` (and test keys)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _config_copy(tmp_path: Path) -> Path:
    """A copy of .chalice/ as committed (for `make backing`, which writes into it)."""
    target = tmp_path / ".chalice"
    shutil.copytree(
        CONFIG_PATH.parent, target, ignore=shutil.ignore_patterns("deployed", "policy-*-*.json")
    )
    return target / "config.json"


def test_aws_region_alone_is_enough_for_both_deployers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """botocore reads only AWS_DEFAULT_REGION; AWS_REGION is what many people set."""
    _only_environment(monkeypatch, tmp_path, AWS_REGION="eu-west-1")
    monkeypatch.setattr("sys.argv", ["deploy", "deploy", "--stage", "dev"])
    with mock_aws():
        assert deploy_main() == 1
        # It got as far as the account's settings in eu-west-1: the region was taken.
        assert "API Gateway in eu-west-1 has no CloudWatch Logs role" in capsys.readouterr().err

        config = _config_copy(tmp_path)
        assert backing_main(["destroy", "--stage", "dev", "--config", str(config)]) == 0
        out, err = capsys.readouterr()
        assert "No stack vpc-provisioner-dev-backing in 123456789012, eu-west-1:" in out, err


def test_without_a_region_both_deployers_say_how_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any client is made: botocore's own "You must specify a region."
    does not say how."""
    _only_environment(monkeypatch, tmp_path)
    monkeypatch.setattr("sys.argv", ["deploy", "deploy", "--stage", "dev"])
    config = _config_copy(tmp_path)

    runs: tuple[Callable[[], int], ...] = (
        deploy_main,
        lambda: backing_main(["deploy", "--stage", "dev", "--config", str(config)]),
    )
    for run in runs:
        assert run() == 1
        err = capsys.readouterr().err
        assert err.startswith("error: no AWS region: export AWS_DEFAULT_REGION=<region>"), err
        assert err.count("\n") == 1
    assert config.read_bytes() == CONFIG_PATH.read_bytes()
    with pytest.raises(DeployError, match="export AWS_DEFAULT_REGION"):
        Deployer(boto3.session.Session(), tmp_path).destroy(load_stage("dev"))
    with pytest.raises(DeployError, match="export AWS_DEFAULT_REGION"):
        BackingDeployer(boto3.session.Session()).destroy(load_stage("dev"), config)


def test_aws_out_of_reach_is_not_called_a_credentials_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    _only_environment(
        monkeypatch,
        tmp_path,
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ENDPOINT_URL=endpoint,
        AWS_MAX_ATTEMPTS="1",
    )

    with pytest.raises(DeployError) as raised:
        caller_identity(boto3.session.Session())

    message = str(raised.value)
    assert message.startswith(f"could not reach AWS STS at {endpoint}")
    assert "credentials" not in message


def _answers(status: int, body: bytes) -> Any:
    """A `before-send` handler: AWS (or a proxy in front of it) answers `body`."""

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def answer(**_: Any) -> AWSResponse:
        return AWSResponse("https://sts.example", status, {}, Raw())

    return answer


def test_an_unreadable_5xx_is_one_line_with_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _only_environment(monkeypatch, tmp_path, AWS_DEFAULT_REGION="eu-west-1", AWS_MAX_ATTEMPTS="1")
    page = b"upstream connect error or disconnect/reset before headers.\nreset reason: overflow"
    session = boto3.session.Session()
    session.events.register("before-send.sts.GetCallerIdentity", _answers(502, page))

    with pytest.raises(DeployError, match="upstream connect error") as raised:
        caller_identity(session)
    assert "\n" not in str(raised.value)

    def unparsable() -> None:  # any other call of a deploy
        raise ResponseParserError(
            "Unable to parse response (syntax error), invalid XML:\n" + "x" * 999
        )

    assert exit_code_of(unparsable) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: AWS answered with something that is not an AWS response")
    assert "Unable to parse response" in err
    assert len(err) < 400


# --- the deploy guide, docs/deploy.md (issue 22: 1, 6, 7) ----------------------------


def _deploy_section() -> str:
    return (PROJECT_DIR / "docs" / "deploy.md").read_text()


def test_the_readme_exports_the_region_variable_boto3_chalice_and_the_cli_read() -> None:
    section = _deploy_section()
    assert "export AWS_REGION=" not in section
    assert section.count("export AWS_DEFAULT_REGION=") >= 3  # make deploy, Terraform, backing


def _run_logging_role_loop(loop: str, accepted_at: int) -> tuple[int, int]:
    """The guide's loop in bash, `aws` refusing every call before the `accepted_at`th
    (0: every call) and `sleep` instant: its exit status and how many calls it made."""
    script = f"""
calls=0
aws() {{
  calls=$((calls + 1))
  [ "$1 $2" = "apigateway update-account" ] && [ "$calls" -eq {accepted_at} ]
}}
sleep() {{ :; }}
ROLE_ARN=arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-logs
{loop}
status=$?
echo "$calls"
exit "$status"
"""
    ran = subprocess.run(
        ["bash", "-c", script], check=False, capture_output=True, text=True, timeout=30
    )
    return ran.returncode, int(ran.stdout)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_readme_retries_setting_the_logging_role_while_iam_propagates() -> None:
    """`update-account` right after `create-role` is refused for a few seconds; a loop
    whose every attempt was refused fails, so that `&&` or `set -e` stops there."""
    section = _deploy_section()
    loop = section[section.index("for attempt in") :]
    loop = loop[: loop.index("done") + len("done")]
    assert "aws apigateway update-account" in loop
    assert "&& break" in loop
    assert "sleep" in loop

    assert _run_logging_role_loop(loop, accepted_at=1) == (0, 1)
    assert _run_logging_role_loop(loop, accepted_at=3) == (0, 3)
    status, calls = _run_logging_role_loop(loop, accepted_at=0)
    assert calls == 6
    assert status != 0


def _make_deploy_prerequisites() -> str:
    section = _deploy_section().split("## One stack: `make deploy`", 1)[1]
    match = re.search(r"\*\*Prerequisites\*\*:(.*?)\n\n", section, re.S)
    assert match, "no Prerequisites paragraph under `make deploy`"
    return " ".join(match.group(1).split())


def test_the_prerequisites_name_the_parameter_store_make_deploy_writes_first() -> None:
    """`make deploy` reads and writes the key's SSM parameter before anything else."""
    assert "Systems Manager Parameter Store" in _make_deploy_prerequisites()


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_every_aws_command_the_guide_runs_is_in_both_cli_versions_or_says_it_needs_v2() -> None:
    """The guide supports the AWS CLI v1 (AWS_DEFAULT_REGION "for the CLI v1"), which has
    only the API's operations: `aws logs tail` is v2's own (v1: "Invalid choice")."""
    text = _deploy_section()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    command = re.compile(r"^\s*(?:[A-Z_]+=\$\()?aws ([a-z0-9-]+) ([a-z0-9-]+)", re.M)
    models = botocore.session.get_session()
    v2_only = set()
    for service, name in sorted(set(command.findall("\n".join(blocks)))):
        operations = map(_kebab, models.get_service_model(service).operation_names)
        if name not in set(operations):
            v2_only.add(f"aws {service} {name}")
    assert v2_only <= {"aws logs tail"}, v2_only
    block = next(b for b in blocks if "aws logs tail" in b)
    assert "`aws logs tail` needs the AWS CLI v2; with v1" in block
    assert "aws logs filter-log-events --log-group-name" in block


def test_the_guide_says_how_to_make_tls_1_2_the_apis_minimum() -> None:
    """None of the three ways can set the REST API's security policy (the AWS provider
    5.x and Chalice have no setting for it): the guide says so, and gives the command,
    an operation with a patch path and value the API Gateway model knows."""
    text = _deploy_section()
    assert "**Minimum TLS version: set by hand.**" in text
    assert "aws_api_gateway_rest_api" in text  # why Terraform's package does not set it
    model = botocore.session.get_session().get_service_model("apigateway")
    assert "UpdateRestApi" in model.operation_names
    rest_api = model.shape_for("RestApi").members
    assert "securityPolicy" in rest_api
    assert "TLS_1_2" in rest_api["securityPolicy"].enum
    assert (
        'aws apigateway update-rest-api --rest-api-id "$API_ID" \\\n'
        "  --patch-operations op=replace,path=/securityPolicy,value=TLS_1_2"
    ) in text


def test_the_readme_says_how_to_make_the_first_admin() -> None:
    assert (
        "aws cognito-idp admin-add-user-to-group --user-pool-id $POOL --username alice "
        "--group-name admins" in _deploy_section()
    )
