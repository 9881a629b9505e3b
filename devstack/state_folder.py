"""The local stack's state folder (.local/, or DEVSTACK_STATE_DIR) and what it tells people.

The folder holds stack.json (`StackInfo`: written 0600 once the stack is ready, removed
when it stops; `make token`, `make env` and vpcctl read it) and the user pools of earlier
runs (`note_issuer`); a stack claims it before it starts anything (`claim_state_folder`:
its lock, once the port is known to be free). A stack with a folder of its own is
reached only with that STATE, so what it prints for a person to run next carries it
(`state_argument`): the refusals, the ready message, the warning when moto's port moved.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .lock import StackLock, port_taken, refuse_if_held
from .settings import DEFAULT_PORT, MOTO_PORT_OFFSET, PROJECT_DIR

# The user pools of earlier runs, so that their tokens get a 401 that says why.
FORMER_ISSUERS_FILE = "former-user-pools"
# moto's state under PERSIST=1 (devstack/snapshot.py, in moto's process: the stack's own
# never imports moto).
MOTO_STATE_FILE = "moto-state.pickle"
FORMER_ISSUERS_KEPT = 20


@dataclass(frozen=True)
class StackInfo:
    """stack.json: how to reach the running stack, and its demo users."""

    api_url: str
    aws_endpoint_url: str
    region: str
    table_name: str
    queue_url: str
    dlq_url: str
    user_pool_id: str
    user_pool_client_id: str
    username: str
    password: str
    admin_username: str
    admin_password: str


def state_dir() -> Path:
    """Where stack.json goes: .local/ in the project, or DEVSTACK_STATE_DIR."""
    return Path(os.environ.get("DEVSTACK_STATE_DIR") or PROJECT_DIR / ".local")


def state_argument(directory: Path) -> str:
    """` STATE=...` for make, when `directory` is not the default state folder: a stack
    with its own (`make run STATE=...`) is reached only with that STATE. Quoted for the
    shell where it must be (a path with a space): the commands it ends are pasted."""
    if directory == PROJECT_DIR / ".local":
        return ""
    return f" STATE={shlex.quote(_shown(directory))}"


def run_command(directory: Path, port: int | None = None) -> str:
    """The `make run` that starts the stack of `directory` again on `port`, as vpcctl's
    start_command says it: with its STATE, and its PORT unless the default (a bare `make
    run` listens on 8000, moto on 18000, and the exports of every shell that ran this
    stack's eval stop working)."""
    shown_port = f" PORT={port}" if port is not None and port != DEFAULT_PORT else ""
    return f"make run{state_argument(directory)}{shown_port}"


def ready_message(stack: StackInfo, seconds: float, directory: Path) -> str:
    """What to run next, for this very stack (with its STATE, if it has one)."""
    state = state_argument(directory)
    commands = [
        (f'eval "$(make -s env{state})"', "$API, $TOKEN, the AWS CLI and vpcctl"),
        ("vpcctl login", f"as {stack.username}; or TOKEN=$(make -s token{state})"),
        ('curl -s "$API/vpcs" -H "Authorization: Bearer $TOKEN"', ""),
        (f'eval "$(make -s unenv{state})"', "undoes the eval"),
    ]
    width = max(len(command) for command, _ in commands)
    return "\n".join(
        [
            f"vpc-provisioner is ready on {stack.api_url} after {seconds:.1f}s",
            f"(AWS: moto on {stack.aws_endpoint_url}). The web console: {stack.api_url}/console",
            f"(user {stack.username}, password in {_shown(directory)}/stack.json). "
            "Next, in another shell:",
            *[
                f"  {command:<{width}}  # {why}" if why else f"  {command}"
                for command, why in commands
            ],
            "Ctrl-C stops it.",
        ]
    )


def _shown(directory: Path) -> str:
    """The state folder as `make run STATE=...` was given it: relative to the project."""
    try:
        return str(directory.relative_to(PROJECT_DIR))
    except ValueError:
        return str(directory)


class PortInUse(RuntimeError):
    """The API cannot listen on its port; the message says how to start on another."""


def claim_state_folder(lock: StackLock, port: int, directory: Path) -> None:
    """Take the state folder's lock for a stack that will listen on `port`.

    A stack already running from the folder is named first (StackRunning): a second `make
    run` finds the port busy too, and "another program uses it" would send its user to
    another port only to be refused again there. Then the port (PortInUse): a stack that
    cannot listen touches nothing in its state folder, so the lock is taken last."""
    refuse_if_held(directory)
    _check_port_free(port, directory)
    lock.acquire()


def _check_port_free(port: int, directory: Path) -> None:
    """Raise PortInUse now, before anything starts, if the API could not listen on `port`
    (saying how to start this stack, with its STATE, on another)."""
    taken = port_taken(port)
    if taken is not None:
        raise PortInUse(
            f"cannot listen on 127.0.0.1:{port} ({taken.strerror}): another program uses "
            f"it; pick a free port: make run PORT={port + 1}{state_argument(directory)}"
        ) from taken


def moto_moved_warning(port: int, endpoint: str, directory: Path) -> str | None:
    """What to say when moto could not have the port asked for (`port`, 0 for any): the
    shells that ran this stack's eval before point at the old one, and only an eval with
    this stack's STATE (`directory`) reads its new exports."""
    if not port or endpoint.endswith(f":{port}"):
        return None
    return (
        f"port {port} (moto's, PORT + {MOTO_PORT_OFFSET}) is taken: moto listens on {endpoint} "
        f'this time, so run `eval "$(make -s env{state_argument(directory)})"` again in shells '
        "that ran it before"
    )


def note_issuer(directory: Path, issuer: str) -> list[str]:
    """The issuers (user pools) of earlier runs in this state folder; notes this run's."""
    path = directory / FORMER_ISSUERS_FILE
    try:
        former = path.read_text().split()
    except FileNotFoundError:
        former = []
    kept = [*(i for i in former if i != issuer), issuer][-FORMER_ISSUERS_KEPT:]
    path.write_text("\n".join(kept) + "\n")
    return former


def write_state(info: StackInfo) -> None:
    """Write stack.json, readable by this user alone from its first byte: it holds the demo
    users' passwords, and vpcctl trusts no stack.json others may read or change.

    The content goes to a temporary file created 0600 (mkstemp: a new name of its own,
    opened O_EXCL, so nothing planted in the folder is followed; a write-then-chmod would
    leave it readable by others for a moment), then is renamed over the old file: a reader
    sees the old file or the new one, whole."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".stack.json.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            fd = -1
            out.write(json.dumps(info.__dict__, indent=2) + "\n")
        temporary.replace(directory / "stack.json")
    finally:
        if fd != -1:
            os.close(fd)
        temporary.unlink(missing_ok=True)


def remove_state() -> None:
    """Remove stack.json (the stack stops): the folder's other files stay."""
    (state_dir() / "stack.json").unlink(missing_ok=True)
