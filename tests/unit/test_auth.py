"""The caller comes from the authorizer's claims; without them, 401."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.auth import caller_from_context
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
