"""One local stack per state folder: a second `make run` refuses while the first runs.

The lock is an advisory `flock` on `stack.lock` in the state folder (`.local/`,
or DEVSTACK_STATE_DIR): the kernel releases it when its process ends, however
it ends, so a crashed stack never leaves a stale lock behind. The file holds
the holder's pid and, once it is ready, its URL, for the refusal message. The
file itself stays (removing a lock file races with the next stack opening it).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .settings import DEFAULT_PORT, MOTO_PORT_OFFSET, PROJECT_DIR

LOCK_FILE = "stack.lock"


class StackRunning(RuntimeError):
    """Another local stack holds this state folder."""


class StateFolderUnusable(RuntimeError):
    """The state folder's files may not be opened by this user (a stack started with sudo)."""


def unusable(state_dir: Path, exc: OSError) -> StateFolderUnusable:
    return StateFolderUnusable(
        f"cannot use the state folder {state_dir}: {exc.strerror} ({exc.filename}), another "
        f"user's files (a stack started with sudo?): make them yours (`sudo chown -R "
        f'"$USER" {shlex.quote(str(state_dir))}`) or use a state folder of your own '
        "(`make run STATE=.local-2`)"
    )


class StackLock:
    """The state folder's lock, held from `acquire()` until `release()` or the process ends."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise StackRunning naming the running stack (StateFolderUnusable:
        another user's). Writes no file but the lock file."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError as exc:
            raise unusable(self._path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise StackRunning(_refusal(self._path.parent, holder)) from None
        self._fd = fd
        self.record(status="starting")

    def record(self, **details: Any) -> None:
        """Note what a second stack should be told (its pid is always noted)."""
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), **details}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Let another stack start. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refusal(state_dir: Path, holder: dict[str, Any]) -> str:
    # state_folder knows how make names a state folder; it imports this module, so not at
    # the top.
    from .state_folder import state_argument  # noqa: PLC0415

    api_url = holder.get("api_url")
    pid = holder.get("pid", "?")
    # `make token` and `make -s env` alone read .local/: a stack of its own STATE is
    # reached only with that STATE.
    state = state_argument(state_dir)
    return (
        f"a local stack is already running from {state_dir} ({api_url or 'still starting'}, "
        f'pid {pid}). Use it (`make token{state}`, `eval "$(make -s env{state})"`), stop it '
        "with Ctrl-C in its terminal, or start a second one with its own state folder and "
        f"port: {_beside(state_dir, api_url, PROJECT_DIR, DEFAULT_PORT)}"
    )


def _beside(running_dir: Path, api_url: Any, project_dir: Path, default_port: int) -> str:
    """`make run STATE=... PORT=...` for a second stack that can start: the first
    `.local-N` (from 2) no stack holds, and the first port after the running one's (or the
    default's) free with its moto port: the docs' `.local-2` and 8001 may be another
    stack's already, and a suggestion that is refused again sends its user round."""
    folder = next(
        f".local-{n}"
        for n in range(2, 100)
        if project_dir / f".local-{n}" != running_dir and _unheld(project_dir / f".local-{n}")
    )
    running = port_of(api_url) if isinstance(api_url, str) else None
    first = running + 1 if running and running < 65535 else default_port + 1
    port = next(
        (
            p
            for p in range(first, 65536 - MOTO_PORT_OFFSET)
            if port_taken(p) is None and port_taken(p + MOTO_PORT_OFFSET) is None
        ),
        first,
    )
    return f"make run STATE={folder} PORT={port}"


def _unheld(state_dir: Path) -> bool:
    """No stack holds this folder (one this user may not open is not suggested)."""
    try:
        return lock_holder(state_dir) is None
    except StateFolderUnusable:
        return False


def port_taken(port: int) -> OSError | None:
    """Why a stack could not listen on 127.0.0.1:`port` now (None: it could), probed as the
    server will bind it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def port_of(api_url: str) -> int | None:
    """The port of a stack's `api_url` (stack.json's, the lock's), None when it has none to
    read (one out of range: no URL's)."""
    try:
        return urlsplit(api_url).port
    except ValueError:
        return None


def refuse_if_held(state_dir: Path) -> None:
    """Raise StackRunning, naming the running stack, if one holds this state folder's lock
    now. Only reads: creates neither the folder nor the lock file."""
    holder = lock_holder(state_dir)
    if holder is not None:
        raise StackRunning(_refusal(state_dir, holder))


def stack_running(state_dir: Path) -> bool:
    """Whether a stack holds this state folder's lock now (a stack.json left by a stack
    that was killed is not one)."""
    return lock_holder(state_dir) is not None


def lock_holder(state_dir: Path) -> dict[str, Any] | None:
    """What the stack holding this state folder's lock noted (its pid, its URL once
    ready), or None when no stack holds it. Opens the lock file read-only, if it exists.
    Raises StateFolderUnusable when it may not."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise unusable(state_dir, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(fd)
    finally:
        os.close(fd)
    return None
