"""Who is calling: the caller from the Cognito authorizer's claims.

API Gateway's Cognito user-pool authorizer verifies the ID token before the
request reaches the app and passes its claims in the request context. A request
that arrives without them (a misconfigured route, a direct invoke) is refused:
the app never serves an anonymous caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Unauthorized
from .models import Caller


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
    return Caller(sub=sub, username=str(username))
