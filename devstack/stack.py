"""`make run`: the whole product on this machine, with no AWS account.

Starts: moto in a child process (`moto_process`: patched, and stopped with
this one, so Ctrl-C stops everything and nothing is left behind) unless
AWS_ENDPOINT_URL names a moto to use; the table, queue + DLQ and Cognito user
pool with a demo user, named as the deployment names them (stage "local" of
.chalice/config.json); the API on 127.0.0.1:$PORT with real ID-token
verification; the worker polling the queue; the reaper and the reconciler.
Writes stack.json in its state folder (.local/, or DEVSTACK_STATE_DIR) once
all of it is ready, and removes it when it stops.

One stack per state folder (`lock`): a second one refuses at once, naming the
first, and touches nothing. moto's state lives in memory: PERSIST=1 saves it
in the state folder on Ctrl-C and loads it on the next start (`snapshot`).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from chalice.cli.factory import CLIFactory

from chalicelib import wiring
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.zones import ZoneDirectory
from chalicelib.config import ConfigurationError, load_settings
from chalicelib.store.layout import LIST_INDEX, LIST_PARTITION

from . import snapshot
from .auth import IdTokenVerifier
from .faults import FaultInjector
from .lock import StackLock, StackRunning, refuse_if_held
from .moto_process import MotoFailed, MotoProcess
from .resources import (
    ADMINS_GROUP,
    Queues,
    UserPool,
    create_queues,
    create_table,
    create_user,
    create_user_pool,
)
from .server import MAX_CONCURRENT_REQUESTS, make_server
from .text_log import log_text_to_stderr
from .transaction_conflicts import TransactionConflicts
from .worker import QueuePoller, Ticker

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGE = "local"
DEMO_USER = "demo"
# A second demo user, in the `admins` group: may delete anyone's requests.
ADMIN_USER = "admin"
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
# The user pools of earlier runs, so that their tokens get a 401 that says why.
FORMER_ISSUERS_FILE = "former-user-pools"
FORMER_ISSUERS_KEPT = 20

logger = logging.getLogger("devstack")

# How long a DynamoDB transaction holds its items (TransactionConflict), as in AWS.
TRANSACTION_SECONDS = 0.02


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    aws_endpoint_url: str
    region: str
    table_name: str
    queue_url: str
    dlq_url: str
    user_pool_id: str
    user_pool_client_id: str
    username: str
    password: str
    admin_username: str
    admin_password: str


def state_dir() -> Path:
    """Where stack.json goes: .local/ in the project, or DEVSTACK_STATE_DIR."""
    return Path(os.environ.get("DEVSTACK_STATE_DIR") or PROJECT_DIR / ".local")


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
    it cannot read): called before anything starts, so that nothing is left to stop. The
    region and the listing key are the stack's own, set later: stand-ins here."""
    load_settings(
        {**local_environment(environ), "AWS_REGION": DEFAULT_REGION, "PAGE_TOKEN_SECRET": "-"}
    )


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The environment variables of a stage of .chalice/config.json (global, then stage)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def _reconciler_period() -> float:
    raw = os.environ.get("DEVSTACK_RECONCILER_SECONDS", "").strip()
    return min(float(raw), RECONCILER_PERIOD_SECONDS) if raw else RECONCILER_PERIOD_SECONDS


def persist_requested() -> bool:
    """PERSIST=1 (or any value but empty and 0): keep moto's state across restarts."""
    return os.environ.get("PERSIST", "").strip() not in ("", "0")


def main() -> int:
    log_text_to_stderr()
    # chalicelib.aws: a line per AWS call (the deployed functions' JSON logs keep them).
    for noisy in ("werkzeug", "botocore", "urllib3", "chalicelib.aws"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Chalice's local gateway warns that it does not enforce Cognito authorizers and
    # admits every request: true of `chalice local`, not here, where every token is
    # verified before the gateway sees it (server.py). Said once, truthfully, below.
    warnings.filterwarnings("ignore", category=UserWarning, module="chalice.local")
    started = time.monotonic()
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    directory = state_dir()
    lock = StackLock(directory)
    try:
        check_settings(os.environ)
        claim_state_folder(lock, port, directory)
    except (ConfigurationError, StackRunning, PortInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupt)

    moto: MotoProcess | None = None
    stoppers: list[Any] = []
    wrote_state = False
    try:
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
        if not endpoint:
            moto, endpoint = _start_moto(directory, _moto_port(port))
        elif persist_requested():
            logger.warning("PERSIST applies to the stack's own moto: %s keeps its own", endpoint)
        _use_endpoint(endpoint)
        stack = _start(endpoint, port, directory, stop, stoppers)
        _write_state(stack)
        wrote_state = True
        lock.record(status="ready", api_url=stack.api_url)
        logger.info(
            "ID tokens are verified before Chalice's local gateway sees a request "
            "(signature, issuer, audience, token_use, expiry)"
        )
        print(ready_message(stack, time.monotonic() - started, state_dir()), flush=True)
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    except (PortInUse, MotoFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop.set()
        if wrote_state:
            _remove_state()
        for stopper in reversed(stoppers):
            stopper()
        if moto is not None:
            moto.stop()
        lock.release()
    print("vpc-provisioner stopped.", flush=True)
    return 0


class PortInUse(RuntimeError):
    pass


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def state_argument(directory: Path) -> str:
    """` STATE=...` for make, when `directory` is not the default state folder: a stack
    with its own (`make run STATE=...`) is reached only with that STATE."""
    return "" if directory == PROJECT_DIR / ".local" else f" STATE={_shown(directory)}"


def ready_message(stack: StackInfo, seconds: float, directory: Path) -> str:
    """What to run next, for this very stack (with its STATE, if it has one)."""
    state = state_argument(directory)
    commands = [
        (f'eval "$(make -s env{state})"', "$API, $TOKEN, the AWS CLI and vpcctl"),
        ("vpcctl login", f"as {stack.username}; or TOKEN=$(make -s token{state})"),
        ('curl -s "$API/vpcs" -H "Authorization: Bearer $TOKEN"', ""),
        (f'eval "$(make -s unenv{state})"', "undoes the eval"),
    ]
    width = max(len(command) for command, _ in commands)
    return "\n".join(
        [
            f"vpc-provisioner is ready on {stack.api_url} after {seconds:.1f}s",
            f"(AWS: moto on {stack.aws_endpoint_url}). The web console: {stack.api_url}/console",
            f"(user {stack.username}, password in {_shown(directory)}/stack.json). "
            "Next, in another shell:",
            *[
                f"  {command:<{width}}  # {why}" if why else f"  {command}"
                for command, why in commands
            ],
            "Ctrl-C stops it.",
        ]
    )


def _shown(directory: Path) -> str:
    """The state folder as `make run STATE=...` was given it: relative to the project."""
    try:
        return str(directory.relative_to(PROJECT_DIR))
    except ValueError:
        return str(directory)


def _moto_port(api_port: int) -> int:
    """moto's port: MOTO_PORT_OFFSET above the API's, so that it is the same after a restart
    and an earlier shell's exports still work; 0 (any free port) when there is no such port.
    When it is taken, moto's process takes any free one itself (a check here could be
    overtaken by another program binding it before moto does)."""
    preferred = api_port + MOTO_PORT_OFFSET
    return 0 if preferred > 65535 else preferred


def claim_state_folder(lock: StackLock, port: int, directory: Path) -> None:
    """Take the state folder's lock for a stack that will listen on `port`.

    A stack already running from the folder is named first (StackRunning): a second `make
    run` finds the port busy too, and "another program uses it" would send its user to
    another port only to be refused again there. Then the port (PortInUse): a stack that
    cannot listen touches nothing in its state folder, so the lock is taken last."""
    refuse_if_held(directory)
    _check_port_free(port, directory)
    lock.acquire()


def _check_port_free(port: int, directory: Path) -> None:
    """Raise PortInUse now, before anything starts, if the API could not listen on `port`
    (saying how to start this stack, with its STATE, on another)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(
                f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): another program uses "
                f"it; pick a free port: make run PORT=8001{state_argument(directory)}"
            ) from exc


def _start_moto(directory: Path, port: int) -> tuple[MotoProcess, str]:
    # Never let real credentials near the stand-in.
    os.environ["AWS_ACCESS_KEY_ID"] = "local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    path = directory / snapshot.FILE_NAME
    if persist_requested():
        logger.info(
            "PERSIST: moto's state %s %s, and is saved there on Ctrl-C",
            "is loaded from" if path.exists() else "starts empty; it goes to",
            path,
        )
    moto = MotoProcess(
        snapshot=path if persist_requested() else None, port=port, any_port_if_taken=True
    )
    endpoint = moto.start()
    warning = moto_moved_warning(port, endpoint, directory)
    if warning:
        logger.warning("%s", warning)
    return moto, endpoint


def moto_moved_warning(port: int, endpoint: str, directory: Path) -> str | None:
    """What to say when moto could not have the port asked for (`port`, 0 for any): the
    shells that ran this stack's eval before point at the old one, and only an eval with
    this stack's STATE (`directory`) reads its new exports."""
    if not port or endpoint.endswith(f":{port}"):
        return None
    return (
        f"port {port} (moto's, PORT + {MOTO_PORT_OFFSET}) is taken: moto listens on {endpoint} "
        f'this time, so run `eval "$(make -s env{state_argument(directory)})"` again in shells '
        "that ran it before"
    )


def _use_endpoint(endpoint: str) -> None:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region


@dataclass(frozen=True)
class _Backing:
    clients: AwsClients
    queues: Queues
    pool: UserPool
    table_name: str
    admin_password: str


def _bootstrap(region: str) -> _Backing:
    """Create (or reuse) the table, queues and user pool, and point the app's settings at them."""
    env = local_environment(os.environ)
    clients = AwsClients(
        region,
        # Each worker makes up to SUBNET_CONCURRENCY EC2 calls at once.
        ec2_pool_size=WORKER_THREADS * int(env.get("SUBNET_CONCURRENCY", "25")) + 4,
        # The API's requests at work, the workers, the reaper and the reconciler.
        pool_size=MAX_CONCURRENT_REQUESTS + WORKER_THREADS + 2,
    )
    create_table(clients.dynamodb, env["TABLE_NAME"])
    queues = create_queues(
        clients.sqs,
        env["QUEUE_NAME"],
        max_receive_count=int(env["MAX_RECEIVE_COUNT"]),
        visibility_timeout=QUEUE_VISIBILITY_SECONDS,
    )
    cognito = boto3.session.Session(region_name=region).client("cognito-idp")
    pool = create_user_pool(cognito, f"vpc-provisioner-{STAGE}", DEMO_USER, _demo_password())
    admin_password = _demo_password()
    create_user(cognito, pool.pool_id, ADMIN_USER, admin_password, group=ADMINS_GROUP)
    env.update(
        QUEUE_URL=queues.queue_url,
        DLQ_URL=queues.dlq_url,
        USER_POOL_ARN=pool.pool_arn,
        # The web console signs people in with this app client (docs/console.md).
        USER_POOL_CLIENT_ID=pool.client_id,
        # Random per `make run`: listing tokens of an earlier run are refused.
        PAGE_TOKEN_SECRET=secrets.token_hex(32),
    )
    os.environ.update(env)
    return _Backing(clients, queues, pool, env["TABLE_NAME"], admin_password)


def _count_requests(clients: AwsClients, table: str) -> int:
    """The requests in the table (a COUNT query of the listing index, page by page)."""
    pages = clients.dynamodb.get_paginator("query").paginate(
        TableName=table,
        IndexName=LIST_INDEX,
        KeyConditionExpression="list_pk = :p",
        ExpressionAttributeValues={":p": {"S": LIST_PARTITION}},
        Select="COUNT",
    )
    return sum(int(page["Count"]) for page in pages)


def _start(
    endpoint: str, port: int, directory: Path, stop: threading.Event, stoppers: list[Any]
) -> StackInfo:
    """Bootstrap the resources, then start the API, the worker and the reaper.

    Appends to `stoppers` what must be called, last first, to stop what started.
    """
    region = os.environ["AWS_REGION"]
    backing = _bootstrap(region)
    clients, queues, pool = backing.clients, backing.queues, backing.pool
    if persist_requested():
        logger.info("PERSIST: %d request(s) restored", _count_requests(clients, backing.table_name))
    # app.py reads USER_POOL_ARN and QUEUE_NAME when imported: only now are they set.
    app_module = importlib.import_module("app")

    services = wiring.build(load_settings(), clients)
    # DynamoDB cancels a transaction that names an item another one is writing; moto
    # never does. Given here, simultaneous POSTs meet it as they would deployed (a /16's
    # count of held blocks, one idempotency key sent twice at once).
    TransactionConflicts(hold_seconds=TRANSACTION_SECONDS).attach(clients.dynamodb)
    faults_file = os.environ.get("DEVSTACK_FAULTS_FILE")
    if faults_file:
        injector = FaultInjector()
        for client in (clients.ec2, clients.sqs, clients.dynamodb):
            injector.attach(client)
        injector.watch(faults_file)
        logger.warning("injecting AWS faults from %s (testing only)", faults_file)
    wiring.install(services)
    # moto builds its EC2 region lazily (seconds): pay that now, not on the first POST.
    zones = ZoneDirectory(clients.ec2).names()
    logger.info("Availability Zones of %s: %s", region, ", ".join(sorted(zones)))

    issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool.pool_id}"
    verifier = IdTokenVerifier(
        jwks_url=f"{endpoint.rstrip('/')}/{pool.pool_id}/.well-known/jwks.json",
        issuer=issuer,
        audience=pool.client_id,
        former_issuers=_note_issuer(directory, issuer),
    )
    config = CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name=STAGE)
    try:
        server = make_server(app_module.app, config, "127.0.0.1", port, verifier)
    except OSError as exc:
        raise PortInUse(
            f"cannot listen on 127.0.0.1:{port} ({exc}); set PORT to a free port"
        ) from exc
    server_thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
    server_thread.start()

    def stop_server() -> None:
        server.server.shutdown()
        server.server.server_close()
        server_thread.join()

    stoppers.append(stop_server)

    handlers = app_module.app.handler_map
    threads: list[threading.Thread] = [
        QueuePoller(
            clients.sqs,
            queues.queue_url,
            queues.queue_arn,
            region,
            handlers["worker"],
            QUEUE_VISIBILITY_SECONDS,
            stop,
            name=f"worker-{i}",
        )
        for i in range(WORKER_THREADS)
    ]
    threads.append(Ticker(handlers["reaper"], REAPER_PERIOD_SECONDS, stop, name="reaper"))
    threads.append(Ticker(handlers["reconciler"], _reconciler_period(), stop, name="reconciler"))
    for thread in threads:
        thread.start()

    def join_threads() -> None:
        for thread in threads:
            thread.join(timeout=10)

    stoppers.append(join_threads)

    info = StackInfo(
        api_url=f"http://127.0.0.1:{server.port}",
        aws_endpoint_url=endpoint,
        region=region,
        table_name=backing.table_name,
        queue_url=queues.queue_url,
        dlq_url=queues.dlq_url,
        user_pool_id=pool.pool_id,
        user_pool_client_id=pool.client_id,
        username=pool.username,
        password=pool.password,
        admin_username=ADMIN_USER,
        admin_password=backing.admin_password,
    )
    return info


def _note_issuer(directory: Path, issuer: str) -> list[str]:
    """The issuers (user pools) of earlier runs in this state folder; notes this run's."""
    path = directory / FORMER_ISSUERS_FILE
    try:
        former = path.read_text().split()
    except FileNotFoundError:
        former = []
    kept = [*(i for i in former if i != issuer), issuer][-FORMER_ISSUERS_KEPT:]
    path.write_text("\n".join(kept) + "\n")
    return former


def _demo_password() -> str:
    # Meets the pool's policy: 12+ characters, upper, lower, digit.
    return f"Demo-{secrets.token_urlsafe(12)}-9a"


def _write_state(info: StackInfo) -> None:
    """Write stack.json, readable by this user alone from its first byte: it holds the demo
    users' passwords, and vpcctl trusts no stack.json others may read or change.

    The content goes to a temporary file created 0600 (mkstemp: a new name of its own,
    opened O_EXCL, so nothing planted in the folder is followed; a write-then-chmod would
    leave it readable by others for a moment), then is renamed over the old file: a reader
    sees the old file or the new one, whole."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".stack.json.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            fd = -1
            out.write(json.dumps(info.__dict__, indent=2) + "\n")
        temporary.replace(directory / "stack.json")
    finally:
        if fd != -1:
            os.close(fd)
        temporary.unlink(missing_ok=True)


def _remove_state() -> None:
    (state_dir() / "stack.json").unlink(missing_ok=True)
