"""A moto server in a process of its own, with `support.moto_gaps` applied in it.

    with moto_server() as server:
        boto3.client("sqs", endpoint_url=server.endpoint_url, region_name=server.region)

For tools that talk to AWS over HTTP and are not ours (`terraform apply`,
`chalice deploy`). The gaps patched, each explained in `support/moto_gaps.py`:
PutRestApi/ImportRestApi with Swagger 2.0 (and its authorizers, method
security and binary media types), SQS `RedriveAllowPolicy`, SetQueueAttributes
without `Policy` wiping the queue policy, UpdateRestApi of
`/binaryMediaTypes/...`; plus the local stack's atomic DynamoDB writes.
`moto_server(gaps="support.moto_stack_gaps")` adds what CloudFormation lacks for
`make deploy`, `make backing` and `chalice deploy` (support/moto_chalice_gaps.py,
support/moto_stack_gaps.py).

Run by hand: `PYTHONPATH=.:tests .venv/bin/python -m support.moto_gaps --port 5000`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
STARTUP_SECONDS = 30.0
_TESTS_DIR = Path(__file__).resolve().parent.parent
_PROJECT_DIR = _TESTS_DIR.parent


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: point boto3, the AWS CLI or Terraform at `endpoint_url`."""

    endpoint_url: str
    region: str = REGION
    account_id: str = ACCOUNT_ID
    log: Path | None = None

    def reset(self) -> None:
        """Forget every resource (moto's `/moto-api/reset`), keeping the server up."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@contextlib.contextmanager
def moto_server(gaps: str = "support.moto_gaps") -> Iterator[MotoServer]:
    """Start a patched moto server on a free 127.0.0.1 port; stop it on exit.

    `gaps`: the module whose `main(argv)` applies the patches and serves (another
    module may add its own on top of `support.moto_gaps`, as `support.moto_stack_gaps`
    does). Returns once the server answers HTTP. Raises RuntimeError (with the
    server's output) if it exits or stays silent for STARTUP_SECONDS.
    """
    # `-c`, not `-m`: moto's model metaclass files each model class under its module's
    # name, which `__main__` lacks.
    serve = f"import sys; from {gaps} import main; main(sys.argv[1:])"
    with tempfile.TemporaryDirectory(prefix="moto-server-") as tmp:
        log_path = Path(tmp) / "moto.log"
        port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(_PROJECT_DIR), str(_TESTS_DIR)]),
            "AWS_DEFAULT_REGION": REGION,
        }
        env.pop("AWS_ENDPOINT_URL", None)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", serve, "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=_PROJECT_DIR,
            )
        server = MotoServer(endpoint_url=f"http://127.0.0.1:{port}", log=log_path)
        try:
            _wait_until_answering(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_answering(server: MotoServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited ({process.returncode}):\n{_tail(server)}")
        try:
            with urllib.request.urlopen(f"{server.endpoint_url}/moto-api/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server silent after {STARTUP_SECONDS} s:\n{_tail(server)}")


def _tail(server: MotoServer) -> str:
    if server.log is None or not server.log.exists():
        return ""
    return server.log.read_text(errors="replace")[-4000:]
