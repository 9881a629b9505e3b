"""The local server answers a Content-Length of thousands of digits (400 or 413, the API's
error shape) instead of dying on it: int() raises ValueError past 4,300 digits (Python's
limit on integer conversion), which killed the handler's thread and left the client with
a closed connection and no answer, whether the digits were significant or leading zeros.
A few leading zeros are still only a number."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from devstack.server import (
    IDLE_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONCURRENT_REQUESTS,
    VerifyingRequestHandler,
)
from unit.test_devstack_server_log import GOOD, QUIET_GATEWAY, _app, served

pytestmark = QUIET_GATEWAY


@pytest.fixture
def port() -> Iterator[int]:
    with served(_app()) as port:
        yield port


def _send(port: int, length: bytes, body: bytes = b"") -> bytes:
    request = (
        b"POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + GOOD.encode()
        + b"\r\nContent-Length: "
        + length
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _status_and_body(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def test_thousands_of_significant_digits_are_a_body_too_large(port: int) -> None:
    status, body = _status_and_body(_send(port, b"1" * 5000))

    assert status == 413
    assert body["Code"] == "RequestEntityTooLarge"
    assert "5000-digit" in body["Message"]


def test_thousands_of_leading_zeros_are_a_bad_request(port: int) -> None:
    status, body = _status_and_body(_send(port, b"0" * 5000 + b"1"))

    assert status == 400
    assert body["Code"] == "BadRequestError"
    assert "5001 digits" in body["Message"]


def test_leading_zeros_before_a_number_too_large_are_not_counted(port: int) -> None:
    status, body = _status_and_body(_send(port, b"0" * 40 + str(MAX_BODY_BYTES + 1).encode()))

    assert status == 413
    assert f"The body is {MAX_BODY_BYTES + 1} bytes" in body["Message"]


def test_a_few_leading_zeros_are_still_a_length(port: int) -> None:
    status, body = _status_and_body(_send(port, b"0002", body=b"{}"))

    assert status == 200
    assert body == {"ok": "yes"}


def test_connections_that_never_send_their_body_give_up_their_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request the server is working on holds one of MAX_CONCURRENT_REQUESTS places,
    reading its body included: without a time limit on the connection's reads, that many
    connections announcing a body they never send (any process on the machine) stopped
    the API answering anyone. They are closed after IDLE_SECONDS (1 here)."""
    assert 0 < VerifyingRequestHandler.timeout == IDLE_SECONDS <= 60
    monkeypatch.setattr(VerifyingRequestHandler, "timeout", 1)
    with served(_app()) as port:
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        try:
            for sock in stalled:
                sock.sendall(
                    b"POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: "
                    + GOOD.encode()
                    + b"\r\nContent-Length: 10\r\n\r\n"
                )
            assert len(stalled) == MAX_CONCURRENT_REQUESTS
            answer = requests.get(
                f"http://127.0.0.1:{port}/items", headers={"Authorization": GOOD}, timeout=10
            )
            assert answer.status_code == 200
            # The stalled ones were closed, not answered as if their body had come.
            assert all(sock.recv(65536) == b"" for sock in stalled)
        finally:
            for sock in stalled:
                sock.close()


def _handlers() -> list[threading.Thread]:
    """The server's threads serving a connection each."""
    return [t for t in threading.enumerate() if "process_request" in t.name]


def test_bodies_sent_a_byte_at_a_time_hold_no_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body is read before its request takes a place: MAX_CONCURRENT_REQUESTS connections
    each sending a byte within every IDLE_SECONDS (1 here) held every place, for as long as
    they kept sending, and the API answered no one (a review's find)."""
    monkeypatch.setattr(VerifyingRequestHandler, "timeout", 1)
    stop = threading.Event()
    with served(_app()) as port:
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        for sock in socks:
            sock.sendall(
                b"POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + GOOD.encode()
                + b"\r\nContent-Length: 100000\r\n\r\n"
            )

        def trickle() -> None:
            while not stop.is_set():
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.send(b"x")
                stop.wait(0.3)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            deadline = time.monotonic() + 10
            while len(_handlers()) < len(socks) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(_handlers()) >= len(socks)  # every one is being read
            answer = requests.get(
                f"http://127.0.0.1:{port}/items", headers={"Authorization": GOOD}, timeout=5
            )
            assert answer.status_code == 200
        finally:
            stop.set()
            sender.join()
            for sock in socks:
                sock.close()


def test_a_request_its_app_works_on_longer_than_the_idle_limit_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limit is on what the connection keeps the server waiting for, not on the app: a
    POST that waits on AWS (a busy moto) longer than IDLE_SECONDS is answered."""
    monkeypatch.setattr(VerifyingRequestHandler, "timeout", 1)
    app = _app()

    @app.route("/slow", methods=["POST"])
    def slow() -> dict[str, str]:
        time.sleep(1.5)
        return {"ok": "slow"}

    with served(app) as port:
        answer = requests.post(
            f"http://127.0.0.1:{port}/slow",
            json={"a": 1},
            headers={"Authorization": GOOD},
            timeout=10,
        )
    assert answer.status_code == 200


def test_a_body_cut_short_by_its_client_reaches_no_app() -> None:
    """Content-Length 1000, 8 bytes of body, then the client stops sending: the app ran on
    the 8 bytes (API Gateway, which waits for the whole body, never calls it)."""
    called: list[str] = []
    app = _app()

    @app.route("/posted", methods=["POST"])
    def posted() -> dict[str, str]:
        called.append("POST")
        return {}

    with served(app) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /posted HTTP/1.1\r\nHost: x\r\n"
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            + b'{"a": 1}'
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # closed, unanswered
    assert called == []


def test_a_client_that_expects_100_continue_gets_it_before_it_sends_its_body() -> None:
    """curl sends `Expect: 100-continue` with a body over 1 KiB and waits a second for the
    100 before sending anyway: the buffered answer held the 100 back until the final one."""
    with served(_app()) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + GOOD.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
            + b"Expect: 100-continue\r\n\r\n"
        )
        sock.settimeout(0.5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # before the body
        sock.settimeout(5)
        sock.sendall(b'{"a": 1}')
        assert sock.recv(65536).startswith(b"HTTP/1.1 ")
