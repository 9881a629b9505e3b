"""The local server's access log: a line only for an answer the app never saw (the app
logs the others), saying why; the client's request line in it escaped and bounded."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import requests
from chalice.app import Chalice, CognitoUserPoolAuthorizer
from chalice.config import Config

from devstack.auth import TokenRejected
from devstack.server import (
    MAX_BODY_BYTES as MAX_BODY,
)
from devstack.server import (
    MAX_LOGGED_CHARS,
    VerifyingRequestHandler,
    make_server,
)
from infra.gateway_responses import UNKNOWN_ROUTE_MESSAGE


def _log(caplog: pytest.LogCaptureFixture, request_line: str) -> str:
    handler = SimpleNamespace(address_string=lambda: "127.0.0.1")
    with caplog.at_level(logging.INFO, logger="devstack.api"):
        # What BaseHTTPRequestHandler.log_request passes for every answered request.
        VerifyingRequestHandler.log_message(handler, '"%s" %s %s', request_line, "404", "-")  # type: ignore[arg-type]
    [record] = caplog.records
    return record.getMessage()


def test_control_characters_in_a_request_line_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    """An ESC or CR/LF in the path could forge a log line or drive the terminal."""
    line = _log(caplog, 'GET /\x1b[2J\r\n127.0.0.1 "POST /vpcs" 202 - HTTP/1.1')

    assert "\x1b" not in line
    assert "\r" not in line
    assert "\n" not in line
    assert "\\x1b[2J\\x0d\\x0a127.0.0.1" in line


def test_c1_control_characters_are_escaped_too(caplog: pytest.LogCaptureFixture) -> None:
    """http.server reads the request line as Latin-1, so bytes 0x80-0x9F arrive as C1
    controls: NEL (U+0085) ends a line for some log readers, CSI (U+009B) is ESC [ to an
    8-bit terminal."""
    line = _log(caplog, 'GET /\x85127.0.0.1 "POST /vpcs" 202 -\x9b2J HTTP/1.1')

    assert "\x85" not in line
    assert "\x9b" not in line
    assert "/\\x85127.0.0.1" in line
    assert "-\\x9b2J" in line


def test_a_long_request_line_is_cut_and_says_how_much(caplog: pytest.LogCaptureFixture) -> None:
    line = _log(caplog, "GET /" + "a" * 60_000 + " HTTP/1.1")

    assert len(line) < MAX_LOGGED_CHARS + 100
    assert line.endswith("more characters)")


def test_an_ordinary_request_line_is_logged_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    assert (
        _log(caplog, "GET /vpcs?limit=5 HTTP/1.1") == '127.0.0.1 "GET /vpcs?limit=5 HTTP/1.1" 404 -'
    )


# --- which answers get an access line ----------------------------------------------------


# Shaped as an ID token (Chalice's local gateway reads the claims of the middle part).
GOOD = "Bearer e30.eyJzdWIiOiAidXNlciJ9.c2ln"


class _Verifier:
    """Accepts GOOD alone, as IdTokenVerifier accepts a valid ID token."""

    def verify(self, header: str | None) -> None:
        if header != GOOD:
            raise TokenRejected("The token has expired: get a fresh one (make -s token).")


def _app() -> Chalice:
    app = Chalice(app_name="access-lines")
    authorizer = CognitoUserPoolAuthorizer("pool", provider_arns=["arn:aws:cognito-idp:x"])

    @app.route("/items", methods=["GET", "POST"], authorizer=authorizer)
    def items() -> dict[str, str]:
        return {"ok": "yes"}

    @app.route("/open")
    def open_page() -> dict[str, str]:
        return {"ok": "yes"}

    return app


# What Chalice's local gateway says of a Cognito authorizer; make_server's caller (the
# stack) silences it, having verified every token itself.
QUIET_GATEWAY = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")


@contextlib.contextmanager
def served(app: Chalice) -> Iterator[int]:
    """A local server (make_server, as `make run` makes it) for `app`; its port."""
    server = make_server(app, Config(), "127.0.0.1", 0, _Verifier())  # type: ignore[arg-type]
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server.server.server_address[1]
    server.server.shutdown()
    server.server.server_close()
    thread.join()


@pytest.fixture
def api() -> Iterator[str]:
    """The small app's local server; its URL."""
    with served(_app()) as port:
        yield f"http://127.0.0.1:{port}"


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "devstack.api"]


@QUIET_GATEWAY
def test_an_answer_of_the_app_gets_no_access_line_the_app_logs_it(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The app's own `invocation` line says the route, the status and the duration: a
    second line per request was noise in `make run`."""
    caplog.set_level(logging.INFO, logger="devstack.api")
    good = {"Authorization": GOOD}

    answers = [
        requests.get(f"{api}/items", headers=good, timeout=10).status_code,
        requests.get(f"{api}/open", timeout=10).status_code,
        # A method the route lacks: the app answers it (405 and Allow), and logs it.
        requests.delete(f"{api}/items", headers=good, timeout=10).status_code,
    ]

    assert answers == [200, 200, 405]
    assert _access_lines(caplog) == []


@QUIET_GATEWAY
def test_an_answer_that_never_reached_the_app_gets_an_access_line_saying_why(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devstack.api")
    with requests.Session() as session:  # one kept-alive connection: each request its own
        answers = [
            session.get(f"{api}/items", headers={"Authorization": "Bearer old"}, timeout=10),
            session.get(f"{api}/items", headers={"Authorization": GOOD}, timeout=10),
            session.get(f"{api}/nothing-here", headers={"Authorization": GOOD}),
            session.post(
                f"{api}/items",
                headers={"Authorization": GOOD, "Content-Length": str(MAX_BODY + 1)},
                timeout=10,
            ),
        ]

    assert [answer.status_code for answer in answers] == [401, 200, 403, 413]
    assert _access_lines(caplog) == [
        '127.0.0.1 "GET /items HTTP/1.1" 401 The token has expired: get a fresh one '
        "(make -s token).",
        f'127.0.0.1 "GET /nothing-here HTTP/1.1" 403 {UNKNOWN_ROUTE_MESSAGE}',
        f'127.0.0.1 "POST /items HTTP/1.1" 413 The body is {MAX_BODY + 1} bytes; at most '
        f"{MAX_BODY} (10 MB, API Gateway's limit) are accepted.",
    ]
