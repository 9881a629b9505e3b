"""The cached tokens: one file readable by the user alone (0600, its folder 0700),
one entry per API URL, holding the ID token (what the API checks) and the refresh
token `vpcctl login` got. Tokens are never printed.

A tokens file that cannot be read or saved (XDG_CONFIG_HOME naming a file, a read-only
home, tokens.json a folder), or an entry with a field of the wrong type (hand-edited), is a
usage error naming the file and the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import CliError, ExitCode

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
    # The user pool's region the session signed in with (a refresh uses it when the command
    # names none: `--region` at login only). None in a file of an earlier vpcctl.
    region: str | None = None

    def fresh(self, now: float) -> bool:
        return self.expires_at - EXPIRY_MARGIN_SECONDS > now


class TokenCache:
    """The tokens file: {"apis": {api_url: Tokens}}, always written 0600 in a 0700 folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / TOKENS_FILE

    def load(self, api_url: str) -> Tokens | None:
        """The cached tokens of `api_url`, or None (also for an unreadable file, or an entry
        without vpcctl's fields). Raises CliError (exit 2) for an entry with a field of the
        wrong type (hand-edited): `vpcctl login` replaces it."""
        entry = self._read().get(api_url)
        if not isinstance(entry, dict):
            return None
        try:
            tokens = Tokens(**entry)
        except TypeError:
            return None
        wrong = _wrong_type(tokens)
        if wrong:
            raise CliError(
                f"cannot read the tokens of {api_url} in {self.path}: {wrong}; run "
                "`vpcctl login` again (it replaces them), or `vpcctl logout`",
                code="TokenCacheError",
                exit_code=ExitCode.USAGE,
            )
        return tokens

    def store(self, api_url: str, tokens: Tokens) -> None:
        """Save (replacing) the tokens of `api_url`; the others are kept. Raises CliError
        (exit 2) when the file cannot be read or saved."""
        apis = self._read()
        apis[api_url] = asdict(tokens)
        self._save(apis)

    def forget(self, api_url: str) -> bool:
        """Drop the tokens of `api_url`; True if there were any. Raises CliError (exit 2)
        when the file cannot be read or saved."""
        apis = self._read()
        if apis.pop(api_url, None) is None:
            return False
        self._save(apis)
        return True

    def forget_where(self, matches: Callable[[str], bool]) -> list[str]:
        """Drop the tokens of every API whose URL `matches`; their URLs. Raises like `forget`."""
        apis = self._read()
        gone = sorted(url for url in apis if matches(url))
        if gone:
            self._save({url: entry for url, entry in apis.items() if url not in gone})
        return gone

    def _read(self) -> dict[str, Any]:
        """What the file holds: {} when there is none (nor a folder for it), or it is not
        vpcctl's JSON; a CliError when it is there and cannot be read."""
        try:
            status = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return {}  # nothing saved yet (saving says so if XDG_CONFIG_HOME is a file)
        except OSError as exc:
            raise self._unusable(exc, reading=True) from exc
        try:
            if stat.S_ISREG(status.st_mode) and status.st_mode & 0o077:
                # Someone widened it: narrow it again before reading what it holds.
                self.path.chmod(0o600)
            data = json.loads(self.path.read_text())
        except OSError as exc:
            raise self._unusable(exc, reading=True) from exc
        except ValueError:
            return {}
        apis = data.get("apis") if isinstance(data, dict) else None
        return dict(apis) if isinstance(apis, dict) else {}

    def _save(self, apis: dict[str, Any]) -> None:
        try:
            self._write(apis)
        except OSError as exc:
            raise self._unusable(exc, reading=False) from exc

    def _unusable(self, error: OSError, reading: bool) -> CliError:
        """The file cannot be read or saved: where, the system's reason, and what to do."""
        why = error.strerror or str(error)
        if error.filename is not None and str(error.filename) != str(self.path):
            why = f"{why} ({error.filename})"  # e.g. its folder, under a file
        if reading:
            message = (
                f"cannot read the tokens in {self.path}: {why}; remove it, or set "
                "XDG_CONFIG_HOME to another folder"
            )
        else:
            message = (
                f"cannot save tokens to {self.path}: {why}; set XDG_CONFIG_HOME to a "
                "writable folder"
            )
        return CliError(message, code="TokenCacheError", exit_code=ExitCode.USAGE)

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


def _wrong_type(tokens: Tokens) -> str | None:
    """What field of `tokens` (as read from the file) has a type vpcctl never writes, or None."""
    for name, value in asdict(tokens).items():
        if name == "expires_at":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            expected = "a number"
        elif name in ("refresh_token", "region"):
            ok = value is None or isinstance(value, str)
            expected = "a string or null"
        else:
            ok = isinstance(value, str)
            expected = "a string"
        if not ok:
            return f"its {name} is {json.dumps(value)[:40]}, not {expected}"
    return None


def token_expiry(id_token: str, expires_in: Any, now: float) -> float:
    """When the ID token expires: its `exp` claim, else now + ExpiresIn (Cognito's answer)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return now + float(expires_in or 3600)
