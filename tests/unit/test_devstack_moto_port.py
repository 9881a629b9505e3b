"""moto's port beside the local stack's API: the same on every start where it can be,
any free one when it is taken (decided by moto's process where it binds, so that no
other program can take the port between a check and the bind)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devstack.moto_process import MotoFailed, MotoProcess
from devstack.stack import MOTO_PORT_OFFSET, _moto_port


def test_moto_asks_for_the_port_the_offset_above_the_api() -> None:
    assert _moto_port(8000) == 8000 + MOTO_PORT_OFFSET
    assert _moto_port(65535 - MOTO_PORT_OFFSET) == 65535


def test_moto_asks_for_any_free_port_when_the_offset_port_does_not_exist() -> None:
    assert _moto_port(65535 - MOTO_PORT_OFFSET + 1) == 0


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_moto_listens_on_another_free_port_when_its_own_is_taken(taken_port: int) -> None:
    moto = MotoProcess(port=taken_port, any_port_if_taken=True)
    try:
        endpoint = moto.start(timeout=30)
    finally:
        moto.stop()
    port = int(endpoint.rsplit(":", 1)[1])
    assert port not in (0, taken_port)


def test_without_permission_moto_refuses_a_taken_port(taken_port: int) -> None:
    moto = MotoProcess(port=taken_port)
    with pytest.raises(MotoFailed, match="did not start"):
        moto.start(timeout=30)
