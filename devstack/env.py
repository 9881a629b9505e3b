"""`python -m devstack.env` (what `make -s env` runs): shell exports for the running local stack.

    eval "$(make -s env)"
    aws ec2 describe-vpcs                                   # the AWS CLI, at moto
    curl -s $API/vpcs -H "Authorization: Bearer $TOKEN"     # the API, as the demo user
    vpcctl login                                            # finds this stack too
    eval "$(make -s unenv)"                                 # undoes it (--unset)

Prints `export` lines for AWS_ENDPOINT_URL (moto), the region, dummy
credentials (moto accepts any; real ones must never reach it, so a session
token or profile in the shell is unset), API (the API's URL), TOKEN (a
fresh ID token of the demo user, valid for an hour) and DEVSTACK_STATE_DIR (the
stack's state folder, where vpcctl finds it). boto3 and the AWS CLI read the
first ones by themselves. vpcctl is in the project's venv, on no shell's PATH
in a fresh clone: its folder goes at the end of PATH (the shell's own python
and tools stay first), unless PATH has it already, and DEVSTACK_PATH_ADDED
says so, so that `--unset` takes off that entry only. Reads stack.json, so the stack
must be running; when none is, or its moto does not answer (moto's process died), it
prints a line that makes the `eval` itself fail, saying so (an eval of nothing would
succeed silently), and exits EVAL_FAILS, which `make -s env` takes for done: the eval's
error is the one line the shell shows, with no `make: *** [env] Error` under it.

Every statement it prints ends with `;`, as ssh-agent's do: `eval $(make -s env)` without
the quotes (ssh-agent's, minikube's habit) joins the lines into one, which then still
reads as the same statements (it was a syntax error that quoted the whole script, the
token in it, and set nothing).

The shell's own values of the names it sets or unsets (a profile, real credentials, an
API of the user's) are saved first, by the shell itself as it runs the eval: each in
DEVSTACK_SAVED_<NAME> when it was set (empty included; exported only when it was), none
when it was unset, and DEVSTACK_SAVED says that they were. A second eval saves nothing
(the shell then holds this stack's values, not the user's); `--unset` puts every one back
as it was, set to its value (exported or not) or unset, and removes the saved copies.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from devstack.state_folder import state_dir
from devstack.token import NoRunningStack, fresh_token, running_stack

EXPORTED = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "API",
    "TOKEN",
    "DEVSTACK_STATE_DIR",
)
# Real credentials must never reach moto: the eval unsets these.
UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE")
# Names the PATH entry the eval added (the venv's bin folder), for the undo.
PATH_ADDED = "DEVSTACK_PATH_ADDED"
# Set while the shell's own values of UNSET and EXPORTED are saved, each in SAVED_PREFIX +
# its name (absent when the shell had it unset).
SAVED = "DEVSTACK_SAVED"
SAVED_PREFIX = "DEVSTACK_SAVED_"
# The exit status when what was printed makes the eval fail, saying why (`failing`); the
# Makefile's env recipe lets it through. Any other failure (a traceback) stays make's.
EVAL_FAILS = 3


def endpoint_of_the_shell(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The AWS_ENDPOINT_URL of `environ` that is the user's own (a moto server they keep
    running, which `make run` uses), or "" when there is none, and a line saying why
    the environment's was not taken, if it was not.

    In a shell where `eval "$(make -s env)"` ran (SAVED is set), AWS_ENDPOINT_URL is the
    moto of the stack it was run for: a restart of that stack, or a second stack, must
    start a moto of its own, not call that one (stopped, or another stack's). The shell's
    own value from before the eval, if it had one, is the user's."""
    endpoint = environ.get("AWS_ENDPOINT_URL", "").strip()
    if SAVED not in environ or not endpoint:
        return endpoint, None
    own = environ.get(SAVED_PREFIX + "AWS_ENDPOINT_URL", "").strip()
    if endpoint == own:
        return endpoint, None
    instead = (
        f"the shell's own from before the eval, {own}, is used" if own else "it starts its own moto"
    )
    return own, (
        f"AWS_ENDPOINT_URL {endpoint} is a local stack's, exported by "
        f'`eval "$(make -s env)"`: this stack does not use it; {instead}'
    )


def exports(stack: dict[str, str], token: str, directory: str) -> str:
    """The shell lines that point the AWS CLI, boto3, curl and vpcctl at `stack`."""
    values = {
        "AWS_ENDPOINT_URL": stack["aws_endpoint_url"],
        "AWS_REGION": stack["region"],
        "AWS_DEFAULT_REGION": stack["region"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "API": stack["api_url"],
        "TOKEN": token,
        "DEVSTACK_STATE_DIR": directory,
    }
    assert tuple(values) == EXPORTED
    lines = [f"export {name}={shlex.quote(value)};" for name, value in values.items()]
    return "\n".join([*save_lines(), f"unset {' '.join(UNSET)};", *lines]) + "\n"


def save_lines() -> list[str]:
    """Shell lines that save the shell's values of UNSET and EXPORTED, unless an earlier
    eval saved them (its values are the user's; the shell's now are this stack's). A name
    the shell has unset gets no saved copy, one set to "" an empty one. A copy is exported
    only when its name was (`printenv` sees exported names alone): the undo then knows
    which to export again, and a shell variable of the user's (a secret) reaches no
    program the shell starts, before the undo or after it."""
    lines = [f'if [ -z "${{{SAVED}+x}}" ]; then']
    for name in (*UNSET, *EXPORTED):
        copy = SAVED_PREFIX + name
        lines.append(
            f'  unset {copy}; if [ -n "${{{name}+x}}" ]; then {copy}="${name}"; '
            f"if printenv {name} >/dev/null; then export {copy}; fi; fi;"
        )
    lines += [f"  export {SAVED}=1;", "fi;"]
    return lines


def restore_lines() -> list[str]:
    """Shell lines that put back what `save_lines` saved, each name set to its saved value
    (exported if it was: its copy is) or unset, then remove the saved copies; nothing when
    nothing was saved (no eval ran in this shell: its variables are the user's own)."""
    names = (*UNSET, *EXPORTED)
    lines = [f'if [ -n "${{{SAVED}+x}}" ]; then']
    for name in names:
        copy = SAVED_PREFIX + name
        lines.append(
            f'  if [ -n "${{{copy}+x}}" ]; then if printenv {copy} >/dev/null; then '
            f'export {name}="${copy}"; else unset {name}; {name}="${copy}"; fi; '
            f"else unset {name}; fi;"
        )
    lines += [f"  unset {SAVED} {' '.join(SAVED_PREFIX + name for name in names)};", "fi;"]
    return lines


def undo(environ: MutableMapping[str, str]) -> None:
    """What `restore_lines` does in a shell, done to `environ` (the test suite's, started
    in a shell where the eval ran: the stack's endpoint and credentials would reach the
    tests' own AWS and make the deployers refuse it). PATH is left as it is."""
    if SAVED not in environ:
        return
    for name in (*UNSET, *EXPORTED):
        saved = environ.pop(SAVED_PREFIX + name, None)
        if saved is None:
            environ.pop(name, None)
        else:
            environ[name] = saved
    del environ[SAVED]


def path_exports(environ: Mapping[str, str], venv_bin: Path) -> list[str]:
    """The lines that put `venv_bin` (the folder of this venv's vpcctl) last on the PATH of
    `environ` (the shell's), and name it in PATH_ADDED; none when PATH has it already (an
    activated venv, an earlier eval) or it holds no vpcctl."""
    path = environ.get("PATH", "")
    folder = str(venv_bin)
    if folder in path.split(os.pathsep) or not (venv_bin / "vpcctl").is_file():
        return []
    extended = f"{path}{os.pathsep}{folder}" if path else folder
    return [
        f"export PATH={shlex.quote(extended)};",
        f"export {PATH_ADDED}={shlex.quote(folder)};",
    ]


def path_unexports(environ: Mapping[str, str]) -> list[str]:
    """The line that takes the entry PATH_ADDED names off the PATH of `environ` (the last
    one: an earlier one is the user's own); none when the eval added nothing."""
    folder = environ.get(PATH_ADDED)
    entries = environ.get("PATH", "").split(os.pathsep)
    if not folder or folder not in entries:
        return []
    last = len(entries) - 1 - entries[::-1].index(folder)
    kept = os.pathsep.join(entries[:last] + entries[last + 1 :])
    return [f"export PATH={shlex.quote(kept)};"]


def unset(environ: Mapping[str, str] | None = None) -> str:
    """The shell lines that undo `exports` and `path_exports`: every variable the eval set
    or unset is as the shell had it before the first eval, and PATH loses what it added."""
    environ = os.environ if environ is None else environ
    lines = [*restore_lines(), *path_unexports(environ), f"unset {PATH_ADDED};"]
    return "\n".join(lines) + "\n"


def failing(message: str) -> str:
    """A shell line that makes `eval` print `message` on stderr and fail."""
    return f"echo {shlex.quote('error: ' + message)} >&2; false;\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--unset"]:
        sys.stdout.write(unset())
        return 0
    try:
        stack = running_stack()
        token = fresh_token(stack)
    except NoRunningStack as exc:  # StackNotAnswering too
        # Said once: by the eval that runs what is printed, or here when nothing will.
        if sys.stdout.isatty():
            print(f"error: {exc}", file=sys.stderr)
            return 1
        sys.stdout.write(failing(str(exc)))
        return EVAL_FAILS
    sys.stdout.write(exports(stack, token, str(state_dir())))
    for line in path_exports(os.environ, Path(sys.executable).absolute().parent):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
