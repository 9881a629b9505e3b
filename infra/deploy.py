"""`make deploy STAGE=dev` / `make destroy STAGE=dev`: one CloudFormation stack per stage.

Deploy packages the stage (`make package`), uploads the Lambda zip and the
template to an artifacts bucket of the account (created once, private,
encrypted), then creates or updates the stack `vpc-provisioner-<stage>`
through a change set, waits for it, and prints the API URL, the user pool
and its client. Everything, the backing resources included, is one stack: it
is created, updated and rolled back as a unit, and it is exactly the template
`make test` validates. The listing tokens' HMAC key is an SSM SecureString
parameter, `/vpc-provisioner/<stage>/page-token-secret`: 32 random bytes drawn
here before the stack is first created, kept on updates and never printed. The
stack passes only its name (`PageTokenSecretParameter`), and the API reads the key
at first use: a key passed as a stack parameter would end up in plain text in the
functions' environment.

Destroy deletes the stack and the key's parameter. It does not delete the VPCs the API created (they
are not part of the stack: they belong to the teams that asked for them), nor
the artifacts bucket; in `prod` the table, the user pool and the dead-letter
queue are kept too. With no stack (a first deploy that stopped before creating
it), or one that failed to create (ROLLBACK_COMPLETE: it holds nothing), it deletes
the parameter alone, unless another deployment holds the stage (`make backing`'s
stack, or the stage's table: Terraform's), whose key it is.

One way per stage: deploy refuses, before it draws a key or packages anything, a stage
`make backing`'s stack holds, or whose table exists while no stack of its own holds it
(Terraform's, or what a destroy of `prod` kept): the stack would fail on those names.

The stack's change sets, deletion and description are `stack_lifecycle.py`'s, the
artifacts bucket and its uploads `artifacts_bucket.py`'s; this module decides the steps.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .artifacts_bucket import ensure_artifacts_bucket, upload
from .aws import (
    DeployError,
    caller_identity,
    delete_page_token_secret,
    ensure_page_token_secret,
    exit_code_of,
    session_from_environment,
    table_exists,
    table_held_elsewhere,
)
from .backing_config import stack_name as backing_stack_name
from .package import DEFAULT_OUT, package, refuse_a_local_state
from .stack_lifecycle import (
    apply_change_set,
    delete_stack,
    describe_stack,
    stack_outputs,
    stack_status,
)
from .stage import LOGICAL_IDS, Stage, load_stage

# API Gateway writes the stage's access log only through the account's CloudWatch role,
# one per account and region, shared by every REST API there (so no stack owns it).
NO_API_GATEWAY_LOGGING_ROLE = (
    "API Gateway in {region} has no CloudWatch Logs role, and the stage's access log "
    "needs one: set it once for the account and region (docs/deploy.md, 'API Gateway's logging "
    "role'), then deploy again"
)
# What a stack of these statuses holds: nothing (never created, or rolled back).
_HOLDS_NOTHING = (None, "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE")


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    outputs: dict[str, str]


class Deployer:
    """Deploys and destroys a stage's stack with the given boto3 session."""

    def __init__(
        self,
        session: Any,
        out: Path = DEFAULT_OUT,
        log: Any = print,
        cloudformation: Any = None,
    ) -> None:
        self._session = session
        self._out = out
        self._log = log
        self._cloudformation = cloudformation

    @functools.cached_property
    def _ssm(self) -> Any:
        return self._session.client("ssm")

    # Clients are made on first use, after `_identity` has checked the region: made
    # earlier, botocore's "You must specify a region." would come before our message.
    @functools.cached_property
    def _cfn(self) -> Any:
        return self._cloudformation or self._session.client("cloudformation")

    @functools.cached_property
    def _s3(self) -> Any:
        return self._session.client("s3")

    @functools.cached_property
    def _dynamodb(self) -> Any:
        return self._session.client("dynamodb")

    def deploy(self, stage: Stage) -> Deployment:
        """Create or update the stage's stack; return its outputs."""
        account, region = self._identity()
        self._require_api_gateway_logging(region)
        self._refuse_backing_stack(stage)
        self._refuse_a_table_held_elsewhere(stage)
        refuse_a_local_state(self._out)  # before a key is drawn, not when packaging
        self._log(f"Deploying stage {stage.name} to account {account} in {region}")
        self._ensure_page_token_secret(stage)
        packages = package(stage.name, self._out)
        bucket = ensure_artifacts_bucket(self._s3, account, region, self._log)
        template = json.loads((packages.cloudformation / "sam.json").read_text())
        code_key = upload(
            self._s3, bucket, stage, packages.cloudformation / "deployment.zip", "zip"
        )
        for logical_id in LOGICAL_IDS.values():
            template["Resources"][logical_id]["Properties"]["CodeUri"] = {
                "Bucket": bucket,
                "Key": code_key,
            }
        template_path = packages.cloudformation / "packaged.json"
        template_path.write_text(json.dumps(template, indent=2))
        template_key = upload(self._s3, bucket, stage, template_path, "json")
        url = f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
        apply_change_set(self._cfn, stage, url, self._log)
        outputs = stack_outputs(self._cfn, stage.stack_name)
        self._log(_summary(stage, outputs))
        return Deployment(stage.stack_name, outputs)

    def destroy(self, stage: Stage) -> None:
        """Delete the stage's stack and wait until it is gone, then the key's parameter.
        With no stack, only the key a deploy that stopped before its stack left; with a
        stack that failed to create (it holds nothing: a stage another deployment holds,
        say), that stack and then the key as with none (`_delete_key_left_behind`)."""
        account, region = self._identity()
        status = stack_status(self._cfn, stage.stack_name)
        if status is None:
            self._delete_key_left_behind(
                stage,
                f"No stack {stage.stack_name} in account {account}, {region}",
                "a deploy that stopped before creating the stack",
            )
            return
        self._log(f"Deleting stack {stage.stack_name} in account {account}, {region} ...")
        delete_stack(self._cfn, stage.stack_name)
        if status == "ROLLBACK_COMPLETE":
            self._delete_key_left_behind(
                stage,
                f"Deleted {stage.stack_name}, which had failed to create and held nothing",
                "the deploy that failed",
            )
            return
        delete_page_token_secret(self._ssm, stage.page_token_secret_parameter)
        kept = (
            " The table, the user pool and the dead-letter queue are kept (stage prod)."
            if stage.retain_data
            else ""
        )
        self._log(
            f"Deleted {stage.stack_name}.{kept} VPCs the API created are not deleted: find them "
            f"with the tag vpc-provisioner:deployment={stage.deployment} (each has its "
            "RequestId tag)."
        )

    def _delete_key_left_behind(self, stage: Stage, found: str, left_by: str) -> None:
        """`deploy` draws the key before it packages, makes the bucket and uploads: one of
        those failing (a newcomer without s3:CreateBucket, say) leaves the parameter and no
        stack, and a stack that fails to create leaves it beside a stack holding nothing.
        It is deleted then, unless another way of deploying holds the stage, whose key it
        is: `make backing`'s stack, or the stage's table without a stack of ours holding it
        (Terraform's, or what a `prod` destroy kept). `found` says what destroy found (and
        did), `left_by` what would have left the key."""
        parameter = stage.page_token_secret_parameter
        holder = self._other_deployment(stage)
        if holder is not None:
            self._log(f"{found}, but {holder}: the key {parameter} is kept.")
        elif delete_page_token_secret(self._ssm, parameter):
            self._log(
                f"{found}; no other deployment holds stage {stage.name}: deleted the key "
                f"{parameter}, left by {left_by}."
            )
        else:
            self._log(f"{found}: nothing {'else ' if found.startswith('Deleted') else ''}to do.")

    # --- steps -------------------------------------------------------------------

    def _identity(self) -> tuple[str, str]:
        return caller_identity(self._session)

    def _other_deployment(self, stage: Stage) -> str | None:
        """What holds the stage, with no stack of `make deploy`'s: None if nothing does."""
        backing = backing_stack_name(stage)
        if describe_stack(self._cfn, backing) is not None:
            return (
                f"stage {stage.name} is deployed the Chalice way (stack {backing}, `make backing`)"
            )
        if not table_exists(self._dynamodb, stage.name, stage.table_name):
            return None
        return (
            f"stage {stage.name}'s table {stage.table_name} exists (a Terraform deployment, "
            "or what a destroy of `prod` kept)"
        )

    def _refuse_backing_stack(self, stage: Stage) -> None:
        """Both ways create the same names: a stage is deployed one way at a time."""
        backing = backing_stack_name(stage)
        if describe_stack(self._cfn, backing) is not None:
            raise DeployError(
                f"stage {stage.name} is deployed the Chalice way (stack {backing}, from "
                f"`make backing`), which holds these resources already: `make chalice-delete "
                f"STAGE={stage.name}` and `make backing-destroy STAGE={stage.name}` first, "
                "or use another stage"
            )

    def _refuse_a_table_held_elsewhere(self, stage: Stage) -> None:
        """The stage's table without a stack of ours holding it is another deployment's:
        refused before a key is drawn or anything packaged, rather than a stack that fails
        on the names (and whose `make destroy` would then be asked to clear up)."""
        if not table_exists(self._dynamodb, stage.name, stage.table_name):
            return
        status = stack_status(self._cfn, stage.stack_name)
        if status not in _HOLDS_NOTHING:
            return  # the stack's own table: an update
        message = table_held_elsewhere(stage.name, stage.table_name, stage.stack_name)
        if status == "ROLLBACK_COMPLETE":
            message += (
                f" (`make destroy STAGE={stage.name}` deletes the failed stack and keeps "
                "that deployment's key)"
            )
        raise DeployError(message)

    def _require_api_gateway_logging(self, region: str) -> None:
        """Refuse before anything is uploaded, rather than the stack failing half-way."""
        try:
            account = self._session.client("apigateway").get_account()
        except (ClientError, BotoCoreError) as exc:
            raise DeployError(f"cannot read API Gateway's account settings: {exc}") from exc
        if not account.get("cloudwatchRoleArn"):
            raise DeployError(NO_API_GATEWAY_LOGGING_ROLE.format(region=region))

    def _ensure_page_token_secret(self, stage: Stage) -> None:
        """The key's SecureString parameter, made before the stack that names it."""
        ensure_page_token_secret(
            self._ssm,
            stage.page_token_secret_parameter,
            f"HMAC key of {stage.app_name} {stage.name}'s listing tokens",
            self._log,
        )


def _summary(stage: Stage, outputs: dict[str, str]) -> str:
    return "\n".join(
        [
            f"Deployed {stage.stack_name}:",
            f"  API URL:             {outputs.get('EndpointURL', '?')}",
            f"  user pool id:        {outputs.get('UserPoolId', '?')}",
            f"  user pool client id: {outputs.get('UserPoolClientId', '?')}",
            f"  region:              {outputs.get('Region', '?')}",
            "Create a user and get an ID token: see docs/deploy.md, 'Deploy to AWS'.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy or destroy a stage's stack.")
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where the stage is packaged (dist/)"
    )
    args = parser.parse_args(argv)

    def run() -> None:
        stage = load_stage(args.stage)
        deployer = Deployer(session_from_environment(), args.out)
        if args.action == "deploy":
            deployer.deploy(stage)
        else:
            deployer.destroy(stage)

    return exit_code_of(run)


if __name__ == "__main__":
    sys.exit(main())
