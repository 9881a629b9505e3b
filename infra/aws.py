"""What both deployers (`make deploy`, `make backing`) need of the account: who and where."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


class DeployError(RuntimeError):
    """Something the person deploying must fix; the message says what."""


def caller_identity(session: Any) -> tuple[str, str]:
    """The account and region `session` deploys to. Raises DeployError when either is
    missing (no region configured, no usable credentials)."""
    region = session.region_name
    if not region:
        raise DeployError("no AWS region: set AWS_REGION (or configure a default region)")
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"no usable AWS credentials: {exc}") from exc
    return str(account), str(region)


def exit_code_of(action: Callable[[], object]) -> int:
    """Run a deployer's command line: 0 when `action` returns, else 1 with the reason on
    stderr, in the deployer's words or AWS's own (no region, no credentials, a refused
    call), never a traceback."""
    try:
        action()
    except (DeployError, ValueError, BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
