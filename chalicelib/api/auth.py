"""Who is calling: the caller from the Cognito authorizer's claims.

API Gateway's Cognito user-pool authorizer verifies the ID token before the
request reaches the app and passes its claims in the request context. A request
that arrives without them (a misconfigured route, a direct invoke) is refused:
the app never serves an anonymous caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.errors import Unauthorized
from chalicelib.models import Caller

# Members of this Cognito group may delete any request, not only their own.
ADMIN_GROUP = "admins"
GROUPS_CLAIM = "cognito:groups"
# Cognito group names hold no whitespace or commas, so either separates them.
_SEPARATORS = re.compile(r"[\s,]+")


def caller_from_context(context: Mapping[str, Any] | None) -> Caller:
    """The caller in an API Gateway request context. Raises Unauthorized without valid claims."""
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
    return Caller(sub=sub, username=str(username), groups=parse_groups(claims.get(GROUPS_CLAIM)))


def parse_groups(claim: Any) -> frozenset[str]:
    """The group names in a `cognito:groups` claim, in any form it reaches the app in.

    A verified token holds a JSON array (`["admins", "devs"]`); API Gateway's REST
    authorizer passes every claim as a string, which for an array reads
    `[admins devs]`; a comma-separated string (`admins,devs`) and a JSON array
    in a string are accepted too. Anything else (a number, an object) holds no group.
    """
    if isinstance(claim, list | tuple):
        return frozenset(g.strip() for g in claim if isinstance(g, str) and g.strip())
    if not isinstance(claim, str):
        return frozenset()
    text = claim.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parse_groups(parsed)
        text = text[1:-1]
    return frozenset(name for name in _SEPARATORS.split(text) if name)


def is_admin(caller: Caller) -> bool:
    """Whether the caller may act on every request (a member of the `admins` group)."""
    return ADMIN_GROUP in caller.groups


# `chalice local` (the Chalice CLI's development server) only base64-decodes a
# Cognito token: no signature, issuer, audience or expiry check, so an unsigned
# or forged token is served as its claims say. The app refuses to run under it.
CHALICE_LOCAL_REFUSAL = (
    "vpc-provisioner does not run under `chalice local`: Chalice's local server admits "
    "any token it can decode (unsigned, forged or expired alike). Use `make run`: the "
    "same app with every ID token verified, AWS played by moto, and the worker, the "
    "reaper and the reconciler running (README, 'Try it')."
)


def under_chalice_local(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process is the Chalice CLI's `chalice local` (never true in Lambda).

    The Chalice CLI sets AWS_CHALICE_CLI_MODE for every command; the command is
    the first argument that is not a global option (`--debug`, `--no-debug`,
    `--project-dir DIR`).
    """
    if environ.get("AWS_CHALICE_CLI_MODE") != "true":
        return False
    args = list(argv[1:])
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "--project-dir" and args:
            args.pop(0)
    return bool(args) and args[0] == "local"
