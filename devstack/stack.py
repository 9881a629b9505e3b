"""`make run`: the whole product on this machine, with no AWS account.

Starts: moto in a child process (`moto_process`: patched, and stopped with
this one, so Ctrl-C stops everything and nothing is left behind) unless
AWS_ENDPOINT_URL names a moto to use (not the one `eval "$(make -s env)"` exported,
the moto of a stack: `env.endpoint_of_the_shell`); the table, queue + DLQ and Cognito user
pool with a demo user, named as the deployment names them (stage "local" of
.chalice/config.json; `backing`); the API on 127.0.0.1:$PORT with real ID-token
verification; the worker polling the queue; the reaper and the reconciler (`roles`).
Writes stack.json in its state folder (.local/, or DEVSTACK_STATE_DIR;
`state_folder`) once all of it is ready, and removes it when it stops. What it
runs with, and what a person may change, is `settings`'s.

The stack lives as long as its own moto: when moto's process ends under it (killed,
crashed), the stack says so in one line and stops as on Ctrl-C, rather than serve an API
without AWS while its workers retry the queue. One stack per state folder (`lock`): a
second one refuses at once, naming the first, and touches nothing. moto's state lives in
memory: PERSIST=1 saves it in the state folder on Ctrl-C and loads it on the next start
(`snapshot`, in moto's process).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

from botocore.exceptions import EndpointConnectionError

from chalicelib.config import ConfigurationError

from .env import endpoint_of_the_shell
from .lock import StackLock, StackRunning, StateFolderUnusable
from .moto_process import MotoFailed, MotoProcess
from .roles import start_roles
from .settings import api_port, check_settings, moto_port, persist_requested, use_endpoint
from .state_folder import (
    MOTO_STATE_FILE,
    PortInUse,
    claim_state_folder,
    moto_moved_warning,
    ready_message,
    remove_state,
    run_command,
    state_dir,
    write_state,
)
from .text_log import log_text_to_stderr

logger = logging.getLogger("devstack")


def main() -> int:
    log_text_to_stderr()
    # chalicelib.aws: a line per AWS call (the deployed functions' JSON logs keep them).
    for noisy in ("werkzeug", "botocore", "urllib3", "chalicelib.aws"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Chalice's local gateway warns that it does not enforce Cognito authorizers and
    # admits every request: true of `chalice local`, not here, where every token is
    # verified before the gateway sees it (server.py). Said once, truthfully, below.
    warnings.filterwarnings("ignore", category=UserWarning, module="chalice.local")
    started = time.monotonic()
    directory = state_dir()
    lock = StackLock(directory)
    try:
        check_settings(os.environ)
        port = api_port(os.environ)
        claim_state_folder(lock, port, directory)
    except (ConfigurationError, StackRunning, StateFolderUnusable, PortInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupt)

    moto: MotoProcess | None = None
    stoppers: list[Any] = []
    wrote_state = False
    try:
        moto, endpoint = _moto(directory, port)
        use_endpoint(endpoint)
        stack = start_roles(endpoint, port, directory, stop, stoppers)
        write_state(stack)
        wrote_state = True
        lock.record(status="ready", api_url=stack.api_url)
        logger.info(
            "ID tokens are verified before Chalice's local gateway sees a request "
            "(signature, issuer, audience, token_use, expiry)"
        )
        print(ready_message(stack, time.monotonic() - started, state_dir()), flush=True)
        while not stop.wait(1):
            _check_moto_runs(moto, directory, port)
    except KeyboardInterrupt:
        pass
    except (PortInUse, MotoFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EndpointConnectionError as exc:
        if moto is not None:
            raise
        # A moto server the user keeps running (AWS_ENDPOINT_URL) that is not there.
        print(
            f"error: {exc}: is the server of AWS_ENDPOINT_URL running? Without "
            "AWS_ENDPOINT_URL, `make run` starts a moto of its own.",
            file=sys.stderr,
        )
        return 2
    finally:
        stop.set()
        if wrote_state:
            remove_state()
        for stopper in reversed(stoppers):
            stopper()
        if moto is not None:
            moto.stop()
        lock.release()
    print("vpc-provisioner stopped.", flush=True)
    return 0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_moto_runs(moto: MotoProcess | None, directory: Path, port: int) -> None:
    """Raises MotoFailed, saying how to start the stack again, once the stack's own moto
    has ended (a user's moto server, `moto` None, is the user's to watch)."""
    if moto is None or (status := moto.exit_status()) is None:
        return
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    raise MotoFailed(
        f"moto's process (pid {moto.pid}) {how} while the stack ran: the stack stops; "
        f"start it again with `{run_command(directory, port)}`"
    )


def _moto(directory: Path, port: int) -> tuple[MotoProcess | None, str]:
    """The moto to use: a moto server the user keeps running (AWS_ENDPOINT_URL, not the
    one an eval of `make env` exported), else the stack's own, started (then returned)."""
    endpoint, ignored = endpoint_of_the_shell(os.environ)
    if ignored:
        logger.info("%s", ignored)
    if not endpoint:
        return _start_moto(directory, moto_port(port))
    if persist_requested():
        logger.warning("PERSIST applies to the stack's own moto: %s keeps its own", endpoint)
    return None, endpoint


def _start_moto(directory: Path, port: int) -> tuple[MotoProcess, str]:
    # Never let real credentials near the stand-in.
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    path = directory / MOTO_STATE_FILE
    if persist_requested():
        logger.info(
            "PERSIST: moto's state %s %s, and is saved there on Ctrl-C",
            "is loaded from" if path.exists() else "starts empty; it goes to",
            path,
        )
    moto = MotoProcess(
        snapshot=path if persist_requested() else None, port=port, any_port_if_taken=True
    )
    endpoint = moto.start()
    warning = moto_moved_warning(port, endpoint, directory)
    if warning:
        logger.warning("%s", warning)
    return moto, endpoint
