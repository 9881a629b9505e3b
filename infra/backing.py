"""`make backing STAGE=dev` / `make backing-destroy STAGE=dev`: the Chalice way to deploy.

Chalice's own sample (the todo-app) deploys in two steps: create the backing
resources and write what the app needs into the stage of
`.chalice/config.json`, then `chalice deploy`. Here the first step is one
CloudFormation stack, `<app>-<stage>-backing`, made of the definitions
`make package` uses: the complete resources of
`cloudformation.merge_template(stage)` (the user pool and its client, the
table, the queue and its DLQ with their TLS-only policy, the functions' log
groups), without those that exist only for a resource Chalice makes. What
Chalice makes (functions, roles, the REST API and its authorizer, the SQS
event source, the schedules) is left to `chalice deploy`.

From the stack's outputs the stage then gets exactly what `chalice deploy`
needs, resolved the way CloudFormation resolves the merge template:

- the functions' environment (`TABLE_NAME`, `QUEUE_URL`, `QUEUE_NAME`,
  `DLQ_URL`, `USER_POOL_ARN`; the table's name is also the deployment tag);
- `PAGE_TOKEN_SECRET_SSM_PARAMETER`: the SecureString parameter holding the
  listing tokens' HMAC key, drawn once at random and kept, as Chalice's
  todo-app keeps its key (the value never enters config.json, a file one
  commits);
- one policy file per function, `.chalice/policy-<stage>-<name>.json`: the
  role policy of the CloudFormation output with the real ARNs, plus reading
  that parameter for the API handler. Generated (and git-ignored); the
  templates stay `.chalice/policy-<name>.json`.

Both steps are idempotent: a second `make backing` changes nothing.
`make backing-destroy` deletes the stack (`prod` keeps its table and user
pool, as with `make destroy`) and with it the parameter (none without the
stack: the key would be another deployment's, Terraform's say), and empties
what `make backing` wrote; it refuses while `chalice deploy`'s functions still
exist (`chalice delete` first), and on a stage `make deploy` holds. A backing stack
that failed to create (ROLLBACK_COMPLETE) is deleted, and the key kept: `make backing`
draws it only once its stack exists, so it is another deployment's.

One way per stage: `make backing` refuses, before it creates anything, a stage `make
deploy`'s stack holds, or whose table exists while the backing stack does not hold it
(Terraform's, or what a destroy of `prod` kept): the stack would fail on those names.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from .aws import (
    caller_identity,
    delete_page_token_secret,
    ensure_page_token_secret,
    exit_code_of,
    session_from_environment,
    table_exists,
    table_held_elsewhere,
)
from .backing_config import (
    BackingError,
    backing_template,
    clear_chalice_config,
    secret_parameter,
    stack_name,
    write_chalice_config,
)
from .stack_lifecycle import describe_stack, stack_outputs
from .stage import CONFIG_PATH, Stage, load_stage

# Waits for the stack: every 5 s, up to an hour (a user pool may take minutes).
_WAIT = {"Delay": 5, "MaxAttempts": 720}


class BackingDeployer:
    """Deploys and destroys a stage's backing stack with the given boto3 session."""

    def __init__(self, session: Any, log: Callable[[str], None] = print) -> None:
        self._session = session
        self._log = log

    # Clients are made on first use, after `_identity` has checked the region: made
    # earlier, botocore's "You must specify a region." would come before our message.
    @functools.cached_property
    def _cfn(self) -> Any:
        return self._session.client("cloudformation")

    @functools.cached_property
    def _ssm(self) -> Any:
        return self._session.client("ssm")

    @functools.cached_property
    def _dynamodb(self) -> Any:
        return self._session.client("dynamodb")

    def deploy(self, stage: Stage, config_path: Path = CONFIG_PATH) -> dict[str, str]:
        """Create or update the backing stack and the key parameter, then write the stage's
        config; return the stack's outputs. Idempotent. Raises BackingError."""
        account, region = self._identity()
        self._refuse_single_stack(
            stage,
            f"which holds these resources already: `make destroy STAGE={stage.name}` first, "
            "or use another stage",
        )
        self._refuse_a_table_held_elsewhere(stage)
        name = stack_name(stage)
        self._log(f"Backing resources of stage {stage.name}: stack {name}, {account}, {region}")
        self._apply(name, backing_template(stage))
        outputs = stack_outputs(self._cfn, name)
        self._ensure_secret(stage)
        changed = write_chalice_config(stage, outputs, config_path)
        project = config_path.parent.parent
        for path in changed:
            self._log(f"  wrote {path.relative_to(project)}")
        if not changed:
            self._log(f"  .chalice/ is up to date for stage {stage.name}")
        self._log(
            "\n".join(
                [
                    f"  user pool id:        {outputs.get('UserPoolId', '?')}",
                    f"  user pool client id: {outputs.get('UserPoolClientId', '?')}",
                    f"Next: make chalice-deploy STAGE={stage.name}",
                ]
            )
        )
        return outputs

    def destroy(self, stage: Stage, config_path: Path = CONFIG_PATH) -> None:
        """Delete the backing stack and the key parameter, and empty what `deploy` wrote.

        Refuses (BackingError), before deleting anything, a stage `make deploy` holds (the
        key is its stack's) and while `chalice deploy`'s resources of the stage exist. The
        key's parameter goes only with a backing stack that was created: without one, or
        with one that failed to create (ROLLBACK_COMPLETE: `make backing` draws the key
        once its stack exists), the key is not `make backing`'s (a stage Terraform made
        has the same parameter).
        """
        account, region = self._identity()
        parameter = secret_parameter(stage)
        self._refuse_single_stack(
            stage,
            f"not `make backing`, and the key {parameter} is that stack's: remove the stage "
            f"with `make destroy STAGE={stage.name}`",
        )
        deployed = config_path.parent / "deployed" / f"{stage.name}.json"
        if deployed.exists() and json.loads(deployed.read_text()).get("resources"):
            raise BackingError(
                f"stage {stage.name}'s functions are deployed ({deployed}): run "
                f"`make chalice-delete STAGE={stage.name}` first"
            )
        name = stack_name(stage)
        stack = describe_stack(self._cfn, name)
        if stack is None:
            self._log(
                f"No stack {name} in {account}, {region}: nothing to delete; without that "
                f"stack the key {parameter}, if any, is not `make backing`'s (Terraform's, "
                "say), so it is kept."
            )
            clear_chalice_config(stage, config_path)
            return
        self._log(f"Deleting stack {name} in {account}, {region} ...")
        self._cfn.delete_stack(StackName=name)
        self._wait("stack_delete_complete", name)
        if stack["StackStatus"] == "ROLLBACK_COMPLETE":
            clear_chalice_config(stage, config_path)
            self._log(
                f"Deleted {name}, which had failed to create and held nothing; `make backing` "
                f"draws the key once its stack exists, so {parameter}, if any, is another "
                "deployment's (Terraform's, say): it is kept."
            )
            return
        delete_page_token_secret(self._ssm, parameter)
        clear_chalice_config(stage, config_path)
        kept = (
            " The table, the user pool and the dead-letter queue are kept (stage prod)."
            if stage.retain_data
            else ""
        )
        self._log(
            f"Deleted {name} and {parameter}.{kept} VPCs the API created are "
            f"not deleted: find them with the tag vpc-provisioner:deployment={stage.deployment}."
        )

    # --- steps -------------------------------------------------------------------

    def _identity(self) -> tuple[str, str]:
        return caller_identity(self._session)

    def _refuse_single_stack(self, stage: Stage, then: str) -> None:
        """Both ways create the same names: a stage is deployed one way at a time. A
        BackingError saying so and, `then`, what to do, when `make deploy` holds it."""
        if describe_stack(self._cfn, stage.stack_name) is not None:
            raise BackingError(
                f"stage {stage.name} is deployed by `make deploy` (stack {stage.stack_name}), "
                + then
            )

    def _refuse_a_table_held_elsewhere(self, stage: Stage) -> None:
        """The stage's table without the backing stack holding it is another deployment's:
        refused before the stack is created (it would fail on the names, and then be
        cleared up with `make backing-destroy`)."""
        if not table_exists(self._dynamodb, stage.name, stage.table_name):
            return
        name = stack_name(stage)
        stack = describe_stack(self._cfn, name)
        status = str(stack["StackStatus"]) if stack else None
        if status not in (None, "ROLLBACK_COMPLETE"):
            return  # the stack's own table: an update
        message = table_held_elsewhere(stage.name, stage.table_name, name)
        if status == "ROLLBACK_COMPLETE":
            message += (
                f" (`make backing-destroy STAGE={stage.name}` deletes the failed stack and "
                "keeps that deployment's key)"
            )
        raise BackingError(message)

    def _apply(self, name: str, template: dict[str, Any]) -> None:
        """Create the stack, or update it if its template changed."""
        stack = describe_stack(self._cfn, name)
        status = str(stack["StackStatus"]) if stack else None
        body = json.dumps(template, indent=1)
        tags = [{"Key": "Project", "Value": "vpc-provisioner"}]
        if status is None:
            self._log(f"Creating stack {name} ...")
            self._cfn.create_stack(StackName=name, TemplateBody=body, Tags=tags)
            self._wait("stack_create_complete", name)
            return
        if status == "ROLLBACK_COMPLETE" or status.endswith("_IN_PROGRESS"):
            raise BackingError(
                f"stack {name} is {status}: wait for it, or delete it with "
                "`make backing-destroy`, then run `make backing` again"
            )
        deployed = self._cfn.get_template(StackName=name)["TemplateBody"]
        if (json.loads(deployed) if isinstance(deployed, str) else deployed) == template:
            self._log(f"Stack {name} is up to date.")
            return
        self._log(f"Updating stack {name} ...")
        try:
            self._cfn.update_stack(StackName=name, TemplateBody=body, Tags=tags)
        except ClientError as exc:
            if "No updates are to be performed" in str(exc):
                return
            raise BackingError(f"updating {name} failed: {exc}") from exc
        self._wait("stack_update_complete", name)

    def _wait(self, waiter: str, name: str) -> None:
        try:
            self._cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig=_WAIT)
        except WaiterError as exc:
            raise BackingError(
                f"stack {name}: {waiter.replace('_', ' ')} failed; see its events in the "
                "CloudFormation console"
            ) from exc

    def _ensure_secret(self, stage: Stage) -> None:
        """The listing tokens' key: 32 random bytes (hex) drawn once, kept on every run."""
        ensure_page_token_secret(
            self._ssm,
            secret_parameter(stage),
            f"HMAC key of {stage.app_name} {stage.name}'s listing tokens",
            self._log,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Deploy or destroy a stage's backing stack for `chalice deploy`."
    )
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--config",
        type=Path,
        default=CONFIG_PATH,
        help="the Chalice config to write (default: this project's .chalice/config.json)",
    )
    args = parser.parse_args(argv)

    def run() -> None:
        stage = load_stage(args.stage, args.config)
        deployer = BackingDeployer(session_from_environment())
        if args.action == "deploy":
            deployer.deploy(stage, args.config)
        else:
            deployer.destroy(stage, args.config)

    return exit_code_of(run)


if __name__ == "__main__":
    sys.exit(main())
