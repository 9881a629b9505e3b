"""The IAM policy files allow every AWS call the code makes: policy and code cannot drift.

Runs last (marker `after_all`): by then every integration test's AWS calls are
recorded, attributed to the Lambda function that made them. This test adds
one pass over each code path of its own, so it also holds when run alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.jobs import job_body
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from infra.policies import load_policy, render
from infra.stage import FUNCTIONS, load_stage
from integration.conftest import IAM_RECORDER, QUEUE, TABLE, Stack, body, deliver, post
from integration.test_reconciler import tagged_vpc
from support.iam import ACCOUNT, PARTITION, REGION, IamRequest, allowed
from support.tokens import auth

pytestmark = pytest.mark.after_all


def _every_code_path(client: Client, stack: Stack, services: Services, clock: Any) -> None:
    first = post(client, body(), key="iam-1").json_body["request_id"]
    post(client, body(), key="iam-1")  # replay of a QUEUED request: GetItem + SendMessage
    client.http.get(f"/vpcs/{first}", headers=auth())
    client.http.get("/vpcs?limit=1", headers=auth())
    deliver(client, first)  # claim, create, checkpoint, finish
    failing = post(client, body(cidr="10.31.0.0/16", subnets=3)).json_body["request_id"]
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)
    deliver(client, failing)  # rollback: DeleteSubnet, DeleteVpc
    stack.faults.clear()
    lost = post(client, body(cidr="10.32.0.0/16")).json_body["request_id"]
    stack.faults.fail("ec2", "CreateVpc", "InternalError", status=500, when="after")
    stack.faults.fail("ec2", "CreateSubnet", "InternalError", status=500, when="after")
    # lookups (DescribeVpcs, DescribeSubnets), and the final write's lost answer
    # settled by a consistent read (GetItem)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        status=500,
        when="after",
        match=lambda p: ":target" in p.get("ExpressionAttributeValues", {}),
    )
    deliver(client, lost)
    stack.faults.clear()
    throttled = post(client, body(cidr="10.35.0.0/16")).json_body["request_id"]
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", status=503, times=-1)
    with pytest.raises(RetryLater):  # the retry delay: ChangeMessageVisibility
        deliver(client, throttled)
    stack.faults.clear()
    post(client, body(cidr="10.33.0.0/16"))  # never delivered: the reaper re-sends it
    # A dead letter of a FAILED request: the reaper reads it, keeps it, releases it.
    stack.truth.sqs.send_message(QueueUrl=stack.queues.dlq_url, MessageBody=job_body(failing))
    clock.advance(services.settings.stale_after_seconds + 1)
    assert services.reaper.run().requeued
    # A VPC a lost worker left behind: the reconciler deletes it and notes it.
    tagged_vpc(stack, first, cidr="10.34.0.0/16")
    # And someone deleted one of `first`'s subnets: the drift check (a Query of the status
    # index) notes it on the record.
    drifting = client.http.get(f"/vpcs/{first}", headers=auth()).json_body["subnets"][0]
    stack.truth.ec2.delete_subnet(SubnetId=drifting["subnet_id"])
    report = services.reconciler.run()
    assert report.removed
    assert report.drift.changed == [first]
    # The api_handler's lifecycle: filtered listings (a Query on each index), and
    # DELETEs: a teardown (UpdateItem, SendMessage), a cancel, a FAILED request.
    client.http.get("/vpcs?status=SUCCEEDED&limit=1", headers=auth())
    client.http.get("/vpcs?created_by=me&limit=1", headers=auth())
    client.http.get("/vpcs?drift=true&limit=1", headers=auth())
    client.http.get("/pools", headers=auth())  # the pools' blocks: a Query of by_pool
    queued = post(client, body(cidr="10.36.0.0/16")).json_body["request_id"]
    for request_id in (first, queued, failing):
        response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
        assert response.status_code == 202, response.json_body
    # The worker's lifecycle: public subnets (a gateway, a route table), then DELETE's
    # teardown of them (DescribeNetworkInterfaces, disassociate, detach, deletes).
    public = body(cidr="10.37.0.0/16")
    public["subnets"][0]["public"] = True
    exposed = post(client, public).json_body["request_id"]
    deliver(client, exposed)
    # A VPC only its tag ties to the request: before deleting it, the teardown reads what
    # the SUCCEEDED records name (a Query of the status index).
    tagged_vpc(stack, exposed, cidr="10.38.0.0/16")
    assert client.http.request("DELETE", f"/vpcs/{exposed}", headers=auth()).status_code == 202
    deliver(client, exposed, operation=Operation.DELETE)


def test_every_aws_call_is_allowed_by_its_functions_policy(
    client: Client, stack: Stack, services: Services, clock: Any
) -> None:
    _every_code_path(client, stack, services, clock)
    stage = load_stage("dev")
    functions = {request.function for request in IAM_RECORDER.requests}
    assert functions == set(FUNCTIONS)

    denied = []
    for request in sorted(IAM_RECORDER.requests, key=repr):
        policy = render(
            load_policy(stage, request.function),
            {
                "table_arn": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
                "queue_arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
                "dlq_arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{QUEUE}-dlq",
                "log_group_arn": "unused",
                "partition": PARTITION,
                "region": REGION,
                "account": ACCOUNT,
                "project_tag": request.project_tag,
                "deployment": TABLE,
            },
        )
        if not allowed(policy, request):
            denied.append(request)

    assert denied == []
    actions = {(r.function, r.action) for r in IAM_RECORDER.requests}
    # The paths above really ran: the check covered each kind of call.
    assert {
        ("api_handler", "dynamodb:PutItem"),
        ("api_handler", "dynamodb:GetItem"),
        ("api_handler", "dynamodb:Query"),
        ("api_handler", "dynamodb:UpdateItem"),
        ("api_handler", "sqs:SendMessage"),
        ("api_handler", "ec2:DescribeAvailabilityZones"),
        ("worker", "dynamodb:UpdateItem"),
        ("worker", "dynamodb:GetItem"),
        ("worker", "sqs:ChangeMessageVisibility"),
        ("worker", "ec2:CreateVpc"),
        ("worker", "ec2:CreateSubnet"),
        ("worker", "ec2:CreateTags"),
        ("worker", "ec2:DescribeVpcs"),
        ("worker", "ec2:DescribeSubnets"),
        ("worker", "ec2:DeleteSubnet"),
        ("worker", "ec2:DeleteVpc"),
        ("worker", "ec2:CreateInternetGateway"),
        ("worker", "ec2:AttachInternetGateway"),
        ("worker", "ec2:CreateRouteTable"),
        ("worker", "ec2:CreateRoute"),
        ("worker", "ec2:AssociateRouteTable"),
        ("worker", "ec2:ModifySubnetAttribute"),
        ("worker", "ec2:DescribeNetworkInterfaces"),
        ("worker", "ec2:DescribeInternetGateways"),
        ("worker", "ec2:DescribeRouteTables"),
        ("worker", "ec2:DisassociateRouteTable"),
        ("worker", "ec2:DeleteRouteTable"),
        ("worker", "ec2:DetachInternetGateway"),
        ("worker", "ec2:DeleteInternetGateway"),
        ("worker", "dynamodb:Query"),
        ("reaper", "dynamodb:Query"),
        ("reaper", "dynamodb:UpdateItem"),
        ("reaper", "sqs:SendMessage"),
        ("reaper", "sqs:ReceiveMessage"),
        ("reaper", "sqs:ChangeMessageVisibility"),
        ("reaper", "dynamodb:BatchGetItem"),
        ("reconciler", "dynamodb:BatchGetItem"),
        ("reconciler", "dynamodb:Query"),
        ("reconciler", "dynamodb:UpdateItem"),
        ("reconciler", "ec2:DescribeVpcs"),
        ("reconciler", "ec2:DescribeSubnets"),
        ("reconciler", "ec2:DeleteVpc"),
    } <= actions
    # The api_handler queries each listing's index (and only those).
    api_indexes = {
        r.resource.rsplit("/index/", 1)[-1]
        for r in IAM_RECORDER.requests
        if (r.function, r.action) == ("api_handler", "dynamodb:Query")
    }
    assert api_indexes == {"by_created", "by_status", "by_creator", "by_drift", "by_pool"}
    # The reconciler queries the status index (the SUCCEEDED requests, for drift), and the
    # address upkeep's indexes.
    reconciler_indexes = {
        r.resource.rsplit("/index/", 1)[-1]
        for r in IAM_RECORDER.requests
        if (r.function, r.action) == ("reconciler", "dynamodb:Query")
    }
    assert "by_status" in reconciler_indexes
    assert reconciler_indexes <= {"by_status", "by_pool", "by_created"}
    # The worker queries the status index only.
    worker_indexes = {
        r.resource.rsplit("/index/", 1)[-1]
        for r in IAM_RECORDER.requests
        if (r.function, r.action) == ("worker", "dynamodb:Query")
    }
    assert worker_indexes == {"by_status"}


def test_a_call_outside_the_policy_is_caught() -> None:
    """The checker itself can fail: the API may not delete VPCs."""
    stage = load_stage("dev")
    policy = render(
        load_policy(stage, "api_handler"),
        {
            "table_arn": "t",
            "queue_arn": "q",
            "dlq_arn": "d",
            "log_group_arn": "l",
            "partition": PARTITION,
            "region": REGION,
            "account": ACCOUNT,
            "project_tag": "demo",
            "deployment": TABLE,
        },
    )
    request = IamRequest("api_handler", "ec2:DeleteVpc", f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/v")

    assert not allowed(policy, request)
