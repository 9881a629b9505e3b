"""Benchmark: a POST's sequential AWS calls with the address pools, against its budget, and
a sized POST with 0 and 5,000 live allocations in its pool.

The budget: a POST makes at most 2.5 AWS calls in a row on average. Every call of a
POST waits for the one before, so the calls in a row are measured as in
bench/aws_calls.py: the wall time that a fixed latency added to every AWS call (200 ms)
adds, divided by that latency. Printed, with the verdict:

- POSTs with an explicit CIDR (the transaction, the job): 2;
- a burst of sized POSTs in one process: the first reads the pool (a Query of index
  `by_pool`) and sends its job beside its transaction, the next ones keep that read for
  5 s (stale is safe: the transaction decides): 2;
- a sized POST alone (its process read no pool in the last 5 s): the pool's read, then
  the transaction and the job at once: 2.

Then the pool's size: the first sized POST of a process and the next ones with 0 and
5,000 live /24s, the AWS calls of each, and the planner's own CPU time for first fit
over that many blocks (ours, whatever DynamoDB's speed). moto's DynamoDB is slow with
5,000 items (its transactions copy the table), so a next POST can come after the read's
5 s: it then reads the pool again, which DynamoDB, answering in milliseconds, would not.

    make bench            # or: .venv/bin/python -m bench.pool_posts --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from ipaddress import IPv4Network
from typing import Any

from moto import mock_aws

from bench import against_moto
from bench.aws_calls import REGION, BenchApp, app_with_latency, sized_body
from chalicelib import wiring
from chalicelib.addresses import free_blocks
from chalicelib.aws.clients import AwsClients

BUDGET = 2.5  # AWS calls in a row, a POST on average
BURST = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per AWS call")
    args = parser.parse_args()
    against_moto(REGION)

    print(
        f"POST, AWS calls in a row with address pools ({args.latency * 1000:.0f} ms per call; "
        f"budget {BUDGET} on average)"
    )
    explicit = in_a_row(args.latency, _explicit_posts)
    burst = in_a_row(args.latency, _sized_burst)
    alone = in_a_row(args.latency, _sized_alone)
    mixed = (explicit + burst) / 2
    for name, value in (
        (f"explicit CIDR, {BURST} in a row", explicit),
        (f"by size, a burst of {BURST} in one process (the first reads the pool)", burst),
        ("by size, alone (its process read no pool in the last 5 s)", alone),
        ("half explicit, half a burst by size", mixed),
    ):
        print(f"  {name:70} {value:4.1f} per POST  {verdict(value)}")
    print()
    print(
        f"POST by size with live allocations in the pool, {args.latency * 1000:.0f} ms per "
        "AWS call: the first POST of a process reads the pool, the next ones keep the read 5 s"
    )
    for allocations in (0, 5000):
        with mock_aws():
            cold0, warm0, _ = pool_scale(0.0, allocations, 5)
        with mock_aws():
            cold, warm, calls = pool_scale(args.latency, allocations, 5)
        rereads = sum(1 for c in calls[1:] if ("dynamodb", "Query") in c)
        print(
            f"  {allocations:>5} allocations: first POST {len(calls[0])} AWS calls (the zones, "
            f"the pool, the transaction, the job), {cold * 1000:.0f} ms ({cold0 * 1000:.0f} ms "
            f"without latency); next POSTs {warm * 1000:.0f} ms ({warm0 * 1000:.0f} ms without), "
            f"{rereads} of {len(calls) - 1} read the pool again; first fit "
            f"{first_fit_ms(allocations):.1f} ms of CPU"
        )
    print(
        "  (moto's time grows with the items: its Query and its transactions; DynamoDB "
        "answers 5,000 blocks, ~0.6 MB, in one Query page)"
    )


def verdict(calls_in_a_row: float) -> str:
    """A POST makes at least one AWS call (its transaction): less is the machine's noise
    (the measure is a difference of wall times), not a result."""
    if calls_in_a_row < 1.0:
        return "NOT MEASURED (the machine was too busy: run it again)"
    return "within budget" if calls_in_a_row <= BUDGET else "OVER BUDGET"


def in_a_row(latency: float, posts: Callable[[BenchApp], int]) -> float:
    """The AWS calls in a row per POST of `posts` (which returns how many it measured):
    the wall time the latency adds, divided by the latency."""
    with mock_aws():
        fast, count = _timed(app_with_latency(0.0), posts)
    with mock_aws():
        slow, _ = _timed(app_with_latency(latency), posts)
    return (slow - fast) / latency / count


def _timed(bench: BenchApp, posts: Callable[[BenchApp], int]) -> tuple[float, int]:
    """Seconds of the measured POSTs (after `posts` warmed the zones), and how many."""
    try:
        _post(bench, _explicit(200))  # the zones cached, moto's table warm
        bench.faults.reset_counts()
        began = time.perf_counter()
        count = posts(bench)
        return time.perf_counter() - began, count
    finally:
        wiring.install(None)


def _explicit_posts(bench: BenchApp) -> int:
    for n in range(BURST):
        _post(bench, _explicit(100 + n))
    return BURST


def _sized_burst(bench: BenchApp) -> int:
    for _ in range(BURST):
        _post(bench, sized_body(1))
    return BURST


def _sized_alone(bench: BenchApp) -> int:
    _post(bench, sized_body(1))
    return 1


def _post(bench: BenchApp, body: dict[str, Any]) -> None:
    response = bench.client.http.post(
        "/vpcs",
        headers={**bench.headers, "Idempotency-Key": str(uuid.uuid4())},
        body=json.dumps(body),
    )
    assert response.status_code == 202, response.body


def _explicit(second_octet: int) -> dict[str, Any]:
    return {
        "vpc": {"cidr": f"10.{second_octet}.0.0/16", "name": "bench"},
        "subnets": [{"cidr": f"10.{second_octet}.0.0/24", "az": f"{REGION}a"}],
    }


def pool_scale(
    latency: float, allocations: int, posts: int
) -> tuple[float, float, list[list[tuple[str, str]]]]:
    """A sized POST with `allocations` live blocks in the pool: the seconds of the first
    POST of a process, the median of the next ones, and each POST's AWS calls."""
    bench = app_with_latency(latency)
    seed = AwsClients(REGION).dynamodb  # not the app's: no latency, not counted
    for start in range(0, allocations, 25):
        seed.batch_write_item(
            RequestItems={
                "bench": [
                    {"PutRequest": {"Item": _held_block(n)}}
                    for n in range(start, min(start + 25, allocations))
                ]
            }
        )
    timings: list[float] = []
    calls: list[list[tuple[str, str]]] = []
    try:
        for _ in range(posts + 1):
            bench.faults.reset_counts()
            began = time.perf_counter()
            _post(bench, sized_body(1))
            timings.append(time.perf_counter() - began)
            calls.append(list(bench.faults.log))
    finally:
        wiring.install(None)
    return timings[0], statistics.median(timings[1:]), calls


def first_fit_ms(allocations: int, runs: int = 20) -> float:
    """The planner's CPU time for one first fit (a /24 in 10.0.0.0/8) over `allocations`
    held /24s, the median of `runs`."""
    taken = [IPv4Network(_cidr(n)) for n in range(allocations)]
    pool = IPv4Network("10.0.0.0/8")
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        free_blocks(pool, 24, taken, 1)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def _cidr(n: int) -> str:
    return f"10.{n // 256}.{n % 256}.0/24"


def _held_block(n: int) -> dict[str, Any]:
    """The item of a live /24 held by some request, in the default pool (10.0.0.0/8),
    from 10.0.0.0/24 up (the ancestors' counts do not matter to first fit)."""
    cidr = _cidr(n)
    return {
        "request_id": {"S": f"block#{cidr}"},
        "type": {"S": "ADDRESS_BLOCK"},
        "holder": {"S": str(uuid.uuid4())},
        "cidr": {"S": cidr},
        "pool_pk": {"S": "default"},
        "prefix_length": {"N": "24"},
    }


if __name__ == "__main__":
    main()
