"""In-process integration fixtures: moto for AWS, chalice.test.Client for the app."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest
from chalice.test import BaseClient, Client, TestHTTPClient
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.sqs.models import sqs_backends

import app as app_module
from chalicelib import wiring
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation, RequestRecord
from chalicelib.store.items import deserialize, item_to_record, serialize
from chalicelib.wiring import Services
from devstack.events import job_message, sqs_record
from devstack.fault_injector import FaultInjector
from devstack.fault_rules import WorkerKilled
from devstack.isolation import make_dynamodb_atomic
from devstack.resources import Queues, create_queues, create_table
from devstack.server import thread_local_requests
from support import contract
from support.iam import IamRecorder
from support.moto_state import Replay, drop_state, recording
from support.tokens import auth

REGION = "us-east-1"
TABLE = "vpc-provisioner-test"
QUEUE = "vpc-provisioner-test-jobs"
# Every AWS call of every integration test, for test_iam_policies (which runs last).
IAM_RECORDER = IamRecorder()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked `after_all` last, so they see every call the others made."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


@pytest.fixture(scope="session", autouse=True)
def _contract() -> Iterator[None]:
    """Every answer any test receives from chalice.test's client is checked against
    openapi.yaml: one the contract does not describe fails the test that received it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TestHTTPClient, "request", contract.checked(TestHTTPClient.request))
        yield


@pytest.fixture(scope="session", autouse=True)
def _environment_left_alone() -> Iterator[None]:
    """chalice.test's clients leave os.environ alone (test_client_environment.py).

    By itself, each client runs every request and invocation with the stage's variables
    from .chalice/config.json (stage dev, which as committed carries UNBACKED_STAGE=dev).
    It swaps `os.environ` for a patched copy and then puts back the object it found. When
    the concurrency tests' threads overlap, a copy gets left in place as `os.environ`,
    holding dev's variables, for every later test of the process: after them, packaging
    the dev stage (tests/deploy) failed because the app refused to load. The app here
    takes its settings from `services`, never from a deployable stage's variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_patched_env_vars", _environment_as_it_is)
        yield


@contextlib.contextmanager
def _environment_as_it_is(
    client: BaseClient, environment_variables: Mapping[str, str]
) -> Iterator[None]:
    """In place of `BaseClient._patched_env_vars`: the call runs in the process's environment."""
    yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = contract.STATS
    if stats.checked or stats.unrouted:
        terminalreporter.write_line(
            f"openapi.yaml: {stats.checked} answers checked in {stats.seconds:.1f} s"
            f" ({stats.unrouted} to unrouted paths: the gateway's 403)"
        )


@dataclass
class Stack:
    """moto's AWS: the clients the app uses (instrumented) and uninstrumented ones for checks."""

    clients: AwsClients
    queues: Queues
    faults: FaultInjector
    truth: AwsClients

    @property
    def ec2(self) -> Any:
        return self.truth.ec2

    def lose_an_update_answer(self, match: Callable[[dict[str, Any]], bool]) -> None:
        """The next UpdateItem `match` accepts runs, and its answer is lost (a 500 after)."""
        self.faults.fail(
            "dynamodb", "UpdateItem", "InternalServerError", 500, when="after", match=match
        )

    def vpcs(self, request_id: str | None = None) -> list[dict[str, Any]]:
        """Ground truth: the VPCs EC2 holds (for one request, or all but the default VPC)."""
        filters = (
            [{"Name": f"tag:{REQUEST_ID_TAG}", "Values": [request_id]}]
            if request_id
            else [{"Name": "is-default", "Values": ["false"]}]
        )
        return list(self.ec2.describe_vpcs(Filters=filters)["Vpcs"])

    def subnets(self, vpc_id: str | None = None) -> list[dict[str, Any]]:
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else []
        subnets = self.ec2.describe_subnets(Filters=filters)["Subnets"]
        return [s for s in subnets if not s.get("DefaultForAz")]

    def event(self, message: dict[str, Any]) -> dict[str, Any]:
        """The SQS event Lambda builds for a message received from the jobs queue."""
        return {"Records": [sqs_record(message, self.queues.queue_arn, REGION)]}

    def messages(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Receive (and hide) every visible message of the jobs queue."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.truth.sqs.receive_message(
                QueueUrl=queue_url or self.queues.queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return out
            out.extend(batch)


@pytest.fixture(scope="session")
def aws_clients() -> Iterator[tuple[AwsClients, AwsClients]]:
    """The app's clients and the checker's, built once: moto resets its state per test,
    and building boto3 clients is the slowest part of a test's setup."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        app_clients, truth = AwsClients(REGION, ec2_pool_size=32), AwsClients(REGION)
        for clients in (app_clients, truth):
            for service in ("dynamodb", "sqs", "ec2"):
                getattr(clients, service)
        yield app_clients, truth


@dataclass(frozen=True)
class Moto:
    """moto's mock, started once for the folder (tests/support/moto_state.py says why), and
    how to make the table and the queues every `stack` starts with."""

    queues: Queues
    make_table_and_queues: Replay


@pytest.fixture(scope="package")
def moto(aws_clients: tuple[AwsClients, AwsClients]) -> Iterator[Moto]:
    """The table and the queues made once through the API, as the local stack makes them
    (devstack/resources.py), their backends' calls recorded for `stack` to replay."""
    clients, _ = aws_clients
    with mock_aws():
        with recording(
            {
                dynamodb_backends: ("create_table", "update_time_to_live"),
                sqs_backends: ("create_queue",),
            }
        ) as replay:
            create_table(clients.dynamodb, TABLE)
            queues = create_queues(clients.sqs, QUEUE, max_receive_count=5, visibility_timeout=1800)
        yield Moto(queues, replay)


@pytest.fixture
def aws(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto, holding nothing any earlier test made."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # The concurrency tests rely on DynamoDB's atomic conditional writes.
    make_dynamodb_atomic(monkeypatch.setattr)
    drop_state()


@pytest.fixture
def stack(aws: None, moto: Moto, aws_clients: tuple[AwsClients, AwsClients]) -> Iterator[Stack]:
    clients, truth = aws_clients
    moto.make_table_and_queues()
    queues = moto.queues
    faults = FaultInjector()
    services = (clients.dynamodb, clients.sqs, clients.ec2)
    for client in services:
        faults.attach(client)
        IAM_RECORDER.attach(client)
    IAM_RECORDER.truth_ec2 = truth.ec2
    # The clients outlive the test: what a test registers on them is unregistered after it
    # (a handler left behind would act on the next tests' calls).
    registered: list[tuple[Any, str, Any]] = []
    for client in services:
        _record_registrations(client.meta.events, registered)
    yield Stack(clients, queues, faults, truth)
    for events, event, handler in reversed(registered):
        events.unregister(event, handler)
    for client in services:
        vars(client.meta.events).pop("register", None)
        faults.detach(client)
        IAM_RECORDER.detach(client)


def _record_registrations(events: Any, registered: list[tuple[Any, str, Any]]) -> None:
    """Make `events.register` note each handler it registers, for the fixture to undo."""
    original = events.register

    def register(event_name: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        original(event_name, handler, *args, **kwargs)
        registered.append((events, event_name, handler))

    events.register = register


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return Settings(
        table_name=TABLE,
        queue_url=stack.queues.queue_url,
        dlq_url=stack.queues.dlq_url,
        region=REGION,
        max_receive_count=5,
        ambiguous_lookup_delay_seconds=0.0,
        # Most tests send the same body again and again: the pools' own tests
        # (test_address_pools.py) refuse overlaps, as a stage does by default.
        allow_overlap=True,
    )


@pytest.fixture
def services(stack: Stack, settings: Settings, clock: Any, sleeps: Any) -> Iterator[Services]:
    built = wiring.build(settings, stack.clients, clock=clock, sleep=sleeps)
    wiring.install(built)
    yield built
    wiring.install(None)


@pytest.fixture
def reconfigure(stack: Stack, clock: Any, sleeps: Any) -> Any:
    """Rebuild and install the services with some settings changed."""

    def apply(settings: Settings, use_clock: Any = None, **changes: Any) -> Services:
        built = wiring.build(
            replace(settings, **changes), stack.clients, clock=use_clock or clock, sleep=sleeps
        )
        wiring.install(built)
        return built

    return apply


@pytest.fixture
def client(services: Services) -> Iterator[Client]:
    """The app in-process (every answer checked against openapi.yaml: `_contract`), each
    thread's request its own (the concurrency tests' threads: as the local stack serves
    it; alone, one of those tests saw ten POSTs read one thread's headers)."""
    thread_local_requests(app_module.app)
    with Client(app_module.app) as test_client:
        yield test_client


def body(cidr: str = "10.30.0.0/16", subnets: int = 2, **vpc: Any) -> dict[str, Any]:
    """A valid POST /vpcs body with `subnets` /24 subnets spread over three AZs."""
    base = cidr.split(".")
    return {
        "vpc": {"cidr": cidr, **vpc},
        "subnets": [
            {
                "cidr": f"{base[0]}.{base[1]}.{i}.0/24",
                "az": f"{REGION}{'abc'[i % 3]}",
                "name": f"net-{i}",
            }
            for i in range(subnets)
        ],
    }


def post(
    client: Client,
    payload: Any,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /vpcs as user-1 with a fresh Idempotency-Key unless one is given."""
    all_headers = {
        **auth(),
        "Content-Type": "application/json",
        "Idempotency-Key": key or str(uuid.uuid4()),
        **(headers or {}),
    }
    raw = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.http.post("/vpcs", headers=all_headers, body=raw)


def sqs_event(
    request_id: str, receive_count: int = 1, operation: Operation = Operation.CREATE
) -> dict[str, Any]:
    """An SQS event with one record, built by hand (unique message id, real receive count)."""
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:{QUEUE}"
    message = job_message(request_id, receive_count, operation)
    return {"Records": [sqs_record(message, queue_arn, REGION)]}


def deliver(
    client: Client,
    request_id: str,
    receive_count: int = 1,
    operation: Operation = Operation.CREATE,
) -> Any:
    """Run the worker Lambda on one delivery of the request's message."""
    return client.lambda_.invoke("worker", sqs_event(request_id, receive_count, operation))


def is_vpc_checkpoint(params: dict[str, Any]) -> bool:
    """An UpdateItem that checkpoints the VPC's id (for faults' `match`)."""
    return ":vpc_id" in params.get("ExpressionAttributeValues", {})


def is_subnet_checkpoint(index: int) -> Callable[[dict[str, Any]], bool]:
    """A match for an UpdateItem that checkpoints the id of subnet `index`."""
    return lambda params: f"subnets[{index}].subnet_id" in params.get("UpdateExpression", "")


def is_checkpoint(params: dict[str, Any]) -> bool:
    """An UpdateItem that checkpoints anything (conditional on the worker's IN_PROGRESS)."""
    return ":working" in params.get("ExpressionAttributeValues", {})


def an_attempt_dies(
    client: Client,
    stack: Stack,
    request_id: str,
    operation: str,
    when: str = "after",
    lost: Callable[[dict[str, Any]], bool] = is_checkpoint,
) -> None:
    """The first attempt runs until EC2's `operation` (`when`: before or after it runs),
    then dies; the checkpoints `lost` matches never land."""
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, times=-1, match=lost)
    stack.faults.kill("ec2", operation, when=when)
    with pytest.raises(WorkerKilled):
        deliver(client, request_id)
    stack.faults.clear()


# --- the worker's ground truth ----------------------------------------------------


def submit(client: Client, subnets: int = 2, **vpc: Any) -> str:
    response = post(client, body(subnets=subnets, **vpc))
    assert response.status_code == 202, response.body
    return str(response.json_body["request_id"])


def rollback_held_up(client: Client, stack: Stack, settings: Settings, reconfigure: Any) -> str:
    """A request whose second subnet fails for good, then whose rollback's deletes fail in
    a way that may clear: its first delivery ends in RetryLater, the record ROLLING_BACK
    (the faults stay on). Returns its id."""
    reconfigure(settings, subnet_concurrency=1)
    request_id = submit(client, subnets=2)
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", skip=1)
    stack.faults.fail("ec2", "DeleteSubnet", "InternalError", 500, times=-1)
    with pytest.raises(RetryLater):
        deliver(client, request_id)
    return request_id


def record(client: Client, request_id: str) -> dict[str, Any]:
    return dict(client.http.get(f"/vpcs/{request_id}", headers=auth()).json_body)


def stored(stack: Stack, request_id: str) -> RequestRecord:
    """The record as the table holds it (lease and version included), read strongly."""
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )
    return item_to_record(deserialize(item["Item"]))


def live_set(stack: Stack, sub: str = "user-1") -> set[str]:
    """The ids in a user's quota item (MAX_LIVE_REQUESTS_PER_USER), read strongly consistent."""
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": f"quota#{sub}"}}, ConsistentRead=True
    ).get("Item", {})
    return set(item.get("live", {}).get("SS", []))


def set_fields(stack: Stack, request_id: str, **fields: Any) -> None:
    """Write fields of a request's item directly (the status a test starts from), bumping
    its version as every writer of the app does."""
    names = {f"#f{i}": name for i, name in enumerate(fields)} | {"#v": "version"}
    values = {f":f{i}": value for i, value in enumerate(fields.values())} | {":one": 1}
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET "
        + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
        + " ADD #v :one",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=serialize(values),
    )


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def assert_provisioned(stack: Stack, client: Client, request_id: str, subnets: int) -> None:
    """The record says SUCCEEDED and EC2 holds exactly one VPC and `subnets` subnets for it."""
    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED", rec
    vpcs = stack.vpcs(request_id)
    assert [v["VpcId"] for v in vpcs] == [rec["vpc_id"]]
    in_vpc = stack.subnets(rec["vpc_id"])
    assert len(in_vpc) == subnets
    assert sorted(s["SubnetId"] for s in in_vpc) == sorted(s["subnet_id"] for s in rec["subnets"])
    assert {s["CidrBlock"]: s["SubnetId"] for s in in_vpc} == {
        s["cidr"]: s["subnet_id"] for s in rec["subnets"]
    }


def assert_nothing_left(stack: Stack, request_id: str) -> None:
    assert stack.vpcs(request_id) == []
    assert [s for s in stack.subnets() if tags(s).get("RequestId") == request_id] == []
