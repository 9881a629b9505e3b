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

from collections.abc import Collection
from typing import Any

import jwt

# Small clock skew between the token issuer and this machine.
LEEWAY_SECONDS = 5
# A token naming a key id the cached JWKS lacks fetches the JWKS again at most once
# in this many seconds (PyJWT's cooldown): made-up key ids cannot make every request
# a fetch. A rotated key may wait that long.
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0
# A 401's message is about a line (the contract's ~100 characters), plus the STATE of a
# stack with a state folder of its own (`get_a_token`): what PyJWT says may quote the
# token's header (a key id of any length).
MAX_MESSAGE_CHARS = 100


def get_a_token(state: str = "") -> str:
    """What every refusal of a token that cannot be used says to do. `state` is the stack's
    ` STATE=...` (`state_folder.state_argument`): a bare `make token` reads .local/, and gets
    another stack's token, which this one refuses again."""
    return f"Get a new one: `make token{state}`, or `vpcctl login`."


class TokenRejected(Exception):
    """The token is missing, malformed, forged, expired or not meant for this API."""


def access_token_message(state: str = "") -> str:
    """The refusal of an access token, with the stack's ` STATE=...` as `get_a_token`'s."""
    return (
        "This is an access token: send the ID token, not the access token "
        f"(Cognito's IdToken; `make token{state}` prints one)."
    )


class IdTokenVerifier:
    """Verifies Cognito ID tokens of one user pool and app client.

    `former_issuers` are the issuers (user pools) of earlier runs of the local
    stack, whose state is gone: their tokens get a 401 saying so. `state` is the stack's
    ` STATE=...` for make (`state_folder.state_argument`; "" for .local/): every refusal
    says to get a token with it.
    """

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        former_issuers: Collection[str] = (),
        jwks: Any = None,
        state: str = "",
    ) -> None:
        self._jwks = jwks or jwt.PyJWKClient(
            jwks_url,
            cache_keys=True,
            lifespan=300,
            timeout=5,
            cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
        )
        self._issuer = issuer
        self._audience = audience
        self._former_issuers = frozenset(former_issuers) - {issuer}
        self._get_a_token = get_a_token(state)
        self._access_token_message = access_token_message(state)
        # The advice is said whole, however long the state folder's path is.
        self._max_chars = MAX_MESSAGE_CHARS + len(state)

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of the token in an Authorization header value ("Bearer <t>" or "<t>").

        Raises TokenRejected saying why.
        """
        if not authorization or not authorization.strip():
            raise TokenRejected(
                f"No Authorization header: send 'Bearer <ID token>'. {self._get_a_token}"
            )
        parts = authorization.strip().split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = parts[1]
        elif len(parts) == 1:
            token = parts[0]
        else:
            raise TokenRejected(f"Send 'Authorization: Bearer <ID token>'. {self._get_a_token}")
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            # The issuer and audience are checked below, one by one, so that each
            # refusal can say what to do: an access token has no `aud` at all.
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise TokenRejected(
                _bounded(f"The user pool's signing keys could not be fetched: {exc}")
            ) from exc
        except jwt.PyJWKClientError as exc:
            raise TokenRejected(
                f"Invalid token: not signed by this stack's user pool. {self._get_a_token}"
            ) from exc
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected(f"The token has expired. {self._get_a_token}") from exc
        except jwt.DecodeError as exc:
            raise TokenRejected(
                f"That is not a JWT: send 'Bearer <ID token>'. {self._get_a_token}"
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(
                _bounded(f"{self._get_a_token[:-1]}: this one is refused ({exc})", self._max_chars)
            ) from exc
        issuer = claims.get("iss")
        if issuer != self._issuer:
            if issuer in self._former_issuers:
                raise TokenRejected(
                    "This token is from before the local stack was restarted: its state "
                    "(users, requests) lived in memory and is gone (`make run PERSIST=1` "
                    f"keeps it). {self._get_a_token}"
                )
            raise TokenRejected(
                f"Invalid token: not issued by this stack's user pool. {self._get_a_token}"
            )
        if claims.get("token_use") == "access":
            raise TokenRejected(self._access_token_message)
        if claims.get("token_use") != "id":
            raise TokenRejected(
                f"Invalid token: not an ID token (token_use 'id'). {self._get_a_token}"
            )
        if claims.get("aud") != self._audience:
            raise TokenRejected(
                f"Invalid token: issued to another app client (aud). {self._get_a_token}"
            )
        return claims


def _bounded(message: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """`message` on one line of at most `max_chars` characters."""
    line = "".join(c if c.isprintable() else "?" for c in message)
    if len(line) <= max_chars:
        return line
    return line[: max_chars - 3] + "..."
