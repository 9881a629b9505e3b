"""The local server's request log: the client's request line, escaped and bounded."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from devstack.server import MAX_LOGGED_CHARS, VerifyingRequestHandler


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
