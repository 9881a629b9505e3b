"""Benchmark: AWS calls per operation, and how many of them a caller waits for in a row.

Runs the real app in-process against moto twice: once as is, once with a fixed
latency added to every AWS call (default 200 ms, well above moto's own time). For
each operation it prints the number of AWS calls (the bill), the wall time with
latency, and the "sequential calls": the extra wall time the latency caused,
divided by the latency, i.e. how many calls the caller waited for one after
another (moto's own processing time cancels out).

    make bench            # or: .venv/bin/python -m bench.aws_calls --latency 0.05

It also measures the whole path a person waits for: from the POST to the worker having
recorded SUCCEEDED, and to a client polling every 0.2 s seeing it, with the job
delivered as Lambda's SQS event source does (its polling is not one of our calls: an
uninstrumented client, long-polling), the median of several runs, in round trips of the
added latency (`--e2e-latency`, 80 ms). What the client sees moves in steps of its poll
(a GET and a 0.2 s sleep: 3.5 round trips), so one run's "seen" depends on where the
worker's last write falls between two polls; the ratios between request sizes are read
on the recorded time, and on what a client sees on average over the poll's phase (the
recorded time, half a poll step, then the GET that sees it).

A POST's budget with the address pools, and a sized POST with 5,000 live allocations:
bench/pool_posts.py.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from chalice.test import Client
from moto import mock_aws

import app as app_module
from bench import against_moto
from chalicelib import wiring
from chalicelib.aws.clients import AwsClients
from chalicelib.config import Settings
from chalicelib.models import Operation
from devstack.events import job_message, sqs_record, unsigned_token
from devstack.fault_injector import FaultInjector
from devstack.resources import Queues, create_queues, create_table

REGION = "us-east-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per AWS call")
    parser.add_argument(
        "--e2e-latency", type=float, default=0.08, help="seconds per AWS call, POST to SUCCEEDED"
    )
    parser.add_argument("--e2e-runs", type=int, default=7, help="runs of POST to SUCCEEDED")
    args = parser.parse_args()
    against_moto(REGION)
    with mock_aws():
        baseline = run(0.0)
    with mock_aws():
        slow = run(args.latency)
    print(
        f"latency added per AWS call: {args.latency * 1000:.0f} ms; "
        f"subnet concurrency {Settings('', '', '').subnet_concurrency}"
    )
    print(
        f"{'operation':40} {'AWS calls':>9} {'ms, moto':>9} {'ms, +latency':>12} "
        f"{'calls in a row':>14}"
    )
    for (name, calls, fast), (_, _, elapsed) in zip(baseline, slow, strict=True):
        sequential = (elapsed - fast) / args.latency
        print(
            f"{name:40} {calls:>9} {fast * 1000:>9.0f} {elapsed * 1000:>12.0f} {sequential:>14.1f}"
        )
    print()
    print(
        f"POST to SUCCEEDED, {args.e2e_latency * 1000:.0f} ms per AWS call, "
        f"median of {args.e2e_runs}, in round trips of that latency: recorded (the worker's "
        f"last write answered) and seen (by a client polling every {POLL_SECONDS} s, a GET "
        "being a round trip too: what is seen moves in steps of a poll)"
    )
    print()
    base: tuple[float, float, float] | None = None
    rtt = args.e2e_latency
    verdicts: list[str] = []
    for subnets in (1, 8, 24):
        with mock_aws():
            quick = end_to_end(0.0, subnets, args.e2e_runs)
        with mock_aws():
            recorded, seen = end_to_end(rtt, subnets, args.e2e_runs)
        expected = recorded + (POLL_SECONDS + rtt) / 2 + rtt
        base = base or (recorded, seen, expected)
        print(
            f"  {subnets:>2} subnet(s): recorded {recorded / rtt:4.1f} round trips "
            f"({recorded / base[0]:.2f}x), seen on average {expected / rtt:4.1f} "
            f"({expected / base[2]:.2f}x), seen in these runs {seen / rtt:4.1f} "
            f"({seen / base[1]:.2f}x); without the latency {quick[0] * 1000:.0f} / "
            f"{quick[1] * 1000:.0f} ms"
        )
        verdicts += _verdicts(
            subnets,
            {"in these runs": seen / rtt, "on average": expected / rtt},
            {"recorded": recorded / base[0], "seen on average": expected / base[2]},
        )
    print()
    print("\n".join(verdicts))
    print(
        "  (seen on average = recorded + half a poll step + the GET, 2.75 round trips: with "
        f"recorded at POST 2 + delivery 1 + the worker's 4, it cannot reach {SEEN_BUDGET}; "
        "seen in these runs depends on where the poll falls, and the quantized steps of a "
        "poll make its ratios meaningless, so the ratios are judged on the other two)"
    )


# The budgets of the POST-to-SUCCEEDED path: one subnet seen within 8 round trips of a
# client that polls every 0.2 s; 8 and 24 subnets within 1.25x and 1.5x of one. Each is
# judged on every measure, so that none is picked where it passes.
SEEN_BUDGET = 8.0
RATIO_BUDGETS = {8: 1.25, 24: 1.5}


def _verdicts(subnets: int, seen: dict[str, float], ratios: dict[str, float]) -> list[str]:
    def said(ok: bool) -> str:
        return "within budget" if ok else "OVER BUDGET"

    if subnets == 1:
        return [
            f"   1 subnet seen {how} in {rt:.1f} round trips (budget {SEEN_BUDGET}): "
            f"{said(rt <= SEEN_BUDGET)}"
            for how, rt in seen.items()
        ]
    budget = RATIO_BUDGETS[subnets]
    return [
        f"  {subnets:>2} subnets {how} in {ratio:.2f}x of one subnet (budget {budget}x): "
        f"{said(ratio <= budget)}"
        for how, ratio in ratios.items()
    ]


POLL_SECONDS = 0.2


def end_to_end(latency: float, subnets: int, runs: int) -> tuple[float, float]:
    """Median seconds from sending the POST to the worker having recorded SUCCEEDED, and
    to a polling client seeing it."""
    queues, client, headers, _ = app_with_latency(latency)
    delivery = AwsClients(REGION).sqs  # Lambda's own poller: not one of our calls
    stop = threading.Event()
    recorded_at: dict[str, float] = {}

    def worker() -> None:
        while not stop.is_set():
            for message in delivery.receive_message(
                QueueUrl=queues.queue_url,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", []):
                record = sqs_record(message, queues.queue_arn, REGION)
                client.lambda_.invoke("worker", {"Records": [record]})
                recorded_at[json.loads(message["Body"])["request_id"]] = time.perf_counter()
                delivery.delete_message(
                    QueueUrl=queues.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    poller = threading.Thread(target=worker, daemon=True)
    poller.start()
    recorded, seen = [], []
    try:
        for run_ in range(runs + 1):  # the first warms moto's EC2 and the zone cache
            body = json.dumps(_body(subnets, octet=60 + run_))
            start = time.perf_counter()
            response = client.http.post(
                "/vpcs", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, body=body
            )
            assert response.status_code == 202, response.body
            request_id = response.json_body["request_id"]
            while True:
                status = client.http.get(f"/vpcs/{request_id}", headers=headers).json_body
                if status["status"] == "SUCCEEDED":
                    break
                assert status["status"] in ("QUEUED", "IN_PROGRESS"), status
                time.sleep(POLL_SECONDS)
            if run_:
                seen.append(time.perf_counter() - start)
                # The client can see SUCCEEDED before the worker's invocation has returned
                # (its last write answered, the invocation not yet): wait for it.
                while request_id not in recorded_at:
                    time.sleep(0.001)
                recorded.append(recorded_at[request_id] - start)
    finally:
        stop.set()
        poller.join()
        wiring.install(None)
    return statistics.median(recorded), statistics.median(seen)


class BenchApp(NamedTuple):
    queues: Queues
    client: Client
    headers: dict[str, str]  # a signed-in POST's
    faults: FaultInjector  # counts the app's AWS calls


def app_with_latency(latency: float) -> BenchApp:
    """The app installed against moto, `latency` seconds added to each of its AWS calls."""
    clients = AwsClients(REGION, ec2_pool_size=32)
    create_table(clients.dynamodb, "bench")
    queues = create_queues(clients.sqs, "bench-jobs", max_receive_count=5, visibility_timeout=60)
    faults = FaultInjector()
    for service in ("dynamodb", "sqs", "ec2"):
        client = getattr(clients, service)
        faults.attach(client)
        for operation in client.meta.service_model.operation_names:
            if latency:
                faults.slow(client.meta.service_model.endpoint_prefix, operation, latency)
    settings = Settings(table_name="bench", queue_url=queues.queue_url, region=REGION)
    wiring.install(wiring.build(settings, clients))
    client = Client(app_module.app)
    headers = {"Authorization": "Bearer " + bench_token(), "Content-Type": "application/json"}
    return BenchApp(queues, client, headers, faults)


def run(latency: float) -> list[tuple[str, int, float]]:
    _, client, headers, faults = app_with_latency(latency)

    bodies: dict[str, str] = {}

    def post(
        subnets: int, key: str | None = None, public: bool = False, sized: bool = False
    ) -> str:
        key = key or str(uuid.uuid4())
        if key not in bodies:  # a replay sends the same body
            bodies[key] = json.dumps(sized_body(subnets) if sized else _body(subnets, public))
        response = client.http.post(
            "/vpcs", headers={**headers, "Idempotency-Key": key}, body=bodies[key]
        )
        assert response.status_code == 202, response.body
        return str(response.json_body["request_id"])

    def deliver(request_id: str, operation: Operation = Operation.CREATE) -> None:
        message = job_message(request_id, operation=operation)
        record = sqs_record(message, "arn:aws:sqs:::bench-jobs", REGION)
        client.lambda_.invoke("worker", {"Records": [record]})

    post(1)  # warm the Availability Zone cache and moto's EC2 backend
    rows: list[tuple[str, int, float]] = []

    def measure(name: str, action: Callable[[], Any]) -> Any:
        faults.reset_counts()
        start = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - start
        rows.append((name, sum(faults.calls.values()), elapsed))
        return result

    request_id = measure("POST /vpcs (new request)", lambda: post(2, key="bench-key"))
    measure("POST /vpcs (replay, still QUEUED)", lambda: post(2, key="bench-key"))
    measure("POST /vpcs by size (pool read)", lambda: post(2, sized=True))
    measure("POST /vpcs by size (pool read kept)", lambda: post(2, sized=True))
    measure("GET /vpcs/{id}", lambda: client.http.get(f"/vpcs/{request_id}", headers=headers))
    for _ in range(20):
        post(1)
    measure("GET /vpcs (page of 20)", lambda: client.http.get("/vpcs", headers=headers))
    measure(
        "GET /vpcs?status=QUEUED (a page of 20)",
        lambda: client.http.get("/vpcs?status=QUEUED", headers=headers),
    )
    for subnets in (1, 8, 24, 50):
        rid = post(subnets)
        measure(f"worker, {subnets} subnet(s)", functools.partial(deliver, rid))
    measure("worker, redelivery of a finished job", lambda: deliver(rid))
    public = post(2, public=True)
    measure("worker, 2 subnets, 1 public", functools.partial(deliver, public))
    measure(
        "DELETE /vpcs/{id} (SUCCEEDED)",
        lambda: client.http.request("DELETE", f"/vpcs/{public}", headers=headers),
    )
    measure(
        "worker, teardown of 2 subnets, 1 public",
        functools.partial(deliver, public, Operation.DELETE),
    )
    wiring.install(None)
    return rows


_SECOND_OCTETS = iter(range(100, 256))


def _body(subnets: int, public: bool = False, octet: int | None = None) -> dict[str, Any]:
    """A body with explicit CIDRs, in a /16 of its own each time (overlaps are refused)."""
    second = next(_SECOND_OCTETS) if octet is None else octet
    return {
        "vpc": {"cidr": f"10.{second}.0.0/16", "name": "bench"},
        "subnets": [
            {"cidr": f"10.{second}.{i}.0/24", "az": f"{REGION}{'abc'[i % 3]}"}
            | ({"public": True} if public and i == 0 else {})
            for i in range(subnets)
        ],
    }


def sized_body(subnets: int) -> dict[str, Any]:
    return {
        "vpc": {"netmask_length": 24, "name": "bench"},
        "subnets": [{"netmask_length": 28} for _ in range(subnets)],
    }


def bench_token() -> str:
    return unsigned_token({"sub": "bench", "cognito:username": "bench", "token_use": "id"})


if __name__ == "__main__":
    main()
