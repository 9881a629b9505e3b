"""DELETE's teardown deletes only what carries the request's `RequestId` and this
deployment's tag (the contract's rule; IAM's delete conditions hold it in AWS, and the code
holds it too, so that the local stack, whose moto enforces no IAM, behaves the same).

A resource the record names whose tags a person removed or changed (drift) is left where
it is, named, and what it keeps (its VPC) stays too: the request ends `DELETE_FAILED`
saying to tag it again. Tagged again, a new DELETE removes everything."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, assert_nothing_left, deliver, record
from integration.test_drift import public_request, reconcile
from support.tokens import auth


def _deleted(client: Client, request_id: str) -> dict[str, Any]:
    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert response.status_code == 202, response.json_body
    deliver(client, request_id, operation=Operation.DELETE)
    return record(client, request_id)


def _exists(stack: Stack, subnet_id: str) -> bool:
    return bool(
        stack.truth.ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])[
            "Subnets"
        ]
    )


@pytest.mark.parametrize(
    "untag",
    [
        pytest.param({"delete": [REQUEST_ID_TAG]}, id="RequestId removed"),
        pytest.param({"delete": [DEPLOYMENT_TAG]}, id="deployment tag removed"),
        pytest.param({"set": {REQUEST_ID_TAG: "someone-else"}}, id="RequestId changed"),
    ],
)
def test_a_subnet_a_person_untagged_is_left_with_its_vpc_and_named(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    untag: dict[str, Any],
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    if "delete" in untag:
        stack.truth.ec2.delete_tags(Resources=[private], Tags=[{"Key": k} for k in untag["delete"]])
    else:
        tags = [{"Key": k, "Value": v} for k, v in untag["set"].items()]
        stack.truth.ec2.create_tags(Resources=[private], Tags=tags)
    reconcile(services, clock, settings)
    assert [d["resource_id"] for d in record(client, request_id)["drift"]] == [private]
    stack.faults.reset_counts()

    after = _deleted(client, request_id)

    assert after["status"] == "DELETE_FAILED", after["status"]
    assert after["error"]["code"] == "NotTagged"
    assert private in after["error"]["message"]
    assert f"RequestId={request_id}" in after["error"]["message"]
    assert _exists(stack, private)
    assert stack.faults.count("ec2", "DeleteSubnet") == 1  # the public one only
    assert stack.faults.count("ec2", "DeleteVpc") == 0  # it keeps the untagged subnet
    assert sorted(after["teardown"]["remaining"]) == sorted([private, rec["vpc_id"]])


def test_tagged_again_the_next_delete_removes_everything(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    stack.truth.ec2.delete_tags(Resources=[private], Tags=[{"Key": REQUEST_ID_TAG}])
    clock.advance(settings.drift_settle_seconds + 2)
    assert _deleted(client, request_id)["status"] == "DELETE_FAILED"
    stack.truth.ec2.create_tags(
        Resources=[private], Tags=[{"Key": REQUEST_ID_TAG, "Value": request_id}]
    )

    after = _deleted(client, request_id)

    assert after["status"] == "DELETED", (after["status"], after.get("error"))
    assert_nothing_left(stack, request_id)
    assert not _exists(stack, private)
