"""The caller comes from the authorizer's claims; without them, 401."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.auth import caller_from_context, is_admin, parse_groups
from chalicelib.errors import Unauthorized
from chalicelib.models import Caller


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
