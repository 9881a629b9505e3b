"""The IAM policies as both outputs deploy them, resolved for one account and evaluated.

Each output spells ARNs its own way (`Fn::Sub` text in CloudFormation, Terraform
references); `deployed_policies` resolves both to the same plain ARNs of a test
account, so the same assertions hold each output to the policy templates, and
`support.iam.allowed` (the evaluator the integration suite checks the code's
calls with) says what a role may do.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from infra.policies import load_policy, render, with_page_token_secret
from infra.stage import FUNCTIONS, ROLE_IDS, Stage
from support.iam import IamRequest, allowed

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
OUTPUTS = ("cloudformation", "terraform")
DEPLOYMENT_KEY = "vpc-provisioner:deployment"
DEPLOYMENT = f"aws:ResourceTag/{DEPLOYMENT_KEY}"


def _arns(stage: Stage) -> dict[str, str]:
    return {
        "table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{stage.table_name}",
        "queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{stage.queue_name}",
        "dlq": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{stage.dlq_name}",
        "page_token_secret": (
            f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{stage.page_token_secret_parameter}"
        ),
    }


def _references(output: str, stage: Stage) -> dict[str, str]:
    """Each output's spelling of the account, region, partition, table and queues."""
    arns = _arns(stage)
    if output == "cloudformation":
        return {
            "${AWS::Partition}": PARTITION,
            "${AWS::Region}": REGION,
            "${AWS::AccountId}": ACCOUNT,
            "${RequestsTable.Arn}": arns["table"],
            "${JobsQueue.Arn}": arns["queue"],
            "${JobsDeadLetterQueue.Arn}": arns["dlq"],
            "${PageTokenSecretParameter}": stage.page_token_secret_parameter,
        }
    return {
        "${data.aws_partition.chalice.partition}": PARTITION,
        "${data.aws_region.chalice.name}": REGION,
        "${data.aws_caller_identity.chalice.account_id}": ACCOUNT,
        "${aws_dynamodb_table.requests.arn}": arns["table"],
        "${aws_sqs_queue.jobs.arn}": arns["queue"],
        "${aws_sqs_queue.jobs_dlq.arn}": arns["dlq"],
        "${aws_ssm_parameter.page_token_secret.arn}": arns["page_token_secret"],
    }


def _resolve(value: Any, references: dict[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = value["Fn::Sub"]
    if isinstance(value, str):
        for reference, resolved in references.items():
            value = value.replace(reference, resolved)
        assert "${" not in value, f"unresolved reference in {value!r}"
        return value
    if isinstance(value, list):
        return [_resolve(item, references) for item in value]
    if isinstance(value, dict):
        assert not any(key.startswith("Fn::") for key in value), value
        return {key: _resolve(item, references) for key, item in value.items()}
    return value


@pytest.fixture(params=OUTPUTS)
def deployed_policies(
    request: pytest.FixtureRequest, sam: dict[str, Any], tf: dict[str, Any], stage: Stage
) -> dict[str, dict[str, Any]]:
    """Each function's policy as the output deploys it, with plain ARNs."""
    output = str(request.param)
    references = _references(output, stage)
    policies: dict[str, dict[str, Any]] = {}
    for function in FUNCTIONS:
        if output == "cloudformation":
            [policy] = sam["Resources"][ROLE_IDS[function]]["Properties"]["Policies"]
            document = policy["PolicyDocument"]
        else:
            document = json.loads(
                tf["resource"]["aws_iam_role_policy"][f"{function}_role"]["policy"]
            )
        policies[function] = _resolve(document, references)
    return policies


def _ec2(resource: str) -> str:
    return f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}:{resource}"


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _grants(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement's Action and Resource cover the pair (conditions aside)."""
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _actions(statement)) and any(
        fnmatch.fnmatchcase(resource, r) for r in _resources(statement)
    )


def _tags(prefix: str, tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """An IAM request context: `tags` as `aws:<prefix>/<key>` keys."""
    return tuple(sorted((f"aws:{prefix}/{key}", value) for key, value in tags.items()))


def policy_values(stage: Stage, function: str) -> dict[str, str]:
    """What a policy template's placeholders become in ACCOUNT/REGION for `function`."""
    arns = _arns(stage)
    return {
        "table_arn": arns["table"],
        "queue_arn": arns["queue"],
        "dlq_arn": arns["dlq"],
        "log_group_arn": (
            f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{stage.log_group(function)}"
        ),
        "partition": PARTITION,
        "region": REGION,
        "account": ACCOUNT,
        "project_tag": stage.project_tag,
        "deployment": stage.deployment,
    }


def test_both_outputs_deploy_exactly_the_policy_templates(
    deployed_policies: dict[str, dict[str, Any]], stage: Stage
) -> None:
    """... and, for the API handler only, reading the listing tokens' key parameter."""
    for function in FUNCTIONS:
        expected = with_page_token_secret(
            render(load_policy(stage, function), policy_values(stage, function)),
            function,
            _arns(stage)["page_token_secret"],
        )
        assert deployed_policies[function] == expected, function
    reads = [
        s
        for s in deployed_policies["api_handler"]["Statement"]
        if "ssm:GetParameter" in s["Action"]
    ]
    assert reads == [
        {
            "Sid": "ReadPageTokenSecret",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": _arns(stage)["page_token_secret"],
        }
    ]


def test_the_reconciler_may_only_read_its_table_and_delete_its_deployments_networks(
    deployed_policies: dict[str, dict[str, Any]], stage: Stage
) -> None:
    policy = deployed_policies["reconciler"]
    statements = policy["Statement"]
    table = _arns(stage)["table"]
    log_group = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{stage.log_group('reconciler')}"

    assert all(s["Effect"] == "Allow" for s in statements)
    assert {a for s in statements for a in _actions(s)} == {
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        # the address upkeep: foreign VPCs' blocks, ended requests' blocks, the backfill
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        # the address upkeep's indexes, and the drift check's SUCCEEDED requests (below)
        "dynamodb:Query",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeRouteTables",
        # the proof that no one's instance lives where it deletes (Teardown.remove)
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteVpc",
        "ec2:DeleteSubnet",
        "ec2:DeleteInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DeleteRouteTable",
        "ec2:DisassociateRouteTable",
        # on its own log group, as every function
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        # X-Ray traces (Chalice's `xray`), as every function: no resource-level permissions
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    for statement in statements:
        services = {a.split(":")[0] for a in _actions(statement)}
        if _actions(statement) == ["dynamodb:Query"]:
            assert _resources(statement) in (
                [f"{table}/index/by_pool", f"{table}/index/by_created"],  # the address upkeep
                [f"{table}/index/by_status"],  # the drift check
            ), statement
        elif "dynamodb" in services:
            assert _resources(statement) == [table], statement
        if "logs" in services:
            assert _resources(statement) == [f"{log_group}:*"], statement
        if "xray" in services:
            assert services == {"xray"}, statement
        if any(a.startswith("ec2:Delete") for a in _actions(statement)):
            assert set(_resources(statement)) <= {
                _ec2("vpc/*"),
                _ec2("subnet/*"),
                _ec2("internet-gateway/*"),
                _ec2("route-table/*"),
            }, statement
            assert statement["Condition"]["StringEquals"][DEPLOYMENT] == stage.table_name

    # Evaluated: a network is deleted only if it carries this stage's deployment tag.
    ours = _tags("ResourceTag", {DEPLOYMENT_KEY: stage.table_name, "RequestId": "r-1"})
    denied = [
        _tags("ResourceTag", {DEPLOYMENT_KEY: "another-table", "RequestId": "r-1"}),
        _tags("ResourceTag", {"Project": stage.project_tag, "RequestId": "r-1"}),
        _tags("RequestTag", {DEPLOYMENT_KEY: stage.table_name, "RequestId": "r-1"}),
        (),
    ]
    for action, resource in (("DeleteVpc", "vpc/vpc-1"), ("DeleteSubnet", "subnet/subnet-1")):
        request = IamRequest("reconciler", f"ec2:{action}", _ec2(resource), ours)
        assert allowed(policy, request), action
        for context in denied:
            request = IamRequest("reconciler", f"ec2:{action}", _ec2(resource), context)
            assert not allowed(policy, request), (action, context)
    for action in ("ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateTags"):
        assert not allowed(policy, IamRequest("reconciler", action, _ec2("vpc/vpc-1"), ours))
    # Put and Delete: the address blocks it keeps (store/pools.py); never a read of one item.
    assert not allowed(policy, IamRequest("reconciler", "dynamodb:GetItem", table))
    other_table = table.replace(stage.table_name, "another-table")
    assert not allowed(policy, IamRequest("reconciler", "dynamodb:UpdateItem", other_table))


def test_the_worker_creates_subnets_only_in_its_deployments_vpcs(
    deployed_policies: dict[str, dict[str, Any]], stage: Stage
) -> None:
    policy = deployed_policies["worker"]
    vpc = _ec2("vpc/vpc-1")
    on_vpcs = [s for s in policy["Statement"] if _grants(s, "ec2:CreateSubnet", vpc)]

    # Request tags apply only to the resource being created (the subnet), not to the
    # VPC it goes into: on vpc/*, a request-tag condition grants nothing, or, were it
    # evaluated against the subnet's tags, any VPC to a worker that tags its subnet.
    assert on_vpcs, "no statement allows CreateSubnet on a VPC"
    for statement in on_vpcs:
        keys = {key for tests in statement.get("Condition", {}).values() for key in tests}
        assert not any(key.startswith("aws:RequestTag/") for key in keys), statement
        assert statement["Condition"]["StringEquals"][DEPLOYMENT] == stage.deployment

    subnet_tags = {DEPLOYMENT_KEY: stage.deployment, "Project": stage.project_tag}
    ours = _tags("ResourceTag", {DEPLOYMENT_KEY: stage.deployment})
    others = _tags("ResourceTag", {DEPLOYMENT_KEY: "another-table"})
    requested = _tags("RequestTag", subnet_tags)
    assert allowed(policy, IamRequest("worker", "ec2:CreateSubnet", vpc, ours))
    for context in (others, requested, requested + others, ()):
        assert not allowed(policy, IamRequest("worker", "ec2:CreateSubnet", vpc, context)), context


def test_the_worker_creates_and_deletes_only_its_deployments_networks(
    deployed_policies: dict[str, dict[str, Any]], stage: Stage
) -> None:
    policy = deployed_policies["worker"]
    tagged = _tags("RequestTag", {DEPLOYMENT_KEY: stage.deployment, "Project": stage.project_tag})
    untagged = _tags("RequestTag", {"Project": stage.project_tag})

    for action, resource in (("CreateVpc", "vpc/*"), ("CreateSubnet", "subnet/*")):
        granting = [s for s in policy["Statement"] if _grants(s, f"ec2:{action}", _ec2(resource))]
        assert granting, action
        for statement in granting:
            assert statement["Condition"]["StringEquals"] == {
                "aws:RequestTag/Project": stage.project_tag,
                f"aws:RequestTag/{DEPLOYMENT_KEY}": stage.deployment,
            }
        assert allowed(policy, IamRequest("worker", f"ec2:{action}", _ec2(resource), tagged))
        request = IamRequest("worker", f"ec2:{action}", _ec2(resource), untagged)
        assert not allowed(policy, request), action
    for action, resource in (("DeleteVpc", "vpc/vpc-1"), ("DeleteSubnet", "subnet/subnet-1")):
        ours = _tags("ResourceTag", {DEPLOYMENT_KEY: stage.deployment, "RequestId": "r-1"})
        others = _tags("ResourceTag", {DEPLOYMENT_KEY: "another-table", "RequestId": "r-1"})
        assert allowed(policy, IamRequest("worker", f"ec2:{action}", _ec2(resource), ours))
        assert not allowed(policy, IamRequest("worker", f"ec2:{action}", _ec2(resource), others))


def test_no_function_may_delete_an_item_but_a_shared_address_blocks(
    deployed_policies: dict[str, dict[str, Any]],
) -> None:
    """The code deletes one kind of item: a shared address block's (`shared#...`,
    store/block_tree.py). A role that could delete any item could delete a request's
    record, and the service would lose the network: no GET, no DELETE, no drift check (the
    reconciler leaves what a request without a record made alone, reported `unrecorded`;
    before, it removed it as an orphan). Every DeleteItem grant is pinned to those keys."""
    grants = [
        (function, statement)
        for function, policy in deployed_policies.items()
        for statement in policy["Statement"]
        if "dynamodb:DeleteItem" in _actions(statement)
    ]
    assert {f for f, _ in grants} == {"api_handler", "worker", "reconciler"}
    for function, statement in grants:
        condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
        assert condition.get("dynamodb:LeadingKeys") == ["shared#*"], (function, statement)
