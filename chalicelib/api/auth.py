"""Who is calling: the caller from the Cognito authorizer's claims.

API Gateway's Cognito user-pool authorizer verifies the ID token before the
request reaches the app and passes its claims in the request context. A request
that arrives without them (a misconfigured route, a direct invoke) is refused:
the app never serves an anonymous caller.

Groups (admin) need two witnesses that agree. API Gateway's REST authorizer hands
every claim over as a string, and a list of groups flattened into one
(`[ops,admins]`) cannot be read back unambiguously (a group may be named
`ops,admins` or `[admins]`). The same token is in the `Authorization` header the
authorizer verified; its payload holds the groups as a JSON array, used only when
its `sub` is the verified one. A group counts only if it is in that array *and*
among the words of the authorizer's claim: the array settles what the string
cannot (`ops,admins` is one group, not admin), and the verified claim settles what
the header alone cannot (were a second, unsigned token ever read from the header
instead of the one the authorizer checked, it could add no group, unless a group the
caller is in has `admins` between commas or brackets in its name: docs/api.md). The
local stack and API Gateway then give the same answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import Unauthorized
from chalicelib.models import Caller

# Members of this Cognito group may delete any request, not only their own.
ADMIN_GROUP = "admins"
GROUPS_CLAIM = "cognito:groups"
# An ID token is a few kilobytes; API Gateway refuses headers over 10 KB anyway.
_MAX_TOKEN_CHARS = 16 * 1024


def caller_from_context(
    context: Mapping[str, Any] | None, authorization: str | None = None
) -> Caller:
    """The caller in an API Gateway request context, its groups read from the verified
    token in `authorization` (the header's value). Raises Unauthorized without valid
    claims."""
    authorizer = (context or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    if not isinstance(claims, Mapping):
        raise Unauthorized(
            "Authentication required: send 'Authorization: Bearer <Cognito ID token>'."
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("The token has no subject ('sub'); sign in again for a new ID token.")
    token_use = claims.get("token_use")
    if token_use is not None and token_use != "id":
        raise Unauthorized("Send the Cognito ID token (token_use 'id'), not the access token.")
    username = claims.get("cognito:username") or claims.get("username") or ""
    groups = token_groups(authorization, sub) & claimed_words(claims.get(GROUPS_CLAIM))
    return Caller(sub=sub, username=str(username), groups=groups)


def claimed_words(claim: object) -> frozenset[str]:
    """Every name the authorizer's groups claim may hold: a list's names (the local stack),
    or the words of API Gateway's flattened string, split at brackets, commas and spaces
    (a superset of the true names: it only ever confirms a group, never names one)."""
    if isinstance(claim, list):
        return frozenset(g for g in claim if isinstance(g, str) and g)
    if isinstance(claim, str):
        return frozenset(re.split(r"[\[\],\s]+", claim)) - {""}
    return frozenset()


def token_groups(authorization: str | None, sub: str) -> frozenset[str]:
    """The groups in the payload of the ID token in an `Authorization` value ("Bearer <t>"
    or "<t>"), if that token is the verified caller's (its `sub`); else none.

    The signature is not checked here: the authorizer checked this very token. Only a
    JSON array of strings is read; anything else holds no group.
    """
    if not authorization or len(authorization) > _MAX_TOKEN_CHARS:
        return frozenset()
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return frozenset()
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # nested past the parser's depth
        return frozenset()
    if not isinstance(payload, dict) or payload.get("sub") != sub:
        return frozenset()
    groups = payload.get(GROUPS_CLAIM)
    if not isinstance(groups, list):
        return frozenset()
    return frozenset(g for g in groups if isinstance(g, str) and g)


def is_admin(caller: Caller) -> bool:
    """Whether the caller may act on every request (a member of the `admins` group)."""
    return ADMIN_GROUP in caller.groups
