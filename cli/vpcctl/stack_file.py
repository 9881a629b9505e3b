"""The local stack's `.local/stack.json` (what `make run` writes): where it is found, and
whether it is trusted.

A stack file holds the demo users' passwords and names where `vpcctl login` sends
them, so it is trusted only if it is the user's own and nobody else's to read or
change (`distrust`), and looked for only inside the project (`find_stack_file`).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import usage_error
from .urls import is_loopback, normalize_url, port_of

# The local stack's own variable (devstack.state_folder.state_dir): where it writes stack.json.
STATE_DIR_ENV = "DEVSTACK_STATE_DIR"
# The port `make run` serves the API on without PORT= (devstack.settings.DEFAULT_PORT).
DEFAULT_STACK_PORT = 8000
STACK_FILE = Path(".local") / "stack.json"
# A state folder named in a message longer than this is named by its variable instead.
SHOWN_STATE_DIR_CHARS = 200


@dataclass(frozen=True)
class LocalStack:
    """What vpcctl uses of the local stack's stack.json."""

    path: Path
    api_url: str
    user_pool_client_id: str
    region: str
    aws_endpoint_url: str
    # The demo user `vpcctl login` signs in by default.
    username: str
    # username -> password of the stack's demo users
    passwords: Mapping[str, str]

    @classmethod
    def read(cls, path: Path) -> LocalStack:
        """The stack file at `path`. Raises a usage error (exit 2) when it cannot be read, or
        cannot be trusted (`distrust`)."""
        try:
            # Judged and read through one descriptor: the file judged is the file read.
            with path.open() as file:
                refusal = distrust(path, os.fstat(file.fileno()))
                if refusal:
                    raise usage_error(f"not using {path}: {refusal}")
                info: Any = json.loads(file.read())
            if not isinstance(info, dict):
                raise ValueError("it is not a JSON object")
            passwords = {_text(info, "username"): _text(info, "password")}
            if info.get("admin_username"):
                passwords[_text(info, "admin_username")] = _text(info, "admin_password")
            return cls(
                path=path,
                api_url=normalize_url(_text(info, "api_url")),
                user_pool_client_id=_text(info, "user_pool_client_id"),
                region=_text(info, "region"),
                aws_endpoint_url=_text(info, "aws_endpoint_url"),
                username=_text(info, "username"),
                passwords=passwords,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise usage_error(f"cannot read the local stack's {path}: {exc}") from exc


def _text(info: dict[str, Any], key: str) -> str:
    """The string `info[key]` (KeyError when missing, TypeError when not a string: a file
    vpcctl did not write, or one hand-edited)."""
    value = info[key]
    if not isinstance(value, str):
        raise TypeError(f"its {key} is {json.dumps(value)[:40]}, not a string")
    return value


def distrust(path: Path, status: os.stat_result) -> str | None:
    """Why the stack file `path` (as `status` describes it) is not to be trusted, or None.

    A stack.json holds the demo users' passwords and names where `vpcctl login` sends
    them: only a file of the user's own (written by them, or by `make run` as them), that
    nobody else may read or change, is the local stack's."""
    uid = os.getuid()
    if status.st_uid != uid:
        return (
            f"it belongs to uid {status.st_uid}, not to you (uid {uid}), and would get the "
            "password `vpcctl login` sends; remove it if you did not put it there"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        return (
            f"its mode {mode:04o} lets other users read or change it, and it holds passwords; "
            f"if it is yours, `chmod 600 {path}` (as `make run` writes it)"
        )
    return None


def find_stack_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The local stack's stack.json: under DEVSTACK_STATE_DIR, else `.local/stack.json` in
    the working directory or the nearest parent that has one, up to the repository's root
    (the nearest folder with a `.git`, itself included); outside a repository, in the
    working directory only. A folder above the project (a shared /tmp, a home others may
    write in) is not the project's: a stack.json planted there would get the password
    `vpcctl login` sends. What is found must still pass `distrust` (`LocalStack.read`)."""
    state_dir = env.get(STATE_DIR_ENV)
    if state_dir:
        path = Path(state_dir) / "stack.json"
        return path if path.is_file() else None
    for directory in _project_folders(cwd):
        path = directory / STACK_FILE
        if path.is_file():
            return path
    return None


def start_command(
    env: Mapping[str, str], api_url: str | None = None, cwd: Path | None = None
) -> str:
    """The command that starts the local stack vpcctl looks for: `make run`, or, when
    DEVSTACK_STATE_DIR names its folder (`eval "$(make -s env STATE=...)"` exports it), `make
    run STATE=<that folder>`; a bare `make run` would start another stack, in .local/, which
    this shell does not look at. With `PORT=<port>` when the API URL on this machine it is
    for has a port other than the default (`make run PORT=8001` made it): a bare `make run`
    would serve another URL. STATE is left out when it names the checkout's own `.local`
    (the eval exports it for the default too), where a bare `make run` keeps its stack."""
    state_dir = env.get(STATE_DIR_ENV)
    if state_dir and cwd is not None:
        default = _project_folders(cwd)[-1] / STACK_FILE.parent
        if Path(state_dir).resolve() == default.resolve():
            state_dir = None
    command = "make run"
    if state_dir and len(state_dir) > SHOWN_STATE_DIR_CHARS:
        command += f' STATE="${STATE_DIR_ENV}"'
    elif state_dir:
        command += f" STATE={shlex.quote(state_dir)}"
    port = port_of(api_url) if api_url and is_loopback(api_url) else None
    if port is not None and port != DEFAULT_STACK_PORT:
        command += f" PORT={port}"
    return command


def _project_folders(cwd: Path) -> tuple[Path, ...]:
    """`cwd` and its parents up to the nearest with a `.git` (a folder, or the file of a
    worktree or submodule); `cwd` alone when none has one."""
    folders = (cwd, *cwd.parents)
    for depth, folder in enumerate(folders):
        if (folder / ".git").exists():
            return folders[: depth + 1]
    return folders[:1]
