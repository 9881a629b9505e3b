"""Chalice's Terraform output (`--pkg-format terraform`, dist/terraform/chalice.tf.json),
made to work today.

Chalice pins Terraform < 1.4 and the AWS provider < 5, and declares an unused
`null_data_source` (which needs the `null` provider), and it takes no merge
template for Terraform. So:

- the app is packaged from a staging copy whose stage environment holds
  Terraform references (`${aws_dynamodb_table.requests.name}`, ...): Chalice
  copies them verbatim into the functions' environment, the authorizer's
  `providerARNs` and the event source ARN, and Terraform resolves them
  (`staging_environment`, and `policy_values` for the IAM policies);
- `postprocess` fixes Chalice's JSON for Terraform >= 1.11 and AWS provider 5.x;
- the backing resources those references name are added in a file of their own
  (`terraform_backing.py`).

`tests/deploy/test_terraform_apply.py` applies and destroys the result
against a moto server.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .gateway_responses import FIXED_MESSAGES, GATEWAY_RESPONSES, gateway_response_template
from .stage import Stage

# Write-only arguments (`value_wo`) need Terraform 1.11, ephemeral resources 1.10.
REQUIRED_TERRAFORM = ">= 1.11.0"
# aws_ssm_parameter's `value_wo`/`value_wo_version` came with 5.87.0; the ephemeral
# aws_secretsmanager_random_password (hashicorp/terraform-provider-aws#41106, January
# 2025) is taken to be older. The tests run both with 5.100.0.
REQUIRED_AWS_PROVIDER = ">= 5.87.0, < 6.0"
# Chalice's output declares these data sources; the backing resources use them too.
PARTITION = "${data.aws_partition.chalice.partition}"
REGION = "${data.aws_region.chalice.name}"
ACCOUNT = "${data.aws_caller_identity.chalice.account_id}"
_GATEWAY_RESPONSES = [
    f"aws_api_gateway_gateway_response.{kind.lower()}" for kind in GATEWAY_RESPONSES
]


def staging_environment() -> dict[str, str]:
    """Stage environment for the packaging copy: references to the backing resources."""
    return {
        "TABLE_NAME": "${aws_dynamodb_table.requests.name}",
        "QUEUE_NAME": "${aws_sqs_queue.jobs.name}",
        "QUEUE_URL": "${aws_sqs_queue.jobs.url}",
        "DLQ_URL": "${aws_sqs_queue.jobs_dlq.url}",
        "USER_POOL_ARN": "${aws_cognito_user_pool.users.arn}",
        "USER_POOL_CLIENT_ID": "${aws_cognito_user_pool_client.users.id}",
        "PAGE_TOKEN_SECRET_SSM_PARAMETER": "${aws_ssm_parameter.page_token_secret.name}",
    }


# The API handler's grant to read the listing tokens' key (policies.with_page_token_secret).
PAGE_TOKEN_SECRET_ARN = "${aws_ssm_parameter.page_token_secret.arn}"


def policy_values(stage: Stage, function: str) -> dict[str, str]:
    """The policy placeholders as Terraform references."""
    return {
        "table_arn": "${aws_dynamodb_table.requests.arn}",
        "queue_arn": "${aws_sqs_queue.jobs.arn}",
        "dlq_arn": "${aws_sqs_queue.jobs_dlq.arn}",
        "log_group_arn": (
            f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{stage.log_group(function)}"
        ),
        "partition": PARTITION,
        "region": REGION,
        "account": ACCOUNT,
        "project_tag": stage.project_tag,
        "deployment": stage.deployment,
    }


def postprocess(chalice_tf: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """Chalice's chalice.tf.json, fixed for Terraform >= 1.11 and AWS provider 5.x.

    - version constraints: Terraform >= 1.11 and AWS provider >= 5.87, < 6 (the
      listing tokens' key is a write-only argument, terraform_backing.py); no `null` provider;
    - the unused `null_data_source` removed;
    - every function created after its log group (its runtime is Chalice's own,
      LAMBDA_RUNTIME: `make package` runs Chalice with it pinned, infra/chalice_cli.py);
    - the API stage as its own resource (deployment `stage_name` is deprecated);
    - the deployment made after the gateway responses and made again whenever the
      API definition (its methods and integrations) or a gateway response changes:
      a deployment is a snapshot, and one taken before the responses exist, or
      never retaken, serves API Gateway's plain errors instead of ours;
    - the schedule rules named per stage, `<app>-<stage>-<function>-event` (Chalice
      names them `reaper-event`, `reconciler-event` in every stage, so two stages in
      one account and region would collide).
    """
    doc = copy.deepcopy(chalice_tf)
    terraform = doc.setdefault("terraform", {})
    terraform["required_version"] = REQUIRED_TERRAFORM
    providers = terraform.setdefault("required_providers", {})
    providers.pop("null", None)
    providers["aws"] = {"source": "hashicorp/aws", "version": REQUIRED_AWS_PROVIDER}
    data = doc.get("data", {})
    data.pop("null_data_source", None)

    resources = doc["resource"]
    for name, function in resources["aws_lambda_function"].items():
        function["depends_on"] = [f"aws_cloudwatch_log_group.{name}"]

    deployment = resources["aws_api_gateway_deployment"]["rest_api"]
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    deployment["depends_on"] = list(_GATEWAY_RESPONSES)
    # Redeployed when the API's definition or the gateway responses' configuration
    # changes. The configuration as written here, not as API Gateway reads it back
    # (`response_parameters` comes back {} where null was sent): otherwise every plan
    # would replace the deployment.
    deployment["triggers"] = {
        "redeployment": (
            '${sha1(jsonencode([local.chalice_api_swagger, "' + _gateway_responses_hash() + '"]))}'
        )
    }
    deployment.setdefault("lifecycle", {})["create_before_destroy"] = True

    for rule in resources.get("aws_cloudwatch_event_rule", {}).values():
        rule["name"] = f"{stage.app_name}-{stage.name}-{rule['name']}"

    doc["output"]["EndpointURL"] = {"value": "${aws_api_gateway_stage.rest_api.invoke_url}/"}
    # The original design's walkthrough reads these (`"$API_URL/vpcs"`: no trailing slash).
    doc["output"]["demo_api_url"] = {"value": "${aws_api_gateway_stage.rest_api.invoke_url}"}
    return doc


def _gateway_responses_hash() -> str:
    """A digest of the gateway responses' configuration (what terraform_backing.py writes)."""
    config = [
        [kind, status, gateway_response_template(code, FIXED_MESSAGES.get(kind))]
        for kind, (status, code) in sorted(GATEWAY_RESPONSES.items())
    ]
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()
