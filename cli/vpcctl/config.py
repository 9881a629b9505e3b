"""Which API vpcctl talks to, and which Cognito app client signs its users in.

Each setting is taken from the first of: its flag, its environment variable,
the local stack's `.local/stack.json` (what `make run` writes). The stack file
is used only for its own API: given another `--api-url`, its client id, region
and moto endpoint would be the wrong ones, so they are not borrowed.

What receives the ID token (the API) and the password (the Cognito endpoint)
is decided here, so both are checked here, before any connection: each URL as
urls.py judges it, the stack file as stack_file.py does. For a deployed API,
botocore picks the Cognito endpoint, also from the AWS config file: auth.py
holds the endpoint it resolved to the same rule (`check_password_endpoint`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import STACK_NOT_RUNNING, CliError, unavailable, usage_error
from .stack_file import STATE_DIR_ENV, LocalStack, find_stack_file, start_command
from .urls import checked_url, is_loopback, quoted

API_URL_ENV = "VPCCTL_API_URL"
CLIENT_ID_ENV = "VPCCTL_CLIENT_ID"
REGION_ENV = "VPCCTL_REGION"
# The region of a deployed API's user pool when no flag, VPCCTL_REGION nor stack file
# names one: in the deployers' order (infra/aws.py, REGION_VARIABLES), so that with both
# set, and differently, `vpcctl login` signs in where `make deploy` deployed.
AWS_REGION_ENVS = ("AWS_DEFAULT_REGION", "AWS_REGION")
# Where botocore finds a Cognito endpoint when vpcctl names none (a deployed API): the
# service's own variable first, then the global one, unless told to ignore both.
AWS_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL")
AWS_IGNORE_ENDPOINTS_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


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
    # What starts the local stack this target looks for, for "it is not running".
    start: str = "make run"

    def require_client_id(self) -> str:
        if not self.client_id:
            raise usage_error(
                f"no Cognito app client id for {self.api_url}: pass --client-id "
                f"or set {CLIENT_ID_ENV}"
            )
        return self.client_id

    def require_region(self) -> str:
        """The user pool's region: the one named (flag, VPCCTL_REGION, the stack file,
        AWS_DEFAULT_REGION, AWS_REGION), else the AWS profile's `region`, as the deployers
        find it (botocore's chain, infra/aws.py): `make deploy` with a profile's region
        and no variable deploys there, and vpcctl signs in there."""
        region = self.region or profile_region()
        if not region:
            raise usage_error(
                f"no AWS region for the Cognito user pool of {self.api_url}: pass --region, "
                f"set {REGION_ENV}, or set `region` in your AWS profile"
            )
        return region


def profile_region() -> str | None:
    """The region botocore finds in the AWS config file (AWS_PROFILE's, else the default
    profile's; AWS_CONFIG_FILE names the file), or None."""
    # Imported here: only signing in needs botocore, a third of vpcctl's start-up time.
    import botocore.session  # noqa: PLC0415

    region = botocore.session.get_session().get_config_variable("region")
    return str(region).strip() or None if region else None


# What a command that can do without an API (`logout`) gets when none is named and no
# local stack runs.
NO_TARGET = Target(api_url="", client_id=None, region=None, cognito_endpoint=None, local=None)


def _read_stack(path: Path | None, named: bool) -> LocalStack | None:
    """The stack file at `path`. When the API is `named` (--api-url, VPCCTL_API_URL), one
    that cannot be read or trusted is as none: its password is not at stake (only a file
    naming that same API is used), and a file planted above a project (someone else's,
    in a shared folder) must not stop a command that talks to another API."""
    if path is None:
        return None
    try:
        return LocalStack.read(path)
    except CliError:
        if named:
            return None
        raise


def resolve(
    env: Mapping[str, str],
    cwd: Path,
    *,
    api_url: str | None = None,
    client_id: str | None = None,
    region: str | None = None,
) -> Target:
    """The target of a command: flags (the arguments), then environment variables, then
    the local stack's stack.json. Raises CliError: exit 5 when there is no API (no stack
    running), a usage error (exit 2) when a URL or the stack file cannot be trusted with
    the token or the password."""
    stack_path = find_stack_file(env, cwd)
    stack = _read_stack(stack_path, named=bool(api_url or env.get(API_URL_ENV)))
    if api_url:
        chosen_url = checked_url(api_url, "the API URL from --api-url")
    elif env.get(API_URL_ENV):
        chosen_url = checked_url(env[API_URL_ENV], f"the API URL from {API_URL_ENV}")
    elif stack is not None:
        chosen_url = checked_url(stack.api_url, f"the api_url of {stack.path}")
    else:
        # The local stack removes its stack.json when it stops: this is "the stack is down",
        # the same exit code as a stack.json whose port nobody listens on (api.py).
        raise unavailable(
            f"no API to talk to: {_where_looked(env)}; start one with "
            f"`{start_command(env, cwd=cwd)}`, or pass --api-url / set {API_URL_ENV}",
            code=STACK_NOT_RUNNING,
        )
    if chosen_url.startswith("http://") and not is_loopback(chosen_url):
        # The ID token would cross the network in clear text.
        raise usage_error(
            f"refusing to send a token over plain HTTP to {quoted(chosen_url)}: use https:// "
            "(http:// is only for a stack on this machine)"
        )
    local = stack if stack is not None and _same_api(stack, chosen_url) else None
    cognito_endpoint = None
    if local is None:
        _check_aws_endpoint_env(env)
    else:
        cognito_endpoint = checked_url(
            local.aws_endpoint_url, f"the aws_endpoint_url of {local.path}"
        )
        if not all(is_loopback(url) for url in (chosen_url, cognito_endpoint)):
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
        or _aws_region(env),
        cognito_endpoint=cognito_endpoint,
        local=local,
        start=start_command(env, chosen_url, cwd),
    )


def _aws_region(env: Mapping[str, str]) -> str | None:
    """The first of AWS_REGION_ENVS that is set (a blank one is not, as to the deployers)."""
    for name in AWS_REGION_ENVS:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _where_looked(env: Mapping[str, str]) -> str:
    """What finding no stack.json means, by where `find_stack_file` looked: the stack is
    not running, or (looked only from here up) none was found from here."""
    state_dir = env.get(STATE_DIR_ENV)
    if state_dir:
        return (
            f"the local stack is not running (no stack.json in {quoted(state_dir)}, the "
            f"folder {STATE_DIR_ENV} names)"
        )
    # Run elsewhere than its checkout, without the eval: a stack may well be running.
    return (
        "no local stack found from here (no .local/stack.json here or above, up to the "
        "repository's root): run vpcctl in the checkout that runs it, or `eval \"$(make -s "
        'env)"` there first (vpcctl then finds it from anywhere)'
    )


def _same_api(stack: LocalStack, url: str) -> bool:
    """Whether the checked API URL `url` is the stack's own (compared as spelled by
    `checked_url`; a stack URL it refuses is no one's)."""
    try:
        return checked_url(stack.api_url, "") == url
    except CliError:
        return False


def _check_aws_endpoint_env(env: Mapping[str, str]) -> None:
    """The Cognito endpoint botocore takes from the environment when vpcctl names none (a
    deployed API), checked as `checked_url` checks any, and held to the API URL's rule
    (https://, or http:// to this machine): `vpcctl login` sends it the password. The same
    variable botocore would use, in its order; none if told to ignore them."""
    if env.get(AWS_IGNORE_ENDPOINTS_ENV, "").lower() == "true":
        return
    for name in AWS_ENDPOINT_ENVS:
        if env.get(name):
            check_password_endpoint(env[name], name, f"unset {name}")
            return


def check_password_endpoint(url: str, origin: str, remedy: str) -> str:
    """`url`, an endpoint `vpcctl login` would send the password to, as `checked_url`
    spells it, if `checked_url` accepts it and it is https:// or http:// to this machine
    (the API URL's rule); else a usage error naming where it came from (`origin`) and what
    to do about it (`remedy`)."""
    checked = checked_url(url, f"the AWS endpoint URL from {origin}")
    if checked.startswith("http://") and not is_loopback(checked):
        raise usage_error(
            f"refusing to send a password over plain HTTP to {quoted(checked)} (from "
            f"{origin}): use https:// (http:// is only for an endpoint on this machine), "
            f"or {remedy}"
        )
    return checked


def default_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """vpcctl's folder under the user's config dir: $XDG_CONFIG_HOME/vpcctl or ~/.config/vpcctl."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vpcctl"
