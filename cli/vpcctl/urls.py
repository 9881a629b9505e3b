"""The URLs vpcctl sends to, judged before any connection.

What receives the ID token (the API) and the password (the Cognito endpoint) is
decided by a URL, so a URL is judged with the parser that sends it (urllib3's,
under requests and botocore), and one it might read differently from how it
looks is refused (`checked_url`).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import usage_error

# A URL quoted in a message is cut to this many characters: it may come from anywhere.
QUOTED_URL_CHARS = 100


def normalize_url(url: str) -> str:
    """The API URL as vpcctl keys it: no trailing slash."""
    return url.strip().rstrip("/")


def quoted(text: str) -> str:
    """`text` quoted for a one-line message (escapes shown, not obeyed), cut to
    QUOTED_URL_CHARS characters: a URL from the environment or a file can be anything."""
    if len(text) > QUOTED_URL_CHARS:
        return f"{text[:QUOTED_URL_CHARS]!r}..."
    return repr(text)


def checked_url(url: str, what: str) -> str:
    """`url` as vpcctl sends to it (no trailing slash, urllib3's spelling), if the HTTP
    layer will connect to the host the URL shows; else a usage error naming `what`.

    requests and botocore send with urllib3, which does not read every URL as
    urllib.parse (or a person) does: to urlsplit, `http://evil.example\\@127.0.0.1:8000`
    is 127.0.0.1, to urllib3 it is evil.example, which would receive the ID token or the
    password. So a URL is refused when it has a backslash anywhere, user info (an `@` in
    its authority: vpcctl sends credentials in headers and bodies, never in URLs), a query
    or a fragment (it is a base the API's paths are appended to), characters other than
    ASCII (which urllib3 rewrites), or when urllib3's reading of it, written back, is not
    the URL itself, but for the case of the scheme, the host and percent-escapes (RFC 3986,
    6.2.2.1: the same URL). What passes reads the same to every parser, and what vpcctl
    then uses is urllib3's own spelling of it.
    """
    url = normalize_url(url)
    shown = quoted(url)
    if not url.lower().startswith(("http://", "https://")):  # a scheme's case is not its own
        raise usage_error(f"{what} must start with http:// or https://, not {shown}")
    if "\\" in url:
        raise usage_error(
            f"refusing {what} {shown}: it has a backslash, which URL parsers read differently"
        )
    if not url.isascii():
        raise usage_error(
            f"refusing {what} {shown}: it has characters other than ASCII, which the HTTP "
            "layer rewrites; write the host in punycode and percent-escape the path"
        )
    try:
        parsed = parse_url(url)
        authority = urlsplit(url).netloc
    except (LocationParseError, ValueError) as exc:
        raise usage_error(
            f"refusing {what} {shown}: it is not a URL the HTTP layer can read"
        ) from exc
    if parsed.auth is not None or "@" in authority:
        raise usage_error(
            f"refusing {what} {shown}: it has user info (an @ before the host), which vpcctl "
            "never sends"
        )
    if not parsed.host:
        raise usage_error(f"refusing {what} {shown}: it names no host")
    if parsed.query is not None or parsed.fragment is not None:
        raise usage_error(
            f"refusing {what} {shown}: it has a query or a fragment (? or #), which would "
            "swallow the paths vpcctl appends"
        )
    spelled = parsed.url
    if spelled.lower() != url.lower():
        raise usage_error(
            f"refusing {what} {shown}: the HTTP layer reads it as {quoted(spelled)}, not as written"
        )
    return spelled


def port_of(url: str) -> int | None:
    """The port `url` connects to, read as urllib3 reads it: its own, else its scheme's
    (80, 443); None for a URL urllib3 cannot read."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return None
    if parsed.port is not None:
        return parsed.port
    return {"http": 80, "https": 443}.get((parsed.scheme or "").lower())


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (127.0.0.0/8, ::1 or localhost), read as urllib3,
    which connects, reads it."""
    try:
        host = (parse_url(url).host or "").lower()
    except LocationParseError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def is_plain_http_to_loopback(url: str) -> bool:
    """Whether `url` is plain http:// to this machine: what vpcctl sends it (a token, a
    password) must go straight there, never through a proxy the environment names
    (HTTP_PROXY, ALL_PROXY...), which would receive it in clear text. An https:// URL may
    go through one: the proxy sees only the TLS it relays."""
    try:
        scheme = (parse_url(url).scheme or "").lower()
    except LocationParseError:
        return False
    return scheme == "http" and is_loopback(url)
