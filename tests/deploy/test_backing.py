"""`make backing`, without AWS: the backing template, the config it writes, the policies.

The stack's outputs are played by values computed here from the template's
own output definitions, for a test account; the policies are checked against
the templates rendered independently (`infra.policies.render`), so the
Chalice path is held to the same least privilege as the packaged outputs.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.cli.factory import CLIFactory
from moto import mock_aws

from deploy.conftest import OTHER_KEY, FailedStacks, key_of, terraform_holds
from deploy.test_policies import ACCOUNT, PARTITION, REGION, policy_values
from infra import backing, backing_config, chalice_cli
from infra.backing import BackingDeployer
from infra.backing_config import (
    SECRET_VARIABLE,
    BackingError,
    backing_template,
    chalice_environment,
    chalice_policy,
    chalice_policy_name,
    clear_chalice_config,
    policy_file_text,
    resolve,
    secret_parameter,
    write_chalice_config,
)
from infra.cloudformation import merge_template
from infra.package import Packages, package
from infra.policies import load_policy, render
from infra.stage import CONFIG_PATH, FUNCTIONS, PROJECT_DIR, Stage, load_stage
from support.iam import IamRequest, allowed
from support.moto_server import MotoServer

# The mark of a stage `make backing` has not written (infra/backing_config.py).
UNBACKED = "UNBACKED_STAGE"
# A stage's choices for its user pool (infra/stage.py), other than the defaults.
POOL_SETTINGS = {"USER_POOL_MFA": "OPTIONAL", "USER_POOL_THREAT_PROTECTION": "AUDIT"}

POOL_ID = f"{REGION}_AbCdEf123"
BACKING_RESOURCES = {
    "UserPool": "AWS::Cognito::UserPool",
    "UserPoolClient": "AWS::Cognito::UserPoolClient",
    "AdminsGroup": "AWS::Cognito::UserPoolGroup",
    "RequestsTable": "AWS::DynamoDB::Table",
    "JobsDeadLetterQueue": "AWS::SQS::Queue",
    "JobsQueue": "AWS::SQS::Queue",
    "JobsQueuesTlsOnly": "AWS::SQS::QueuePolicy",
    "APIHandlerLogGroup": "AWS::Logs::LogGroup",
    "WorkerLogGroup": "AWS::Logs::LogGroup",
    "ReaperLogGroup": "AWS::Logs::LogGroup",
    "ReconcilerLogGroup": "AWS::Logs::LogGroup",
}


def _arns(stage: Stage) -> dict[str, str]:
    sqs = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}"
    return {
        "table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{stage.table_name}",
        "queue": f"{sqs}:{stage.queue_name}",
        "dlq": f"{sqs}:{stage.dlq_name}",
        "pool": f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{POOL_ID}",
    }


def _urls(stage: Stage) -> dict[str, str]:
    base = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}"
    return {"queue": f"{base}/{stage.queue_name}", "dlq": f"{base}/{stage.dlq_name}"}


def stack_outputs(stage: Stage) -> dict[str, str]:
    """What CloudFormation would answer for the backing template's outputs, in a test account."""
    arns, urls = _arns(stage), _urls(stage)
    values = {
        "RequestsTable": stage.table_name,
        "RequestsTable.Arn": arns["table"],
        "JobsQueue": urls["queue"],
        "JobsQueue.Arn": arns["queue"],
        "JobsQueue.QueueName": stage.queue_name,
        "JobsDeadLetterQueue": urls["dlq"],
        "JobsDeadLetterQueue.Arn": arns["dlq"],
        "UserPool": POOL_ID,
        "UserPool.Arn": arns["pool"],
        "UserPoolClient": "client123",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": PARTITION,
    }

    def evaluate(value: dict[str, Any]) -> str:
        if "Ref" in value:
            return values[value["Ref"]]
        return values[".".join(value["Fn::GetAtt"])]

    outputs = backing_template(stage)["Outputs"]
    return {key: evaluate(output["Value"]) for key, output in outputs.items()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of `.chalice/` as committed (no generated files, no deployments);
    returns its config.json."""
    config_dir = tmp_path / ".chalice"
    shutil.copytree(
        CONFIG_PATH.parent,
        config_dir,
        ignore=shutil.ignore_patterns("deploy*", "policy-*-*.json"),
    )
    return config_dir / "config.json"


# --- the template ------------------------------------------------------------------


def test_the_backing_stack_is_the_merge_templates_backing_resources_unchanged(
    stage: Stage,
) -> None:
    template = backing_template(stage)
    merge = merge_template(stage)

    resources = template["Resources"]
    assert {k: r["Type"] for k, r in resources.items()} == BACKING_RESOURCES
    for logical_id, resource in resources.items():
        assert resource == merge["Resources"][logical_id], logical_id
    assert "Parameters" not in template
    retained = {k for k, r in resources.items() if r.get("DeletionPolicy") == "Retain"}
    assert retained == (
        {"UserPool", "AdminsGroup", "RequestsTable", "JobsDeadLetterQueue"}
        if stage.retain_data
        else set()
    )


def test_a_resource_only_chalices_resources_use_stays_out_of_the_backing_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An access log group the REST API alone refers to, or an alarm on a function, is
    not the backing stack's: `chalice deploy` makes the API and the function."""
    stage = load_stage("dev")
    merge = merge_template(stage)
    assert merge["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]
    }
    merge["Resources"]["WorkerErrors"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Worker"}}]},
    }
    monkeypatch.setattr(backing_config, "merge_template", lambda _: copy.deepcopy(merge))

    resources = backing_template(stage)["Resources"]

    assert "ApiAccessLogGroup" not in resources
    assert "WorkerErrors" not in resources
    # The user pool is the API's too, but the functions are wired to it: it stays.
    assert set(resources) == set(BACKING_RESOURCES)


def test_every_reference_of_the_wiring_is_a_stack_output(stage: Stage) -> None:
    outputs = stack_outputs(stage)
    for function in FUNCTIONS:
        text = json.dumps(chalice_policy(stage, function, outputs))
        assert "${" not in text, function
        assert "{{" not in text, function
    assert all(chalice_environment(stage, outputs).values())


def test_a_reference_the_stack_does_not_answer_is_an_error_naming_it() -> None:
    with pytest.raises(BackingError, match=r"no output for RequestsTable\.Arn"):
        resolve({"Fn::Sub": "${RequestsTable.Arn}/index/x"}, {})


# --- what the stage gets ---------------------------------------------------------


def test_the_stage_gets_the_packaged_environment_with_the_stacks_values(stage: Stage) -> None:
    arns, urls = _arns(stage), _urls(stage)

    environment = chalice_environment(stage, stack_outputs(stage))

    assert environment == {
        "TABLE_NAME": stage.table_name,
        "QUEUE_URL": urls["queue"],
        "QUEUE_NAME": stage.queue_name,
        "DLQ_URL": urls["dlq"],
        "USER_POOL_ARN": arns["pool"],
        "USER_POOL_CLIENT_ID": "client123",
        # A reference: the key itself never enters config.json.
        SECRET_VARIABLE: f"/vpc-provisioner/{stage.name}/page-token-secret",
    }


def test_each_function_gets_its_policy_template_with_real_arns(stage: Stage) -> None:
    """The same grants as both packaged outputs (the template, rendered for the account),
    and for the API handler reading the listing tokens' key."""
    outputs = stack_outputs(stage)
    for function in FUNCTIONS:
        expected = render(load_policy(stage, function), policy_values(stage, function))

        policy = chalice_policy(stage, function, outputs)

        extra = policy["Statement"][len(expected["Statement"]) :]
        assert policy["Statement"][: len(expected["Statement"])] == expected["Statement"]
        assert policy["Version"] == expected["Version"]
        assert [s["Sid"] for s in extra] == (
            ["ReadPageTokenSecret"] if function == "api_handler" else []
        ), function


def test_only_the_api_handler_may_read_the_key_and_only_its_stages_parameter(
    stage: Stage,
) -> None:
    outputs = stack_outputs(stage)
    parameter = f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{secret_parameter(stage)}"
    other = f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter/vpc-provisioner/other/x"

    def may(function: str, resource: str) -> bool:
        policy = chalice_policy(stage, function, outputs)
        return allowed(policy, IamRequest(function, "ssm:GetParameter", resource))

    assert may("api_handler", parameter)
    assert not may("api_handler", other)
    for function in ("worker", "reaper", "reconciler"):
        assert not may(function, parameter), function


def test_a_generated_policy_file_reads_as_the_policy_under_a_notice() -> None:
    stage = load_stage("dev")
    policy = chalice_policy(stage, "worker", stack_outputs(stage))

    text = policy_file_text(stage, "worker", policy)

    assert json.loads(text) == policy  # what Chalice (json.loads) gives IAM
    notice = text.splitlines()[1]
    assert "GENERATED by `make backing STAGE=dev`" in notice
    assert ".chalice/policy-worker.json" in notice
    assert "do not edit" in notice


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_make_backing_writes_only_the_stages_wiring(project: Path, name: str) -> None:
    stage = load_stage(name, project)
    before = json.loads(project.read_text())

    changed = write_chalice_config(stage, stack_outputs(stage), project)

    after = json.loads(project.read_text())
    generated = [project.parent / chalice_policy_name(stage, f) for f in FUNCTIONS]
    assert sorted(changed) == sorted([*generated, project])
    written = after["stages"][name]
    committed = dict(before["stages"][name]["environment_variables"])
    assert committed[UNBACKED] == name
    committed[UNBACKED] = ""  # backed now: the app may load (emptied in place, not removed)
    assert written["environment_variables"] == {
        **committed,
        **chalice_environment(stage, stack_outputs(stage)),
    }
    for function in FUNCTIONS:
        assert written["lambda_functions"][function]["iam_policy_file"] == (
            f"policy-{name}-{stage.policy_file(function).name.removeprefix('policy-')}"
        )
        path = project.parent / written["lambda_functions"][function]["iam_policy_file"]
        assert json.loads(path.read_text()) == chalice_policy(stage, function, stack_outputs(stage))
    # Nothing else: the other stages, the shared settings, the functions' other keys.
    for config in (before, after):
        for function in FUNCTIONS:
            del config["stages"][name]["lambda_functions"][function]["iam_policy_file"]
        del config["stages"][name]["environment_variables"]
    assert after == before


def test_a_second_make_backing_changes_nothing(project: Path) -> None:
    stage = load_stage("dev", project)
    write_chalice_config(stage, stack_outputs(stage), project)
    files = sorted(project.parent.glob("*.json"))
    contents = {path: path.read_bytes() for path in files}
    mtimes = {path: path.stat().st_mtime_ns for path in files}

    assert write_chalice_config(stage, stack_outputs(stage), project) == []

    assert {path: path.read_bytes() for path in files} == contents
    assert {path: path.stat().st_mtime_ns for path in files} == mtimes


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_backing_destroy_leaves_the_stage_as_committed(project: Path, name: str) -> None:
    stage = load_stage(name, project)
    committed = project.read_bytes()
    write_chalice_config(stage, stack_outputs(stage), project)

    clear_chalice_config(stage, project)

    assert project.read_bytes() == committed
    assert sorted(p.name for p in project.parent.glob("policy-*-*.json")) == []


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_committed_stage_is_what_backing_destroy_leaves(project: Path, name: str) -> None:
    """A fresh clone's deployable stage: names for the generated policy files (never the
    templates, whose `{{placeholders}}` IAM refuses), empty values for what the stack
    supplies, and the mark that makes `chalice deploy` stop at once (app.py)."""
    stage = load_stage(name, project)

    assert clear_chalice_config(stage, project) == []

    settings = json.loads(project.read_text())["stages"][name]
    for function in FUNCTIONS:
        policy_file = settings["lambda_functions"][function]["iam_policy_file"]
        assert policy_file == chalice_policy_name(stage, function)
        assert not (project.parent / policy_file).exists()
    environment = settings["environment_variables"]
    assert environment["TABLE_NAME"] == f"vpc-provisioner-{name}"
    for variable in (
        "QUEUE_URL",
        "DLQ_URL",
        "USER_POOL_ARN",
        "USER_POOL_CLIENT_ID",
        SECRET_VARIABLE,
    ):
        assert environment[variable] == "", variable
    assert environment[UNBACKED] == name


def _function_environments(
    project: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Each function's environment as `make chalice-deploy` gives it (infra/chalice_cli.py),
    and as Chalice alone would: what `chalice deploy` reads (chalice/deploy/appgraph.py)."""
    project_dir = str(project.parent.parent)

    def read() -> dict[str, dict[str, str]]:
        config = CLIFactory(project_dir).create_config_obj(name)
        return {f: config.scope(name, f).environment_variables for f in FUNCTIONS}

    deployed: list[dict[str, dict[str, str]]] = []
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() sets Chalice's
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(chalice_cli, "run_chalice", lambda: deployed.append(read()))
    assert chalice_cli.main(["--project-dir", project_dir, "deploy", "--stage", name]) == 0
    (environments,) = deployed
    return environments, read()


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_pools_settings_reach_the_backing_and_no_function_chalice_deploys(
    project: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MFA and threat protection stay in the stage's environment_variables, where every
    `make backing` reads them; `make chalice-deploy` leaves them out of each function's
    environment (Chalice alone gives every function all of the stage's variables)."""
    config = json.loads(project.read_text())
    config["stages"][name]["environment_variables"].update(POOL_SETTINGS)
    project.write_text(json.dumps(config, indent=2) + "\n")
    chosen = load_stage(name, project)
    write_chalice_config(chosen, stack_outputs(chosen), project)
    stage = load_stage(name, project)  # as the next `make backing` reads it
    pool = backing_template(stage)["Resources"]["UserPool"]["Properties"]
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "AUDIT"}

    deployed, plain = _function_environments(project, name, monkeypatch)

    for function, environment in deployed.items():
        assert not set(POOL_SETTINGS) & set(environment), function
        assert environment["TABLE_NAME"] == stage.table_name, function
    assert plain["worker"].items() >= POOL_SETTINGS.items()


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_a_backing_cycle_leaves_a_variable_after_the_mark_where_it_was(
    project: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's own variable after UNBACKED_STAGE: `make backing` then `make
    backing-destroy` give back the file byte for byte, and no function gets the mark."""
    config = json.loads(project.read_text())
    environment = config["stages"][name]["environment_variables"]
    assert list(environment)[-1] == UNBACKED
    environment["TEAM"] = "networking"
    project.write_text(json.dumps(config, indent=2) + "\n")
    committed = project.read_bytes()
    stage = load_stage(name, project)

    write_chalice_config(stage, stack_outputs(stage), project)
    deployed, _ = _function_environments(project, name, monkeypatch)
    clear_chalice_config(stage, project)

    assert project.read_bytes() == committed
    for function, variables in deployed.items():
        assert UNBACKED not in variables, function
        assert variables["TEAM"] == "networking", function


# config.json laid out as a person likes: each as the committed file's content.
LAYOUTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "four spaces": lambda config: json.dumps(config, indent=4) + "\n",
    "tabs": lambda config: json.dumps(config, indent="\t") + "\n",
    "no trailing newline": lambda config: json.dumps(config, indent=2),
    "CRLF line ends": lambda config: json.dumps(config, indent=2).replace("\n", "\r\n") + "\r\n",
    "one line": json.dumps,
    "spaced colons": lambda config: json.dumps(config, indent=2, separators=(",", " : ")) + "\n",
    "non-ASCII as typed": lambda config: (
        json.dumps(_with_team(config, "réseau \u2014 ops"), indent=2, ensure_ascii=False) + "\n"
    ),
}


def _with_team(config: dict[str, Any], team: str) -> dict[str, Any]:
    """`config` with a person's own variable in every deployable stage."""
    for name in ("dev", "prod"):
        config["stages"][name]["environment_variables"]["TEAM"] = team
    return config


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", ["dev", "prod"])
def test_a_backing_cycle_leaves_a_config_laid_out_otherwise_byte_for_byte(
    project: Path, name: str, layout: str
) -> None:
    """`make backing` rewrites only the values it changes, so `make backing-destroy`
    gives back the file as it found it, however it is laid out; what the stage gets is
    the same as from the committed layout."""
    committed_config = json.loads(project.read_text())
    committed = LAYOUTS[layout](copy.deepcopy(committed_config)).encode()
    project.write_bytes(committed)
    stage = load_stage(name, project)

    write_chalice_config(stage, stack_outputs(stage), project)

    written = json.loads(project.read_bytes())["stages"][name]
    assert written["environment_variables"].items() >= (
        chalice_environment(stage, stack_outputs(stage)).items()
    )
    assert written["environment_variables"][UNBACKED] == ""
    assert project.read_bytes().count(b"\n") == committed.count(b"\n")  # no line moved

    clear_chalice_config(stage, project)

    assert project.read_bytes() == committed


def test_make_backing_adding_a_variable_keeps_the_files_indentation_and_end(
    project: Path,
) -> None:
    """A stage without one of the variables `make backing` writes gets it (the file is
    written again: the value has no place to go yet) with the file's own indentation and
    without the trailing newline it did not have."""
    config = json.loads(project.read_text())
    del config["stages"]["dev"]["environment_variables"]["DLQ_URL"]
    project.write_text(json.dumps(config, indent=4))
    stage = load_stage("dev", project)

    write_chalice_config(stage, stack_outputs(stage), project)

    written = json.loads(project.read_text())
    assert written["stages"]["dev"]["environment_variables"]["DLQ_URL"].startswith("https://")
    assert project.read_text() == json.dumps(written, indent=4)


def test_the_backing_commands_leave_a_four_space_config_as_they_found_it(
    stack_moto: MotoServer, tmp_path: Path
) -> None:
    """`make backing` then `make backing-destroy`, as the commands run them against moto,
    on a person's config.json with 4-space indentation (the committed one has 2)."""
    stack_moto.reset()
    shutil.copytree(
        CONFIG_PATH.parent,
        tmp_path / ".chalice",
        ignore=shutil.ignore_patterns("deployed", "deployments", "policy-*-*.json"),
    )
    config = tmp_path / ".chalice" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()), indent=4) + "\n")
    before = config.read_bytes()

    for action in ("deploy", "destroy"):
        run = _backing_command(stack_moto, config, action, "dev")
        assert run.returncode == 0, run.stderr

    assert config.read_bytes() == before


def _backing_command(
    moto: MotoServer, config: Path, action: str, stage: str
) -> subprocess.CompletedProcess[str]:
    """What `make backing[-destroy] STAGE=<stage>` runs, on `config`, against `moto`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=moto.endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=moto.region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=str(PROJECT_DIR),
    )
    command = [sys.executable, "-m", "infra.backing", action, "--stage", stage]
    return subprocess.run(
        [*command, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=config.parent.parent,
        check=False,
    )


def test_the_generated_policy_files_are_git_ignored_and_the_templates_are_not() -> None:
    stage = load_stage("dev")
    patterns = [
        line.strip()
        for line in (PROJECT_DIR / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)

    for function in FUNCTIONS:
        assert ignored(f".chalice/{chalice_policy_name(stage, function)}"), function
        assert not ignored(f".chalice/{stage.policy_file(function).name}"), function


def test_make_package_builds_the_same_packages_after_make_backing(
    project: Path, built: dict[str, Packages], tmp_path: Path
) -> None:
    """The packages read the templates and set the key themselves: nothing `make backing`
    wrote for `chalice deploy` reaches them."""
    stage = load_stage("dev", project)
    write_chalice_config(stage, stack_outputs(stage), project)

    packages = package("dev", tmp_path / "dist", project)

    for relative in ("cloudformation/sam.json", "terraform/chalice.tf.json"):
        fresh = json.loads((packages.cloudformation.parent / relative).read_text())
        expected = json.loads((built["dev"].cloudformation.parent / relative).read_text())
        assert fresh == expected, relative
        for value in chalice_environment(stage, stack_outputs(stage)).values():
            if value.startswith("https://"):
                assert value not in json.dumps(fresh), relative


# --- the Makefile and the command --------------------------------------------------


@pytest.mark.parametrize(
    ("target", "action"), [("backing", "deploy"), ("backing-destroy", "destroy")]
)
def test_the_make_targets_run_the_backing_command_for_the_stage(target: str, action: str) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed on this machine")
    dry_run = subprocess.run(
        [make, "-n", "-C", str(PROJECT_DIR), target, "STAGE=qa"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"-m infra.backing {action} --stage qa" in dry_run.stdout


def test_an_unknown_stage_is_refused_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert backing.main(["deploy", "--stage", "local"]) == 1
    assert "deployable stages: dev, prod" in capsys.readouterr().err


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def test_backing_refuses_a_stage_that_make_deploy_holds(session: Any, project: Path) -> None:
    """Both ways name the table, queues and functions alike: one way per stage."""
    stage = load_stage("dev", project)
    session.client("cloudformation").create_stack(
        StackName=stage.stack_name,
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )

    with pytest.raises(BackingError, match=r"deployed by `make deploy`.*make destroy STAGE=dev"):
        BackingDeployer(session, log=lambda _: None).deploy(stage, project)

    environment = json.loads(project.read_text())["stages"]["dev"]["environment_variables"]
    assert environment["QUEUE_URL"] == ""


def test_backing_destroy_refuses_a_stage_that_make_deploy_holds_and_keeps_its_key(
    session: Any, project: Path
) -> None:
    """`make backing-destroy` run on a stage `make deploy` made (the wrong teardown) must
    not delete /vpc-provisioner/<stage>/page-token-secret: it is that stack's key, which its
    API reads at its first listing (a cold start would then fail every listing). Refused,
    as `make backing` is, before anything is deleted or emptied."""
    stage = load_stage("dev", project)
    ssm = session.client("ssm")
    # What `make deploy STAGE=dev` leaves: its stack, and the key it drew.
    ssm.put_parameter(Name=secret_parameter(stage), Value="k" * 64, Type="SecureString")
    session.client("cloudformation").create_stack(
        StackName=stage.stack_name,
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    committed = project.read_text()

    with pytest.raises(BackingError, match=r"deployed by `make deploy`.*make destroy STAGE=dev"):
        BackingDeployer(session, log=lambda _: None).destroy(stage, project)

    assert ssm.get_parameter(Name=secret_parameter(stage))["Parameter"]["Version"] == 1
    assert project.read_text() == committed


def test_backing_destroy_without_its_stack_keeps_the_key(session: Any, project: Path) -> None:
    """With no backing stack (nor `make deploy`'s), the stage's key is not `make
    backing`'s: Terraform makes the same parameter for its deployment of the stage. Kept,
    and the log says so."""
    stage = load_stage("dev", project)
    ssm = session.client("ssm")
    ssm.put_parameter(Name=secret_parameter(stage), Value="k" * 64, Type="SecureString")
    said: list[str] = []

    BackingDeployer(session, log=said.append).destroy(stage, project)

    assert ssm.get_parameter(Name=secret_parameter(stage))["Parameter"]["Version"] == 1
    assert f"{secret_parameter(stage)}, if any, is not `make backing`'s" in said[-1]


def test_backing_destroy_refuses_while_chalices_functions_exist(
    session: Any, project: Path
) -> None:
    stage = load_stage("dev", project)
    deployed = project.parent / "deployed"
    deployed.mkdir()
    (deployed / "dev.json").write_text(json.dumps({"resources": [{"name": "worker"}]}))

    with pytest.raises(BackingError, match=r"make chalice-delete STAGE=dev"):
        BackingDeployer(session, log=lambda _: None).destroy(stage, project)

    (deployed / "dev.json").write_text(json.dumps({"resources": [], "schema_version": "2.0"}))
    BackingDeployer(session, log=lambda _: None).destroy(stage, project)  # nothing left: fine


def test_backing_refuses_a_stage_terraform_holds_before_creating_its_stack(
    session: Any, project: Path
) -> None:
    """Terraform's deployment of the stage (its table, no stack): the backing stack would
    fail on the names, and `make backing` would then say to clear it up with `make
    backing-destroy`. Refused up front, naming the table and what to do."""
    stage = load_stage("dev", project)
    terraform_holds(session, stage)
    deployer = BackingDeployer(session, log=lambda _: None)

    with pytest.raises(BackingError, match=rf"{stage.table_name} exists.*terraform destroy"):
        deployer.deploy(stage, project)

    assert session.client("cloudformation").describe_stacks()["Stacks"] == []


def test_backing_destroy_of_a_backing_stack_that_failed_keeps_the_key(
    session: Any, project: Path
) -> None:
    """A backing stack that failed to create (over Terraform's table, say) holds nothing,
    and `make backing` draws the key only once its stack exists: the key is Terraform's."""
    stage = load_stage("dev", project)
    terraform_holds(session, stage)
    deployer = BackingDeployer(session, log=lambda _: None)
    failed = FailedStacks(session, {f"{stage.stack_name}-backing": "ROLLBACK_COMPLETE"})
    deployer.__dict__["_cfn"] = failed

    deployer.destroy(stage, project)

    assert failed.stacks == {}
    assert key_of(session, secret_parameter(stage)) == OTHER_KEY, "Terraform's key deleted"
