"""The app's roles in the local stack's process, each in threads of its own.

`start_roles` bootstraps the backing resources (`backing`), wires the app to them as a
deployed function is wired (with DynamoDB's transaction conflicts, which moto never
gives, and the faults of DEVSTACK_FAULTS_FILE when it names one), then starts the API
(Chalice's local gateway behind `server`'s ID-token check), the workers polling the
queue, the reaper and the reconciler. It returns what stack.json says of them.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory

from chalicelib import wiring
from chalicelib.aws.zones import ZoneDirectory
from chalicelib.config import load_settings

from .auth import IdTokenVerifier
from .backing import ADMIN_USER, bootstrap, count_requests, end_runs_left_under_way
from .fault_injector import FaultInjector
from .server import make_server
from .settings import (
    PROJECT_DIR,
    QUEUE_VISIBILITY_SECONDS,
    REAPER_PERIOD_SECONDS,
    STAGE,
    TRANSACTION_SECONDS,
    WORKER_THREADS,
    persist_requested,
    reconciler_period,
)
from .state_folder import PortInUse, StackInfo, note_issuer, state_argument
from .transaction_conflicts import TransactionConflicts
from .worker import QueuePoller, Ticker

logger = logging.getLogger("devstack")


def start_roles(
    endpoint: str, port: int, directory: Path, stop: threading.Event, stoppers: list[Any]
) -> StackInfo:
    """Bootstrap the resources, then start the API, the worker and the reaper.

    Appends to `stoppers` what must be called, last first, to stop what started.
    """
    region = os.environ["AWS_REGION"]
    backing = bootstrap(region)
    clients, queues, pool = backing.clients, backing.queues, backing.pool
    if persist_requested():
        logger.info("PERSIST: %d request(s) restored", count_requests(clients, backing.table_name))
        if end_runs_left_under_way(clients, backing.table_name):
            logger.info("PERSIST: the reconciler run under way when the stack stopped ended")
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
        former_issuers=note_issuer(directory, issuer),
        state=state_argument(directory),
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
    threads.append(Ticker(handlers["reconciler"], reconciler_period(), stop, name="reconciler"))
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
