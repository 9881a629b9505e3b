"""moto's port beside the local stack's API: the same on every start where it can be."""

from __future__ import annotations

import socket

from devstack.stack import MOTO_PORT_OFFSET, _moto_port


def _bound() -> socket.socket:
    """A socket listening on a free port below 55536 (so that port + the offset exists)."""
    while True:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        if sock.getsockname()[1] + MOTO_PORT_OFFSET <= 65535:
            sock.listen()
            return sock
        sock.close()


def test_moto_listens_the_offset_above_the_api() -> None:
    with _bound() as probe:
        api_port = probe.getsockname()[1]
    assert _moto_port(api_port) == api_port + MOTO_PORT_OFFSET


def test_moto_takes_any_free_port_when_its_own_is_taken_or_does_not_exist() -> None:
    with _bound() as taken:
        api_port = taken.getsockname()[1] - MOTO_PORT_OFFSET
        assert _moto_port(api_port) == 0
    assert _moto_port(65535 - MOTO_PORT_OFFSET + 1) == 0
