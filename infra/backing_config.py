"""What `make backing` deploys and writes, without AWS: the backing stack's template (the
resources of `cloudformation.merge_template` that Chalice does not make), and the
stage's environment and policy files resolved from the stack's outputs.

`infra/backing.py` deploys it; docs/deploy.md, "The Chalice way" says how.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .aws import DeployError
from .cloudformation import PAGE_TOKEN_SECRET_PARAMETER, merge_template
from .json_text import edited
from .stage import CONFIG_PATH, FUNCTIONS, LOGICAL_IDS, ROLE_IDS, Stage

# The environment variable naming the SSM parameter that holds the listing tokens' key
# (the app reads it on its first listing), as every output sets it.
SECRET_VARIABLE = "PAGE_TOKEN_SECRET_SSM_PARAMETER"
# In a deployable stage as committed, until `make backing` has written the stage: the app
# refuses to load while it is set (app.py), so `chalice deploy` stops before sending
# anything, saying to run `make backing` (rather than sending `{{placeholders}}` to IAM
# or failing on a policy file not written yet). `make backing` empties it where it stands
# and `make backing-destroy` sets it again, so the stage's other variables keep their
# order around it. Never part of a deployed environment (empty, `make chalice-deploy`
# gives it to no function: infra/chalice_cli.py).
UNBACKED_VARIABLE = "UNBACKED_STAGE"
# What the stage itself chooses (the stack is built from them); everything else
# `make backing` writes comes from the stack, and `make backing-destroy` empties it.
STAGE_INPUTS = frozenset({"TABLE_NAME", "QUEUE_NAME"})

_SUB_REFERENCE = re.compile(r"\$\{(?!!)([^}]+)\}")
_PSEUDO_PREFIX = "AWS::"


class BackingError(DeployError):
    """Something the person running `make backing` must fix; the message says what."""


def stack_name(stage: Stage) -> str:
    """The backing stack's name: `<app>-<stage>-backing` (not `make deploy`'s stack)."""
    return f"{stage.stack_name}-backing"


def secret_parameter(stage: Stage) -> str:
    """The SSM parameter holding the stage's listing-token key."""
    return stage.page_token_secret_parameter


def _answers(stage: Stage, outputs: Mapping[str, str]) -> dict[str, str]:
    """The stack's outputs, and the merge template's parameter naming the key's SSM
    parameter (`make backing` makes that parameter itself, as `make deploy` does)."""
    return {**outputs, output_key(PAGE_TOKEN_SECRET_PARAMETER): secret_parameter(stage)}


def chalice_policy_name(stage: Stage, function: str) -> str:
    """`function`'s generated policy file for `chalice deploy`: `policy-<stage>-<name>.json`."""
    return stage.policy_file(function).name.replace("policy-", f"policy-{stage.name}-", 1)


# --- the template ------------------------------------------------------------------


def backing_template(stage: Stage) -> dict[str, Any]:
    """The backing stack: the merge template's resources that do not need Chalice's.

    Its outputs hold every value the functions' environment and role policies
    refer to (one output per reference, see `output_key`), and the merge
    template's own outputs that the stack can answer.
    """
    merge = merge_template(stage)
    resources = _backing_resources(merge)
    environment, policies = _wiring(merge)
    references = _references([environment, policies]) | {
        f"{_PSEUDO_PREFIX}{name}" for name in ("Partition", "Region", "AccountId")
    }
    outputs: dict[str, Any] = {}
    for reference in sorted(references):
        resource = _resource_of(reference)
        if resource is None or resource in resources:
            outputs[output_key(reference)] = {"Value": _intrinsic(reference)}
    for key, output in merge.get("Outputs", {}).items():
        needs = {_resource_of(r) for r in _references(output)} - {None}
        if needs <= set(resources):
            if key in outputs:
                raise ValueError(f"output {key} is defined twice")
            outputs[key] = copy.deepcopy(output)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"{stage.app_name} {stage.name}: the resources `chalice deploy` needs "
            f"(make backing STAGE={stage.name}; the rest is Chalice's)"
        ),
        "Resources": resources,
        "Outputs": outputs,
    }


def output_key(reference: str) -> str:
    """The output holding a reference: `RequestsTable.Arn` -> `RefRequestsTableArn`."""
    return "Ref" + re.sub(r"[^A-Za-z0-9]", "", reference)


def _backing_resources(merge: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = merge["Resources"]
    complete = {logical_id for logical_id, r in resources.items() if "Type" in r}
    environment, policies = _wiring(merge)
    wired = _resources_of(_references([environment, policies]))
    # Chalice's resources, as the merge template completes them (functions, roles,
    # the API): a complete resource only they refer to (beyond the wiring above)
    # exists for them, and `chalice deploy` makes no use of it.
    chalice_refs = _resources_of(
        _references([resources[logical_id] for logical_id in set(resources) - complete])
    )
    selected = complete - (chalice_refs - wired)
    changed = True
    while changed:  # keep only what stands on its own
        changed = False
        for logical_id in sorted(selected):
            if not _resources_of(_references(resources[logical_id])) <= selected:
                selected.discard(logical_id)
                changed = True
    backing: dict[str, Any] = {}
    for logical_id, resource in resources.items():
        if logical_id in selected:
            backing[logical_id] = copy.deepcopy(resource)
            depends = backing[logical_id].get("DependsOn")
            if isinstance(depends, list):
                backing[logical_id]["DependsOn"] = [d for d in depends if d in selected]
    return backing


def _wiring(merge: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The functions' environment, and each function's role policy, as the merge template
    wires them to the backing resources."""
    resources = merge["Resources"]
    environments = [
        resources[LOGICAL_IDS[f]]["Properties"]["Environment"]["Variables"] for f in FUNCTIONS
    ]
    if any(env != environments[0] for env in environments):
        raise ValueError("the functions' environments differ; one stage config cannot hold them")
    policies = {}
    for function in FUNCTIONS:
        documents = [
            p["PolicyDocument"] for p in resources[ROLE_IDS[function]]["Properties"]["Policies"]
        ]
        policies[function] = {
            "Version": documents[0]["Version"],
            "Statement": [s for d in documents for s in d["Statement"]],
        }
    return environments[0], policies


def _references(value: Any) -> set[str]:
    """Every `Ref`, `Fn::GetAtt` and `Fn::Sub` reference in `value`: `X`, `X.Attr`, `AWS::...`."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {str(value["Ref"])}
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            return {target if isinstance(target, str) else ".".join(target)}
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            if not isinstance(text, str):
                raise ValueError(f"Fn::Sub with variables is not supported here: {value}")
            return set(_SUB_REFERENCE.findall(text))
        return _union(_references(item) for item in value.values())
    if isinstance(value, list):
        return _union(_references(item) for item in value)
    return set()


def _union(sets: Iterable[set[str]]) -> set[str]:
    result: set[str] = set()
    for item in sets:
        result |= item
    return result


def _resource_of(reference: str) -> str | None:
    return None if reference.startswith(_PSEUDO_PREFIX) else reference.split(".", 1)[0]


def _resources_of(references: set[str]) -> set[str]:
    return {r for r in (_resource_of(ref) for ref in references) if r is not None}


def _intrinsic(reference: str) -> dict[str, Any]:
    if "." in reference and not reference.startswith(_PSEUDO_PREFIX):
        resource, attribute = reference.split(".", 1)
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Ref": reference}


def resolve(value: Any, outputs: Mapping[str, str]) -> Any:
    """`value` with every reference replaced by the backing stack's output for it.

    Raises BackingError for a reference the stack does not answer.
    """

    def lookup(reference: str) -> str:
        try:
            return outputs[output_key(reference)]
        except KeyError:
            raise BackingError(
                f"the backing stack has no output for {reference}: run `make backing` again"
            ) from None

    if isinstance(value, dict):
        if set(value) == {"Ref"} or set(value) == {"Fn::GetAtt"}:
            (reference,) = _references(value)
            return lookup(reference)
        if set(value) == {"Fn::Sub"}:
            text = _SUB_REFERENCE.sub(lambda m: lookup(m.group(1)), value["Fn::Sub"])
            return text.replace("${!", "${")
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    return value


# --- what the stage gets ---------------------------------------------------------


def chalice_environment(stage: Stage, outputs: Mapping[str, str]) -> dict[str, str]:
    """The environment variables `make backing` writes into the stage, resolved."""
    environment, _ = _wiring(merge_template(stage))
    return {
        name: str(resolve(value, _answers(stage, outputs))) for name, value in environment.items()
    }


def written_variables(stage: Stage) -> list[str]:
    """The names of the variables `make backing` writes (stage inputs included)."""
    environment, _ = _wiring(merge_template(stage))
    return list(environment)


def chalice_policy(stage: Stage, function: str, outputs: Mapping[str, str]) -> dict[str, Any]:
    """`function`'s role policy as the CloudFormation output grants it, with real ARNs
    (and, for the API handler, reading the listing tokens' key)."""
    _, policies = _wiring(merge_template(stage))
    policy: dict[str, Any] = resolve(policies[function], _answers(stage, outputs))
    return policy


def policy_file_text(stage: Stage, function: str, policy: dict[str, Any]) -> str:
    """The generated policy file: the policy, under a notice saying how it was made.

    JSON has no comments and IAM refuses unknown elements (and `Id` in an
    identity policy), so the notice is a first `Version` member: the JSON reader
    (Chalice's `json.loads`) keeps the last of two equal keys, so what IAM is
    given is exactly `policy`.
    """
    body = json.dumps(policy, indent=2)
    if not body.startswith('{\n  "Version": '):
        raise ValueError("a policy must start with its Version")
    notice = (
        f"GENERATED by `make backing STAGE={stage.name}` from "
        f".chalice/{stage.policy_file(function).name} and the stack {stack_name(stage)}: "
        f"do not edit; change the template, then run `make backing STAGE={stage.name}` again. "
        "(This first Version is a comment: the next one replaces it when the file is read.)"
    )
    return "{\n  " + f'"Version": {json.dumps(notice)},\n' + body[2:] + "\n"


def write_chalice_config(
    stage: Stage, outputs: Mapping[str, str], config_path: Path = CONFIG_PATH
) -> list[Path]:
    """Write the stage's environment and policy files for `chalice deploy`.

    Touches only the stage's `environment_variables` named by `written_variables`
    (and empties UNBACKED_STAGE, in its place) and its functions' `iam_policy_file`;
    writes a file only if its content changes. Returns the files changed (none on a
    second run).
    """
    changed = []
    for function in FUNCTIONS:
        path = config_path.parent / chalice_policy_name(stage, function)
        text = policy_file_text(stage, function, chalice_policy(stage, function, outputs))
        if _write_if_changed(path, text):
            changed.append(path)

    def edit(stage_config: dict[str, Any]) -> None:
        environment = stage_config.setdefault("environment_variables", {})
        if UNBACKED_VARIABLE in environment:
            environment[UNBACKED_VARIABLE] = ""
        environment.update(chalice_environment(stage, outputs))
        for function in FUNCTIONS:
            settings = stage_config["lambda_functions"][function]
            settings["iam_policy_file"] = chalice_policy_name(stage, function)

    if _edit_stage(config_path, stage, edit):
        changed.append(config_path)
    return changed


def clear_chalice_config(stage: Stage, config_path: Path = CONFIG_PATH) -> list[Path]:
    """Undo `write_chalice_config`: remove the generated policy files and empty the
    variables that came from the stack (the stage's own names stay), and mark the stage
    unbacked again: the file is as committed. Returns what changed."""
    changed = []
    for function in FUNCTIONS:
        path = config_path.parent / chalice_policy_name(stage, function)
        if path.exists():
            path.unlink()
            changed.append(path)

    def edit(stage_config: dict[str, Any]) -> None:
        environment = stage_config.get("environment_variables", {})
        for name in written_variables(stage):
            if name in environment and name not in STAGE_INPUTS:
                environment[name] = ""
        environment[UNBACKED_VARIABLE] = stage.name

    if _edit_stage(config_path, stage, edit):
        changed.append(config_path)
    return changed


def _edit_stage(config_path: Path, stage: Stage, edit: Callable[[dict[str, Any]], None]) -> bool:
    """Apply `edit` to the stage's entry of config.json, rewriting only the values it
    changes (`json_text.edited`): however the file is laid out, `make backing` then
    `make backing-destroy` leave it byte for byte as it was. Returns whether it changed."""
    # Bytes, not text: reading text would turn CRLF line ends into LF.
    text = config_path.read_bytes().decode("utf-8")
    return _write_if_changed(
        config_path, edited(text, lambda config: edit(config["stages"][stage.name]))
    )


def _write_if_changed(path: Path, text: str) -> bool:
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


# --- AWS ---------------------------------------------------------------------------
