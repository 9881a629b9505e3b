"""The per-function IAM policy files, rendered for a deployment.

`.chalice/policy-<function>.json` are templates: resources name the table,
queue and log group through `{{placeholders}}`, filled here with the ARNs of a
deployment (CloudFormation intrinsics, Terraform references, or plain ARNs
in tests), so each function is allowed exactly its own table, queue and log
group and nothing else.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .stage import Stage

# The only function that signs and checks listing tokens, so the only one reading their key.
PAGE_TOKEN_SECRET_READERS = ("api_handler",)
PAGE_TOKEN_SECRET_SID = "ReadPageTokenSecret"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
NAMES = frozenset(
    {
        "table_arn",
        "queue_arn",
        "dlq_arn",
        "log_group_arn",
        "partition",
        "region",
        "account",
        "project_tag",
        "deployment",
    }
)


def load_policy(stage: Stage, function: str) -> dict[str, Any]:
    """The policy template of `function`, checked to use known placeholders only."""
    policy: dict[str, Any] = json.loads(stage.policy_file(function).read_text())
    unknown = set(PLACEHOLDER.findall(json.dumps(policy))) - NAMES
    if unknown:
        raise ValueError(f"{stage.policy_file(function)}: unknown placeholders {sorted(unknown)}")
    return policy


def render(policy: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The policy with every placeholder replaced by `values` (plain strings)."""
    rendered: dict[str, Any] = _map_strings(
        policy, lambda s: PLACEHOLDER.sub(lambda m: values[m.group(1)], s)
    )
    return rendered


def render_cloudformation(policy: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The policy for a CloudFormation template: strings holding placeholders become
    `Fn::Sub` expressions (`values` are Fn::Sub text such as `${RequestsTable.Arn}`)."""

    def convert(text: str) -> Any:
        rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        return {"Fn::Sub": rendered} if "${" in rendered else rendered

    rendered: dict[str, Any] = _map_strings(policy, convert)
    return rendered


def _map_strings(value: Any, convert: Callable[[str], Any]) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        return [_map_strings(item, convert) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, convert) for key, item in value.items()}
    return copy.deepcopy(value)


def with_page_token_secret(
    policy: dict[str, Any], function: str, parameter_arn: Any
) -> dict[str, Any]:
    """`policy`, plus reading the listing tokens' key parameter (`parameter_arn`, in the
    output's own terms) if `function` is one that signs tokens. The key is a SecureString
    under the account's `aws/ssm` key, whose key policy already lets SSM decrypt it for
    the account's principals: `ssm:GetParameter` is all the function needs."""
    result = copy.deepcopy(policy)
    if function in PAGE_TOKEN_SECRET_READERS:
        result["Statement"].append(
            {
                "Sid": PAGE_TOKEN_SECRET_SID,
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": parameter_arn,
            }
        )
    return result
