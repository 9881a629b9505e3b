"""`make deploy` / `make destroy` against moto's S3 and STS, with CloudFormation stubbed.

Not a substitute for a real deployment (none was run from here): this pins
down what the deployer asks of AWS, in which order, and how it reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from infra.deploy import CAPABILITIES, Deployer, DeployError
from infra.stage import LOGICAL_IDS, load_stage

ACCOUNT = "123456789012"
BUCKET = f"vpc-provisioner-artifacts-{ACCOUNT}-eu-west-1"
STACK = "vpc-provisioner-dev"
OUTPUTS = [
    {"OutputKey": "EndpointURL", "OutputValue": "https://api.example/api/"},
    {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_abc"},
    {"OutputKey": "UserPoolClientId", "OutputValue": "client123"},
    {"OutputKey": "Region", "OutputValue": "eu-west-1"},
]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.session.Session(region_name="eu-west-1")


@pytest.fixture
def cloudformation(session: Any) -> Iterator[tuple[Any, Stubber]]:
    client = session.client("cloudformation")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _stack(status: str, outputs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    stack: dict[str, Any] = {
        "StackName": STACK,
        "StackStatus": status,
        "CreationTime": "2026-11-28T00:00:00Z",
    }
    if outputs:
        stack["Outputs"] = outputs
    return {"Stacks": [stack]}


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
    _missing(stubber)
    stubber.add_response(
        "create_change_set",
        {"Id": "cs-1"},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateURL": ANY,
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
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
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


def test_a_stack_that_failed_to_create_must_be_destroyed_first(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))

    with pytest.raises(DeployError, match="make destroy"):
        Deployer(session, tmp_path, print, client).deploy(load_stage("dev"))


def test_destroy_deletes_the_stack_and_says_what_it_leaves(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stubber.add_response("delete_stack", {}, {"StackName": STACK})
    _missing(stubber)  # the waiter sees the stack gone
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).destroy(load_stage("dev"))

    assert "VPCs the API created are not deleted" in said[-1]


def test_destroy_of_a_missing_stack_does_nothing(
    session: Any, cloudformation: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stubber = cloudformation
    _missing(stubber)
    said: list[str] = []

    Deployer(session, tmp_path, said.append, client).destroy(load_stage("dev"))

    assert "nothing to do" in said[-1]


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
