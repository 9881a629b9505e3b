"""`vpcctl login` and `vpcctl logout`: the cached tokens of an API, got with a password
(and an MFA code) or forgotten."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from .api import check_something_listens
from .config import NO_TARGET
from .errors import usage_error
from .invocation import Invocation, command
from .urls import is_loopback

USERNAME_ENV = "VPCCTL_USERNAME"
PASSWORD_ENV = "VPCCTL_PASSWORD"


@click.command()
@click.option(
    "--username",
    metavar="NAME",
    help=f"The Cognito user (env {USERNAME_ENV}; default: the local stack's demo user).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help=f"Read the password from stdin (else env {PASSWORD_ENV}, the local stack's "
    "stack.json for its users, or a prompt).",
)
@click.option(
    "--mfa-code",
    metavar="CODE",
    help="A code of your authenticator app, for a user pool that requires MFA (env "
    "VPCCTL_MFA_CODE; else asked for on a terminal).",
)
@command
def login(
    inv: Invocation, username: str | None, password_stdin: bool, mfa_code: str | None
) -> None:
    """Sign in and cache the tokens (0600) for this API."""
    # A stack on this machine that is not running (or a mistyped port): said before asking
    # for a user or a password that could not be used.
    check_something_listens(inv.target.api_url, inv.target.start)
    local = inv.target.local
    env = inv.runtime.env
    username = username or env.get(USERNAME_ENV) or (local.username if local else None)
    if not username:
        raise usage_error(f"who? pass --username or set {USERNAME_ENV}")
    if password_stdin:
        if sys.stdin is None:  # `0<&-`: Python has no stdin to read
            raise usage_error("--password-stdin: stdin is closed; pipe the password in")
        password = sys.stdin.readline().rstrip("\r\n")
    elif env.get(PASSWORD_ENV):
        password = env[PASSWORD_ENV]
    elif local and username in local.passwords:
        password = local.passwords[username]
    elif inv.runtime.stdin_is_tty():
        password = click.prompt(f"Password for {username}", hide_input=True, err=True)
    else:
        raise usage_error(f"no password: pass --password-stdin or set {PASSWORD_ENV}")
    if not password:
        raise usage_error("the password is empty")
    code = mfa_code or env.get("VPCCTL_MFA_CODE")

    def ask_code() -> str:
        if code:
            return code
        return str(click.prompt("Code from your authenticator app", err=True)).strip()

    asks = code is not None or inv.runtime.stdin_is_tty()
    tokens = inv.authenticator().login(username, password, ask_code if asks else None)
    expires = _iso(tokens.expires_at)
    inv.emit(
        {"api_url": inv.target.api_url, "username": username, "expires_at": expires},
        f"Logged in to {inv.target.api_url} as {username} (ID token valid until {expires}, "
        "then refreshed).",
    )


def _logout(inv: Invocation) -> None:
    """Forget the cached tokens of this API (no stack running: the local stacks')."""
    if inv.target is NO_TARGET:
        # No API named and no local stack running: the sessions of the local stacks (an API
        # on this machine) are what there is to forget.
        gone = inv.runtime.token_cache().forget_where(is_loopback)
        inv.emit(
            {"api_url": None, "logged_out": gone},
            f"Logged out of {', '.join(gone)} (no stack running)."
            if gone
            else "Not logged in to any local stack (and none is running).",
        )
        return
    forgotten = inv.runtime.token_cache().forget(inv.target.api_url)
    inv.emit(
        {"api_url": inv.target.api_url, "logged_out": forgotten},
        f"Logged out of {inv.target.api_url}."
        if forgotten
        else f"Not logged in to {inv.target.api_url}.",
    )


_logout.without_api = True  # type: ignore[attr-defined]
logout = click.command(name="logout")(command(_logout))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
