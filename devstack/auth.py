"""Real ID-token verification for the local stack.

`chalice local` only base64-decodes Cognito tokens: no signature, issuer,
audience or expiry check, and a garbage token crashes the request. The local
stack puts this verifier in front of Chalice's local gateway instead, doing
what API Gateway's Cognito authorizer does in AWS: RS256 signature against the
user pool's JWKS, issuer, audience (the app client), `token_use == "id"`,
expiry. It lives in devstack/, so it never ships and never stands in for API
Gateway in a deployment; nothing in a request can turn it off.
"""

from __future__ import annotations

from typing import Any

import jwt

# Small clock skew between the token issuer and this machine.
LEEWAY_SECONDS = 5


class TokenRejected(Exception):
    """The token is missing, malformed, forged, expired or not meant for this API."""


class IdTokenVerifier:
    """Verifies Cognito ID tokens of one user pool and app client."""

    def __init__(self, jwks_url: str, issuer: str, audience: str) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self._issuer = issuer
        self._audience = audience

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of the token in an Authorization header value ("Bearer <t>" or "<t>").

        Raises TokenRejected saying why.
        """
        if not authorization or not authorization.strip():
            raise TokenRejected("Authorization header missing: send 'Bearer <Cognito ID token>'.")
        parts = authorization.strip().split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = parts[1]
        elif len(parts) == 1:
            token = parts[0]
        else:
            raise TokenRejected("Authorization header is not 'Bearer <token>'.")
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise TokenRejected(
                f"The user pool's signing keys could not be fetched: {exc}"
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"Invalid token: {exc}") from exc
        if claims.get("token_use") != "id":
            raise TokenRejected("Send the Cognito ID token (token_use 'id'), not the access token.")
        return claims
