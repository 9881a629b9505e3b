"""Builds the object graph once per process; tests install their own.

`current()` is what `app.py` calls: it builds everything from the environment
on first use (so a cold start that serves a GET never builds the worker), and
`install()` lets a test fixture swap in services wired to moto or to fakes.
Each service gets the data-access class of its own function's IAM policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from .clients import AwsClients
from .clock import Clock, system_clock
from .config import Settings, load_settings
from .deletes import DeleteService
from .ec2 import Ec2Gateway, ZoneDirectory
from .errors import BackendFailure, unavailable
from .jobs import DeadLetters, JobQueue
from .metrics import Metrics
from .provisioner import Provisioner
from .reaper import Reaper
from .reconciler import Reconciler
from .routing import RoutingGateway
from .service import RequestService
from .store.api import RequestStore
from .store.reaper import ReaperStore
from .store.reconciler import ReconcilerStore
from .store.worker import WorkerStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    requests: RequestService
    deletes: DeleteService
    provisioner: Provisioner
    reaper: Reaper
    reconciler: Reconciler


def build(
    settings: Settings,
    clients: AwsClients | None = None,
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    metrics_sink: Metrics | None = None,
) -> Services:
    """Wire the services for `settings`. No AWS client is built until it is first used.

    `metrics_sink` receives the worker's, reaper's and reconciler's EMF lines (stdout
    if not given).
    """
    metrics_sink = metrics_sink or Metrics()
    clients = clients or AwsClients(settings.region, ec2_pool_size=settings.subnet_concurrency + 4)
    dynamodb, table = clients.lazy("dynamodb"), settings.table_name
    sqs = clients.lazy("sqs")
    queue = JobQueue(sqs, settings.queue_url)
    ec2 = clients.lazy("ec2")
    gateway = Ec2Gateway(ec2, settings.deployment)
    routing = RoutingGateway(ec2, settings.deployment)
    return Services(
        settings=settings,
        requests=RequestService(
            RequestStore(dynamodb, table),
            queue,
            ZoneDirectory(ec2),
            settings,
            clock,
            sleep,
            page_token_key=_page_token_key(settings, clients),
        ),
        deletes=DeleteService(RequestStore(dynamodb, table), queue, clock),
        provisioner=Provisioner(
            WorkerStore(dynamodb, table, settings.store_write_attempts, sleep),
            gateway,
            routing,
            queue,
            settings,
            clock,
            sleep,
            metrics_sink=metrics_sink,
        ),
        reaper=Reaper(
            ReaperStore(dynamodb, table),
            queue,
            DeadLetters(sqs, settings.dlq_url),
            settings,
            clock,
            metrics_sink=metrics_sink,
        ),
        reconciler=Reconciler(
            ReconcilerStore(dynamodb, table),
            gateway,
            routing,
            settings,
            clock,
            sleep,
            metrics_sink=metrics_sink,
        ),
    )


def _page_token_key(settings: Settings, clients: AwsClients) -> bytes | Callable[[], bytes]:
    """The listing tokens' key: as configured, or read from its SSM parameter when the
    first listing needs it (`chalice deploy` with `make backing`; a 503 while SSM fails)."""
    name = settings.page_token_secret_parameter
    if not name:
        return settings.page_token_key
    ssm = clients.lazy("ssm")

    def read() -> bytes:
        try:
            answer = ssm.get_parameter(Name=name, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(BackendFailure("ssm:GetParameter", exc)) from exc
        return str(answer["Parameter"]["Value"]).encode()

    return read


_current: Services | None = None
_lock = threading.Lock()


def current() -> Services:
    """The process's services, built from the environment on first use."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = build(load_settings())
    return _current


def install(services: Services | None) -> None:
    """Replace the process's services (tests); None rebuilds from the environment on next use."""
    global _current
    _current = services
