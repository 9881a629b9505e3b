"""Stand-ins for vpcctl's outside world: an HTTP API that answers from a script,
a Cognito that hands out tokens, and a clock that moves only when slept on."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    """A request the fake API received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Received], Reply]


class FakeApi:
    """An HTTP server on 127.0.0.1 answering each (method, path) from a script.

    `script(method, path, *replies)` queues replies (the last one repeats);
    `respond(method, path, fn)` answers with fn(request). An unscripted route
    answers 599, which no vpcctl code expects.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._routes: dict[tuple[str, str], Responder] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        queue = deque(replies)

        def next_reply(_request: Received) -> Reply:
            with self._lock:
                return queue.popleft() if len(queue) > 1 else queue[0]

        self._routes[(method, path)] = next_reply

    def respond(self, method: str, path: str, responder: Responder) -> None:
        self._routes[(method, path)] = responder

    def calls(self, method: str, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.method == method and path in (None, r.path)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with api._lock:
                    api.received.append(request)
                responder = api._routes.get((self.command, parts.path))
                reply = responder(request) if responder else Reply(599, {"Code": "Unscripted"})
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class DroppingServer:
    """A server on 127.0.0.1 that accepts each connection and closes it unanswered: a
    connection lost mid-request (unlike a closed port, which refuses it)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self.accepted = 0
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def fake_jwt(claims: dict[str, Any]) -> str:
    """A token shaped like a JWT (unsigned: vpcctl only reads its `exp`)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


class CognitoRefused(Exception):
    """Shaped like botocore's ClientError: what vpcctl reads of it is `response`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.response = {"Error": {"Code": code, "Message": message}}


class FakeCognito:
    """cognito-idp's InitiateAuth: one user, tokens valid for `lifetime` seconds from `clock`."""

    def __init__(
        self,
        clock: Callable[[], float],
        username: str = "demo",
        password: str = "Demo-Password-1a",
        lifetime: float = 3600,
        mfa_code: str | None = None,
    ) -> None:
        self.clock = clock
        self.username = username
        self.password = password
        self.lifetime = lifetime
        # A pool that requires MFA: sign-in answers SOFTWARE_TOKEN_MFA, this code passes.
        self.mfa_code = mfa_code
        self.calls: list[dict[str, Any]] = []
        self.targets: list[Any] = []
        self.issued = 0
        self.refresh_tokens: set[str] = set()

    def factory(self, target: Any) -> FakeCognito:
        self.targets.append(target)
        return self

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        flow, params = kwargs["AuthFlow"], kwargs["AuthParameters"]
        if flow == "USER_PASSWORD_AUTH":
            if (params["USERNAME"], params["PASSWORD"]) != (self.username, self.password):
                raise CognitoRefused("NotAuthorizedException", "Incorrect username or password.")
            if self.mfa_code is not None:
                return {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "session-1"}
            return self._signed_in()
        if flow == "REFRESH_TOKEN_AUTH":
            if params["REFRESH_TOKEN"] not in self.refresh_tokens:
                raise CognitoRefused("NotAuthorizedException", "Refresh Token has been revoked")
            return {"AuthenticationResult": self._id_token()}
        raise AssertionError(f"unexpected flow {flow}")

    def respond_to_auth_challenge(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        assert kwargs["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
        assert kwargs["Session"] == "session-1"
        if kwargs["ChallengeResponses"]["SOFTWARE_TOKEN_MFA_CODE"] != self.mfa_code:
            raise CognitoRefused("CodeMismatchException", "Invalid code received for user")
        return self._signed_in()

    def _signed_in(self) -> dict[str, Any]:
        refresh = f"refresh-{len(self.refresh_tokens) + 1}"
        self.refresh_tokens.add(refresh)
        return {"AuthenticationResult": {**self._id_token(), "RefreshToken": refresh}}

    def _id_token(self) -> dict[str, Any]:
        self.issued += 1
        token = fake_jwt({"sub": "u-1", "n": self.issued, "exp": self.clock() + self.lifetime})
        return {"IdToken": token, "AccessToken": "access", "ExpiresIn": int(self.lifetime)}


class FakeTime:
    """A wall clock and a monotonic clock that move only when slept on; records the sleeps."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def serve() -> Iterator[FakeApi]:
    """A fixture body: a FakeApi, closed after the test."""
    api = FakeApi()
    try:
        yield api
    finally:
        api.close()
