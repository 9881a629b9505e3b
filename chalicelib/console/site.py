"""The console's page and assets, and the headers they are served with.

The files are read from `static/` once per process, on first use (an API cold start
that serves no console reads none of them). The page carries the versions (content
hashes) of its assets in their URLs, so the assets may be cached for long and a new
deployment is still seen at once; the page itself is never cached (it carries the
deployment's settings).

Every answer carries the same Content-Security-Policy: nothing but this origin's own
script, style sheet and images, no inline script or style, requests only to this
origin (the API) and to Cognito's endpoint, never framed.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from chalicelib.config import ConsoleSettings
from chalicelib.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
# What GET /console/{asset} serves: the name in the URL, and its Content-Type.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PAGE_FILE = "index.html"
# Assets are named by their content's hash in the page: a year, never revalidated.
ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Served:
    """A file as it is answered: body, Content-Type and the other headers."""

    body: str
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        """Every header of the answer, Content-Type included."""
        return {"Content-Type": self.content_type, **self.headers}


def content_security_policy(settings: ConsoleSettings) -> str:
    """The page's policy: only this origin, plus Cognito's endpoint for sign-in."""
    cognito = _origin(settings.cognito_url)
    connect = f"'self' {cognito}" if cognito else "'self'"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


# A host (name or IPv4) and an optional port: nothing that could end the directive.
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _origin(url: str) -> str:
    """The origin (scheme://host[:port]) of an http(s) URL; '' for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _security_headers(settings: ConsoleSettings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def page(settings: ConsoleSettings, path: str = "/console") -> Served:
    """The console's HTML page for a request to `path` (the path as the browser asked for
    it: behind API Gateway it starts with the stage, `/api/console`), its assets
    addressed from there and the deployment's settings in `data-` attributes."""
    base = path.rstrip("/") if path.rstrip("/").endswith("/console") else "/console"
    values = {
        "base": base,
        "client_id": settings.user_pool_client_id,
        "region": settings.region,
        "cognito_url": settings.cognito_url,
        **{f"v_{name.replace('.', '_')}": _version(name) for name in ASSETS},
    }
    body = _template().substitute({k: html.escape(v, quote=True) for k, v in values.items()})
    return Served(
        body,
        "text/html; charset=utf-8",
        {**_security_headers(settings), "Cache-Control": "no-cache, no-store"},
    )


def asset(name: str, settings: ConsoleSettings, version: str | None = None) -> Served:
    """One of the page's assets, cached for long only when asked for by the `version` (the
    `v` in its URL) it is: during a deployment an old process may answer a new page's URL,
    and a browser must not keep the old file under it. Raises NotFound for any other name."""
    if name not in ASSETS:
        raise NotFound("The console has no such file: open /console.")
    cache = ASSET_CACHE if version == _version(name) else "no-cache"
    return Served(
        _read(name), ASSETS[name], {**_security_headers(settings), "Cache-Control": cache}
    )


@functools.cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@functools.cache
def _version(name: str) -> str:
    return hashlib.sha256(_read(name).encode()).hexdigest()[:12]


@functools.cache
def _template() -> Template:
    return Template(_read(PAGE_FILE))
