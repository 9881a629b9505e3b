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

import shlex
import sys

from devstack.token import NoRunningStack, fresh_token, running_stack


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
    try:
        stack = running_stack()
    except NoRunningStack as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    token = fresh_token(stack)
    sys.stdout.write(exports(stack, token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
