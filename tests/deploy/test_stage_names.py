"""A stage (or queue) name AWS cannot take is refused when the stage is read (load_stage),
before a key is drawn, anything is packaged or any stack or apply starts (docs/deploy.md,
"When a deploy stops": in one line, in the deployer's words). They were accepted, and
CloudFormation, Terraform or `chalice deploy` refused them half-way through.

Names derived from the stage and their AWS limits:
- CloudFormation stack `vpc-provisioner-<stage>` (`-backing`): [a-zA-Z][-a-zA-Z0-9]*
- Lambda function `vpc-provisioner-<stage>-reconciler`: <= 64, [a-zA-Z0-9-_]
- IAM role (Terraform, chalice deploy) `vpc-provisioner-<stage>-api_handler`: <= 64
- EventBridge rule `vpc-provisioner-<stage>-reconciler-event`: <= 64
- SQS DLQ `<QUEUE_NAME>-dlq`: <= 80
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.stage import CONFIG_PATH, load_stage


def _config_with_stage(tmp_path: Path, name: str, queue_name: str | None = None) -> Path:
    target = tmp_path / ".chalice"
    shutil.copytree(
        CONFIG_PATH.parent, target, ignore=shutil.ignore_patterns("deployed", "policy-*-*.json")
    )
    config_path = target / "config.json"
    config = json.loads(config_path.read_text())
    stage = json.loads(json.dumps(config["stages"]["dev"]))
    env = stage["environment_variables"]
    env["TABLE_NAME"] = f"vpc-provisioner-{name}"
    env["QUEUE_NAME"] = queue_name or f"vpc-provisioner-{name}-jobs"
    env["UNBACKED_STAGE"] = name
    config["stages"][name] = stage
    config_path.write_text(json.dumps(config, indent=2))
    return config_path


@pytest.mark.parametrize(
    ("name", "breaks"),
    [
        ("staging_eu", "stack name vpc-provisioner-staging_eu: CloudFormation refuses '_'"),
        ("v1.2", "stack and function names refuse '.'"),
        (
            "feature-ipam-pools-rework-stage1",  # 32 characters
            "rule vpc-provisioner-<stage>-reconciler-event is 65 characters (limit 64)",
        ),
    ],
)
def test_a_stage_name_aws_refuses_is_refused_when_the_stage_is_read(
    tmp_path: Path, name: str, breaks: str
) -> None:
    config = _config_with_stage(tmp_path, name)
    with pytest.raises(ValueError, match="stage name"):
        load_stage(name, config)  # accepted, AWS refuses it: `breaks`


def test_the_longest_stage_name_aws_takes_is_accepted_and_one_more_is_told_the_limit(
    tmp_path: Path,
) -> None:
    """The schedule rule `vpc-provisioner-<stage>-reconciler-event` is the longest name: a
    stage of 31 characters makes it 64."""
    assert load_stage("s" * 31, _config_with_stage(tmp_path / "a", "s" * 31)).name == "s" * 31
    with pytest.raises(ValueError, match="at most 31 characters"):
        load_stage("s" * 32, _config_with_stage(tmp_path / "b", "s" * 32))


def test_the_committed_stages_are_accepted() -> None:
    assert [load_stage(name).name for name in ("dev", "prod")] == ["dev", "prod"]


def test_a_queue_name_whose_dlq_name_sqs_refuses_is_refused(tmp_path: Path) -> None:
    queue = "q" * 78  # a valid SQS name (<= 80); its DLQ `<queue>-dlq` is 82 characters
    config = _config_with_stage(tmp_path, "qa", queue_name=queue)
    with pytest.raises(ValueError, match=r"QUEUE_NAME .* 1 to 76 "):
        load_stage("qa", config)  # accepted, its DLQ's name 82 characters (SQS takes 80)


def test_a_table_name_dynamodb_refuses_is_refused(tmp_path: Path) -> None:
    config = _config_with_stage(tmp_path, "qa")
    data = json.loads(config.read_text())
    data["stages"]["qa"]["environment_variables"]["TABLE_NAME"] = "vpc provisioner"
    config.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="TABLE_NAME"):
        load_stage("qa", config)
