"""The SAM template as CloudFormation would receive it after the transform (offline), and
cfn-lint run once over several templates (its start-up, loading AWS's resource specs,
costs seconds: paid once per session, not once per template)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from infra.cloudformation import PAGE_TOKEN_SECRET_PARAMETER

REGION = "us-east-1"


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of `sam`, computed offline."""
    template = copy.deepcopy(sam)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # What `make deploy` does before sending the template (infra/deploy.py).
            resource["Properties"]["CodeUri"] = {"Bucket": "artifacts", "Key": "deployment.zip"}

    def no_managed_policies() -> dict[str, str]:
        raise AssertionError("the template names a managed policy: SAM would call IAM")

    translated: dict[str, Any] = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=REGION)
    ).translate(
        template,
        parameter_values={PAGE_TOKEN_SECRET_PARAMETER: "/vpc-provisioner/dev/page-token-secret"},
        get_managed_policy_map=no_managed_policies,
    )
    return translated


def cfn_lint(templates: list[Path]) -> dict[Path, str]:
    """cfn-lint's findings for each template ("" when it finds nothing), one run for all.
    A run that fails outright (exit 1) is a finding for every template."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable"]
        + [str(t) for t in templates],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 1:
        return dict.fromkeys(templates, f"cfn-lint failed: {result.stdout}{result.stderr}")
    lines = result.stdout.splitlines()
    found = {t: "\n".join(x for x in lines if x.startswith(f"{t}:")) for t in templates}
    unclaimed = [x for x in lines if not any(x.startswith(f"{t}:") for t in templates)]
    if result.returncode and not any(found.values()):
        # Findings it could not place on a template: every template's, so none passes.
        return dict.fromkeys(templates, "\n".join(unclaimed) or f"exit {result.returncode}")
    return found
