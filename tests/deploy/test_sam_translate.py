"""dist/cloudformation/sam.json through aws-sam-translator, offline: what CloudFormation
would actually create from it, linted, and checked where SAM adds or drops things.

The translator is the SAM transform CloudFormation runs (no AWS call here: a
boto3 session with a region only, and no managed policy to look up). The
template is translated as `make deploy` sends it: `CodeUri` pointing at the
uploaded zip, the key's SSM parameter name passed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from infra.stage import (
    ACCESS_LOG_FORMAT,
    API_BURST_LIMIT,
    API_RATE_LIMIT,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    LOGICAL_IDS,
    PROJECT_DIR,
    Stage,
)
from support.cloudformation_lint import translate


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    """The stage's template as CloudFormation gets it after the SAM transform."""
    return translate(sam)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_the_transform_leaves_only_plain_cloudformation(cfn: dict[str, Any]) -> None:
    kinds = {resource["Type"] for resource in cfn["Resources"].values()}

    assert not [kind for kind in kinds if kind.startswith("AWS::Serverless::")]
    assert "Transform" not in cfn
    assert {"AWS::Lambda::Function", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage"} <= kinds


def test_every_function_cloudformation_creates_runs_python312(cfn: dict[str, Any]) -> None:
    functions = of_type(cfn, "AWS::Lambda::Function")

    assert {name: f["Properties"]["Runtime"] for name, f in functions.items()} == dict.fromkeys(
        LOGICAL_IDS.values(), LAMBDA_RUNTIME
    )


def test_cfn_lint_finds_nothing_in_the_translated_template(
    cfn_lint_findings: dict[str, str], stage: Stage
) -> None:
    assert cfn_lint_findings[f"{stage.name}/translated.json"] == ""


def test_the_api_has_one_stage_throttled_traced_and_access_logged(cfn: dict[str, Any]) -> None:
    stages = of_type(cfn, "AWS::ApiGateway::Stage")
    deployments = of_type(cfn, "AWS::ApiGateway::Deployment")

    # No second stage named `Stage` (SAM makes one through the deployment's StageName
    # unless OpenApiVersion is set), and the one stage has every setting.
    (stage,) = stages.values()
    (deployment,) = deployments.values()
    assert "StageName" not in deployment["Properties"]
    properties = stage["Properties"]
    assert properties["StageName"] == "api"
    assert properties["AccessLogSetting"] == {
        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
        "Format": ACCESS_LOG_FORMAT,
    }
    assert properties["TracingEnabled"] is True
    assert properties["MethodSettings"] == [
        {
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingRateLimit": API_RATE_LIMIT,
            "ThrottlingBurstLimit": API_BURST_LIMIT,
        }
    ]


def test_the_access_log_group_keeps_logs_as_long_as_the_functions_do(
    cfn: dict[str, Any], stage: Stage
) -> None:
    groups = {
        resource["Properties"]["LogGroupName"]: resource["Properties"]["RetentionInDays"]
        for resource in of_type(cfn, "AWS::Logs::LogGroup").values()
    }

    assert groups[stage.access_log_group] == LOG_RETENTION_DAYS
    assert set(groups.values()) == {LOG_RETENTION_DAYS}


def test_a_changed_gateway_response_makes_a_new_deployment(sam: dict[str, Any]) -> None:
    edited = copy.deepcopy(sam)
    responses = edited["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"] += " "

    before = set(of_type(translate(sam), "AWS::ApiGateway::Deployment"))
    after = set(of_type(translate(edited), "AWS::ApiGateway::Deployment"))

    # SAM names the deployment by a hash of the definition, gateway responses
    # included: a new logical id is a new deployment, so the change goes live.
    assert before.isdisjoint(after)


def test_prod_keeps_its_table_user_pool_and_dead_letters_when_the_stack_goes(
    cfn: dict[str, Any], stage: Stage
) -> None:
    expected = "Retain" if stage.retain_data else "Delete"

    for logical_id in ("RequestsTable", "UserPool", "JobsDeadLetterQueue"):
        resource = cfn["Resources"][logical_id]
        assert resource["DeletionPolicy"] == expected, logical_id
        assert resource["UpdateReplacePolicy"] == expected, logical_id


# How docs/deploy.md may name each service whose resources the transformed template has.
_SERVICE_NAMES = {
    "AWS::ApiGateway": ("API Gateway",),
    "AWS::Cognito": ("Cognito",),
    "AWS::DynamoDB": ("DynamoDB",),
    "AWS::Events": ("EventBridge",),
    "AWS::IAM": ("IAM",),
    "AWS::Lambda": ("Lambda",),
    "AWS::Logs": ("CloudWatch Logs",),
    "AWS::SQS": ("SQS",),
}


def test_make_deploys_prerequisites_name_every_service_the_stack_creates(
    cfn: dict[str, Any],
) -> None:
    """CloudFormation is given no service role: it creates each resource with the
    deployer's credentials, the schedules' EventBridge rules too."""
    guide = (PROJECT_DIR / "docs" / "deploy.md").read_text()
    section = guide.split("## One stack: `make deploy`", 1)[1]
    match = re.search(r"\*\*Prerequisites\*\*:(.*?)\n\n", section, re.S)
    assert match, "no Prerequisites paragraph under `make deploy`"
    prerequisites = " ".join(match.group(1).split())
    kinds = {resource["Type"].rsplit("::", 1)[0] for resource in cfn["Resources"].values()}
    missing = sorted(
        kind
        for kind in kinds
        if not any(name in prerequisites for name in _SERVICE_NAMES.get(kind, (kind,)))
    )
    assert not missing, f"docs/deploy.md's make deploy prerequisites omit {missing}"
