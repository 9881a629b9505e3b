"""The caller comes from the authorizer's claims; without them, 401. The local stack's
token verifier says why it refuses a token; the app refuses to run under `chalice local`."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import devstack.auth
from chalicelib.api.auth import caller_from_context, is_admin
from chalicelib.errors import Unauthorized
from chalicelib.models import Caller
from devstack.auth import IdTokenVerifier, TokenRejected
from devstack.events import unsigned_token
from infra.chalice_guard import under_chalice_local


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
#
# Groups are read from the verified token's payload (a JSON array), whatever shape the
# claims arrived in: API Gateway REST hands them over as one string, the local stack
# and chalice.test.Client as a list. Both shapes give the same answer.


# The shapes one list of groups reaches the app in: the local stack's list, and the
# strings API Gateway REST has been seen to make of it.
def _claim_shapes(groups: list[str]) -> list[Any]:
    return [groups, f"[{' '.join(groups)}]", ",".join(groups)]


def _caller(groups: Any, claim: Any, sub: str = "s-1", token_sub: str = "s-1") -> Caller:
    payload: dict[str, Any] = {"sub": token_sub, "token_use": "id"}
    if groups is not None:
        payload["cognito:groups"] = groups
    claims = {"sub": sub, "cognito:groups": claim}
    return caller_from_context(context(**claims), "Bearer " + unsigned_token(payload))


@pytest.mark.parametrize("claim", _claim_shapes(["admins", "devs"]))
def test_a_member_of_admins_is_an_admin_in_either_shape(claim: Any) -> None:
    caller = _caller(["admins", "devs"], claim)

    assert caller.groups == frozenset({"admins", "devs"})
    assert is_admin(caller)


@pytest.mark.parametrize(
    "groups",
    [
        ["ops,admins"],  # flattened by API Gateway: "[ops,admins]" read as two groups
        ["[admins]"],
        ["admins devs"],
        ["Admins"],
        ["administrators"],
        ["admin"],
        [],
    ],
)
def test_a_group_whose_name_only_looks_like_admins_is_not_admin_in_either_shape(
    groups: list[str],
) -> None:
    for claim in _claim_shapes(groups):
        assert not is_admin(_caller(groups, claim)), claim


@pytest.mark.parametrize("groups", [None, "admins", "[admins]", {"admins": True}, [5, None]])
def test_groups_that_are_not_a_json_array_of_names_hold_no_group(groups: Any) -> None:
    assert not is_admin(_caller(groups, "[admins]"))


@pytest.mark.parametrize("claim", [*_claim_shapes(["devs"]), None, ""])
def test_a_header_token_naming_admins_the_verified_claim_does_not_name_grants_nothing(
    claim: Any,
) -> None:
    """Were the header's token ever not the one the authorizer verified (a second,
    unsigned one with the same sub), it could add no group the verified claim lacks."""
    caller = _caller(["admins", "devs"], claim)

    assert not is_admin(caller)
    assert caller.groups == (frozenset({"devs"}) if claim else frozenset())


def test_a_token_that_is_not_the_verified_caller_s_grants_nothing() -> None:
    """The header's token must be the one the authorizer verified (the same sub)."""
    assert not is_admin(_caller(["admins"], "[admins]", sub="s-1", token_sub="s-2"))


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer a.b", "Bearer a.!!!.c", "Bearer a.bm90IGpzb24.c", "x" * 20_000],
)
def test_no_readable_token_holds_no_group(authorization: str | None) -> None:
    caller = caller_from_context(
        context(sub="s-1", **{"cognito:groups": "[admins]"}), authorization
    )

    assert caller.groups == frozenset()
    assert not is_admin(caller)


def test_a_raw_token_without_bearer_is_read_too() -> None:
    token = unsigned_token({"sub": "s-1", "cognito:groups": ["admins"]})

    claims = {"sub": "s-1", "cognito:groups": "[admins]"}
    assert is_admin(caller_from_context(context(**claims), token))


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


@pytest.mark.parametrize("authorization", [None, " ", "Basic dXNlcjpwYXNz", "Bearer a b"])
def test_a_missing_or_malformed_header_says_what_to_send_and_how_to_get_a_token(
    authorization: str | None,
) -> None:
    with pytest.raises(TokenRejected) as refused:
        _verifier().verify(authorization)

    message = str(refused.value)
    assert "Bearer <" in message
    assert message.endswith("Get a new one: `make token`, or `vpcctl login`.")
    assert len(message) <= 100


def test_a_valid_id_token_gives_its_claims() -> None:
    assert _verifier().verify(f"Bearer {_token()}")["sub"] == "s-1"


def test_an_access_token_is_told_to_send_the_id_token() -> None:
    # Cognito's access tokens carry `client_id`, not `aud`: the audience check must
    # not speak first ("Token is missing the aud claim").
    access = _token(token_use="access", aud=None, client_id=CLIENT)

    with pytest.raises(TokenRejected, match="send the ID token, not the access token"):
        _verifier().verify(access)


def test_a_token_of_a_former_run_says_the_stack_was_restarted_and_how_to_sign_in_again() -> None:
    """Both ways to a new token: `make token` (curl) and `vpcctl login` (vpcctl's users)."""
    with pytest.raises(TokenRejected, match=r"restarted.*`make token`, or `vpcctl login`\.$"):
        _verifier().verify(_token(iss=OLD_POOL))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, "user pool"),
        ({"aud": "another-client"}, "app client"),
        ({"aud": None}, "app client"),
        ({"token_use": "refresh"}, "ID token"),
        (
            {"exp": int(time.time()) - 60},
            r"expired\. Get a new one: `make token`, or `vpcctl login`",
        ),
        ({"sub": None}, "sub"),
    ],
)
def test_other_bad_tokens_are_refused_saying_why(overrides: dict[str, Any], reason: str) -> None:
    """And each says how to get a token this stack takes, in a line (the contract's ~100
    characters), as every other 401 does."""
    with pytest.raises(TokenRejected, match=reason) as refused:
        _verifier().verify(_token(**overrides))

    assert "`make token`, or `vpcctl login`" in str(refused.value)
    assert len(str(refused.value)) <= 100


STATE = " STATE='/home/me/My Projects/vpc-provisioner-stacks/a-second-one'"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer a b",
        "Bearer not-a-jwt",
        f"Bearer {_token(iss=OLD_POOL)}",
        f"Bearer {_token(aud='another-client')}",
        f"Bearer {_token(exp=int(time.time()) - 60)}",
        f"Bearer {_token(sub=None)}",
        f"Bearer {_token(token_use='access', aud=None, client_id=CLIENT)}",
    ],
    ids=["none", "malformed", "not-a-jwt", "restarted", "aud", "expired", "no-sub", "access"],
)
def test_a_stack_with_its_own_state_folder_says_make_token_with_its_state_in_every_refusal(
    authorization: str | None,
) -> None:
    """`make run STATE=...` is reached only with that STATE: a bare `make token` gets another
    stack's token, which this one refuses again. The refusal is the default stack's, with
    the STATE added, whole however long its path (nothing else is cut for it)."""
    refusals = []
    for state in ("", STATE):
        verifier = IdTokenVerifier(
            "unused", POOL, CLIENT, former_issuers=[OLD_POOL], jwks=_OneKey(), state=state
        )
        with pytest.raises(TokenRejected) as refused:
            verifier.verify(authorization)
        refusals.append(str(refused.value))
    default, own = refusals

    assert f"`make token{STATE}`" in own, own
    assert own.replace(STATE, "", 1) == default


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


# --- the verifier against a JWKS endpoint: bounded answers, bounded fetches ----------


@pytest.fixture
def jwks_url() -> Iterator[tuple[str, list[str]]]:
    """A JWKS endpoint serving _KEY as kid "k1", and the paths of the fetches it served."""
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True), "kid": "k1"}
    body = json.dumps({"keys": [jwk]}).encode()
    fetches: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", fetches
    server.shutdown()
    thread.join()


def _signed(kid: str) -> str:
    now = int(time.time())
    claims = {"sub": "s-1", "iss": POOL, "aud": CLIENT, "token_use": "id", "iat": now}
    return jwt.encode({**claims, "exp": now + 600}, _KEY, "RS256", headers={"kid": kid})


def test_a_token_with_a_huge_unknown_key_id_gets_a_one_line_401(
    jwks_url: tuple[str, list[str]],
) -> None:
    """PyJWT's message quotes the key id: a 40 kB kid was a 40 kB answer."""
    verifier = IdTokenVerifier(jwks_url[0], POOL, CLIENT)

    with pytest.raises(TokenRejected) as caught:
        verifier.verify("Bearer " + _signed("k" * 40_000))

    assert len(str(caught.value)) <= 100
    assert "user pool" in str(caught.value)
    assert "make token" in str(caught.value)


def _made_up_key_ids(url: str, count: int) -> IdTokenVerifier:
    """A verifier that verified one good token, then refused `count` made-up key ids."""
    verifier = IdTokenVerifier(url, POOL, CLIENT)
    assert verifier.verify("Bearer " + _signed("k1"))["sub"] == "s-1"
    for n in range(count):
        with pytest.raises(TokenRejected):
            verifier.verify("Bearer " + _signed(f"made-up-{n}"))
    return verifier


def test_made_up_key_ids_do_not_make_every_request_fetch_the_jwks(
    jwks_url: tuple[str, list[str]],
) -> None:
    url, fetches = jwks_url

    verifier = _made_up_key_ids(url, 20)

    assert len(fetches) == 1  # the first fetch starts the cooldown: none of the 20 fetched
    assert verifier.verify("Bearer " + _signed("k1"))["sub"] == "s-1"


def test_the_refresh_cooldown_is_the_verifiers_own_setting(
    jwks_url: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyJWT's default cooldown is 30 s as well, so the test above passes without the
    setting: with the setting at 0 (no cooldown), each made-up key id fetches again."""
    monkeypatch.setattr(devstack.auth, "JWKS_REFRESH_COOLDOWN_SECONDS", 0.0)
    url, fetches = jwks_url

    _made_up_key_ids(url, 3)

    assert len(fetches) == 1 + 3


def test_a_jwks_that_cannot_be_fetched_is_said_in_one_bounded_line() -> None:
    """PyJWT's connection error quotes the whole URL and the socket's error."""
    verifier = IdTokenVerifier("http://127.0.0.1:9/" + "p" * 500, POOL, CLIENT)

    with pytest.raises(TokenRejected) as caught:
        verifier.verify("Bearer " + _signed("k1"))

    assert str(caught.value).startswith("The user pool's signing keys could not be fetched")
    assert len(str(caught.value)) <= 100


def test_a_token_nested_past_the_json_parsers_depth_holds_no_group() -> None:
    """A payload of 1,000 nested arrays (2,682 characters, under the header's bound) made
    json.loads raise RecursionError, uncaught: a 500 (openapi.yaml: no 5xx for any input),
    where a token the app cannot read holds no group (docs/api.md, admins)."""
    segment = base64.urlsafe_b64encode(b"[" * 1000 + b"]" * 1000).rstrip(b"=").decode()
    context = {"authorizer": {"claims": {"sub": "s-1", "cognito:groups": "[admins]"}}}

    caller = caller_from_context(context, f"Bearer e30.{segment}.sig")

    assert caller.groups == frozenset()
