"""The Terraform deployment: Chalice's `--pkg-format terraform` output, made to work today.

Chalice pins Terraform < 1.4 and the AWS provider < 5, and declares an unused
`null_data_source` (which needs the `null` provider), and it takes no merge
template for Terraform. So:

- the app is packaged from a staging copy whose stage environment holds
  Terraform references (`${aws_dynamodb_table.requests.name}`, ...): Chalice
  copies them verbatim into the functions' environment, the authorizer's
  `providerARNs` and the event source ARN, and Terraform resolves them;
- `postprocess` fixes Chalice's JSON for Terraform >= 1.11 and AWS provider 5.x;
- `backing` adds the backing resources, in a file of its own.

`tests/deploy/test_terraform_apply.py` applies and destroys the result
against a moto server.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from chalicelib.api.auth import ADMIN_GROUP
from chalicelib.store.layout import ATTRIBUTES, INDEXES, KEY_SCHEMA, TTL_ATTRIBUTE

from .gateway_responses import FIXED_MESSAGES, GATEWAY_RESPONSES, gateway_response_template
from .stage import (
    ACCESS_LOG_FORMAT,
    ACCESS_TOKEN_MINUTES,
    ADMIN_GROUP_DESCRIPTION,
    API_BURST_LIMIT,
    API_RATE_LIMIT,
    AUTH_FLOWS,
    DLQ_RETENTION_SECONDS,
    FUNCTIONS,
    ID_TOKEN_MINUTES,
    LOG_RETENTION_DAYS,
    PASSWORD_MIN_LENGTH,
    REFRESH_TOKEN_DAYS,
    TEMPORARY_PASSWORD_DAYS,
    Stage,
)

# Write-only arguments (`value_wo`) need Terraform 1.11, ephemeral resources 1.10.
REQUIRED_TERRAFORM = ">= 1.11.0"
# aws_ssm_parameter's `value_wo`/`value_wo_version` came with 5.87.0; the ephemeral
# aws_secretsmanager_random_password (hashicorp/terraform-provider-aws#41106, January
# 2025) is taken to be older. The tests run both with 5.100.0.
REQUIRED_AWS_PROVIDER = ">= 5.87.0, < 6.0"
# The listing tokens' key: an ephemeral Secrets Manager password of 64 letters and
# digits (64 * log2(62): about 381 bits), written once.
PAGE_TOKEN_KEY_LENGTH = 64
# Raising it writes a new key at the next apply (and invalidates the tokens given out).
PAGE_TOKEN_KEY_VERSION = 1
_PARTITION = "${data.aws_partition.chalice.partition}"
_REGION = "${data.aws_region.chalice.name}"
_ACCOUNT = "${data.aws_caller_identity.chalice.account_id}"
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
            f"arn:{_PARTITION}:logs:{_REGION}:{_ACCOUNT}:log-group:{stage.log_group(function)}"
        ),
        "partition": _PARTITION,
        "region": _REGION,
        "account": _ACCOUNT,
        "project_tag": stage.project_tag,
        "deployment": stage.deployment,
    }


def postprocess(chalice_tf: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """Chalice's chalice.tf.json, fixed for Terraform >= 1.11 and AWS provider 5.x.

    - version constraints: Terraform >= 1.11 and AWS provider >= 5.87, < 6 (the
      listing tokens' key is a write-only argument, `backing`); no `null` provider;
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
    """A digest of the gateway responses' configuration (what `backing` writes)."""
    config = [
        [kind, status, gateway_response_template(code, FIXED_MESSAGES.get(kind))]
        for kind, (status, code) in sorted(GATEWAY_RESPONSES.items())
    ]
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()


def backing(stage: Stage, api_stage_name: str) -> dict[str, Any]:
    """The backing resources and the API stage, as Terraform JSON."""
    # Kept by `terraform destroy` in stages whose data must survive.
    retain = {"lifecycle": {"prevent_destroy": True}} if stage.retain_data else {}
    resource: dict[str, Any] = {
        # The listing tokens' HMAC key, in a SecureString parameter the API reads at first
        # use (so it is in no function's environment). Written once, through the write-only
        # `value_wo`: the key is in neither the plan nor the state. A later apply draws an
        # ephemeral password again but, `value_wo_version` unchanged, does not write it
        # (a new key would invalidate every `next_token` given out).
        "aws_ssm_parameter": {
            "page_token_secret": {
                "name": stage.page_token_secret_parameter,
                "description": f"HMAC key of {stage.app_name} {stage.name}'s listing tokens",
                "type": "SecureString",
                "value_wo": (
                    "${ephemeral.aws_secretsmanager_random_password.page_token_secret"
                    ".random_password}"
                ),
                "value_wo_version": PAGE_TOKEN_KEY_VERSION,
            }
        },
        "aws_cognito_user_pool": {
            "users": {
                "name": stage.user_pool_name,
                "username_configuration": {"case_sensitive": False},
                "auto_verified_attributes": ["email"],
                "admin_create_user_config": {"allow_admin_create_user_only": True},
                "password_policy": {
                    "minimum_length": PASSWORD_MIN_LENGTH,
                    "require_lowercase": True,
                    "require_uppercase": True,
                    "require_numbers": True,
                    "require_symbols": True,
                    "temporary_password_validity_days": TEMPORARY_PASSWORD_DAYS,
                },
                "account_recovery_setting": {
                    "recovery_mechanism": [{"name": "verified_email", "priority": 1}]
                },
                "deletion_protection": "ACTIVE" if stage.retain_data else "INACTIVE",
                **_user_pool_security(stage),
                **retain,
            }
        },
        # The group whose members may act on every request (chalicelib/api/auth.py).
        "aws_cognito_user_group": {
            "admins": {
                "name": ADMIN_GROUP,
                "user_pool_id": "${aws_cognito_user_pool.users.id}",
                "description": ADMIN_GROUP_DESCRIPTION,
                # Kept with the pool: a kept pool without its group has lost every admin.
                **retain,
            }
        },
        "aws_cognito_user_pool_client": {
            "users": {
                "name": stage.user_pool_name,
                "user_pool_id": "${aws_cognito_user_pool.users.id}",
                "generate_secret": False,
                "explicit_auth_flows": list(AUTH_FLOWS),
                "id_token_validity": ID_TOKEN_MINUTES,
                "access_token_validity": ACCESS_TOKEN_MINUTES,
                "refresh_token_validity": REFRESH_TOKEN_DAYS,
                "token_validity_units": {
                    "id_token": "minutes",
                    "access_token": "minutes",
                    "refresh_token": "days",
                },
                "prevent_user_existence_errors": "ENABLED",
                "enable_token_revocation": True,
            }
        },
        "aws_dynamodb_table": {
            "requests": {
                "name": stage.table_name,
                "billing_mode": "PAY_PER_REQUEST",
                "hash_key": KEY_SCHEMA[0]["AttributeName"],
                "attribute": [
                    {"name": a["AttributeName"], "type": a["AttributeType"]} for a in ATTRIBUTES
                ],
                "global_secondary_index": [_index(index) for index in INDEXES],
                "ttl": {"attribute_name": TTL_ATTRIBUTE, "enabled": True},
                "point_in_time_recovery": {"enabled": True},
                "server_side_encryption": {"enabled": True},
                "deletion_protection_enabled": stage.retain_data,
                **retain,
            }
        },
        # The policies are set with each queue, not as aws_sqs_queue_policy and
        # aws_sqs_queue_redrive_allow_policy: those write the same queue's attributes
        # separately, and the provider waits about 25 s for each write to settle.
        # ARNs are spelled out where a queue would refer to itself or to the other.
        "aws_sqs_queue": {
            "jobs_dlq": {
                "name": stage.dlq_name,
                "message_retention_seconds": DLQ_RETENTION_SECONDS,
                "sqs_managed_sse_enabled": True,
                "policy": _tls_only(stage.dlq_name),
                # Only the jobs queue may move messages here.
                "redrive_allow_policy": (
                    '${jsonencode({redrivePermission = "byQueue", '
                    f'sourceQueueArns = ["{_queue_arn(stage.queue_name)}"]}})}}'
                ),
                # The failed jobs a person still has to look at outlive `terraform destroy`.
                **retain,
            },
            "jobs": {
                "name": stage.queue_name,
                "visibility_timeout_seconds": stage.visibility_timeout,
                "sqs_managed_sse_enabled": True,
                "policy": _tls_only(stage.queue_name),
                "redrive_policy": (
                    "${jsonencode({deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn, "
                    f"maxReceiveCount = {stage.max_receive_count}}})}}"
                ),
            },
        },
        "aws_cloudwatch_log_group": {
            **{
                function: {
                    "name": stage.log_group(function),
                    "retention_in_days": LOG_RETENTION_DAYS,
                }
                for function in FUNCTIONS
            },
            "api_access": {"name": stage.access_log_group, "retention_in_days": LOG_RETENTION_DAYS},
        },
        "aws_api_gateway_stage": {
            "rest_api": {
                "stage_name": api_stage_name,
                "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                "deployment_id": "${aws_api_gateway_deployment.rest_api.id}",
                # Traces start at the edge, joined to the functions' own (Chalice `xray`).
                "xray_tracing_enabled": True,
                # Needs the account's API Gateway CloudWatch role (docs/deploy.md).
                "access_log_settings": {
                    "destination_arn": "${aws_cloudwatch_log_group.api_access.arn}",
                    "format": ACCESS_LOG_FORMAT,
                },
            }
        },
        "aws_api_gateway_method_settings": {
            "rest_api": {
                "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                "stage_name": "${aws_api_gateway_stage.rest_api.stage_name}",
                "method_path": "*/*",
                "settings": {
                    "throttling_rate_limit": API_RATE_LIMIT,
                    "throttling_burst_limit": API_BURST_LIMIT,
                },
            }
        },
        "aws_api_gateway_gateway_response": {
            kind.lower(): {
                "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                "response_type": kind,
                **({"status_code": status} if status else {}),
                "response_templates": {
                    "application/json": gateway_response_template(code, FIXED_MESSAGES.get(kind))
                },
            }
            for kind, (status, code) in GATEWAY_RESPONSES.items()
        },
    }
    return {
        "ephemeral": {
            # Drawn by Secrets Manager (secretsmanager:GetRandomPassword) at each plan and
            # apply, stored nowhere by Terraform: more than the 256 bits of the other
            # deployments' 32 random bytes. Letters and digits only: the app uses the
            # parameter's text, UTF-8 encoded, as the HMAC key (chalicelib/wiring.py).
            "aws_secretsmanager_random_password": {
                "page_token_secret": {
                    "password_length": PAGE_TOKEN_KEY_LENGTH,
                    "exclude_punctuation": True,
                    "include_space": False,
                }
            }
        },
        "variable": {
            "region": {
                "type": "string",
                "default": None,
                "description": "AWS region (default: the provider's, e.g. AWS_REGION)",
            }
        },
        "provider": {"aws": {"region": "${var.region}"}},
        "resource": resource,
        "output": {
            "UserPoolId": {"value": "${aws_cognito_user_pool.users.id}"},
            "UserPoolClientId": {"value": "${aws_cognito_user_pool_client.users.id}"},
            # The same, under the original design's names (its walkthrough reads them).
            "demo_user_pool_id": {"value": "${aws_cognito_user_pool.users.id}"},
            "demo_user_pool_client_id": {"value": "${aws_cognito_user_pool_client.users.id}"},
            "TableName": {"value": "${aws_dynamodb_table.requests.name}"},
            "QueueUrl": {"value": "${aws_sqs_queue.jobs.url}"},
            "DeadLetterQueueUrl": {"value": "${aws_sqs_queue.jobs_dlq.url}"},
            "Region": {"value": _REGION},
        },
    }


def _user_pool_security(stage: Stage) -> dict[str, Any]:
    """The pool's MFA (an authenticator app) and threat protection, as the stage chose."""
    arguments: dict[str, Any] = {}
    if stage.mfa != "OFF":
        arguments["mfa_configuration"] = stage.mfa
        arguments["software_token_mfa_configuration"] = {"enabled": True}
    if stage.threat_protection != "OFF":
        arguments["user_pool_tier"] = "PLUS"
        arguments["user_pool_add_ons"] = {"advanced_security_mode": stage.threat_protection}
    return arguments


def _index(index: dict[str, Any]) -> dict[str, Any]:
    keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
    projection = index["Projection"]
    resource: dict[str, Any] = {
        "name": index["IndexName"],
        "hash_key": keys["HASH"],
        "projection_type": projection["ProjectionType"],
    }
    if "RANGE" in keys:
        resource["range_key"] = keys["RANGE"]
    if projection.get("NonKeyAttributes"):
        resource["non_key_attributes"] = list(projection["NonKeyAttributes"])
    return resource


def _queue_arn(name: str) -> str:
    return f"arn:{_PARTITION}:sqs:{_REGION}:{_ACCOUNT}:{name}"


def _tls_only(queue_name: str) -> str:
    return (
        '${jsonencode({Version = "2012-10-17", Statement = [{'
        'Sid = "DenyUnencryptedTransport", Effect = "Deny", Principal = "*", '
        f'Action = "sqs:*", Resource = "{_queue_arn(queue_name)}", '
        'Condition = {Bool = {"aws:SecureTransport" = "false"}}}]})}'
    )
