"""The backing resources as Terraform JSON (dist/terraform/backing.tf.json), which
Chalice's Terraform output (`terraform_chalice.py`) refers to but does not make: the user
pool with its client and `admins` group, the table, the jobs queue and its DLQ, the log
groups, the API's stage with its throttle and access log, the gateway responses, and the
listing tokens' key in an SSM SecureString parameter, written once.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.auth import ADMIN_GROUP
from chalicelib.store.schema import ATTRIBUTES, INDEXES, KEY_SCHEMA, TTL_ATTRIBUTE

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
from .terraform_chalice import ACCOUNT, PARTITION, REGION

# The listing tokens' key: an ephemeral Secrets Manager password of 64 letters and
# digits (64 * log2(62): about 381 bits), written once.
PAGE_TOKEN_KEY_LENGTH = 64
# Raising it writes a new key at the next apply (and invalidates the tokens given out).
PAGE_TOKEN_KEY_VERSION = 1


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
            "Region": {"value": REGION},
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
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"


def _tls_only(queue_name: str) -> str:
    return (
        '${jsonencode({Version = "2012-10-17", Statement = [{'
        'Sid = "DenyUnencryptedTransport", Effect = "Deny", Principal = "*", '
        f'Action = "sqs:*", Resource = "{_queue_arn(queue_name)}", '
        'Condition = {Bool = {"aws:SecureTransport" = "false"}}}]})}'
    )
