"""What the Chalice CLI must not do with the app, on a person's machine.

`app.py` imports this only when the Chalice CLI loads it (AWS_CHALICE_CLI_MODE: never in
Lambda, so it never ships in the zip): it refuses `chalice local`, and a `chalice deploy`
that would pick the wrong runtime (`make chalice-deploy`, infra/chalice_cli.py, runs it
pinned).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

# `chalice local` (the Chalice CLI's development server) only base64-decodes a
# Cognito token: no signature, issuer, audience or expiry check, so an unsigned
# or forged token is served as its claims say. The app refuses to run under it.
CHALICE_LOCAL_REFUSAL = (
    "vpc-provisioner does not run under `chalice local`: Chalice's local server admits "
    "any token it can decode (unsigned, forged or expired alike). Use `make run`: the "
    "same app with every ID token verified, AWS played by moto, and the worker, the "
    "reaper and the reconciler running (docs/local-stack.md)."
)


def chalice_command(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The Chalice CLI command this process runs (`local`, `deploy`, `package`, ...), or
    None when it is not the Chalice CLI (never in Lambda).

    The Chalice CLI sets AWS_CHALICE_CLI_MODE for every command; the command is
    the first argument that is not a global option (`--debug`, `--no-debug`,
    `--project-dir DIR`).
    """
    if environ.get("AWS_CHALICE_CLI_MODE") != "true":
        return None
    args = list(argv[1:])
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "--project-dir" and args:
            args.pop(0)
    return args[0] if args else None


def under_chalice_local(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process is the Chalice CLI's `chalice local` (never true in Lambda)."""
    return chalice_command(argv, environ) == "local"


def refuse_what_must_not_run(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Under `chalice local`: say why not and end the process (os._exit: with autoreload
    the app is loaded in a server thread, which SystemExit would end without ending the
    process). For a stage not backed yet: SystemExit saying to run `make backing`. Under
    `chalice deploy` without the runtime pinned (Chalice would give the
    functions the runtime of the Python running it: python3.11 from a 3.11 virtualenv,
    which Lambda no longer takes): SystemExit saying to run `make chalice-deploy`."""
    if under_chalice_local(argv, environ):
        print(CHALICE_LOCAL_REFUSAL, file=sys.stderr, flush=True)
        os._exit(2)
    # A stage of .chalice/config.json that `make backing` has not written yet
    # (infra/backing_config.py, UNBACKED_VARIABLE): Chalice loads the app with the stage's
    # variables before it sends anything, so `chalice deploy` stops here, saying what to do.
    stage = environ.get("UNBACKED_STAGE")
    if stage:
        command = chalice_command(argv, environ)
        again = (
            f"`make chalice-{command} STAGE={stage}`"
            if command in ("deploy", "delete")
            else "your command again"
        )
        raise SystemExit(
            f"error: stage {stage} has no backing resources yet: run `make backing "
            f"STAGE={stage}` (a stage backed already is left as it is), then {again}"
        )
    if chalice_command(argv, environ) == "deploy" and not environ.get(
        "VPC_PROVISIONER_LAMBDA_RUNTIME"
    ):
        raise SystemExit(
            f"error: `chalice deploy` alone would deploy the functions on python"
            f"{sys.version_info[0]}.{sys.version_info[1]}, the Python running it: run `make "
            "chalice-deploy STAGE=<stage>`, which deploys them on python3.12 as every "
            "deployment does"
        )
