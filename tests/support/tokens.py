"""Unsigned tokens for the in-process test client.

`chalice.test.Client` (like `chalice local`) only base64-decodes a Cognito
token to fill in the authorizer claims: these tests exercise the app behind
a (simulated) authorizer. Real signature checks are the local stack's job and
are tested over HTTP in tests/e2e.
"""

from __future__ import annotations

import time
from typing import Any

from devstack.events import unsigned_token


def claims_token(sub: str = "user-1", username: str = "alice", **claims: Any) -> str:
    payload = {
        "sub": sub,
        "cognito:username": username,
        "token_use": "id",
        "exp": int(time.time()) + 3600,
        **claims,
    }
    return unsigned_token(payload)


def auth(sub: str = "user-1", username: str = "alice", **claims: Any) -> dict[str, str]:
    """Headers of a caller whose claims the (simulated) authorizer passes on."""
    return {"Authorization": f"Bearer {claims_token(sub, username, **claims)}"}
