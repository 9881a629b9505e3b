"""`python -m devstack.token [admin]` (what `make token [USER=admin]` runs): print a fresh ID
token for the demo user, or for the admin user (in the `admins` group).

Reads .local/stack.json, so the local stack must be running, and asks its moto's Cognito:
a stack whose moto does not answer (its process died) is an error line, as no stack is,
and one still starting (no stack.json yet, its lock held) says to run it again once ready.
Prints only the token, for `TOKEN=$(make -s token)`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3

from devstack.lock import StateFolderUnusable, lock_holder, port_of, stack_running, unusable
from devstack.moto_process import UNREACHABLE
from devstack.resources import id_token
from devstack.state_folder import run_command, state_dir


class NoRunningStack(Exception):
    """No local stack is running here; the message says what to do."""


class StackNotAnswering(NoRunningStack):
    """A stack holds its state folder but its moto cannot be reached (moto's process died,
    or it is wedged): as good as none running, and said the same way."""


def _run_command(stack: dict[str, str] | None = None) -> str:
    """The `make run` that starts a stack in this state folder: on the port of `stack` (its
    stack.json), when one is known."""
    return run_command(state_dir(), port_of(stack.get("api_url", "")) if stack else None)


def running_stack() -> dict[str, str]:
    """The running local stack's stack.json. Raises NoRunningStack."""
    path = state_dir() / "stack.json"
    try:
        stack: dict[str, str] = json.loads(path.read_text())
        running = stack_running(path.parent)
    except FileNotFoundError:
        raise NoRunningStack(_not_ready(path, _run_command())) from None
    except PermissionError as exc:
        raise NoRunningStack(str(unusable(path.parent, exc))) from None
    except StateFolderUnusable as exc:
        raise NoRunningStack(str(exc)) from None
    if not running:
        raise NoRunningStack(
            f"no local stack is running ({path} is left from one that was killed); "
            f"start it with `{_run_command(stack)}`"
        )
    return stack


def _not_ready(path: Path, run: str) -> str:
    """Why there is no stack.json at `path`. A stack that holds the folder is starting (moto
    starting, a PERSIST=1 snapshot loading; its lock says "starting") or stopping (stack.json
    is removed before the lock is let go): "start it" would send its user to a `make run`
    that is refused. Else none runs, and `run` starts one."""
    try:
        holder = lock_holder(path.parent)
    except StateFolderUnusable as exc:
        return str(exc)
    if holder is None:
        return f"{path} not found; start the local stack with `{run}` first"
    pid = holder.get("pid", "?")
    if holder.get("status") == "starting":
        return (
            f"a local stack is starting here (pid {pid}): run this again once it prints that "
            "it is ready"
        )
    return f"the local stack here (pid {pid}) is stopping: start it again with `{run}` once it has"


def fresh_token(stack: dict[str, str], admin: bool = False) -> str:
    """A new ID token of the stack's demo user (or of its admin user).

    Raises StackNotAnswering when the stack's moto cannot be reached or drops the
    connection (botocore has retried by then)."""
    os.environ.pop("AWS_PROFILE", None)  # moto's dummy credentials, whatever the shell has
    endpoint = stack["aws_endpoint_url"]
    cognito = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack["region"]
    ).client("cognito-idp", endpoint_url=endpoint)
    user = "admin_" if admin else ""
    try:
        return id_token(
            cognito,
            stack["user_pool_client_id"],
            stack[f"{user}username"],
            stack[f"{user}password"],
        )
    except UNREACHABLE:
        raise StackNotAnswering(
            f"the stack at {stack['api_url']} does not answer (moto at {endpoint} cannot be "
            f"reached): restart it with `{_run_command(stack)}`"
        ) from None


def main() -> int:
    who = sys.argv[1] if len(sys.argv) > 1 else ""
    if who not in ("", "demo", "admin"):
        print(f"error: unknown user {who[:40]!r}; use USER=admin or leave it out", file=sys.stderr)
        return 2
    try:
        token = fresh_token(running_stack(), admin=who == "admin")
    except NoRunningStack as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(token, flush=True)
    except BrokenPipeError:
        return pipe_closed()
    return 0


# What a shell reports of a process a closed pipe's SIGPIPE ended (128 + 13), as vpcctl.
PIPE_CLOSED = 141


def pipe_closed() -> int:
    """What to do when what reads the token stopped reading (`make -s token | head -c 20`):
    point stdout at /dev/null, so that Python's flush at exit does not fail again ("Exception
    ignored ... BrokenPipeError"), and say nothing. Returns the exit code, PIPE_CLOSED."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return PIPE_CLOSED


if __name__ == "__main__":
    sys.exit(main())
