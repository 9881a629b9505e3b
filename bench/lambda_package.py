"""Benchmark: the Lambda zip's size and the app's cold import time.

The zip is what `make package` builds (Chalice's runtime, app.py and the modules of
chalicelib/ some function imports: infra/lambda_zip.py).
The cold import is timed in fresh interpreters, as Lambda's runtime does on a
cold start (`import app`, with the Lambda environment set so structured
logging is configured), against the floor every Chalice app pays
(`import boto3, chalice.app`), the two alternating so that the machine's drift
weighs on both alike. Medians of several runs.

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

# The budgets of the regrouping issue (docs/how-it-works.md, "It is fast where a person waits").
# The zip's: 128 KiB, the address pools and the console's files (17 KiB) included, now
# that our Python ships without comments and docstrings (infra/shrink.py: 129 KiB of
# it became 80), and the console's script without its comment lines (1.2 KiB less).
# Lambda's own limit is 50 MB; what a cold start pays is the import, budgeted below.
ZIP_BUDGET_BYTES = 128 * 1024
IMPORT_BUDGET_RATIO = 1.15

_TIMED = (
    "import time; started = time.perf_counter(); {statement}; print(time.perf_counter() - started)"
)


def zip_size(unpack_to: Path, stage: str = "dev") -> tuple[int, dict[str, int]]:
    """The deployment zip's size, and the compressed bytes of its parts; its files are
    unpacked into `unpack_to` (what Lambda's /var/task holds: no .pyc)."""
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        built = package(stage, Path(tmp))
        path = built.cloudformation / "deployment.zip"
        with zipfile.ZipFile(path) as archive:
            parts: dict[str, int] = {}
            for info in archive.infolist():
                top = info.filename.split("/")[0]
                parts[top] = parts.get(top, 0) + info.compress_size
            archive.extractall(unpack_to)
        return path.stat().st_size, parts


def import_seconds(statement: str, where: Path = PROJECT_DIR, compiled: bool = True) -> float:
    """The time of `statement` in a fresh interpreter run in `where`; `compiled=False`
    writes no .pyc (Lambda's /var/task is read-only: its modules compile at each start)."""
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "vpc-provisioner-bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "" if compiled else "1",
        "PYTHONPATH": str(where),
    }
    result = subprocess.run(
        [sys.executable, "-c", _TIMED.format(statement=statement)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


# What the API's function imports on its first request besides (app.py imports it there,
# so that the worker's and the schedules' cold starts do not): its input rules and caller.
API_FIRST_USE = "import app, chalicelib.api.auth, chalicelib.api.query, chalicelib.api.echo"


def _ratio(
    runs: int, where: Path = PROJECT_DIR, compiled: bool = True, ours: str = "import app"
) -> tuple[float, ...]:
    """Median times of boto3 + chalice and of the app's import (`ours`), and of their ratio
    (alternating, fresh interpreters)."""
    pairs = [
        (
            import_seconds("import boto3, chalice.app", where, compiled),
            import_seconds(ours, where, compiled),
        )
        for _ in range(runs)
    ]
    return (
        statistics.median(f for f, _ in pairs),
        statistics.median(o for _, o in pairs),
        statistics.median(o / f for f, o in pairs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-task-") as task:
        size, parts = zip_size(Path(task))
        print(
            f"Lambda zip: {size / 1024:.1f} KiB (budget {ZIP_BUDGET_BYTES // 1024} KiB): "
            + ", ".join(f"{name} {n / 1024:.1f}" for name, n in sorted(parts.items()))
        )
        # Warm the file cache and write the .pyc files, as the zip's are on a warm host.
        for _ in range(2):
            import_seconds("import app")
        measures = {
            "the repository's, compiled": _ratio(args.runs),
            # Lambda's way: the zip's files (chalice's runtime among them), none compiled;
            # boto3 is the runtime's, compiled.
            "the zip's, as Lambda runs it": _ratio(args.runs, Path(task), compiled=False),
        }
        api_first_use = _ratio(args.runs, Path(task), compiled=False, ours=API_FIRST_USE)
    for what, (floor, ours, ratio) in measures.items():
        said = "within budget" if ratio <= IMPORT_BUDGET_RATIO else "OVER BUDGET"
        print(
            f"cold import of {what} (median of {args.runs}, alternating): boto3 + chalice "
            f"{floor * 1000:.0f} ms, app {ours * 1000:.0f} ms: {ratio:.2f}x "
            f"(budget {IMPORT_BUDGET_RATIO}x): {said}"
        )
    floor, ours, ratio = api_first_use
    print(
        f"the API function's, with the input rules its first request imports (not budgeted, "
        f"the zip's): boto3 + chalice {floor * 1000:.0f} ms, {ours * 1000:.0f} ms: {ratio:.2f}x"
    )


if __name__ == "__main__":
    main()
