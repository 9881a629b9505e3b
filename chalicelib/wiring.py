"""Builds the object graph once per process; tests install their own.

`current()` is what `app.py` calls: it wires the services from the environment
on first use, and `install()` lets a test fixture swap in services wired to moto
or to fakes. Each service is built, and its modules imported, when it is first
used: a cold start that serves the API never imports the worker's code, and one
that runs the worker never builds the API's. So is what several share (the
table's data access, the jobs queue): importing the app loads none of it
(`bench/lambda_package.py` times that import). Each service gets the data-access
class of its own function's IAM policy.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.clock import Clock, system_clock
from chalicelib.config import Settings, load_settings
from chalicelib.errors import BackendFailure, unavailable
from chalicelib.metrics import Metrics

if TYPE_CHECKING:
    from chalicelib.api.address_planner import AddressPlanner
    from chalicelib.api.delete_request import DeleteService
    from chalicelib.api.read_requests import ReadService
    from chalicelib.api.submit_request import SubmitService
    from chalicelib.aws.ec2 import Ec2Gateway
    from chalicelib.aws.jobs import JobQueue
    from chalicelib.aws.routing import RoutingGateway
    from chalicelib.store.api import RequestStore
    from chalicelib.upkeep.pools import PoolKeeper
    from chalicelib.upkeep.reaper import Reaper
    from chalicelib.upkeep.reconciler import Reconciler
    from chalicelib.worker.handler import Provisioner


class Services:
    """The services of one process, each built on first use (from the same clients)."""

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        clock: Clock,
        sleep: Callable[[float], None],
        metrics_sink: Metrics,
    ) -> None:
        self.settings = settings
        self._clients = clients
        self._clock = clock
        self._sleep = sleep
        self._metrics = metrics_sink
        self._dynamodb = clients.lazy("dynamodb")

    @functools.cached_property
    def submissions(self) -> SubmitService:
        from chalicelib.api.submit_request import SubmitService
        from chalicelib.aws.zones import ZoneDirectory

        return SubmitService(
            self._request_store,
            self._addresses,
            self._queue,
            ZoneDirectory(self._clients.lazy("ec2")),
            self.settings,
            self._clock,
            self._sleep,
        )

    @functools.cached_property
    def reads(self) -> ReadService:
        from chalicelib.api.read_requests import ReadService

        key = _page_token_key(self.settings, self._clients)
        return ReadService(self._request_store, self._addresses, key)

    @functools.cached_property
    def deletes(self) -> DeleteService:
        from chalicelib.api.delete_request import DeleteService
        from chalicelib.store.api import RequestStore

        store = RequestStore(self._dynamodb, self.settings.table_name)
        limit = self.settings.max_live_requests_per_user
        return DeleteService(store, self._queue, self._clock, live_request_limit=limit)

    @functools.cached_property
    def provisioner(self) -> Provisioner:
        from chalicelib.aws.jobs import DeadLetters
        from chalicelib.store.worker import WorkerStore
        from chalicelib.worker.handler import Provisioner

        settings = self.settings
        return Provisioner(
            WorkerStore(
                self._dynamodb, settings.table_name, settings.store_write_attempts, self._sleep
            ),
            self._ec2,
            self._routing,
            self._queue,
            settings,
            self._clock,
            self._sleep,
            metrics_sink=self._metrics,
            dead_letters=DeadLetters(self._clients.lazy("sqs"), settings.dlq_url),
        )

    @functools.cached_property
    def reaper(self) -> Reaper:
        from chalicelib.aws.jobs import DeadLetters
        from chalicelib.store.reaper import ReaperStore
        from chalicelib.upkeep.reaper import Reaper

        settings = self.settings
        return Reaper(
            ReaperStore(self._dynamodb, settings.table_name, self._sleep),
            self._queue,
            DeadLetters(self._clients.lazy("sqs"), settings.dlq_url),
            settings,
            self._clock,
            metrics_sink=self._metrics,
        )

    @functools.cached_property
    def reconciler(self) -> Reconciler:
        from chalicelib.aws.inventory import Inventory
        from chalicelib.store.drift import DriftStore
        from chalicelib.store.reconciler import ReconcilerStore
        from chalicelib.upkeep.drift import DriftCheck
        from chalicelib.upkeep.reconciler import Reconciler

        settings = self.settings
        inventory = Inventory(self._clients.lazy("ec2"), settings.deployment)
        return Reconciler(
            ReconcilerStore(self._dynamodb, settings.table_name, self._sleep),
            self._ec2,
            self._routing,
            inventory,
            DriftCheck(
                DriftStore(self._dynamodb, settings.table_name, self._sleep),
                inventory,
                settings,
                self._clock,
            ),
            settings,
            self._clock,
            self._sleep,
            metrics_sink=self._metrics,
        )

    @functools.cached_property
    def pool_keeper(self) -> PoolKeeper:
        from chalicelib.store.pools import PoolStore
        from chalicelib.upkeep.pools import PoolKeeper

        settings = self.settings
        return PoolKeeper(
            PoolStore(self._dynamodb, settings.table_name, self._sleep),
            self._ec2,
            settings.address_pools,
            self._metrics,
        )

    @functools.cached_property
    def _request_store(self) -> RequestStore:
        """The table's data access of POST and the GETs (and of their address planner)."""
        from chalicelib.store.api import RequestStore

        return RequestStore(self._dynamodb, self.settings.table_name)

    @functools.cached_property
    def _addresses(self) -> AddressPlanner:
        """One for POST and GET /pools: a POST plans with the blocks GET /pools last read."""
        from chalicelib.api.address_planner import AddressPlanner

        settings = self.settings
        return AddressPlanner(self._request_store, settings.address_pools, settings.allow_overlap)

    @functools.cached_property
    def _queue(self) -> JobQueue:
        from chalicelib.aws.jobs import JobQueue

        return JobQueue(self._clients.lazy("sqs"), self.settings.queue_url)

    @functools.cached_property
    def _ec2(self) -> Ec2Gateway:
        from chalicelib.aws.ec2 import Ec2Gateway

        return Ec2Gateway(self._clients.lazy("ec2"), self.settings.deployment)

    @functools.cached_property
    def _routing(self) -> RoutingGateway:
        from chalicelib.aws.routing import RoutingGateway

        return RoutingGateway(self._clients.lazy("ec2"), self.settings.deployment)


def build(
    settings: Settings,
    clients: AwsClients | None = None,
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    metrics_sink: Metrics | None = None,
) -> Services:
    """Wire the services for `settings`. Nothing is built, no AWS client either, until
    first used.

    `metrics_sink` receives the worker's, reaper's and reconciler's EMF lines (stdout in
    Lambda if not given).
    """
    clients = clients or AwsClients(settings.region, ec2_pool_size=settings.subnet_concurrency + 4)
    return Services(settings, clients, clock, sleep, metrics_sink or Metrics())


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
