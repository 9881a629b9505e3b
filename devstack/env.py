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
first ones by themselves. Reads stack.json, so the stack must be running; when
none is, it prints a line that makes the `eval` itself fail, saying so (an eval
of nothing would succeed silently).
"""

from __future__ import annotations

import shlex
import sys

from devstack.stack import state_dir
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
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(["unset AWS_SESSION_TOKEN AWS_PROFILE", *lines]) + "\n"


def unset() -> str:
    """The shell line that undoes `exports` (a profile or session token is not restored)."""
    return f"unset {' '.join(EXPORTED)}\n"


def failing(message: str) -> str:
    """A shell line that makes `eval` print `message` on stderr and fail."""
    return f"echo {shlex.quote('error: ' + message)} >&2; false\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--unset"]:
        sys.stdout.write(unset())
        return 0
    try:
        stack = running_stack()
    except NoRunningStack as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.stdout.write(failing(str(exc)))
        return 1
    token = fresh_token(stack)
    sys.stdout.write(exports(stack, token, str(state_dir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
