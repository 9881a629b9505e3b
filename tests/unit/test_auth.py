"""The caller comes from the authorizer's claims; without them, 401. The local stack's
token verifier says why it refuses a token; the app refuses to run under `chalice local`."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.api.auth import caller_from_context, is_admin, parse_groups, under_chalice_local
from chalicelib.errors import Unauthorized
from chalicelib.models import Caller
from devstack.auth import IdTokenVerifier, TokenRejected


def context(**claims: Any) -> dict[str, Any]:
    return {"authorizer": {"claims": claims}}


def test_the_caller_is_the_token_subject_and_username() -> None:
    caller = caller_from_context(
        context(sub="s-1", **{"cognito:username": "alice"}, token_use="id")
    )

    assert caller == Caller(sub="s-1", username="alice")


@pytest.mark.parametrize(
    "ctx",
    [None, {}, {"authorizer": None}, {"authorizer": {}}, {"authorizer": {"claims": "x"}}],
)
def test_no_claims_is_unauthorized(ctx: Any) -> None:
    with pytest.raises(Unauthorized):
        caller_from_context(ctx)


@pytest.mark.parametrize("sub", [None, "", 5])
def test_claims_without_a_subject_are_unauthorized(sub: Any) -> None:
    with pytest.raises(Unauthorized):
        caller_from_context(context(sub=sub))


def test_an_access_token_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="ID token"):
        caller_from_context(context(sub="s-1", token_use="access"))


# --- Cognito groups -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        # A verified token's JSON array (the local stack, chalice.test.Client).
        (["admins"], {"admins"}),
        (["admins", "devs"], {"admins", "devs"}),
        # API Gateway REST passes every claim as a string.
        ("[admins]", {"admins"}),
        ("[admins devs]", {"admins", "devs"}),
        ("[ admins  devs ]", {"admins", "devs"}),
        ("admins", {"admins"}),
        ("admins,devs", {"admins", "devs"}),
        ("admins, devs", {"admins", "devs"}),
        ('["admins", "devs"]', {"admins", "devs"}),
        # Nothing, or nothing usable.
        (None, set()),
        ("", set()),
        ("[]", set()),
        ([], set()),
        (["", 5, None], set()),
        (5, set()),
        ({"admins": True}, set()),
    ],
)
def test_groups_claim_parses_in_every_form_it_arrives_in(claim: Any, groups: set[str]) -> None:
    assert parse_groups(claim) == frozenset(groups)


def test_the_caller_carries_its_groups() -> None:
    caller = caller_from_context(context(sub="s-1", **{"cognito:groups": "[admins devs]"}))

    assert caller.groups == frozenset({"admins", "devs"})
    assert is_admin(caller)


@pytest.mark.parametrize("claim", [None, "devs", "[administrators]", "admin", ["Admins"]])
def test_only_the_admins_group_makes_an_admin(claim: Any) -> None:
    claims = {"cognito:groups": claim} if claim is not None else {}

    assert not is_admin(caller_from_context(context(sub="s-1", **claims)))


# --- the local stack's verifier (devstack/auth.py) ----------------------------------

POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_current"
OLD_POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_before"
CLIENT = "app-client"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _OneKey:
    """Stands in for the user pool's JWKS: one key, whatever the token's `kid`."""

    def get_signing_key_from_jwt(self, token: str) -> Any:
        return SimpleNamespace(key=_KEY.public_key())


def _verifier() -> IdTokenVerifier:
    return IdTokenVerifier("unused", POOL, CLIENT, former_issuers=[OLD_POOL, POOL], jwks=_OneKey())


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "s-1", "iss": POOL, "aud": CLIENT, "token_use": "id", "iat": now}
    claims |= {"exp": now + 600, **overrides}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, _KEY, "RS256")


def test_a_valid_id_token_gives_its_claims() -> None:
    assert _verifier().verify(f"Bearer {_token()}")["sub"] == "s-1"


def test_an_access_token_is_told_to_send_the_id_token() -> None:
    # Cognito's access tokens carry `client_id`, not `aud`: the audience check must
    # not speak first ("Token is missing the aud claim").
    access = _token(token_use="access", aud=None, client_id=CLIENT)

    with pytest.raises(TokenRejected, match="send the ID token, not the access token"):
        _verifier().verify(access)


def test_a_token_of_a_former_run_says_the_stack_was_restarted() -> None:
    with pytest.raises(TokenRejected, match=r"restarted.*make token"):
        _verifier().verify(_token(iss=OLD_POOL))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, "user pool"),
        ({"aud": "another-client"}, "app client"),
        ({"aud": None}, "app client"),
        ({"token_use": "refresh"}, "ID token"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"sub": None}, "sub"),
    ],
)
def test_other_bad_tokens_are_refused_saying_why(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRejected, match=reason):
        _verifier().verify(_token(**overrides))


# --- `chalice local` ----------------------------------------------------------------

CLI = {"AWS_CHALICE_CLI_MODE": "true"}


@pytest.mark.parametrize(
    "argv",
    [
        ["chalice", "local"],
        ["chalice", "local", "--stage", "local", "--port", "8001"],
        ["/x/.venv/bin/chalice", "--debug", "local"],
        ["chalice", "--project-dir", "/x/local", "local"],
        ["chalice", "--no-debug", "--project-dir", ".", "local", "--no-autoreload"],
    ],
)
def test_chalice_local_is_recognised(argv: list[str]) -> None:
    assert under_chalice_local(argv, CLI)


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["chalice", "package", "--stage", "local", "out"], CLI),
        (["chalice", "--project-dir", "local", "deploy"], CLI),
        (["chalice", "deploy", "--stage", "local"], CLI),
        (["chalice", "--debug"], CLI),
        # Lambda's runtime, pytest, `python -m devstack`: no Chalice CLI.
        (["/var/runtime/bootstrap.py", "local"], {}),
        (["chalice", "local"], {"AWS_CHALICE_CLI_MODE": "false"}),
    ],
)
def test_other_commands_and_processes_are_not_chalice_local(
    argv: list[str], environ: dict[str, str]
) -> None:
    assert not under_chalice_local(argv, environ)
