"""The local server reads a body sent `Transfer-Encoding: chunked` (curl -T -, a client
streaming a file), as API Gateway does: Chalice's local gateway reads only Content-Length
bytes, so the app was told the body was empty (a 400 saying so of a valid body), and the
chunks left unread were taken for the connection's next request (its valid GET answered
400 "not HTTP/1.1 this server can read"). The 10 MB limit holds for chunked bodies too."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from chalice.app import Chalice, CognitoUserPoolAuthorizer

from devstack import server as server_module
from unit.test_devstack_server_log import GOOD, QUIET_GATEWAY, served

pytestmark = QUIET_GATEWAY


def _echo_app() -> Chalice:
    app = Chalice(app_name="chunked")
    authorizer = CognitoUserPoolAuthorizer("pool", provider_arns=["arn:aws:cognito-idp:x"])

    @app.route("/items", methods=["GET", "POST"], authorizer=authorizer)
    def items() -> dict[str, object]:
        assert app.current_request is not None
        return {"body": app.current_request.json_body}

    return app


@pytest.fixture
def port() -> Iterator[int]:
    with served(_echo_app()) as port:
        yield port


def _chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _post(body: bytes, encoding: bytes = b"chunked") -> bytes:
    return (
        b"POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: " + GOOD.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: " + encoding
        + b"\r\n\r\n" + body
    )  # fmt: skip


_GET = b"GET /items HTTP/1.1\r\nHost: x\r\nAuthorization: " + GOOD.encode() + b"\r\n\r\n"


def _answers(port: int, raw: bytes, expected: int) -> list[tuple[int, dict[str, object]]]:
    """The answers to `raw` sent on one connection, once `expected` came or it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        stream = sock.makefile("rb")
        answers: list[tuple[int, dict[str, object]]] = []
        while len(answers) < expected and (status_line := stream.readline()):
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            answers.append((int(status_line.split()[1]), json.loads(body)))
    return answers


def test_a_chunked_body_is_read_and_the_next_request_on_the_connection_is_served(
    port: int,
) -> None:
    sent = {"vpc": {"netmask_length": 24}, "subnets": [{"netmask_length": 26}]}
    text = json.dumps(sent).encode()

    answers = _answers(port, _post(_chunked(text[:10], text[10:])) + _GET, expected=2)

    assert answers == [(200, {"body": sent}), (200, {"body": None})]


def test_a_chunked_body_over_the_limit_is_a_413(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_BODY_BYTES", 100)

    [(status, body)] = _answers(port, _post(_chunked(b"[" + b" " * 99, b"]")), expected=1)

    assert status == 413
    assert body["Code"] == "RequestEntityTooLarge"
    assert "at most 100" in str(body["Message"])


def test_a_chunked_body_of_exactly_the_limit_is_read(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "MAX_BODY_BYTES", 100)

    [(status, body)] = _answers(port, _post(_chunked(b"[" + b" " * 98, b"]")), expected=1)

    assert (status, body) == (200, {"body": []})


def test_a_chunk_size_that_is_not_a_number_is_a_400_and_the_connection_closes(port: int) -> None:
    answers = _answers(port, _post(b"zz\r\n{}\r\n0\r\n\r\n") + _GET, expected=2)

    assert answers == [
        (400, {"Code": "BadRequestError", "Message": "The chunked body could not be read."})
    ]


def test_a_transfer_encoding_other_than_chunked_is_a_400_saying_what_to_send(port: int) -> None:
    answers = _answers(port, _post(b"\x1f\x8b", encoding=b"gzip") + _GET, expected=2)

    [(status, body)] = answers
    assert status == 400
    assert "send the body chunked, or with a Content-Length" in str(body["Message"])
