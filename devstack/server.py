"""The local API: Chalice's local gateway behind real ID-token verification.

Chalice's local server as it comes is made for one developer's browser: a
listen backlog of 5 (64 clients connecting at once waited up to 27 s for TCP
to retry), Nagle on with headers and body written separately (every answer on
a kept-alive connection waited ~40 ms for the client's delayed ACK), no body
size limit, and the request being served kept on the app object, where
another thread's request can replace it. Here: a backlog of 128, Nagle off and
each answer written at once, API Gateway's 10 MB body limit (413), at most
MAX_CONCURRENT_REQUESTS requests at work at once (the botocore pools are that
large), and the current request per thread, as `chalice local` itself has it.

A request the app answers is logged by the app (its `invocation` line: the route, the
status, the duration); the server logs an access line only for an answer that never
reached the app (a 401 of the token check, a 400 or 413 of the body check, the 403 of
a path no route has, an OPTIONS the gateway answers itself), with why.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import HTTPServer
from typing import Any, BinaryIO, cast

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    RouteMatcher,
    ThreadedHTTPServer,
)
from werkzeug.serving import DechunkedInput

from infra.gateway_responses import UNKNOWN_ROUTE_MESSAGE

from .auth import IdTokenVerifier, TokenRejected

logger = logging.getLogger("devstack.api")

LISTEN_BACKLOG = 128
# API Gateway's limit on a request's payload.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A too large Content-Length longer than this is named by its number of digits.
MAX_SHOWN_DIGITS = 30
# A Content-Length of more characters (leading zeros included) is answered 400.
MAX_LENGTH_CHARS = 64
LINGER_SECONDS = 2
# How long a connection may keep the server waiting for what it announced (its body, its
# next request): a client that never sends its body gives up its place then (64 that
# never did stopped the API answering anyone).
IDLE_SECONDS = 30
# Requests served at once (each holds a thread and, while it calls AWS, a pooled connection).
MAX_CONCURRENT_REQUESTS = 64


class PublicRoutes:
    """The app's routes and methods that have no authorizer (the web console's): API
    Gateway serves them without a token, and so does the local stack. Matched as
    Chalice's local gateway matches a path to a route, so a request is checked
    against the very route that will serve it.

    A method a route without any authorizer does not have (`POST /console`) needs no token
    either: the gateway answers it 405 with an `Allow` header (OPTIONS: its CORS answer),
    as it answers a wrong method on any route, not a 401 asking for a token that would not
    help. Deployed, API Gateway answers 403 instead (docs/local-stack.md)."""

    def __init__(self, app: Chalice) -> None:
        self._matcher = RouteMatcher(list(app.routes))
        self._public = frozenset(
            (path, method)
            for path, methods in app.routes.items()
            for method, entry in methods.items()
            if entry.authorizer is None
        )
        self._tokenless = frozenset(
            path
            for path, methods in app.routes.items()
            if all(entry.authorizer is None for entry in methods.values())
        )

    def admits(self, method: str, path: str) -> bool:
        """Whether `method path` (the path as requested, query included) needs no token: it
        reaches a route with no authorizer, or a route none of whose methods has one."""
        try:
            route = self._matcher.match_route(path).route
        except ValueError:
            return False
        return route in self._tokenless or (route, method) in self._public


class _NotedApp:
    """The app as Chalice's local gateway sees it, telling `on_call` of each call: the
    gateway answers some requests itself (a CORS preflight), without calling the app."""

    def __init__(self, app: Chalice, on_call: Callable[[], None]) -> None:
        self._app = app
        self._on_call = on_call

    def __call__(self, event: Any, context: Any) -> Any:
        self._on_call()
        return self._app(event, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class VerifyingRequestHandler(ChaliceRequestHandler):
    """Answers 401 unless the request carries exactly one valid ID token (or is for a route
    with no authorizer), then hands the request to Chalice's local gateway (which reads
    the now verified claims)."""

    def __init__(
        self,
        request: bytes,
        client_address: tuple[str, int],
        server: HTTPServer,
        app_object: Chalice,
        config: Config,
        verifier: IdTokenVerifier,
        public: PublicRoutes,
    ) -> None:
        self._verifier = verifier
        self._public = public
        # Per request (a kept-alive connection's requests share the handler): whether the
        # app was called, and else why the answer came from here.
        self._app_called = False
        self._why = "-"
        noted = cast(Chalice, _NotedApp(app_object, self._note_app_called))
        super().__init__(request, client_address, server, noted, config)

    def _note_app_called(self) -> None:
        self._app_called = True

    def handle_one_request(self) -> None:
        self._app_called = False
        self._why = "-"  # http.server's own error answers (a bad request line) log theirs
        wire = self.rfile
        try:
            super().handle_one_request()
        finally:
            self.rfile = wire  # a chunked body's request read its body from a copy

    # Buffered: an answer's headers and body leave in one write, when the request is done.
    wbufsize = 64 * 1024
    timeout = IDLE_SECONDS  # each read or write of the connection (socketserver's)
    rfile: BinaryIO  # the connection's, or for a request sent chunked, a copy of its body

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _generic_handle(self) -> None:
        self._why = "answered by Chalice's local gateway, without the app"
        if not self._body_fits():
            return
        with _IN_FLIGHT:
            self._verified_handle()

    def handle_expect_100(self) -> bool:
        """The 100 Continue a client waits for before it sends its body (curl's, over 1 KiB)
        goes at once: the buffered answer (`wbufsize`) held it back until the final one,
        and curl waited a second for it."""
        accepted = bool(super().handle_expect_100())
        self.wfile.flush()
        return accepted

    def _body_fits(self) -> bool:
        """Answers 400 or 413 (and closes the connection) unless Content-Length is a
        number within MAX_BODY_BYTES; else the body is read here, whole (`_read_body`),
        before the request takes one of the places. A chunked body is read here too."""
        if "transfer-encoding" in self.headers:
            return self._dechunked()
        length = self.headers.get("content-length", "0").strip()
        if re.fullmatch(r"[0-9]+", length) is None:
            self.close_connection = True
            self._reply(400, "BadRequestError", "Content-Length is not a number.", drain=False)
            return False
        # Leading zeros off, and the digits counted before int(): past 4,300 digits it
        # raises ValueError (Python's limit on integer conversion), which killed the
        # handler's thread and left the client with no answer.
        digits = length.lstrip("0") or "0"
        too_large = len(digits) > len(str(MAX_BODY_BYTES)) or int(digits) > MAX_BODY_BYTES
        if not too_large and len(length) > MAX_LENGTH_CHARS:
            # A small number behind thousands of zeros: Chalice's gateway reads the header
            # with int() too.
            self.close_connection = True
            self._reply(
                400,
                "BadRequestError",
                f"Content-Length has {len(length)} digits; at most {MAX_LENGTH_CHARS} are read.",
                drain=False,
            )
            return False
        if too_large:
            size = digits if len(digits) <= MAX_SHOWN_DIGITS else f"a {len(digits)}-digit number of"
            self._too_large(f"The body is {size} bytes")
            return False
        return self._read_body(int(digits))

    def _read_body(self, length: int) -> bool:
        """The body read whole, for Chalice's gateway to read again: one sent a byte every
        few seconds (each read within IDLE_SECONDS) holds its thread, not one of the places.
        False, the connection closed unanswered, when the client stopped before its end
        (API Gateway calls no app then)."""
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return False
        self.rfile = io.BytesIO(body)
        return True

    def _dechunked(self) -> bool:
        """A body sent `Transfer-Encoding: chunked` (curl -T -, a client streaming a file)
        is read whole, within MAX_BODY_BYTES, and handed to Chalice's gateway, which reads
        only Content-Length, with its length (API Gateway reads such bodies too); chunks
        left unread would be taken for the connection's next request."""
        self.close_connection = True  # after a refusal, the connection's bytes mean nothing
        if self.headers["transfer-encoding"].strip().lower() != "chunked":
            self._reply(
                400,
                "BadRequestError",
                "Only the chunked Transfer-Encoding is read: send the body chunked, or "
                "with a Content-Length.",
                drain=False,
            )
            return False
        try:
            body = DechunkedInput(self.rfile).read(MAX_BODY_BYTES + 1)
        except OSError:
            self._reply(400, "BadRequestError", "The chunked body could not be read.", drain=False)
            return False
        if len(body) > MAX_BODY_BYTES:
            self._too_large("The chunked body is larger")
            return False
        self.close_connection = False
        del self.headers["transfer-encoding"], self.headers["content-length"]
        self.headers["Content-Length"] = str(len(body))
        self.rfile = io.BytesIO(body)
        return True

    def _too_large(self, said: str) -> None:
        """Answers 413 saying `said` (how large the body is), and closes the connection."""
        self.close_connection = True
        self._reply(
            413,
            "RequestEntityTooLarge",
            f"{said}; at most {MAX_BODY_BYTES} (10 MB, API Gateway's limit) are accepted.",
            drain=False,
        )
        self._linger()

    def _linger(self) -> None:
        """Send the answer, then read what the client is still sending (up to a limit, for
        a few seconds) before closing: closing with unread data resets the connection,
        and a client busy sending its body would see the reset instead of the answer."""
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            budget = 4 * MAX_BODY_BYTES
            while budget > 0:
                chunk = self.connection.recv(256 * 1024)
                if not chunk:
                    break
                budget -= len(chunk)
        except OSError:
            pass

    def _verified_handle(self) -> None:
        if self._public.admits(self.command, self.path):
            super()._generic_handle()
            return
        # Exactly one Authorization header: with two, the one verified here and
        # the one Chalice decodes could differ.
        values = self.headers.get_all("Authorization") or []
        try:
            if len(values) > 1:
                raise TokenRejected("Send one Authorization header.")
            self._verifier.verify(values[0] if values else None)
        except TokenRejected as rejected:
            self._reply(401, "UnauthorizedError", str(rejected))
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle
    # Without these, http.server answers TRACE and QUERY with an HTML 501, a 5xx that
    # a client's request must never get; the gateway answers them like any other
    # method no route has.
    do_TRACE = do_QUERY = _generic_handle

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line or headers it cannot read, a method
        no handler has, HTTP/2) in the API's error shape, never its HTML page nor a 5xx for
        a client's request: a method no route has is a 403, as a path no route has (API
        Gateway's answer); the rest a 4xx saying what could not be read (never quoting
        the request line, which may be 64 KiB)."""
        self.close_connection = True
        if (
            getattr(self, "request_version", "") == "HTTP/0.9"
        ):  # a line not read: still a status line
            self.request_version = "HTTP/1.1"
        if code == HTTPStatus.NOT_IMPLEMENTED:
            self._reply(403, "ForbiddenError", UNKNOWN_ROUTE_MESSAGE, drain=False)
            return
        status = code if 400 <= code < 500 else HTTPStatus.BAD_REQUEST
        said = _UNREADABLE.get(status, "The request is not HTTP/1.1 this server can read.")
        self._reply(status, "BadRequestError", said, drain=False)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError):
            # A path no route has. Chalice's gateway, like API Gateway, would quote the
            # caller's whole Authorization header back; the deployed API answers with a
            # fixed message (infra/gateway_responses.py: FIXED_MESSAGES), and so does this.
            self._reply(403, "ForbiddenError", UNKNOWN_ROUTE_MESSAGE, drain=False)
            return
        body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
        self._why = f"{type(error).__name__}: {body}"
        super()._send_error_response(error)

    def _reply(self, status: int, code: str, message: str, drain: bool = True) -> None:
        body = json.dumps({"Code": code, "Message": message}).encode()
        self._why = message
        if drain:
            # Read the body (within the limit: checked first) so the connection stays usable.
            self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access line, for an answer the app never saw (the app logs the others):
        the request line, the status and why it was answered here."""
        if self._app_called:
            return
        status = int(code) if isinstance(code, int) else code  # an HTTPStatus: its number
        self.log_message('"%s" %s %s', self.requestline, status, self._why)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), loggable(format % args))


# What http.server could not read, said without the client's text.
_UNREADABLE: dict[int, str] = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "The request line is longer than 64 KiB.",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "Too many headers, or one longer than 64 KiB.",
}

# A request line is the client's text: in a log it is escaped (an ESC or CR could forge
# a line or drive the terminal) and bounded (a request line may be 64 KiB).
MAX_LOGGED_CHARS = 300
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


def loggable(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """`text` with control characters escaped (\\xNN) and cut to `limit` characters."""
    escaped = text.translate(_CONTROL)
    if len(escaped) <= limit:
        return escaped
    return f"{escaped[:limit]}... ({len(escaped) - limit} more characters)"


_IN_FLIGHT = threading.BoundedSemaphore(MAX_CONCURRENT_REQUESTS)


class _Server(ThreadedHTTPServer):
    request_queue_size = LISTEN_BACKLOG


def thread_local_requests(app: Chalice) -> None:
    """`app.current_request` per thread, as `chalice local` makes it (in Lambda a process
    serves one request at a time): threads serving requests at once each read their own.
    Idempotent."""
    if not isinstance(app, LocalChalice):
        app.__class__ = type("ThreadLocalChalice", (LocalChalice, type(app)), {})


def make_server(
    app: Chalice, config: Config, host: str, port: int, verifier: IdTokenVerifier
) -> LocalDevServer:
    """A threaded HTTP server for `app` on host:port that verifies every request's token.

    Raises OSError if it cannot listen there.
    """
    thread_local_requests(app)
    handler = functools.partial(
        VerifyingRequestHandler, verifier=verifier, public=PublicRoutes(app)
    )
    return LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=_Server)
