"""What the local stack runs with: the app's settings and the process's environment.

The app's settings are the "local" stage's of .chalice/config.json, with those a person
may give `make run` in the environment over them (HONOURED_FROM_ENVIRONMENT), checked
before anything starts, as is PORT (`api_port`); PERSIST and DEVSTACK_RECONCILER_SECONDS
are read here too. Also the stack's fixed numbers (its ports, its worker threads and
periods) and the AWS variables that point boto3 at moto (`use_endpoint`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from chalicelib.config import ConfigurationError, load_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
DEFAULT_PORT = 8000
# moto listens this far above the API's port (8000: 18000), the same on every start.
MOTO_PORT_OFFSET = 10000
DEFAULT_REGION = "us-east-1"
# As Lambda's queue, longer than any job runs (6x a local job's few seconds).
# A job worth another try comes back sooner: the worker sets its retry delay
# (RETRY_DELAY_*: 1 s, then 2 s), so one whose errors never clear ends FAILED
# (RetriesExhausted) within seconds: MAX_RECEIVE_COUNT (3) deliveries.
QUEUE_VISIBILITY_SECONDS = 30
WORKER_THREADS = 2
REAPER_PERIOD_SECONDS = 30
# At most 30 s, as the grace period (RECONCILE_GRACE_SECONDS, stage "local"); the
# end-to-end tests run it more often (DEVSTACK_RECONCILER_SECONDS).
RECONCILER_PERIOD_SECONDS = 10
# Settings a person may give `make run` in the environment, over the "local" stage's.
HONOURED_FROM_ENVIRONMENT = ("MAX_LIVE_REQUESTS_PER_USER", "ADDRESS_POOLS", "CIDR_OVERLAP")

# How long a DynamoDB transaction holds its items (TransactionConflict), as in AWS.
TRANSACTION_SECONDS = 0.02


def local_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The app's settings for the local stack: the "local" stage's, with those a person
    may set in the environment (HONOURED_FROM_ENVIRONMENT) taken from there."""
    env = stage_environment()
    for name in HONOURED_FROM_ENVIRONMENT:
        if environ.get(name, "").strip():
            env[name] = environ[name].strip()
    return env


def check_settings(environ: Mapping[str, str]) -> None:
    """Raise ConfigurationError, naming the setting and what is wrong with it, unless the
    app can read the settings this stack would give it (a value of HONOURED_FROM_ENVIRONMENT
    it cannot read) and PORT is one it can listen on (`api_port`): called before anything
    starts, so that nothing is left to stop. The region and the listing key are the stack's
    own, set later: stand-ins here."""
    api_port(environ)
    load_settings(
        {**local_environment(environ), "AWS_REGION": DEFAULT_REGION, "PAGE_TOKEN_SECRET": "-"}
    )


def api_port(environ: Mapping[str, str]) -> int:
    """The API's port: PORT, or DEFAULT_PORT when it is unset or empty. Raises
    ConfigurationError unless PORT is a whole number from 1 to 65535: a typo (`800O`) or a
    number out of range was a traceback, and 0 ("any free port") a stack that said it was
    ready on port 0 and wrote that URL into stack.json, for make env and vpcctl to use."""
    raw = environ.get("PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not 1 <= int(raw) <= 65535:
        raise ConfigurationError(
            f"PORT must be a port number, 1-65535, got {raw[:20]!r} (such as PORT=8001)"
        )
    return int(raw)


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The environment variables of a stage of .chalice/config.json (global, then stage)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def reconciler_period() -> float:
    """The reconciler's period: RECONCILER_PERIOD_SECONDS, or DEVSTACK_RECONCILER_SECONDS
    where that is shorter (the end-to-end tests')."""
    raw = os.environ.get("DEVSTACK_RECONCILER_SECONDS", "").strip()
    return min(float(raw), RECONCILER_PERIOD_SECONDS) if raw else RECONCILER_PERIOD_SECONDS


def persist_requested() -> bool:
    """PERSIST=1 (or any value but empty and 0): keep moto's state across restarts."""
    return os.environ.get("PERSIST", "").strip() not in ("", "0")


def moto_port(api_port: int) -> int:
    """moto's port: MOTO_PORT_OFFSET above the API's, so that it is the same after a restart
    and an earlier shell's exports still work; 0 (any free port) when there is no such port.
    When it is taken, moto's process takes any free one itself (a check here could be
    overtaken by another program binding it before moto does)."""
    preferred = api_port + MOTO_PORT_OFFSET
    return 0 if preferred > 65535 else preferred


def use_endpoint(endpoint: str) -> None:
    """Point boto3 (this process's, the app's) at `endpoint`, in the stack's region."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region
