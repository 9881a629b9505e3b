"""The CloudFormation (SAM) deployment: what `chalice package --merge-template` adds.

Chalice generates the functions, their roles, the REST API and the event
sources; this merge template adds the backing resources (user pool, table,
queue and DLQ, log groups) and wires Chalice's resources to them with
`Ref`/`GetAtt`. Chalice's template merges dicts key by key, so where Chalice
wrote an intrinsic (the SQS event's `Queue` is a `Fn::Sub`), the same key is
reused here rather than a second intrinsic added beside it.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.auth import ADMIN_GROUP
from chalicelib.store.schema import ATTRIBUTES, INDEXES, KEY_SCHEMA, TTL_ATTRIBUTE

from .gateway_responses import FIXED_MESSAGES, GATEWAY_RESPONSES, gateway_response_template
from .policies import load_policy, render_cloudformation, with_page_token_secret
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
    LOGICAL_IDS,
    PASSWORD_MIN_LENGTH,
    REFRESH_TOKEN_DAYS,
    ROLE_IDS,
    TEMPORARY_PASSWORD_DAYS,
    Stage,
)

# The template parameter naming the SSM SecureString that holds the listing tokens' HMAC
# key (made by `make deploy` before the stack, see infra/deploy.py). The key itself is
# never a template parameter: CloudFormation would put it in the functions' environment.
PAGE_TOKEN_SECRET_PARAMETER = "PageTokenSecretParameter"


def _user_pool_security(stage: Stage) -> dict[str, Any]:
    """The pool's MFA (an authenticator app) and threat protection, as the stage chose."""
    properties: dict[str, Any] = {}
    if stage.mfa != "OFF":
        properties["MfaConfiguration"] = stage.mfa
        properties["EnabledMfas"] = ["SOFTWARE_TOKEN_MFA"]
    if stage.threat_protection != "OFF":
        properties["UserPoolTier"] = "PLUS"
        properties["UserPoolAddOns"] = {"AdvancedSecurityMode": stage.threat_protection}
    return properties


def merge_template(stage: Stage) -> dict[str, Any]:
    """The template to merge into Chalice's SAM output for `stage`."""
    deletion = "Retain" if stage.retain_data else "Delete"
    resources: dict[str, Any] = {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": deletion,
            "UpdateReplacePolicy": deletion,
            "Properties": {
                "UserPoolName": stage.user_pool_name,
                "UsernameConfiguration": {"CaseSensitive": False},
                "AutoVerifiedAttributes": ["email"],
                # Self sign-up is off: an administrator creates each user.
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": PASSWORD_MIN_LENGTH,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                        "TemporaryPasswordValidityDays": TEMPORARY_PASSWORD_DAYS,
                    }
                },
                "AccountRecoverySetting": {
                    "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
                },
                "DeletionProtection": "ACTIVE" if stage.retain_data else "INACTIVE",
                **_user_pool_security(stage),
            },
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": stage.user_pool_name,
                "GenerateSecret": False,
                "ExplicitAuthFlows": list(AUTH_FLOWS),
                "IdTokenValidity": ID_TOKEN_MINUTES,
                "AccessTokenValidity": ACCESS_TOKEN_MINUTES,
                "RefreshTokenValidity": REFRESH_TOKEN_DAYS,
                "TokenValidityUnits": {
                    "IdToken": "minutes",
                    "AccessToken": "minutes",
                    "RefreshToken": "days",
                },
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
            },
        },
        # The group whose members may act on every request (chalicelib/api/auth.py).
        "AdminsGroup": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "DeletionPolicy": deletion,
            "UpdateReplacePolicy": deletion,
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "GroupName": ADMIN_GROUP,
                "Description": ADMIN_GROUP_DESCRIPTION,
            },
        },
        "RequestsTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": deletion,
            "UpdateReplacePolicy": deletion,
            "Properties": {
                "TableName": stage.table_name,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": KEY_SCHEMA,
                "AttributeDefinitions": ATTRIBUTES,
                "GlobalSecondaryIndexes": INDEXES,
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "DeletionProtectionEnabled": stage.retain_data,
            },
        },
        "JobsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            # The failed jobs a person still has to look at outlive the stack in `prod`.
            "DeletionPolicy": deletion,
            "UpdateReplacePolicy": deletion,
            "Properties": {
                "QueueName": stage.dlq_name,
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                # Only the jobs queue may move messages here. Its ARN is spelled
                # out (not GetAtt) because the jobs queue already refers to this one.
                "RedriveAllowPolicy": {
                    "redrivePermission": "byQueue",
                    "sourceQueueArns": [
                        {
                            "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:"
                            "${AWS::AccountId}:" + stage.queue_name
                        }
                    ],
                },
            },
        },
        "JobsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.queue_name,
                "VisibilityTimeout": stage.visibility_timeout,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": stage.max_receive_count,
                },
            },
        },
        "JobsQueuesTlsOnly": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "JobsQueue"}, {"Ref": "JobsDeadLetterQueue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyUnencryptedTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": [
                                {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                                {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "ApiAccessLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": stage.access_log_group,
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        },
        "RestAPI": {
            "Properties": {
                # Any value stops SAM from also making a stage named `Stage` (a deployment
                # with `StageName`), which has none of the settings below. Chalice's
                # definition is Swagger 2.0.
                "OpenApiVersion": "2.0",
                # Traces start at the edge, joined to the functions' own (Chalice `xray`).
                "TracingEnabled": True,
                "AccessLogSetting": {
                    "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                    "Format": ACCESS_LOG_FORMAT,
                },
                "DefinitionBody": {
                    "securityDefinitions": {
                        "CognitoUserPool": {
                            "x-amazon-apigateway-authorizer": {
                                "providerARNs": [{"Fn::GetAtt": ["UserPool", "Arn"]}]
                            }
                        }
                    }
                },
                "MethodSettings": [
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": API_RATE_LIMIT,
                        "ThrottlingBurstLimit": API_BURST_LIMIT,
                    }
                ],
                "GatewayResponses": {
                    kind: {
                        **({"StatusCode": status} if status else {}),
                        "ResponseTemplates": {
                            "application/json": gateway_response_template(
                                code, FIXED_MESSAGES.get(kind)
                            )
                        },
                    }
                    for kind, (status, code) in GATEWAY_RESPONSES.items()
                },
            }
        },
    }
    environment = {
        "TABLE_NAME": {"Ref": "RequestsTable"},
        "QUEUE_URL": {"Ref": "JobsQueue"},
        "QUEUE_NAME": {"Fn::GetAtt": ["JobsQueue", "QueueName"]},
        "DLQ_URL": {"Ref": "JobsDeadLetterQueue"},
        "USER_POOL_ARN": {"Fn::GetAtt": ["UserPool", "Arn"]},
        # The app client the web console signs people in with (GET /console).
        "USER_POOL_CLIENT_ID": {"Ref": "UserPoolClient"},
        # Where the API reads the listing tokens' HMAC key at first use: a SecureString
        # parameter, so the key is in no environment, template, event or CloudTrail entry.
        "PAGE_TOKEN_SECRET_SSM_PARAMETER": {"Ref": PAGE_TOKEN_SECRET_PARAMETER},
    }
    for function in FUNCTIONS:
        logical_id = LOGICAL_IDS[function]
        log_group = f"{logical_id}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": stage.log_group(function),
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
        # The runtime is Chalice's own, LAMBDA_RUNTIME: `make package` runs Chalice with it
        # pinned (infra/chalice_cli.py), so the zip's dependencies are built for it too.
        function_properties: dict[str, Any] = {
            "FunctionName": stage.function_name(function),
            "Environment": {"Variables": environment},
        }
        if function == "worker":
            function_properties["Events"] = {
                "WorkerSqsEventSource": {"Properties": {"Queue": {"Fn::Sub": "${JobsQueue.Arn}"}}}
            }
        resources[logical_id] = {"DependsOn": [log_group], "Properties": function_properties}
        resources[ROLE_IDS[function]] = {
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": f"{ROLE_IDS[function]}Policy",
                        "PolicyDocument": with_page_token_secret(
                            render_cloudformation(
                                load_policy(stage, function), _sub_values(stage, function)
                            ),
                            function,
                            {
                                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:"
                                "${AWS::AccountId}:parameter${" + PAGE_TOKEN_SECRET_PARAMETER + "}"
                            },
                        ),
                    }
                ]
            }
        }
    return {
        "Parameters": {
            PAGE_TOKEN_SECRET_PARAMETER: {
                # CloudFormation checks that the parameter exists before it creates anything.
                "Type": "AWS::SSM::Parameter::Name",
                "Default": stage.page_token_secret_parameter,
                "Description": (
                    "SSM SecureString parameter holding the HMAC key of the API's listing "
                    "tokens (random, at least 32 characters). `make deploy` creates it; other "
                    "tools must create it first, e.g. `aws ssm put-parameter --type "
                    "SecureString --name " + stage.page_token_secret_parameter + " --value "
                    "$(openssl rand -hex 32)`, and keep it."
                ),
            }
        },
        "Resources": resources,
        "Outputs": {
            "UserPoolId": {"Value": {"Ref": "UserPool"}},
            "UserPoolClientId": {"Value": {"Ref": "UserPoolClient"}},
            "TableName": {"Value": {"Ref": "RequestsTable"}},
            "QueueUrl": {"Value": {"Ref": "JobsQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "JobsDeadLetterQueue"}},
            "Region": {"Value": {"Ref": "AWS::Region"}},
        },
    }


def _sub_values(stage: Stage, function: str) -> dict[str, str]:
    """The policy placeholders as `Fn::Sub` text."""
    return {
        "table_arn": "${RequestsTable.Arn}",
        "queue_arn": "${JobsQueue.Arn}",
        "dlq_arn": "${JobsDeadLetterQueue.Arn}",
        "log_group_arn": (
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            + stage.log_group(function)
        ),
        "partition": "${AWS::Partition}",
        "region": "${AWS::Region}",
        "account": "${AWS::AccountId}",
        "project_tag": stage.project_tag,
        "deployment": stage.deployment,
    }
