"""`python -m devstack.token [admin]` (what `make token [USER=admin]` runs): print a fresh ID
token for the demo user, or for the admin user (in the `admins` group).

Reads .local/stack.json, so the local stack must be running. Prints only the
token, for `TOKEN=$(make -s token)`.
"""

from __future__ import annotations

import json
import os
import sys

import boto3

from devstack.lock import stack_running
from devstack.resources import id_token
from devstack.stack import state_dir


def main() -> int:
    path = state_dir() / "stack.json"
    try:
        stack = json.loads(path.read_text())
    except FileNotFoundError:
        print(
            f"error: {path} not found; start the local stack with `make run` first", file=sys.stderr
        )
        return 1
    if not stack_running(path.parent):
        print(f"error: no local stack is running ({path} is left from one that was killed); "
              "start it with `make run`", file=sys.stderr)  # fmt: skip
        return 1
    os.environ.pop("AWS_PROFILE", None)  # moto's dummy credentials, whatever the shell has
    cognito = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack["region"]
    ).client("cognito-idp", endpoint_url=stack["aws_endpoint_url"])
    who = sys.argv[1] if len(sys.argv) > 1 else ""
    if who not in ("", "demo", "admin"):
        print(f"error: unknown user {who[:40]!r}; use USER=admin or leave it out", file=sys.stderr)
        return 2
    username, password = (
        (stack["admin_username"], stack["admin_password"])
        if who == "admin"
        else (stack["username"], stack["password"])
    )
    print(id_token(cognito, stack["user_pool_client_id"], username, password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
