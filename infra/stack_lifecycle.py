"""The stage's CloudFormation stack as `make deploy` (`deploy.py`) drives it: created or
updated through a change set and waited for, deleted and waited for, described (how
`make backing`, `backing.py`, describes its own stack too).

The clients are passed in, made by the caller on first use (after its region check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from .aws import DeployError
from .cloudformation import PAGE_TOKEN_SECRET_PARAMETER
from .stage import Stage

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_WAIT = {"Delay": 10, "MaxAttempts": 360}


def apply_change_set(cfn: Any, stage: Stage, template_url: str, log: Callable[[str], None]) -> None:
    """Create or update the stage's stack from the template at `template_url` through a
    change set, and wait until it is done (a change set with no changes is deleted)."""
    stack_name = stage.stack_name
    stack = describe_stack(cfn, stack_name)
    status = str(stack["StackStatus"]) if stack else None
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} failed to create earlier (ROLLBACK_COMPLETE): "
            "delete it with `make destroy`, then deploy again"
        )
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    name = f"deploy-{int(time.time())}"
    log(f"Creating change set {name} ({change_type}) for {stack_name} ...")
    declared = {p.get("ParameterKey") for p in (stack or {}).get("Parameters", [])}
    if stack is not None and PAGE_TOKEN_SECRET_PARAMETER not in declared:
        # Deployed when the key was a NoEcho stack parameter (unreadable, so not moved).
        log(
            f"The listing tokens' key moves to {stage.page_token_secret_parameter}: "
            "next_tokens issued before this deploy stop working"
        )
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=change_type,
        TemplateURL=template_url,
        Parameters=[
            {
                "ParameterKey": PAGE_TOKEN_SECRET_PARAMETER,
                "ParameterValue": stage.page_token_secret_parameter,
            }
        ],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": "Project", "Value": "vpc-provisioner"}],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig={"Delay": 5}
        )
    except WaiterError as exc:
        change_set = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = str(change_set.get("StatusReason", ""))
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            log("No changes: the stack is up to date.")
            return
        raise DeployError(f"change set {name} failed: {reason or exc}") from exc
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    log(f"Executing change set; waiting for {stack_name} (this takes minutes) ...")
    try:
        cfn.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig=_WAIT)
    except WaiterError as exc:
        raise DeployError(
            f"stack {stack_name} did not reach {waiter.split('_')[1].upper()}_COMPLETE; "
            "see its events in the CloudFormation console"
        ) from exc


def delete_stack(cfn: Any, stack_name: str) -> None:
    """Delete the stack and wait until it is gone."""
    cfn.delete_stack(StackName=stack_name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name, WaiterConfig=_WAIT)
    except WaiterError as exc:
        raise DeployError(f"deleting {stack_name} failed: {exc}") from exc


def stack_status(cfn: Any, stack_name: str) -> str | None:
    stack = describe_stack(cfn, stack_name)
    return str(stack["StackStatus"]) if stack else None


def describe_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """describe_stacks' description of the stack, or None if there is none (a deleted one,
    DELETE_COMPLETE, is none)."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    return dict(live[0]) if live else None


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}
