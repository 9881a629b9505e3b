"""The real local stack (`python -m devstack`, what `make run` starts), driven over HTTP.

One stack per test session, in a subprocess on free ports, with its state in a
temporary folder (never the developer's .local/). Tests reach moto through the
endpoint the stack publishes in stack.json, to read the EC2 ground truth, and
inject EC2 faults through the stack's faults file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from devstack.settings import MOTO_PORT_OFFSET
from support.browser import LAUNCH_ARGS, chromium_path, missing_reason
from support.contract import contract_hook

if TYPE_CHECKING:
    from e2e.console_tab import Console

PROJECT_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 90
# The session stack's reconciler period.
RECONCILER_SECONDS = 2
# The session stack's pools: the default one, and one the sized tests allocate from (so
# that their blocks never meet the explicit CIDRs other tests ask for).
E2E_POOL = "e2e"
ADDRESS_POOLS = json.dumps(
    [{"name": "default", "cidr": "10.0.0.0/8"}, {"name": E2E_POOL, "cidr": "100.64.0.0/16"}]
)


def free_port() -> int:
    """A free port for a stack's API whose moto port (MOTO_PORT_OFFSET above it, as
    `make run` chooses) is free too: the kernel's own picks reach 60999, and above
    55535 the stack must give moto any port instead (tested on its own)."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 65535 - MOTO_PORT_OFFSET)
        try:
            for candidate in (port, port + MOTO_PORT_OFFSET):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    faults_path: Path
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.info["api_url"])

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name=self.info["region"],
        ).client(service, endpoint_url=self.info["aws_endpoint_url"])

    def id_token(self) -> str:
        result = self.client("cognito-idp").initiate_auth(
            ClientId=self.info["user_pool_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": self.info["username"], "PASSWORD": self.info["password"]},
        )
        return str(result["AuthenticationResult"]["IdToken"])

    def add_fault(self, **rule: Any) -> None:
        rules = json.loads(self.faults_path.read_text())
        rules.append({"id": str(uuid.uuid4()), **rule})
        self.faults_path.write_text(json.dumps(rules))
        # Let the stack see a new mtime even within the filesystem's time resolution.
        time.sleep(0.05)

    def clear_faults(self) -> None:
        """Withdraw every fault rule (the stack drops them when the file empties)."""
        self.faults_path.write_text("[]")
        time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready_log(self) -> str:
        """The log once it holds the ready message (devstack/stack.py prints it just after
        writing stack.json, which is what `start_stack` waits for)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while "Ctrl-C stops it." not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return log


def start_stack(tmp: Path, env_overrides: dict[str, str] | None = None) -> RunningStack:
    """Start `python -m devstack` and wait until it has written its stack.json. A free port
    may be taken (by another test's process) before the stack binds it: then it starts
    again on another, up to three times (a PORT given in `env_overrides` is kept)."""
    for _ in range(2):
        try:
            return _start_stack(tmp, env_overrides)
        except _PortTaken:
            if env_overrides and "PORT" in env_overrides:
                break
    return _start_stack(tmp, env_overrides)


class _PortTaken(Exception):
    """The port chosen for the stack was taken before it could listen."""


def _start_stack(tmp: Path, env_overrides: dict[str, str] | None) -> RunningStack:
    state_dir = tmp / "state"
    faults_path = tmp / "faults.json"
    faults_path.write_text("[]")
    log_path = tmp / "stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # A dict, not keywords: a PORT or DEVSTACK_STATE_DIR in `env_overrides` replaces these
    # (as keywords twice over, it was a TypeError).
    env.update(
        {
            "PORT": str(free_port()),
            "DEVSTACK_STATE_DIR": str(state_dir),
            "DEVSTACK_FAULTS_FILE": str(faults_path),
            "PYTHONUNBUFFERED": "1",
            **(env_overrides or {}),
        }
    )
    state_dir = Path(env["DEVSTACK_STATE_DIR"])
    process = launch_stack(env, log_path)
    stack_json = state_dir / "stack.json"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not stack_json.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log_text = log_path.read_text()
            if process.poll() is not None and "Address already in use" in log_text:
                raise _PortTaken(log_text)
            pytest.fail(f"the local stack did not start:\n{log_text}")
        time.sleep(0.1)
    return RunningStack(
        process, state_dir, log_path, faults_path, json.loads(stack_json.read_text())
    )


def launch_stack(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m devstack` in its own process group, with `env`, its output in `log_path`
    (not waited for: `start_stack` waits until it is ready)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_stack(stack: RunningStack) -> int:
    """Ctrl-C the stack; return its exit status (killing it if it does not stop)."""
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        pytest.fail(f"the local stack did not stop on Ctrl-C:\n{stack.log()}")
        raise


@contextmanager
def stack_as_the_sessions(
    tmp: Path, reconciler_seconds: float = RECONCILER_SECONDS
) -> Iterator[RunningStack]:
    """A stack set as the session's (`local_stack`), stopped cleanly on leaving. A test
    that needs no reconciler run gives it a longer period (`reconciler_seconds`): each run
    checks every request the stack holds for drift, and costs moto CPU in proportion."""
    # Two requests per reconciler run, a run every 2 s: the reconciler's scenarios
    # (test_convergence) need few requests and little waiting.
    stack = start_stack(
        tmp,
        {
            "RECONCILE_BATCH_LIMIT": "2",
            "DEVSTACK_RECONCILER_SECONDS": f"{reconciler_seconds:g}",
            "ADDRESS_POOLS": ADDRESS_POOLS,
        },
    )
    yield stack
    status = stop_stack(stack)
    assert status == 0, stack.log()
    assert not (stack.state_dir / "stack.json").exists()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The stack of a worker's session. Its reconciler checks every request it holds for
    drift every run, which costs moto CPU in proportion: a test that leaves many requests
    behind (64 simultaneous POSTs, schemathesis's) takes a stack of its own
    (`stack_as_the_sessions`), else every later run of the session pays for them."""
    with stack_as_the_sessions(tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def token(local_stack: RunningStack) -> str:
    return local_stack.id_token()


@pytest.fixture
def api(local_stack: RunningStack, token: str) -> Iterator[requests.Session]:
    """The demo user's HTTP session; every answer it receives is checked against
    openapi.yaml (a test receiving one the contract does not describe fails)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.hooks["response"].append(contract_hook)
    yield session
    session.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (the system's, driven by Playwright). Skips,
    saying why, where there is no Playwright or no Chromium."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"the console's browser tests need a browser: {reason}")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional dependency

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def browser_context(browser: Any, local_stack: RunningStack) -> Iterator[Any]:
    """One context of `browser` for the session, each test opening its own tab in it (a tab
    has its own sessionStorage, where the console keeps its session).

    A context per test cost Chromium a second of CPU each, mostly a new renderer process
    for its first page: a tab kept open on the stack's site lets each test's tab share it.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.new_page().goto(f"{local_stack.url}/console")
    yield context
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CONSOLE_SCREENSHOTS", "").strip()
    folder = Path(configured) if configured else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def console(
    local_stack: RunningStack, browser_context: Any, screenshots: Path
) -> Iterator[Console]:
    from e2e.console_tab import tab  # noqa: PLC0415 - Playwright, only where a browser is

    with tab(browser_context, local_stack, screenshots) as opened:
        yield opened
