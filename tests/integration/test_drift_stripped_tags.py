"""A drifted request whose resources lost their `RequestId` tag is still deleted (a drifted
request can be deleted: what is left is torn down, and it ends DELETED).

In AWS the worker's policy lets it delete only what carries the request's tag
(`.chalice/policy-worker.json`, DeleteOnlyThisDeploymentsNetworks): a subnet or VPC whose
tag someone removed answers UnauthorizedOperation. moto enforces no IAM, so these tests
answer as IAM would: a delete of a resource without a `RequestId` tag, and a CreateTags on
one without this deployment's tag, are refused. The teardown puts the tag back on what the
record names (PutTheRequestTagBackOnlyOnThisDeploymentsNetworks) and deletes it; a resource
that lost this deployment's tag too stays, DELETE_FAILED, named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.wiring import Services
from infra.policies import load_policy
from infra.stage import load_stage
from integration.conftest import IAM_RECORDER, Stack, deliver, record
from integration.test_drift import public_request, reconcile
from support.tokens import auth

DELETES = {"DeleteSubnet": "SubnetId", "DeleteVpc": "VpcId"}


def _tags(stack: Stack, resource_id: str) -> dict[str, str]:
    answer = stack.truth.ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [resource_id]}]
    )
    return {t["Key"]: t["Value"] for t in answer["Tags"]}


def _lacking(stack: Stack, key: str, name: str) -> Callable[[dict[str, Any]], bool]:
    """A match for calls naming (by `name`) a resource without the tag `key` now."""

    def match(params: dict[str, Any]) -> bool:
        named = params.get(name)
        ids = named if isinstance(named, list) else [named]
        return any(key not in _tags(stack, i) for i in ids if i)

    return match


def _as_iam_would(stack: Stack) -> None:
    policy = load_policy(load_stage("dev"), "worker")
    sids = {s.get("Sid"): s for s in policy["Statement"]}
    assert sids["DeleteOnlyThisDeploymentsNetworks"]["Condition"]["Null"] == {
        "aws:ResourceTag/RequestId": "false"
    }
    put_back = sids["PutTheRequestTagBackOnlyOnThisDeploymentsNetworks"]["Condition"]
    assert list(put_back["StringEquals"]) == [f"aws:ResourceTag/{DEPLOYMENT_TAG}"]
    assert put_back["ForAllValues:StringEquals"] == {"aws:TagKeys": [REQUEST_ID_TAG]}
    for operation, name in DELETES.items():
        stack.faults.fail(
            "ec2",
            operation,
            "UnauthorizedOperation",
            times=-1,
            match=_lacking(stack, REQUEST_ID_TAG, name),
        )
    stack.faults.fail(
        "ec2",
        "CreateTags",
        "UnauthorizedOperation",
        times=-1,
        match=_lacking(stack, DEPLOYMENT_TAG, "Resources"),
    )


def _deleted(client: Client, clock: Any, request_id: str) -> dict[str, Any]:
    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert response.status_code == 202, response.json_body
    for receive in range(1, 4):
        try:
            deliver(client, request_id, receive_count=receive, operation=Operation.DELETE)
        except Exception:  # RetryLater: the next receive, later
            clock.advance(600)
    return record(client, request_id)


def test_a_request_whose_subnet_and_vpc_lost_their_request_tag_is_deleted(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    stripped = [private, rec["vpc_id"]]
    stack.truth.ec2.delete_tags(Resources=stripped, Tags=[{"Key": REQUEST_ID_TAG}])
    reconcile(services, clock, settings)
    assert {d["resource_id"] for d in record(client, request_id)["drift"]} == set(stripped)
    _as_iam_would(stack)

    after = _deleted(client, clock, request_id)

    assert after["status"] == "DELETED", (after["status"], after.get("error"))
    assert (
        stack.truth.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [rec["vpc_id"]]}])[
            "Subnets"
        ]
        == []
    )
    assert rec["vpc_id"] not in [v["VpcId"] for v in stack.truth.ec2.describe_vpcs()["Vpcs"]]


def test_a_subnet_that_lost_this_deployments_tag_too_is_left_and_named(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    stack.truth.ec2.delete_tags(
        Resources=[private], Tags=[{"Key": REQUEST_ID_TAG}, {"Key": DEPLOYMENT_TAG}]
    )
    _as_iam_would(stack)

    after = _deleted(client, clock, request_id)

    assert after["status"] == "DELETE_FAILED", after["status"]
    assert after["error"]["code"] == "UnauthorizedOperation"
    assert private in after["error"]["message"]
    assert _tags(stack, private).get(REQUEST_ID_TAG) is None  # nothing tagged it
    IAM_RECORDER.refused_on_purpose(private)  # the calls IAM refuses here, as meant
