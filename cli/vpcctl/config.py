"""Which API vpcctl talks to, and which Cognito app client signs its users in.

Each setting is taken from the first of: its flag, its environment variable,
the local stack's `.local/stack.json` (what `make run` writes). The stack file
is used only for its own API: given another `--api-url`, its client id, region
and moto endpoint would be the wrong ones, so they are not borrowed.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import usage_error

API_URL_ENV = "VPCCTL_API_URL"
CLIENT_ID_ENV = "VPCCTL_CLIENT_ID"
REGION_ENV = "VPCCTL_REGION"
# The local stack's own variable (devstack.stack.state_dir): where it writes stack.json.
STATE_DIR_ENV = "DEVSTACK_STATE_DIR"
STACK_FILE = Path(".local") / "stack.json"


@dataclass(frozen=True)
class LocalStack:
    """What vpcctl uses of the local stack's stack.json."""

    path: Path
    api_url: str
    user_pool_client_id: str
    region: str
    aws_endpoint_url: str
    # The demo user `vpcctl login` signs in by default.
    username: str
    # username -> password of the stack's demo users
    passwords: Mapping[str, str]

    @classmethod
    def read(cls, path: Path) -> LocalStack:
        try:
            info: dict[str, Any] = json.loads(path.read_text())
            passwords = {info["username"]: info["password"]}
            if info.get("admin_username"):
                passwords[info["admin_username"]] = info["admin_password"]
            return cls(
                path=path,
                api_url=normalize_url(info["api_url"]),
                user_pool_client_id=info["user_pool_client_id"],
                region=info["region"],
                aws_endpoint_url=info["aws_endpoint_url"],
                username=info["username"],
                passwords=passwords,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise usage_error(f"cannot read the local stack's {path}: {exc}") from exc


@dataclass(frozen=True)
class Target:
    """The API and the sign-in settings a command uses."""

    api_url: str
    client_id: str | None
    region: str | None
    # The Cognito endpoint: the local stack's moto; None for AWS itself.
    cognito_endpoint: str | None
    # The local stack, when the API is its API.
    local: LocalStack | None

    def require_client_id(self) -> str:
        if not self.client_id:
            raise usage_error(
                f"no Cognito app client id for {self.api_url}: pass --client-id "
                f"or set {CLIENT_ID_ENV}"
            )
        return self.client_id

    def require_region(self) -> str:
        if not self.region:
            raise usage_error(
                f"no AWS region for the Cognito user pool of {self.api_url}: pass --region "
                f"or set {REGION_ENV}"
            )
        return self.region


def normalize_url(url: str) -> str:
    """The API URL as vpcctl keys it: no trailing slash."""
    return url.strip().rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def find_stack_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The local stack's stack.json: under DEVSTACK_STATE_DIR, else `.local/stack.json` in
    the working directory or the nearest parent that has one."""
    state_dir = env.get(STATE_DIR_ENV)
    if state_dir:
        path = Path(state_dir) / "stack.json"
        return path if path.is_file() else None
    for directory in (cwd, *cwd.parents):
        path = directory / STACK_FILE
        if path.is_file():
            return path
    return None


def resolve(
    env: Mapping[str, str],
    cwd: Path,
    *,
    api_url: str | None = None,
    client_id: str | None = None,
    region: str | None = None,
) -> Target:
    """The target of a command: flags (the arguments), then environment variables, then
    the local stack's stack.json. Raises a usage error (exit 2) when there is no API."""
    chosen_url = api_url or env.get(API_URL_ENV) or None
    stack_path = find_stack_file(env, cwd)
    stack = LocalStack.read(stack_path) if stack_path else None
    if chosen_url is None:
        if stack is None:
            raise usage_error(
                "no API to talk to: start the local stack with `make run` (vpcctl then reads "
                f".local/stack.json), or pass --api-url / set {API_URL_ENV}"
            )
        chosen_url = stack.api_url
    chosen_url = normalize_url(chosen_url)
    if not chosen_url.startswith(("http://", "https://")):
        raise usage_error(f"the API URL must start with http:// or https://, not {chosen_url!r}")
    if chosen_url.startswith("http://") and not is_loopback(chosen_url):
        # The ID token would cross the network in clear text.
        raise usage_error(
            f"refusing to send a token over plain HTTP to {chosen_url!r}: use https:// "
            "(http:// is only for a stack on this machine)"
        )
    local = stack if stack is not None and stack.api_url == chosen_url else None
    if local is not None and not all(
        is_loopback(url) for url in (local.api_url, local.aws_endpoint_url)
    ):
        # A stack.json is the local stack's: one naming another machine was not written
        # by `make run`, and would receive the password `vpcctl login` sends.
        raise usage_error(
            f"{stack_path} names an API or endpoint that is not on this machine; "
            "remove it or pass --api-url / --client-id"
        )
    return Target(
        api_url=chosen_url,
        client_id=client_id
        or env.get(CLIENT_ID_ENV)
        or (local.user_pool_client_id if local else None),
        region=region
        or env.get(REGION_ENV)
        or (local.region if local else None)
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or None,
        cognito_endpoint=local.aws_endpoint_url if local else None,
        local=local,
    )


def default_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """vpcctl's folder under the user's config dir: $XDG_CONFIG_HOME/vpcctl or ~/.config/vpcctl."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vpcctl"
