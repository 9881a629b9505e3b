"""moto's port beside the local stack's API: the same on every start where it can be,
any free one when it is taken (decided by moto's process where it binds, so that no
other program can take the port between a check and the bind)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devstack.moto_process import MotoFailed, MotoProcess
from devstack.settings import MOTO_PORT_OFFSET, PROJECT_DIR, moto_port
from devstack.state_folder import moto_moved_warning


def test_moto_asks_for_the_port_the_offset_above_the_api() -> None:
    assert moto_port(8000) == 8000 + MOTO_PORT_OFFSET
    assert moto_port(65535 - MOTO_PORT_OFFSET) == 65535


def test_moto_asks_for_any_free_port_when_the_offset_port_does_not_exist() -> None:
    assert moto_port(65535 - MOTO_PORT_OFFSET + 1) == 0


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


def test_moto_on_another_port_says_to_eval_again_with_the_stacks_own_state() -> None:
    """`make -s env` without the STATE would read another stack's exports (or none)."""
    state = PROJECT_DIR / ".local-2"
    warning = moto_moved_warning(18001, "http://127.0.0.1:41234", state)
    assert warning is not None
    assert "http://127.0.0.1:41234" in warning
    assert '`eval "$(make -s env STATE=.local-2)"`' in warning
    default = moto_moved_warning(18000, "http://127.0.0.1:41234", PROJECT_DIR / ".local")
    assert default is not None
    assert '`eval "$(make -s env)"`' in default


def test_moto_on_its_own_port_or_any_port_asked_for_says_nothing() -> None:
    assert moto_moved_warning(18000, "http://127.0.0.1:18000", PROJECT_DIR / ".local") is None
    assert moto_moved_warning(0, "http://127.0.0.1:41234", PROJECT_DIR / ".local") is None
