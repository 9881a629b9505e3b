"""Benchmark: the Lambda zip's size and the app's cold import time.

The zip is what `make package` builds (Chalice's runtime + app.py + chalicelib/).
The cold import is timed in fresh interpreters, as Lambda's runtime does on a
cold start (`import app`, with the Lambda environment set so structured
logging is configured), against the floor every Chalice app pays
(`import boto3, chalice.app`). Medians of several runs.

    .venv/bin/python -m bench.lambda_package [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from infra.package import package
from infra.stage import PROJECT_DIR

# What the issue that introduced structured logs set as the budget (README, "Benchmarks").
ZIP_BUDGET_BYTES = 64 * 1024
IMPORT_BUDGET_RATIO = 1.2

_TIMED = (
    "import time; started = time.perf_counter(); {statement}; print(time.perf_counter() - started)"
)


def zip_size(stage: str = "dev") -> tuple[int, dict[str, int]]:
    """The deployment zip's size, and the compressed bytes of its parts."""
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        built = package(stage, Path(tmp))
        path = built.cloudformation / "deployment.zip"
        with zipfile.ZipFile(path) as archive:
            parts: dict[str, int] = {}
            for info in archive.infolist():
                top = info.filename.split("/")[0]
                parts[top] = parts.get(top, 0) + info.compress_size
        return path.stat().st_size, parts


def import_seconds(statement: str, runs: int) -> float:
    """The median time of `statement` in `runs` fresh interpreters."""
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "vpc-provisioner-bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "",
    }
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _TIMED.format(statement=statement)],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per figure")
    args = parser.parse_args()
    size, parts = zip_size()
    print(
        f"Lambda zip: {size / 1024:.1f} KiB (budget {ZIP_BUDGET_BYTES // 1024} KiB): "
        + ", ".join(f"{name} {n / 1024:.1f}" for name, n in sorted(parts.items()))
    )
    # Warm the file cache and write the .pyc files, as the zip's are on a warm host.
    import_seconds("import app", 2)
    floor = import_seconds("import boto3, chalice.app", args.runs)
    ours = import_seconds("import app", args.runs)
    print(
        f"cold import (median of {args.runs}): boto3 + chalice {floor * 1000:.0f} ms, "
        f"app {ours * 1000:.0f} ms: {ours / floor:.2f}x (budget {IMPORT_BUDGET_RATIO}x)"
    )


if __name__ == "__main__":
    main()
