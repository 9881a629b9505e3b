"""Opaque, tamper-evident listing tokens.

A token carries DynamoDB's position (the last item's key) and the listing it
belongs to, signed with HMAC-SHA256. Decoding checks the signature before
anything else, then the exact shape, so that no client-made value ever reaches
DynamoDB as an `ExclusiveStartKey` (an odd key there is a 500 in DynamoDB's
emulators and a ValidationException in AWS; here it is a 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Collection, Mapping

from chalicelib.errors import BadRequest

_VERSION = 1
_MAX_TOKEN_LENGTH = 2048
_SIGNATURE_BYTES = 16


class PageTokenCodec:
    """Encodes and verifies `next_token` values. Tokens are URL-safe (base64url, '.')."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        """`key`, or a function that fetches it: called on the first token signed or
        checked (so a cold start that lists nothing never fetches it), then kept."""
        self._key_source = key
        self._key: bytes | None = None

    def encode(self, position: dict[str, str], scope: str) -> str:
        """Sign `position` (string attributes only) for the listing named by `scope`."""
        payload = json.dumps(
            {"v": _VERSION, "s": scope, "k": position}, sort_keys=True, separators=(",", ":")
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(
        self,
        token: str,
        scope: str,
        attributes: Collection[str],
        fixed: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Return the position in `token`, or raise BadRequest.

        The token must be unmodified, issued for the same `scope`, and hold
        exactly `attributes`, each a non-empty string; each attribute named in
        `fixed` must hold exactly the value given there (a name in `fixed` that
        is not in `attributes` therefore refuses every token).
        """
        invalid = BadRequest(
            "next_token is not valid: pass the next_token of the previous page unchanged, "
            "or leave it out to start from the newest request."
        )
        if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise invalid
        payload_part, signature_part = token.split(".")
        try:
            payload = _unb64(payload_part)
            signature = _unb64(signature_part)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        try:
            data = json.loads(payload)
        except ValueError:
            raise invalid from None
        if not isinstance(data, dict) or data.get("v") != _VERSION or data.get("s") != scope:
            raise invalid
        position = data.get("k")
        if not isinstance(position, dict) or set(position) != set(attributes):
            raise invalid
        if not all(isinstance(v, str) and v for v in position.values()):
            raise invalid
        # The signature proves that a token was issued with our key, not that its
        # position lies in the partition this listing queries. A position from
        # another partition does not belong to the Query it would be fed to
        # (AWS refuses such a start key, emulators may not), so it is refused
        # here like any token this listing would not have issued.
        if fixed is not None and any(position.get(name) != value for name, value in fixed.items()):
            raise invalid
        return position

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret(), payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def _secret(self) -> bytes:
        if self._key is None:
            source = self._key_source
            self._key = source if isinstance(source, bytes) else source()
        return self._key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not ASCII")
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))
