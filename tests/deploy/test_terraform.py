"""dist/terraform/: `terraform validate` with the local AWS provider, and its wiring."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.store.layout import CREATOR_INDEX, DRIFT_INDEX, LIST_INDEX, POOL_INDEX, STATUS_INDEX
from deploy.conftest import terraform_command
from infra import terraform_chalice
from infra.gateway_responses import FIXED_MESSAGES, GATEWAY_RESPONSES
from infra.package import Packages, StateInTheWay, package, refuse_a_local_state
from infra.stage import (
    ACCESS_LOG_FORMAT,
    DLQ_RETENTION_SECONDS,
    FUNCTIONS,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    PROJECT_DIR,
    Stage,
)
from infra.terraform_backing import PAGE_TOKEN_KEY_LENGTH
from infra.terraform_chalice import postprocess


def handler(function: str) -> str:
    """Chalice's handler: the Chalice object for the API, else the decorated function."""
    return "app.app" if function == "api_handler" else f"app.{function}"


def test_terraform_init_and_validate_pass(
    terraform_initialized: Callable[[str], Path], stage: Stage, terraform: tuple[str, Path]
) -> None:
    validate = terraform_command(terraform[0], terraform_initialized(stage.name))(
        "validate", "-json", "-no-color"
    )
    report = json.loads(validate.stdout)
    assert report["valid"] is True, report
    assert report["warning_count"] == 0, report["diagnostics"]


def test_versions_admit_current_terraform_and_aws_provider_5(tf: dict[str, Any]) -> None:
    # Write-only arguments: Terraform 1.11; aws_ssm_parameter's `value_wo`: provider 5.87.
    assert tf["terraform"]["required_version"] == ">= 1.11.0"
    assert tf["terraform"]["required_providers"] == {
        "aws": {"source": "hashicorp/aws", "version": ">= 5.87.0, < 6.0"}
    }
    assert "null_data_source" not in tf.get("data", {})


def test_functions_are_wired_to_the_backing_resources(tf: dict[str, Any]) -> None:
    for name, function in tf["resource"]["aws_lambda_function"].items():
        env = function["environment"]["variables"]
        assert function["runtime"] == LAMBDA_RUNTIME, name
        assert env["TABLE_NAME"] == "${aws_dynamodb_table.requests.name}"
        assert env["QUEUE_URL"] == "${aws_sqs_queue.jobs.url}"
        assert env["USER_POOL_ARN"] == "${aws_cognito_user_pool.users.arn}"
        assert env["USER_POOL_CLIENT_ID"] == "${aws_cognito_user_pool_client.users.id}"
        assert function["depends_on"] == [f"aws_cloudwatch_log_group.{name}"]
    mapping = tf["resource"]["aws_lambda_event_source_mapping"]["worker-sqs-event-source"]
    assert mapping["event_source_arn"].endswith(":${aws_sqs_queue.jobs.name}")
    assert mapping["batch_size"] == 1
    assert mapping["scaling_config"]["maximum_concurrency"] >= 2


def test_every_route_but_the_console_is_behind_the_cognito_authorizer(tf: dict[str, Any]) -> None:
    swagger = json.loads(tf["locals"]["chalice_api_swagger"])

    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            if (path, method) in {("/console", "get"), ("/console/{asset}", "get")}:
                # The web console's page and files: a browser loads them before signing in.
                assert "security" not in operation, (path, method)
                continue
            assert operation["security"] == [{"CognitoUserPool": []}], (path, method)
    authorizer = swagger["securityDefinitions"]["CognitoUserPool"]["x-amazon-apigateway-authorizer"]
    assert authorizer["providerARNs"] == ["${aws_cognito_user_pool.users.arn}"]


def test_table_and_queues_have_the_required_settings(tf: dict[str, Any], stage: Stage) -> None:
    table = tf["resource"]["aws_dynamodb_table"]["requests"]
    queues = tf["resource"]["aws_sqs_queue"]

    assert table["name"] == stage.table_name
    assert {i["name"] for i in table["global_secondary_index"]} == {
        LIST_INDEX,
        STATUS_INDEX,
        CREATOR_INDEX,
        DRIFT_INDEX,
        POOL_INDEX,
    }
    assert table["ttl"] == {"attribute_name": "ttl_epoch", "enabled": True}
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert queues["jobs"]["visibility_timeout_seconds"] == stage.visibility_timeout
    assert f"maxReceiveCount = {stage.max_receive_count}" in queues["jobs"]["redrive_policy"]
    assert queues["jobs_dlq"]["message_retention_seconds"] == DLQ_RETENTION_SECONDS
    assert all(q["sqs_managed_sse_enabled"] for q in queues.values())


def test_policies_are_scoped_to_the_table_and_queues(tf: dict[str, Any]) -> None:
    policies = tf["resource"]["aws_iam_role_policy"]
    assert set(policies) == {f"{f}_role" for f in FUNCTIONS}
    for name, policy in policies.items():
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            assert not any("*" in a for a in actions), (name, actions)
            if any(a.startswith("dynamodb:") for a in actions):
                assert all(r.startswith("${aws_dynamodb_table.requests.arn}") for r in resources)
            if any(a.startswith("sqs:") for a in actions):
                # The jobs queue; and the dead-letter queue, only the reaper (which prunes
                # it) and the worker (which writes a FAILED request's letter, nothing else).
                allowed = [["${aws_sqs_queue.jobs.arn}"]]
                if name == "reaper_role":
                    allowed.append(["${aws_sqs_queue.jobs_dlq.arn}"])
                if name == "worker_role" and actions == ["sqs:SendMessage"]:
                    allowed.append(["${aws_sqs_queue.jobs_dlq.arn}"])
                assert resources in allowed, (name, statement)


def test_the_schedule_rules_are_named_per_stage(tf: dict[str, Any], stage: Stage) -> None:
    rules = tf["resource"]["aws_cloudwatch_event_rule"]

    assert sorted(r["name"] for r in rules.values()) == [
        f"vpc-provisioner-{stage.name}-reaper-event",
        f"vpc-provisioner-{stage.name}-reconciler-event",
    ]


def test_each_function_has_its_own_role_policy_and_log_group(
    tf: dict[str, Any], stage: Stage
) -> None:
    resources = tf["resource"]
    functions = resources["aws_lambda_function"]

    assert set(functions) == set(FUNCTIONS)
    assert set(resources["aws_iam_role"]) == {f"{f}_role" for f in FUNCTIONS}
    assert set(resources["aws_cloudwatch_log_group"]) == {*FUNCTIONS, "api_access"}
    for name, function in functions.items():
        assert function["function_name"] == stage.function_name(name)
        assert function["handler"] == handler(name)
        assert function["role"] == f"${{aws_iam_role.{name}_role.arn}}"
        policy = resources["aws_iam_role_policy"][f"{name}_role"]
        assert policy["role"] == f"${{aws_iam_role.{name}_role.id}}"
        assert resources["aws_cloudwatch_log_group"][name] == {
            "name": stage.log_group(name),
            "retention_in_days": LOG_RETENTION_DAYS,
        }


def test_the_reaper_and_the_reconciler_run_on_their_schedules(
    tf: dict[str, Any], stage: Stage
) -> None:
    resources = tf["resource"]
    schedules = {"reaper": "rate(5 minutes)", "reconciler": "rate(3 minutes)"}

    assert set(resources["aws_cloudwatch_event_rule"]) == {f"{f}-event" for f in schedules}
    for function, expression in schedules.items():
        rule = f"{function}-event"
        assert resources["aws_cloudwatch_event_rule"][rule]["schedule_expression"] == expression
        target = resources["aws_cloudwatch_event_target"][rule]
        assert target["rule"] == f"${{aws_cloudwatch_event_rule.{rule}.name}}"
        assert target["arn"] == f"${{aws_lambda_function.{function}.arn}}"
        permission = resources["aws_lambda_permission"][rule]
        assert permission["function_name"] == f"${{aws_lambda_function.{function}.arn}}"
        assert permission["principal"] == "events.amazonaws.com"
        assert permission["source_arn"] == f"${{aws_cloudwatch_event_rule.{rule}.arn}}"


def test_every_function_gets_the_grace_period_and_the_page_token_secrets_parameter(
    tf: dict[str, Any], stage: Stage
) -> None:
    for name, function in tf["resource"]["aws_lambda_function"].items():
        env = function["environment"]["variables"]
        assert env["RECONCILE_GRACE_SECONDS"] == str(stage.reconcile_grace_seconds), name
        assert int(env["RECONCILE_GRACE_SECONDS"]) > stage.worker_timeout, name
        # The key is read at first use from the SecureString, never from the environment.
        assert "PAGE_TOKEN_SECRET" not in env, name
        assert env["PAGE_TOKEN_SECRET_SSM_PARAMETER"] == (
            "${aws_ssm_parameter.page_token_secret.name}"
        ), name
    parameter = tf["resource"]["aws_ssm_parameter"]["page_token_secret"]
    assert parameter["type"] == "SecureString"
    assert parameter["name"] == f"/vpc-provisioner/{stage.name}/page-token-secret"


def test_the_page_token_secret_is_an_ephemeral_password_written_once(
    tf: dict[str, Any], stage: Stage
) -> None:
    """The key is drawn by Secrets Manager as an ephemeral password and written through
    the write-only `value_wo`: neither the plan nor the state holds it. `value_wo_version`
    is a constant, so later applies do not write a new key (which would invalidate every
    `next_token` given out)."""
    parameter = tf["resource"]["aws_ssm_parameter"]["page_token_secret"]
    (password,) = tf["ephemeral"]["aws_secretsmanager_random_password"].values()

    assert "value" not in parameter
    assert "insecure_value" not in parameter
    assert parameter["value_wo"] == (
        "${ephemeral.aws_secretsmanager_random_password.page_token_secret.random_password}"
    )
    assert parameter["value_wo_version"] == 1
    assert "lifecycle" not in parameter
    assert tf["ephemeral"]["aws_secretsmanager_random_password"] == {"page_token_secret": password}
    # Letters and digits (62 symbols), at least 256 bits: more than a uuid()'s 122, at
    # least the other deployments' 32 random bytes; made of nothing in the configuration.
    assert password == {
        "password_length": PAGE_TOKEN_KEY_LENGTH,
        "exclude_punctuation": True,
        "include_space": False,
    }
    assert password["password_length"] * math.log2(62) >= 256
    assert "page_token_secret" not in tf["resource"].get("terraform_data", {})
    assert "uuid()" not in json.dumps(tf)


def test_the_user_pool_has_the_admins_group(tf: dict[str, Any]) -> None:
    group = tf["resource"]["aws_cognito_user_group"]["admins"]
    assert group["name"] == "admins"
    assert group["user_pool_id"] == "${aws_cognito_user_pool.users.id}"


def test_the_original_walkthroughs_outputs_exist_and_the_url_has_no_trailing_slash(
    tf: dict[str, Any],
) -> None:
    """The original design's walkthrough reads these three and calls `"$API_URL/vpcs"`."""
    outputs = tf["output"]
    assert outputs["demo_api_url"] == {"value": "${aws_api_gateway_stage.rest_api.invoke_url}"}
    assert outputs["demo_user_pool_id"] == outputs["UserPoolId"]
    assert outputs["demo_user_pool_client_id"] == outputs["UserPoolClientId"]


def test_postprocess_rewrites_only_what_it_must(stage: Stage) -> None:
    chalice_like: dict[str, Any] = {
        "terraform": {
            "required_version": ">= 0.12.26, < 1.4.0",
            "required_providers": {
                "aws": {"version": ">= 3.61.0, < 5"},
                "null": {"version": ">= 2, < 4"},
            },
        },
        "data": {"null_data_source": {"chalice": {}}, "aws_region": {"chalice": {}}},
        "resource": {
            "aws_lambda_function": {"worker": {"runtime": LAMBDA_RUNTIME, "timeout": 300}},
            "aws_api_gateway_deployment": {
                "rest_api": {"stage_name": "api", "stage_description": "x", "rest_api_id": "r"}
            },
            "aws_cloudwatch_event_rule": {
                "reaper-event": {"name": "reaper-event"},
                "reconciler-event": {"name": "reconciler-event"},
            },
        },
        "output": {"EndpointURL": {"value": "old"}, "RestAPIId": {"value": "id"}},
    }

    fixed = postprocess(chalice_like, stage)

    assert fixed["data"] == {"aws_region": {"chalice": {}}}
    assert "null" not in fixed["terraform"]["required_providers"]
    worker = fixed["resource"]["aws_lambda_function"]["worker"]
    assert worker == {
        "runtime": LAMBDA_RUNTIME,
        "timeout": 300,
        "depends_on": ["aws_cloudwatch_log_group.worker"],
    }
    deployment = fixed["resource"]["aws_api_gateway_deployment"]["rest_api"]
    assert "stage_name" not in deployment
    assert deployment["rest_api_id"] == "r"
    assert deployment["lifecycle"] == {"create_before_destroy": True}
    assert fixed["output"]["RestAPIId"] == {"value": "id"}
    assert {k: r["name"] for k, r in fixed["resource"]["aws_cloudwatch_event_rule"].items()} == {
        "reaper-event": f"vpc-provisioner-{stage.name}-reaper-event",
        "reconciler-event": f"vpc-provisioner-{stage.name}-reconciler-event",
    }
    assert chalice_like["terraform"]["required_version"] == ">= 0.12.26, < 1.4.0"  # not mutated


def test_no_placeholder_is_left_unrendered(built: dict[str, Packages], stage: Stage) -> None:
    for name in ("chalice.tf.json", "backing.tf.json"):
        assert "{{" not in (built[stage.name].terraform / name).read_text()


@pytest.mark.parametrize("name", ["chalice.tf.json", "backing.tf.json", "deployment.zip"])
def test_the_folder_is_self_contained(built: dict[str, Packages], stage: Stage, name: str) -> None:
    assert (built[stage.name].terraform / name).is_file()


def test_the_deployment_waits_for_and_follows_the_api_and_its_gateway_responses(
    tf: dict[str, Any],
) -> None:
    deployment = tf["resource"]["aws_api_gateway_deployment"]["rest_api"]
    responses = [f"aws_api_gateway_gateway_response.{k.lower()}" for k in GATEWAY_RESPONSES]
    trigger = deployment["triggers"]["redeployment"]

    assert set(tf["resource"]["aws_api_gateway_gateway_response"]) == {
        k.lower() for k in GATEWAY_RESPONSES
    }
    assert sorted(deployment["depends_on"]) == sorted(responses)
    # Methods and integrations are the definition (Chalice's swagger); the responses
    # are resources of their own: a change to either makes a new deployment. The
    # responses count by their configuration (a digest written at packaging), never by
    # what API Gateway reads back (which differs: every plan would redeploy).
    assert "local.chalice_api_swagger" in trigger
    assert terraform_chalice._gateway_responses_hash() in trigger
    assert "aws_api_gateway_gateway_response." not in trigger


def test_the_redeploy_digest_follows_the_gateway_responses_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = terraform_chalice._gateway_responses_hash()
    monkeypatch.setitem(FIXED_MESSAGES, "UNAUTHORIZED", "Sign in again.")
    assert terraform_chalice._gateway_responses_hash() != before


def test_the_stage_writes_a_json_access_log_to_its_own_log_group(
    tf: dict[str, Any], stage: Stage
) -> None:
    resources = tf["resource"]
    api_stage = resources["aws_api_gateway_stage"]["rest_api"]

    assert resources["aws_cloudwatch_log_group"]["api_access"] == {
        "name": stage.access_log_group,
        "retention_in_days": LOG_RETENTION_DAYS,
    }
    assert api_stage["access_log_settings"] == {
        "destination_arn": "${aws_cloudwatch_log_group.api_access.arn}",
        "format": ACCESS_LOG_FORMAT,
    }
    assert api_stage["xray_tracing_enabled"] is True
    fields = json.loads(ACCESS_LOG_FORMAT)
    assert fields["sub"] == "$context.authorizer.claims.sub"
    assert {"requestId", "route", "status", "latencyMs"} <= set(fields)


def test_prod_keeps_its_table_user_pool_its_admins_and_dead_letters_on_destroy(
    tf: dict[str, Any], stage: Stage
) -> None:
    resources = tf["resource"]
    kept = {
        "table": resources["aws_dynamodb_table"]["requests"],
        "user pool": resources["aws_cognito_user_pool"]["users"],
        # A kept pool keeps its admins (as the CloudFormation outputs' DeletionPolicy does).
        "admins group": resources["aws_cognito_user_group"]["admins"],
        "dlq": resources["aws_sqs_queue"]["jobs_dlq"],
    }

    for name, resource in kept.items():
        lifecycle = resource.get("lifecycle", {})
        assert lifecycle.get("prevent_destroy", False) is stage.retain_data, name
    assert "lifecycle" not in resources["aws_sqs_queue"]["jobs"]


def _guide_state_rm_addresses() -> set[str]:
    """The addresses docs/deploy.md has `terraform state rm` before `terraform destroy`."""
    guide = " ".join((PROJECT_DIR / "docs" / "deploy.md").read_text().split())
    commands = re.findall(r"`terraform state rm ([^`]+)`", guide)
    assert len(commands) == 1, commands
    return set(commands[0].split())


def test_the_guide_removes_from_the_state_every_resource_destroy_would_refuse(
    tf: dict[str, Any], stage: Stage
) -> None:
    """Else `terraform destroy` refuses, or (a resource left off) deletes what was kept."""
    protected = {
        f"{kind}.{name}"
        for kind, resources in tf["resource"].items()
        for name, resource in resources.items()
        if resource.get("lifecycle", {}).get("prevent_destroy")
    }
    if stage.retain_data:
        assert protected
        assert _guide_state_rm_addresses() == protected
    else:
        assert protected == set()


def test_each_queue_sets_its_own_policies_and_only_the_jobs_queue_may_use_the_dlq(
    tf: dict[str, Any], stage: Stage
) -> None:
    resources = tf["resource"]
    queues = resources["aws_sqs_queue"]
    arn = "arn:${data.aws_partition.chalice.partition}:sqs:${data.aws_region.chalice.name}:"
    arn += "${data.aws_caller_identity.chalice.account_id}:"

    # Set with the queue, never by a second resource writing the same attributes.
    assert "aws_sqs_queue_policy" not in resources
    assert "aws_sqs_queue_redrive_allow_policy" not in resources
    for name, queue in queues.items():
        assert f'Resource = "{arn}{queue["name"]}"' in queue["policy"], name
        assert '"aws:SecureTransport" = "false"' in queue["policy"], name
    assert (
        f'sourceQueueArns = ["{arn}{stage.queue_name}"]'
        in (queues["jobs_dlq"]["redrive_allow_policy"])
    )


def _local_state(out: Path, state: dict[str, Any] | str) -> Path:
    path = out / "terraform" / "terraform.tfstate"
    path.parent.mkdir(parents=True)
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    return path


def test_make_package_refuses_to_delete_a_local_state_that_records_resources(
    tmp_path: Path,
) -> None:
    """An apply without the backend file leaves the stage's only state in dist/terraform,
    which packaging empties: refused before anything changes, saying what to do."""
    state = {"version": 4, "serial": 7, "resources": [{"type": "aws_dynamodb_table"}]}
    path = _local_state(tmp_path, state)

    with pytest.raises(StateInTheWay, match=r"terraform\.tfstate.*-migrate-state"):
        package("dev", tmp_path)

    assert json.loads(path.read_text()) == state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["terraform"]


@pytest.mark.parametrize("state", [{"version": 4, "resources": []}, ""])
def test_a_state_that_records_nothing_may_be_packaged_over(
    tmp_path: Path, state: dict[str, Any] | str
) -> None:
    """What `terraform destroy` leaves (no resources), or an empty file."""
    _local_state(tmp_path, state)
    refuse_a_local_state(tmp_path)


def test_a_state_that_cannot_be_read_is_not_packaged_over(tmp_path: Path) -> None:
    _local_state(tmp_path, "{not json")
    with pytest.raises(StateInTheWay):
        refuse_a_local_state(tmp_path)
