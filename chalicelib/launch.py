"""How this process was started: the Chalice CLI's commands that must not run the app.

`app.py` asks at import, before anything else: it refuses `chalice local`, and a
`chalice deploy` that would pick the wrong runtime (infra/chalice_cli.py runs it
pinned). Pure, and in the core: every function's cold start imports it.
"""

from __future__ import annotations

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
