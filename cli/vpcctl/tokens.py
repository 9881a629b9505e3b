"""The cached tokens: one file readable by the user alone (0600, its folder 0700),
one entry per API URL, holding the ID token (what the API checks) and the refresh
token `vpcctl login` got. Tokens are never printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TOKENS_FILE = "tokens.json"
# Refresh a token that expires within this many seconds: it must outlive the request.
EXPIRY_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Tokens:
    """A signed-in session with one API."""

    id_token: str
    refresh_token: str | None
    expires_at: float
    username: str
    client_id: str

    def fresh(self, now: float) -> bool:
        return self.expires_at - EXPIRY_MARGIN_SECONDS > now


class TokenCache:
    """The tokens file: {"apis": {api_url: Tokens}}, always written 0600 in a 0700 folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / TOKENS_FILE

    def load(self, api_url: str) -> Tokens | None:
        """The cached tokens of `api_url`, or None (also for an unreadable file)."""
        entry = self._read().get(api_url)
        if not isinstance(entry, dict):
            return None
        try:
            return Tokens(**entry)
        except TypeError:
            return None

    def store(self, api_url: str, tokens: Tokens) -> None:
        """Save (replacing) the tokens of `api_url`; the others are kept."""
        apis = self._read()
        apis[api_url] = asdict(tokens)
        self._write(apis)

    def forget(self, api_url: str) -> bool:
        """Drop the tokens of `api_url`; True if there were any."""
        apis = self._read()
        if apis.pop(api_url, None) is None:
            return False
        self._write(apis)
        return True

    def _read(self) -> dict[str, Any]:
        try:
            if self.path.stat().st_mode & 0o077:
                # Someone widened it: narrow it again before reading what it holds.
                self.path.chmod(0o600)
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        apis = data.get("apis") if isinstance(data, dict) else None
        return dict(apis) if isinstance(apis, dict) else {}

    def _write(self, apis: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        temporary = self.directory / f".{TOKENS_FILE}.{os.getpid()}.tmp"
        # Created 0600 (never readable by others, not even for a moment), then renamed
        # over the old file: a reader sees the old file or the new one, whole.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                fd = -1
                json.dump({"apis": apis}, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(self.path)
        finally:
            if fd != -1:
                os.close(fd)
            temporary.unlink(missing_ok=True)


def token_expiry(id_token: str, expires_in: Any, now: float) -> float:
    """When the ID token expires: its `exp` claim, else now + ExpiresIn (Cognito's answer)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return now + float(expires_in or 3600)
