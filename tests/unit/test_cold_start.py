"""What a Lambda cold start of the API loads, in a fresh interpreter as Lambda's is.

Importing `app` (Lambda's init, what every function pays) loads the routes and the core,
and builds no service: no data access (`store`), no jobs queue, no worker or upkeep
code, and none of the API's input rules either (a worker's cold start needs none of
them: app.py imports them in the routes); each service's modules come with its first
use (chalicelib/wiring.py). The API's own services, once
built, still load nothing of the worker's (its EC2 gateway, its job handling).
`make bench` (bench/lambda_package.py) times the import against `import boto3,
chalice.app`, under a budget of 1.15x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKER_CODE = (
    "chalicelib.worker",
    "chalicelib.upkeep",
    "chalicelib.aws.ec2",
    "chalicelib.aws.routing",
)


def loaded_after(statements: str) -> set[str]:
    """The chalicelib modules a fresh interpreter holds after `statements`, run with the
    environment of a deployed API function."""
    # Only what a Lambda has: nothing another test of this process left in os.environ (an
    # in-process local stack sets the "local" stage's variables) reaches it.
    env = {
        **{k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PYTHONPATH") if k in os.environ},
        "AWS_LAMBDA_FUNCTION_NAME": "vpc-provisioner-dev",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "vpc-provisioner-dev",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/vpc-provisioner-dev-jobs",
        "PAGE_TOKEN_SECRET": "k" * 64,
    }
    code = (
        f"{statements}\n"
        "import json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('chalicelib', 'infra')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_importing_the_app_builds_no_service_and_loads_no_data_access_queue_or_worker_code() -> (
    None
):
    loaded = loaded_after("import app")

    assert "chalicelib.wiring" in loaded
    assert {m for m in loaded if m.startswith(("chalicelib.store", *WORKER_CODE))} == set()
    assert "chalicelib.aws.jobs" not in loaded
    assert {m for m in loaded if m.startswith("chalicelib.api")} == set()
    # What the Chalice CLI must not do is infra's to say, only under the CLI (not shipped).
    assert {m for m in loaded if m.startswith("infra")} == set()


def test_the_apis_services_load_their_data_access_and_queue_but_none_of_the_workers() -> None:
    loaded = loaded_after(
        "import app\n"
        "from chalicelib import wiring\n"
        "wiring.current().submissions\n"
        "wiring.current().reads\n"
        "wiring.current().deletes"
    )

    assert {"chalicelib.store.api", "chalicelib.aws.jobs", "chalicelib.aws.zones"} <= loaded
    assert {m for m in loaded if m.startswith(WORKER_CODE)} == set()
