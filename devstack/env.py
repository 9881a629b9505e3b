"""`python -m devstack.env` (what `make -s env` runs): shell exports for the running local stack.

    eval "$(make -s env)"
    aws ec2 describe-vpcs                                   # the AWS CLI, at moto
    curl -s $API/vpcs -H "Authorization: Bearer $TOKEN"     # the API, as the demo user

Prints `export` lines for AWS_ENDPOINT_URL (moto), the region, dummy
credentials (moto accepts any; real ones must never reach it, so a session
token or profile in the shell is unset), API (the API's URL) and TOKEN (a
fresh ID token of the demo user, valid for an hour). boto3 and the AWS CLI
read the first ones by themselves. Reads stack.json, so the stack must be
running.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

import boto3

from devstack.lock import stack_running
from devstack.resources import id_token
from devstack.stack import state_dir


def exports(stack: dict[str, str], token: str) -> str:
    """The shell lines that point the AWS CLI, boto3 and curl at `stack`."""
    values = {
        "AWS_ENDPOINT_URL": stack["aws_endpoint_url"],
        "AWS_REGION": stack["region"],
        "AWS_DEFAULT_REGION": stack["region"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "API": stack["api_url"],
        "TOKEN": token,
    }
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(["unset AWS_SESSION_TOKEN AWS_PROFILE", *lines]) + "\n"


def main() -> int:
    path = state_dir() / "stack.json"
    try:
        stack = json.loads(path.read_text())
    except FileNotFoundError:
        print(f"error: {path} not found; start the local stack: make run", file=sys.stderr)
        return 1
    if not stack_running(path.parent):
        print(f"error: no local stack is running ({path} is left from one that was killed); "
              "start it: make run", file=sys.stderr)  # fmt: skip
        return 1
    os.environ.pop("AWS_PROFILE", None)  # moto's dummy credentials, whatever the shell has
    cognito = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack["region"]
    ).client("cognito-idp", endpoint_url=stack["aws_endpoint_url"])
    token = id_token(cognito, stack["user_pool_client_id"], stack["username"], stack["password"])
    sys.stdout.write(exports(stack, token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
