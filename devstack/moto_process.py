"""moto in its own process, patched for a long-running local stack.

`MotoProcess` starts `python -m devstack.moto_process`, which applies, inside
that process only:

- `isolation.make_dynamodb_atomic`: every DynamoDB write and transaction
  atomic, as in real DynamoDB (the worker's claim relies on it);
- `moto_fixes`: transactions snapshot only the items they touch, moto stops
  keeping every object it ever made, SQS recounts a queue at most once a
  second, EC2 finds a resource's tags by its id (memory and latency stay
  flat), and EC2 answers one call at a time (its state is not thread-safe);
- `moto_answers` and `moto_speed`: DynamoDB's item answers written as JSON directly,
  and moto's per-call costs cut (none changes an answer);

then serves moto on 127.0.0.1 (a free port unless told; with `any_port_if_taken`,
a free port when the one it was told is taken: deciding that where it binds leaves
no window in which another program can take the port after a check), with a listen
backlog of 128 and Nagle off, and prints its endpoint as one JSON line on stdout. Its
own process gives moto its own interpreter, so the API and AWS run on two
cores instead of sharing one.

The child stops when its standard input closes: when the stack stops it, or
when the stack dies (however it dies), so moto never outlives the stack. It
ignores Ctrl-C, which the terminal sends to the whole process group, so that
the stack can stop the API and the worker first. With a snapshot path
(`make run PERSIST=1`) it loads moto's state from it at start and saves it
there when it stops (`devstack.snapshot`).

Any other program that needs a patched moto server (tests, tools) can use
`MotoProcess` as is.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from .text_log import log_text_to_stderr

logger = logging.getLogger("devstack.moto")

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60
LISTEN_BACKLOG = 128


# What botocore raises when moto cannot be reached or drops the connection (its process
# died, or it is wedged), after its retries: the stack's callers say so in one line, since
# botocore's and urllib3's traceback adds nothing to it.
UNREACHABLE = (BotocoreConnectionError, HTTPClientError)


class MotoFailed(RuntimeError):
    """moto's process did not start, not in time, or ended while it was used."""


class MotoProcess:
    """A patched moto server in a child process: `start()` returns its endpoint."""

    def __init__(
        self, snapshot: Path | None = None, port: int = 0, *, any_port_if_taken: bool = False
    ) -> None:
        self._snapshot = snapshot
        self._port = port
        self._any_port_if_taken = any_port_if_taken
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> str:
        """Start moto and wait until it listens. Raises MotoFailed."""
        command = [sys.executable, "-m", "devstack.moto_process", "--port", str(self._port)]
        if self._snapshot is not None:
            command += ["--snapshot", str(self._snapshot)]
        if self._any_port_if_taken:
            command.append("--any-port-if-taken")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._process.stdout is not None
        try:
            line = _read_line(self._process.stdout, timeout)
        except BaseException:
            # Ctrl-C while moto starts: the caller has no endpoint, so no moto to stop.
            self.stop()
            raise
        try:
            endpoint = str(json.loads(line)["endpoint"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise MotoFailed(
                f"moto's process did not start within {timeout:.0f} s "
                f"(it said {line[:200]!r}; its errors are above)"
            ) from None
        logger.info("moto (pid %d) serves %s", self._process.pid, endpoint)
        return endpoint

    def exit_status(self) -> int | None:
        """moto's exit status if its process has ended (minus the signal that ended it, as
        subprocess says), else None (running, or not started). Does not wait."""
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """Ask moto to stop (it saves its snapshot first, if it has one) and wait.

        Idempotent. Kills it if it has not stopped within `timeout`.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("moto did not stop within %.0f s: killing it", timeout)
            process.kill()
            return process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout).decode(errors="replace").strip()
    except queue.Empty:
        return ""


def without_amis(environ: MutableMapping[str, str] = os.environ) -> None:
    """moto loads its catalogue of thousands of AMIs into every EC2 backend it builds
    (about 0.2 s of CPU each: a test's fresh moto builds one or two); nothing here runs
    an instance. Set before the first EC2 backend is built (moto reads it then)."""
    environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


# --- the child ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto, patched for the local stack")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--any-port-if-taken", action="store_true")
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group: the stack stops us when it is ready.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log_text_to_stderr()  # the stack's format: moto's lines go to the same terminal
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "local"
    without_amis()

    # moto is imported here, in the child only: the stack's own process never loads it.
    from . import ec2_fidelity  # noqa: PLC0415
    from .isolation import make_dynamodb_atomic  # noqa: PLC0415
    from .moto_answers import plain_dynamodb_answers  # noqa: PLC0415
    from .moto_fixes import (  # noqa: PLC0415
        approximate_queue_counts,
        bound_transaction_snapshots,
        direct_ec2_tags,
        serialize_ec2,
        stop_tracking_instances,
    )
    from .moto_speed import speed_up_moto  # noqa: PLC0415
    from .snapshot import restore, save  # noqa: PLC0415

    # The bounded snapshot first: the atomic lock then wraps it and its rollback.
    bound_transaction_snapshots()
    make_dynamodb_atomic()
    stop_tracking_instances()
    approximate_queue_counts()
    direct_ec2_tags()
    serialize_ec2()
    plain_dynamodb_answers()
    speed_up_moto()
    ec2_fidelity.apply()
    if args.snapshot is not None:
        restore(args.snapshot)

    with _listening(args.port, any_port_if_taken=args.any_port_if_taken) as listener:
        server = _make_server(listener)
    # The endpoint on stdout, then stdout goes where stderr goes (nobody reads the pipe).
    try:
        print(json.dumps({"endpoint": f"http://127.0.0.1:{server.port}"}), flush=True)
    except BrokenPipeError:
        # The stack ended (Ctrl-C) before moto was ready: nobody waits for it. stdout goes
        # to /dev/null, or the flush at exit fails again ("Exception ignored ...").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(_Terminated):
        sys.stdin.buffer.read()  # until the stack closes it, or dies
    server.shutdown()
    if args.snapshot is not None:
        save(args.snapshot)
    return 0


class _Terminated(Exception):
    pass


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _listening(port: int, *, any_port_if_taken: bool) -> socket.socket:
    """A socket listening on 127.0.0.1:`port`; on any free port instead if that one is
    taken and `any_port_if_taken`. Bound here rather than by werkzeug, which exits the
    process on a taken port instead of raising."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug would
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as exc:
        if port == 0 or not any_port_if_taken or exc.errno != errno.EADDRINUSE:
            listener.close()
            raise
        listener.bind(("127.0.0.1", 0))
    listener.listen(LISTEN_BACKLOG)
    return listener


def _make_server(listener: socket.socket) -> Any:
    """moto's server on `listener` (the server keeps its own copy of the socket)."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - see main
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer  # noqa: PLC0415

    class Handler(MotoRequestHandler):
        def setup(self) -> None:
            super().setup()
            # A response's headers and body are two writes: with Nagle on, the second
            # waits for the client's delayed ACK (~40 ms) on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    app = DomainDispatcherApplication(create_backend_app)
    host, port = listener.getsockname()
    return ThreadedWSGIServer(host, port, app, handler=Handler, fd=listener.fileno())


if __name__ == "__main__":
    sys.exit(main())
