"""`make package [STAGE=dev]`: two complete, self-contained deployments of a stage.

    dist/cloudformation/  sam.json (Chalice's SAM template merged with the backing
                          resources) + deployment.zip
    dist/terraform/       chalice.tf.json (post-processed) + backing.tf.json +
                          deployment.zip

Chalice packages a clean staging copy of the app (app.py, chalicelib/,
requirements.txt, .chalice/), so nothing else of the working tree (caches,
tests, the local stack) can end up in the Lambda zip.

Both folders are emptied first, but never over a Terraform state: a
`terraform apply` in dist/terraform/ without a backend file leaves the live
stage's only state there (terraform.tfstate), and whichever stage `make package`
or `make deploy` packages next would delete it. Packaging refuses instead, saying
so (StateInTheWay); keeping it would be no better: the next package may be
another stage's, which that state would then be applied to.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cloudformation, terraform_backing, terraform_chalice
from .aws import DeployError, exit_code_of, region_from_environment
from .backing_config import SECRET_VARIABLE, UNBACKED_VARIABLE
from .policies import load_policy, render, with_page_token_secret
from .stage import (
    CONFIG_PATH,
    FUNCTIONS,
    PROJECT_DIR,
    USER_POOL_VARIABLES,
    Stage,
    load_stage,
)

DEFAULT_OUT = PROJECT_DIR / "dist"
# Terraform's local backend writes the state here, beside the configuration.
LOCAL_STATE = "terraform.tfstate"


class StateInTheWay(DeployError):
    """dist/terraform/ holds a Terraform state with resources: emptying it would lose them."""


@dataclass(frozen=True)
class Packages:
    cloudformation: Path
    terraform: Path


def package(stage_name: str, out: Path = DEFAULT_OUT, config: Path = CONFIG_PATH) -> Packages:
    """Write both deployments of `stage_name` under `out`. Raises on any failure.

    `config` is the Chalice config to package with (the project's by default). Raises
    StateInTheWay, before changing anything, when `out`/terraform holds a local
    Terraform state with resources.
    """
    stage = load_stage(stage_name, config)
    settings = json.loads(config.read_text())
    cfn_dir, tf_dir = out / "cloudformation", out / "terraform"
    refuse_a_local_state(out)
    for directory in (cfn_dir, tf_dir):
        shutil.rmtree(directory, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="vpc-provisioner-package-") as tmp:
        staging = Path(tmp)

        source = _staging_copy(staging / "cloudformation", stage, settings)
        merge = staging / "merge-template.json"
        merge.write_text(json.dumps(cloudformation.merge_template(stage), indent=2))
        _chalice(source, "--stage", stage.name, "--merge-template", str(merge), str(cfn_dir))

        source = _staging_copy(staging / "terraform", stage, settings, terraform_references=True)
        _chalice(source, "--pkg-format", "terraform", "--stage", stage.name, str(tf_dir))
    chalice_tf = tf_dir / "chalice.tf.json"
    chalice_tf.write_text(
        json.dumps(
            terraform_chalice.postprocess(json.loads(chalice_tf.read_text()), stage), indent=2
        )
    )
    api_stage = str(settings["stages"][stage.name].get("api_gateway_stage", "api"))
    (tf_dir / "backing.tf.json").write_text(
        json.dumps(terraform_backing.backing(stage, api_stage), indent=2)
    )
    return Packages(cfn_dir, tf_dir)


def refuse_a_local_state(out: Path) -> None:
    """Raise StateInTheWay if packaging into `out` would delete a live Terraform state.

    A state that records resources is a live deployment's (after `terraform destroy` it
    records none, and may go). One that is not JSON is refused too: not ours to judge."""
    state = out / "terraform" / LOCAL_STATE
    try:
        text = state.read_text()
    except FileNotFoundError:
        return
    try:
        resources = json.loads(text).get("resources") if text.strip() else None
    except (ValueError, AttributeError):
        resources = True
    if not resources:
        return
    raise StateInTheWay(
        f"{state} is a Terraform state that records resources (a deployment applied "
        "without a backend file), and packaging empties that folder: move the state out "
        "first, into a backend (put the backend file of docs/deploy.md, 'Terraform', in "
        "that folder, run `terraform init -migrate-state` there, then delete "
        "terraform.tfstate*) or at least out of dist/, then package again"
    )


def _staging_copy(
    target: Path, stage: Stage, settings: dict[str, Any], terraform_references: bool = False
) -> Path:
    """A copy of what Chalice packages; for Terraform, with the stage's environment and
    policies pointing at the Terraform resources."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    target.mkdir(parents=True)
    shutil.copy2(PROJECT_DIR / "app.py", target / "app.py")
    shutil.copy2(PROJECT_DIR / "requirements.txt", target / "requirements.txt")
    shutil.copytree(PROJECT_DIR / "chalicelib", target / "chalicelib", ignore=ignore)
    chalice_dir = target / ".chalice"
    chalice_dir.mkdir()
    config = copy.deepcopy(settings)
    for function in FUNCTIONS:
        policy = load_policy(stage, function)
        if terraform_references:
            policy = with_page_token_secret(
                render(policy, terraform_chalice.policy_values(stage, function)),
                function,
                terraform_chalice.PAGE_TOKEN_SECRET_ARN,
            )
        (chalice_dir / stage.chalice_policy_file(function).name).write_text(
            json.dumps(policy, indent=2)
        )
    # What `make backing` writes for `chalice deploy` only (both outputs set the key's
    # parameter themselves), and its mark of a stage not backed yet (packages are).
    environment = config["stages"][stage.name].get("environment_variables", {})
    for name in (SECRET_VARIABLE, UNBACKED_VARIABLE, *USER_POOL_VARIABLES):
        environment.pop(name, None)
    if terraform_references:
        config["stages"][stage.name]["environment_variables"].update(
            terraform_chalice.staging_environment()
        )
    (chalice_dir / "config.json").write_text(json.dumps(config, indent=2))
    return target


def _chalice(project: Path, *args: str) -> None:
    """`chalice package` of `project`, for LAMBDA_RUNTIME whatever Python runs it: the
    templates' runtime and the zip's dependencies (infra/chalice_cli.py)."""
    # Packaging calls no AWS API, but Chalice insists on a region.
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": region_from_environment() or "us-east-1",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.chalice_cli",
            "--project-dir",
            str(project),
            "package",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"chalice package {' '.join(args)} failed:\n{result.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Package a stage for CloudFormation and Terraform."
    )
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    def run() -> None:
        packages = package(args.stage, args.out)
        print(f"CloudFormation: {packages.cloudformation}/sam.json (+ deployment.zip)")
        print(f"Terraform:      {packages.terraform}/ (terraform init && terraform apply)")

    return exit_code_of(run)


if __name__ == "__main__":
    sys.exit(main())
