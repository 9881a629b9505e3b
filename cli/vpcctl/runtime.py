"""The world outside a command (`Runtime`: environment, clock, terminals, HTTP, Cognito),
which tests replace parts of; and whether a stream gets colour (`colour_on`)."""

from __future__ import annotations

import os
import select
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import requests

from .auth import CognitoFactory, boto3_cognito
from .config import default_config_dir
from .tokens import TokenCache

NO_COLOR_ENV = "NO_COLOR"


def colour_on(env: Mapping[str, str], is_tty: Callable[[], bool], machine: bool = False) -> bool:
    """Colour on a stream: a terminal that shows escape codes (not TERM=dumb), output for
    people (not -o json or yaml), and no NO_COLOR (https://no-color.org). Decides stdout's
    colours and stderr's error prefix."""
    dumb = env.get("TERM") == "dumb"
    return not machine and not env.get(NO_COLOR_ENV) and not dumb and is_tty()


def _isatty(stream: TextIO | None) -> bool:
    # Looked up at each call: sys.stdin and sys.stderr may be swapped (click's CliRunner).
    # None: the descriptor was closed (`0<&-`, `1>&-`), which is no terminal.
    return stream is not None and stream.isatty()


def reader_gone(stream: TextIO) -> bool:
    """Whether what reads `stream` has gone: poll(2) reports POLLERR on a pipe whose reader
    closed it (`| head -1`, once head has its line), POLLHUP on a socket or terminal hung
    up. False for a file, for a stream without a descriptor (click's CliRunner), and where
    there is no poll(2) (Windows). Writes nothing: a command that writes only when something
    changed (`list --watch`) learns so without writing."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: POLLERR and POLLHUP come all the same
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


@dataclass
class Runtime:
    """The world outside a command; tests replace parts of it."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    config_dir: Path | None = None
    cognito: CognitoFactory = boto3_cognito
    http: Callable[[], requests.Session] = requests.Session
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    stdin_is_tty: Callable[[], bool] = lambda: _isatty(sys.stdin)
    stderr_is_tty: Callable[[], bool] = lambda: _isatty(sys.stderr)
    stdout_is_tty: Callable[[], bool] = lambda: _isatty(sys.stdout)
    stdout_gone: Callable[[], bool] = lambda: reader_gone(sys.stdout)
    terminal_width: Callable[[], int] = lambda: shutil.get_terminal_size().columns
    new_key: Callable[[], str] = lambda: str(uuid.uuid4())

    def token_cache(self) -> TokenCache:
        return TokenCache(self.config_dir or default_config_dir(self.env))
