"""Benchmark: the local stack (`make run`) under load, over HTTP, as a new user drives it.

Starts `python -m devstack` (from this checkout, or `--project DIR`) on a free
port with its state in a temporary folder, then:

1. 64 clients open new connections at the same moment, each sends one GET;
2. GET /vpcs/{id} 50 times on one kept-alive connection, and 50 times on new ones;
3. one client POSTs 150 requests (the p50 of POSTs 51-150: "at 100 records");
4. 8 clients POST 400 requests at once (POST/s), then read 200 listing pages (pages/s);
5. 8 clients fill the table up to `--posts` - 100 requests;
6. one client POSTs the last 100 (their p50: "at `--posts` records");
7. wait (at most `--drain-seconds`, default 0: not at all) for the worker to
   provision every request (3,000 take it about 4 minutes);
8. Ctrl-C (SIGINT) the stack and time its exit.

Each POST is a new request (its own Idempotency-Key, its own /24, one subnet), which
the stack's worker then provisions in moto. RSS is the sum over the stack's process
and all its descendants (moto's process too), sampled every second.
`--max-rss-mb` and `--budget-seconds` stop the filling early (a stack whose
memory or latency grows with the table would otherwise take the machine).

    make bench                                     # all of `make bench`; or only this part:
    .venv/bin/python -m bench.local_stack --posts 3000
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

PROJECT_DIR = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 120
# A POST that takes longer than this counts as failed (the stack answers 503 after 5 s).
CLIENT_TIMEOUT_SECONDS = 30
SIMULTANEOUS_CONNECTIONS = 64
# Retries of a POST answered 503 (with the same Idempotency-Key, after its Retry-After).
POST_RETRIES = 4
CLIENTS = 8
# POST/s at 8 clients before the local stack ran a patched moto in its own process:
# this benchmark on the development machine (2 cores, shared), 7.2 and 7.8 in two runs
# (docs/local-stack.md: "Under load").
BEFORE_POSTS_PER_SECOND = 7.5


@dataclass
class Figures:
    posts_done: int = 0
    rss_samples: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "") -> None:
        self.lines.append((name, value, target))
        print(f"  {name:46} {value:34} {target}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000, help="requests POSTed in all")
    parser.add_argument("--project", type=Path, default=PROJECT_DIR, help="checkout to run")
    parser.add_argument("--max-rss-mb", type=int, default=6000, help="stop filling above this")
    parser.add_argument(
        "--budget-seconds", type=float, default=600, help="stop filling after this long"
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=0, help="wait this long for the worker at most"
    )
    args = parser.parse_args()
    if args.posts < 700:
        parser.error("--posts must be at least 700 (150 + 400 + 100 are measured)")
    print(f"local stack under load ({args.project}), {args.posts} POSTs:", flush=True)
    figures = Figures()
    with running_stack(args.project) as stack, sampling_rss(stack.process.pid, figures):
        exercise(stack, args, figures)
        figures.add(
            f"RSS of the whole stack after {figures.posts_done} POSTs",
            f"{stack_rss_kb(stack.process.pid) / 1024:.0f} MB "
            f"(peak {max(figures.rss_samples, default=0) / 1024:.0f} MB)",
            "target <= 600 MB after 3000",
        )
        drained = drain(stack, args.drain_seconds)
        rss = f"RSS {stack_rss_kb(stack.process.pid) / 1024:.0f} MB"
        if drained[0]:
            figures.add("worker done with every job", f"{drained[1]:.0f} s later; {rss}")
        else:
            figures.add(
                "jobs the worker has not done yet",
                f"{drained[2]}; {rss}",
                "(--drain-seconds N waits for them)",
            )
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(figures.statuses.items()))
        figures.add("answers", statuses, "target every POST 202 (at once or after a 503)")
        started = time.monotonic()
        code = stack.stop()
        figures.add("Ctrl-C to exit", f"{time.monotonic() - started:.1f} s (exit {code})")
    return 0


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    token: str

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.info["api_url"].removeprefix("http://").split(":")
        return host, int(port)

    def stop(self, timeout: float = 600) -> int | None:
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return None


@contextmanager
def running_stack(project: Path) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        state = Path(tmp) / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(PORT=str(_free_port()), DEVSTACK_STATE_DIR=str(state), PYTHONUNBUFFERED="1")
        log_path = Path(tmp) / "stack.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "devstack"],
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack: Stack | None = None
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while not (state / "stack.json").exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            info = json.loads((state / "stack.json").read_text())
            stack = Stack(process, info, _id_token(info))
            yield stack
        finally:
            if stack is None or stack.stop() is None:
                print(f"the stack did not stop; its log:\n{log_path.read_text()[-3000:]}")
            with_errors = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if " ERROR " in line or "Traceback" in line
            ]
            if with_errors:
                print(f"  ({len(with_errors)} ERROR lines in the stack's log, first: "
                      f"{with_errors[0][:160]})")  # fmt: skip
                if os.environ.get("BENCH_KEEP_LOG"):
                    kept = Path(os.environ["BENCH_KEEP_LOG"])
                    kept.write_text(log_path.read_text(errors="replace"))


def exercise(stack: Stack, args: argparse.Namespace, figures: Figures) -> None:
    started = time.monotonic()
    request_id = post(stack, http.client.HTTPConnection(*stack.address), figures)[1]

    errors, slowest = simultaneous_connections(stack, request_id, SIMULTANEOUS_CONNECTIONS)
    figures.add(
        f"{SIMULTANEOUS_CONNECTIONS} simultaneous new connections",
        (", ".join(f"{k}: {v}" for k, v in errors.items()) or "all answered 200")
        + f", slowest {_ms(slowest)}",
        "target 0 resets",
    )
    kept, fresh = get_latencies(stack, request_id, 50)
    figures.add(
        "GET p50, kept-alive / new connection",
        f"{_ms(statistics.median(kept))} / {_ms(statistics.median(fresh))}",
        "target kept-alive <= 15 ms",
    )

    first = sequential_posts(stack, 150, figures)
    at_100 = statistics.median(first[50:])

    elapsed, done = concurrent(stack, CLIENTS, 400, figures, lambda c: post(stack, c, figures))
    figures.add(
        f"POST/s at {CLIENTS} clients ({done} POSTs)",
        f"{done / elapsed:.1f} ({done / elapsed / BEFORE_POSTS_PER_SECOND:.1f}x before)",
        f"target >= 3x before ({BEFORE_POSTS_PER_SECOND})",
    )
    elapsed, pages = concurrent(stack, CLIENTS, 200, figures, lambda c: list_page(stack, c))
    figures.add(f"listing pages/s at {CLIENTS} clients (20 a page)", f"{pages / elapsed:.1f}")

    fill_to = args.posts - 100

    def more() -> bool:
        over_memory = (figures.rss_samples or [0])[-1] > args.max_rss_mb * 1024
        over_time = time.monotonic() - started > args.budget_seconds
        return figures.posts_done < fill_to and not over_memory and not over_time

    fill_started = time.monotonic()
    _, filled = concurrent(stack, CLIENTS, fill_to - figures.posts_done, figures,
                           lambda c: post(stack, c, figures), keep_going=more)  # fmt: skip
    if figures.posts_done < fill_to:
        figures.add(
            "filling stopped early",
            f"at {figures.posts_done} POSTs after {time.monotonic() - started:.0f} s",
            f"(--max-rss-mb {args.max_rss_mb}, --budget-seconds {args.budget_seconds:.0f})",
        )
    else:
        figures.add(
            f"filling ({filled} POSTs at {CLIENTS} clients)",
            f"{filled / (time.monotonic() - fill_started):.1f} POST/s",
        )
    last = sequential_posts(stack, 100, figures)
    at_end = statistics.median(last)
    figures.add(
        f"POST p50 at 100 / at {figures.posts_done} records",
        f"{_ms(at_100)} / {_ms(at_end)} ({at_end / at_100:.2f}x)",
        "target <= 1.5x",
    )


def drain(stack: Stack, timeout: float) -> tuple[bool, float, int]:
    """Wait until the jobs queue is empty: (emptied, seconds waited, jobs left)."""
    sqs = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.info["region"]
    ).client("sqs", endpoint_url=stack.info["aws_endpoint_url"])
    started = time.monotonic()
    while True:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.info["queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left = sum(int(v) for v in attributes.values())
        waited = time.monotonic() - started
        if left == 0 or waited > timeout:
            return left == 0, waited, left
        time.sleep(2)


_BLOCKS = itertools.count()


def post(
    stack: Stack, connection: http.client.HTTPConnection, figures: Figures
) -> tuple[float, str]:
    """One new request; returns (seconds, request id) ("" if it was not accepted)."""
    n = next(_BLOCKS)  # the clients' threads share it: each POST its own number
    # A block of its own for every POST (65,536 of them), as a stage that refuses overlaps
    # (the default) needs: the same few CIDRs again and again would be 409s, or, with
    # CIDR_OVERLAP=allow, each a second transaction once its CIDR is held. What the pools
    # cost as they fill by size is bench/pool_posts.py's to measure.
    vpc = f"10.{n // 256 % 256}.{n % 256}"
    body = json.dumps({
        "vpc": {"cidr": f"{vpc}.0/24", "name": "bench"},
        "subnets": [{"cidr": f"{vpc}.0/26", "az": "us-east-1a"}],
    })  # fmt: skip
    headers = {
        "Authorization": f"Bearer {stack.token}",
        "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    started = time.perf_counter()
    status, answer, wait = _request(connection, "POST", "/vpcs", body, headers)
    elapsed = time.perf_counter() - started
    # A 503 says to retry with the same key after Retry-After (simultaneous POSTs into one
    # /16 take turns on its count): as vpcctl does, a few times. What it took is the first
    # answer's (the server's latency); how many needed it, and what they got, is counted.
    retries = 0
    while status == 503 and retries < POST_RETRIES:
        retries += 1
        time.sleep(min(wait or 1.0, 2.0))
        status, answer, wait = _request(connection, "POST", "/vpcs", body, headers)
    figures.posts_done += 1
    figures.statuses[f"POST {status}" + (" after a 503" if retries else "")] += 1
    request_id = str(json.loads(answer).get("request_id", "")) if status == 202 else ""
    return elapsed, request_id


def list_page(stack: Stack, connection: http.client.HTTPConnection) -> tuple[float, str]:
    headers = {"Authorization": f"Bearer {stack.token}"}
    started = time.perf_counter()
    _request(connection, "GET", "/vpcs?limit=20", None, headers)
    return time.perf_counter() - started, ""


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None,
    headers: dict[str, str],
) -> tuple[int | str, bytes, float | None]:
    """The answer's status (or the error's name), its body, and its Retry-After."""
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        retry_after = response.getheader("Retry-After")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        return response.status, response.read(), wait
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        return type(exc).__name__, b"{}", None


def sequential_posts(stack: Stack, count: int, figures: Figures) -> list[float]:
    connection = http.client.HTTPConnection(*stack.address, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        return [post(stack, connection, figures)[0] for _ in range(count)]
    finally:
        connection.close()


def concurrent(
    stack: Stack,
    clients: int,
    total: int,
    figures: Figures,
    action: Callable[[http.client.HTTPConnection], tuple[float, str]],
    keep_going: Callable[[], bool] = lambda: True,
) -> tuple[float, int]:
    """`total` actions by `clients` keep-alive clients; returns (seconds, actions done)."""
    lock = threading.Lock()
    remaining = [total]

    def client(_: int) -> int:
        connection = http.client.HTTPConnection(*stack.address, timeout=CLIENT_TIMEOUT_SECONDS)
        done = 0
        try:
            while keep_going():
                with lock:
                    if remaining[0] <= 0:
                        break
                    remaining[0] -= 1
                action(connection)
                done += 1
        finally:
            connection.close()
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(client, range(clients)))
    return max(time.monotonic() - started, 1e-9), done


def simultaneous_connections(
    stack: Stack, request_id: str, count: int
) -> tuple[Counter[str], float]:
    """`count` clients connect at the same moment, each sends one GET: what went wrong, and
    the slowest answer (a connection the server's listen queue dropped waits for TCP to
    send its SYN again, 1 s later)."""
    start = threading.Barrier(count)
    headers = {"Authorization": f"Bearer {stack.token}"}

    def one(_: int) -> tuple[str, float]:
        connection = http.client.HTTPConnection(*stack.address, timeout=CLIENT_TIMEOUT_SECONDS)
        start.wait()
        started = time.perf_counter()
        status, _answer, _wait = _request(connection, "GET", f"/vpcs/{request_id}", None, headers)
        connection.close()
        return ("" if status == 200 else str(status)), time.perf_counter() - started

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    outcomes = Counter(outcome for outcome, _ in results if outcome)
    return outcomes, max(seconds for _, seconds in results)


def get_latencies(stack: Stack, request_id: str, count: int) -> tuple[list[float], list[float]]:
    headers = {"Authorization": f"Bearer {stack.token}"}
    kept: list[float] = []
    connection = http.client.HTTPConnection(*stack.address, timeout=CLIENT_TIMEOUT_SECONDS)
    _request(connection, "GET", f"/vpcs/{request_id}", None, headers)  # connect first
    for _ in range(count):
        started = time.perf_counter()
        _request(connection, "GET", f"/vpcs/{request_id}", None, headers)
        kept.append(time.perf_counter() - started)
    connection.close()
    fresh: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection(*stack.address, timeout=CLIENT_TIMEOUT_SECONDS)
        _request(connection, "GET", f"/vpcs/{request_id}", None, headers)
        connection.close()
        fresh.append(time.perf_counter() - started)
    return kept, fresh


@contextmanager
def sampling_rss(pid: int, figures: Figures) -> Iterator[None]:
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1):
            figures.rss_samples.append(stack_rss_kb(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def stack_rss_kb(pid: int) -> int:
    """The resident memory of `pid` and all its descendants, in KiB (`ps`: Linux and macOS)."""
    table = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid=,rss="], capture_output=True, text=True, check=True
    ).stdout
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for line in table.splitlines():
        child, parent, kb = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
        rss[child] = kb
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total


def _id_token(info: dict[str, Any]) -> str:
    cognito = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=info["region"]
    ).client("cognito-idp", endpoint_url=info["aws_endpoint_url"])
    result = cognito.initiate_auth(
        ClientId=info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": info["username"], "PASSWORD": info["password"]},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
