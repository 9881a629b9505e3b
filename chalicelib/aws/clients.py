"""AWS clients: built once per process, lazily, from one place.

No endpoint is ever passed: boto3 honours `AWS_ENDPOINT_URL` (and the
per-service `AWS_ENDPOINT_URL_<SERVICE>`) by itself, which is how the local
stack and the tests point these clients at moto. Every call a client makes is
logged (`logs.observe_calls`): its name, duration and error code.

EC2 gets no automatic retries: botocore would silently repeat a `CreateVpc`
that failed with a 5xx, and if the VPC had been made that repeat makes a second
one. The provisioner retries EC2 calls itself, looking up before re-creating.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from chalicelib import logs


class AwsClients:
    """The DynamoDB, SQS and EC2 clients of one process, each created on first use."""

    def __init__(self, region: str, ec2_pool_size: int = 10, pool_size: int = 10) -> None:
        """`pool_size`: connections kept for DynamoDB and SQS (threads calling them at once)."""
        self._region = region
        self._ec2_pool_size = ec2_pool_size
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def dynamodb(self) -> Any:
        return self._client("dynamodb", self._backend_config())

    @property
    def sqs(self) -> Any:
        return self._client("sqs", self._backend_config())

    def _backend_config(self) -> Config:
        return _BACKEND_CONFIG.merge(Config(max_pool_connections=self._pool_size))

    @property
    def ssm(self) -> Any:
        return self._client("ssm", _BACKEND_CONFIG)

    @property
    def ec2(self) -> Any:
        return self._client(
            "ec2", _EC2_CONFIG.merge(Config(max_pool_connections=self._ec2_pool_size))
        )

    def lazy(self, service: str) -> Any:
        """A stand-in for `service`'s client that builds it on first use.

        A cold start that only reads DynamoDB never pays for building the EC2
        client (about 0.2 s).
        """
        return _LazyClient(lambda: getattr(self, service))

    def _client(self, service: str, config: Config) -> Any:
        client = self._clients.get(service)
        if client is not None:
            return client
        # boto3 sessions are not thread-safe; clients are. Build under a lock.
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self._region)
                client = self._session.client(service, config=config)
                logs.observe_calls(client)
                self._clients[service] = client
            return self._clients[service]


class _LazyClient:
    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory(), name)


# DynamoDB and SQS calls on the API path: fail fast (the caller gets a 503 and
# retries with the same Idempotency-Key), with botocore's standard retries for
# throttling and 5xx. Every write we make is conditional or idempotent, so a
# repeated write is harmless.
_BACKEND_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
)

_EC2_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "total_max_attempts": 1},
)
