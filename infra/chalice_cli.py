"""`chalice`, with the functions' runtime pinned to LAMBDA_RUNTIME and a lean zip.

    .venv/bin/python -m infra.chalice_cli deploy --stage dev   # make chalice-deploy STAGE=dev
    .venv/bin/python -m infra.chalice_cli delete --stage dev   # make chalice-delete STAGE=dev

Chalice takes a function's runtime from the Python that runs it (python3.11 from a
3.11 virtualenv) and has no setting to choose another: every function it deploys,
every template it packages and every dependency it builds for the zip (wheels for
that Python's ABI) would follow the machine's Python. Run through here, Chalice
deploys, packages and builds for LAMBDA_RUNTIME (python3.12), whatever Python runs
it (3.11 or later): `make package` (so `make deploy` and Terraform too) and `make
chalice-deploy` do. And every zip it builds here leaves out the modules of
chalicelib/ that no function imports (infra/lambda_zip.py).

The app refuses a plain `chalice deploy` (app.py): it would deploy the local
Python's runtime. PINNED_VARIABLE tells it that the runtime is pinned here.

Chalice, like botocore, reads the region from AWS_DEFAULT_REGION only: run through
here it takes AWS_REGION too, as `make deploy` and `make backing` do, and a deploy or
delete with no region at all stops before Chalice starts, saying how to set one
(Chalice's own "You must specify a region." does not).

A stage's settings for its user pool (USER_POOL_MFA, USER_POOL_THREAT_PROTECTION:
infra/stage.py) sit in its `environment_variables`, where `make backing` reads them at
every run; Chalice gives every function all of a stage's variables, so run through here
it gives them none of these (as the packages do not), nor UNBACKED_STAGE once `make
backing` has emptied it (set, it stays: the app refuses to load, app.py).

A deploy of a stage whose policy files are not there (`make backing` writes them and git
ignores them: a clone of a stage backed elsewhere has its config.json but not them) stops
before Chalice starts too, saying to run `make backing`, rather than ending in Chalice's
"Unable to load IAM policy file" traceback. A stage not backed at all is the app's to
refuse (app.py, UNBACKED_STAGE).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError
from botocore.parsers import ResponseParserError
from chalice.cli import cli as chalice_cli
from chalice.config import Config
from chalice.deploy.packager import LambdaDeploymentPackager

from .aws import (
    NO_REGION,
    OUT_OF_REACH,
    REGION_VARIABLES,
    DeployError,
    out_of_reach,
    region_from_environment,
    session_from_environment,
    unreadable_answer,
)
from .backing_config import UNBACKED_VARIABLE
from .chalice_guard import chalice_command
from .lambda_zip import slim
from .stage import LAMBDA_RUNTIME, USER_POOL_VARIABLES

# Set for the Chalice commands run here (never passed to a function: Chalice gives
# functions only the stage's environment_variables).
PINNED_VARIABLE = "VPC_PROVISIONER_LAMBDA_RUNTIME"
# The Chalice commands that call AWS in the stage's region.
REGIONAL_COMMANDS = frozenset({"deploy", "delete", "invoke", "logs", "url"})
# Chalice's defaults for the options read here.
DEFAULT_STAGE = "dev"


@contextlib.contextmanager
def pinned_runtime(runtime: str = LAMBDA_RUNTIME) -> Iterator[None]:
    """Within the block, Chalice (in this process) deploys, packages and builds the
    zip's dependencies for `runtime`, without its warning that the running Python is not
    Lambda's (it is not what runs there); afterwards, for the running Python again."""
    derived = Config.__dict__["lambda_python_version"]
    previous = os.environ.get(PINNED_VARIABLE)
    Config.lambda_python_version = property(lambda _config: runtime)  # type: ignore[assignment,method-assign]
    os.environ[PINNED_VARIABLE] = runtime
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "You are currently running python", UserWarning)
            yield
    finally:
        Config.lambda_python_version = derived  # type: ignore[method-assign]
        if previous is None:
            os.environ.pop(PINNED_VARIABLE, None)
        else:
            os.environ[PINNED_VARIABLE] = previous


@contextlib.contextmanager
def lean_zips() -> Iterator[None]:
    """Within the block, every deployment zip Chalice (in this process) builds leaves out
    the chalicelib modules no function imports (infra/lambda_zip.py)."""
    build = LambdaDeploymentPackager.create_deployment_package

    def create_deployment_package(self: Any, project_dir: str, python_version: str) -> str:
        # A copy: Chalice keeps the zip it built and hands the same file back on a deploy of
        # unchanged code ("Reusing existing deployment package"), which must stay unslimmed.
        built = Path(build(self, project_dir, python_version))
        lean = built.parent / "lean" / built.name
        lean.parent.mkdir(exist_ok=True)
        shutil.copyfile(built, lean)
        slim(lean)
        return str(lean)

    LambdaDeploymentPackager.create_deployment_package = create_deployment_package  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaDeploymentPackager.create_deployment_package = build  # type: ignore[method-assign]


@contextlib.contextmanager
def withheld_variables(
    names: Sequence[str] = USER_POOL_VARIABLES, when_empty: Sequence[str] = (UNBACKED_VARIABLE,)
) -> Iterator[None]:
    """Within the block, Chalice (in this process) gives no function the variables `names`,
    nor those of `when_empty` that are empty, wherever config.json sets them; afterwards,
    every variable again."""
    merged = Config.__dict__["environment_variables"]

    def environment_variables(config: Config) -> dict[str, str]:
        variables: dict[str, str] = merged.fget(config)
        return {
            name: value
            for name, value in variables.items()
            if name not in names and (value or name not in when_empty)
        }

    Config.environment_variables = property(environment_variables)  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        Config.environment_variables = merged  # type: ignore[method-assign]


def _option(args: Sequence[str], name: str, default: str) -> str:
    """The value of option `name` (`--name VALUE` or `--name=VALUE`) in `args`, else `default`."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default


def missing_policy_files(args: Sequence[str]) -> tuple[str, list[str]]:
    """For Chalice's arguments `args` (deploy --stage NAME ...): the stage, and the policy
    files its backed config names that are not in `.chalice/` (none when the stage is not
    backed yet or the config cannot be read: the app, or Chalice, says what is wrong)."""
    stage = _option(args, "--stage", DEFAULT_STAGE)
    config_dir = Path(_option(args, "--project-dir", ".")) / ".chalice"
    try:
        settings = json.loads((config_dir / "config.json").read_text())["stages"][stage]
        if settings.get("environment_variables", {}).get(UNBACKED_VARIABLE):
            return stage, []
        named = {
            str(function["iam_policy_file"])
            for function in settings.get("lambda_functions", {}).values()
            if function.get("iam_policy_file")
        }
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return stage, []
    return stage, sorted(name for name in named if not (config_dir / name).is_file())


def policy_files_refusal(args: Sequence[str]) -> str | None:
    """Why `chalice deploy` with `args` would fail on the stage's policy files and what to
    do, or None when they are all there."""
    stage, missing = missing_policy_files(args)
    if not missing:
        return None
    return (
        f"stage {stage}'s policy files are not here ("
        + ", ".join(f".chalice/{name}" for name in missing)
        + f"; `make backing` writes them from the stage's stack, and git ignores them): run "
        f"`make backing STAGE={stage}`, then `make chalice-deploy STAGE={stage}`"
    )


def account_refusal() -> str | None:
    """Why a command that calls AWS cannot run, as `make deploy` says it (one line), or
    None: the local stack's environment (`eval "$(make -s unenv)"` first), no region, or a
    profile or configuration botocore cannot read (AWS_PROFILE naming no profile)."""
    try:
        if not session_from_environment().region_name:
            return NO_REGION
    except (DeployError, BotoCoreError) as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the Chalice command line (`argv`: its arguments, e.g. deploy --stage dev) with
    the runtime pinned, lean zips and no function given the user pool's settings. Returns
    (or, as click does, raises SystemExit with) its exit code."""
    sys.argv = ["chalice", *(sys.argv[1:] if argv is None else argv)]
    region = region_from_environment()
    if region:
        os.environ[REGION_VARIABLES[0]] = region  # the one Chalice reads
    command = chalice_command(sys.argv, {"AWS_CHALICE_CLI_MODE": "true"})
    if command in REGIONAL_COMMANDS and (refusal := account_refusal()):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if command == "deploy" and (refusal := policy_files_refusal(sys.argv[1:])):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    with pinned_runtime(), lean_zips(), withheld_variables():
        return int(run_chalice() or 0)


def run_chalice() -> int:
    """Chalice's command line as `chalice.cli.main` runs it, except that AWS out of reach
    or an answer botocore cannot read ends it with one line saying so, as `make deploy`
    and `make backing` do (Chalice's `main` prints any exception's traceback)."""
    try:
        return int(chalice_cli(obj={}) or 0)
    except OUT_OF_REACH as exc:
        print(f"error: {out_of_reach('AWS', exc)}", file=sys.stderr)
    except ResponseParserError as exc:
        print(f"error: AWS {unreadable_answer(exc)}", file=sys.stderr)
    except Exception:  # as chalice.cli.main does with what it does not know
        print(traceback.format_exc(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
