"""What operators see: a JSON line per invocation, per job and per AWS call, EMF metrics,
and never a credential (docs/operating.md, "Operating it")."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from chalicelib import logs, wiring
from chalicelib.aws.ec2 import REQUEST_ID_TAG
from chalicelib.errors import RetryLater
from chalicelib.metrics import NAMESPACE, Metrics
from chalicelib.wiring import Services
from devstack.text_log import TextFormatter
from devstack.worker import scheduled_event
from integration.conftest import TABLE, Stack, body, deliver, is_vpc_checkpoint, post
from integration.test_reconciler import tagged_vpc
from integration.test_worker import racing_duplicate
from support.tokens import auth


class Captured:
    """Every log line (through the JSON formatter) and every EMF line of a test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.emf: list[str] = []

    @property
    def text(self) -> str:
        return self.stream.getvalue() + "\n".join(self.emf)

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [p for p in parsed if event is None or p.get("event") == event]

    def metrics(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.emf]


@pytest.fixture
def captured(
    stack: Stack, settings: Any, clock: Any, sleeps: Any, services: Services
) -> Iterator[Captured]:
    capture = Captured()
    wiring.install(
        wiring.build(
            settings,
            stack.clients,
            clock=clock,
            sleep=sleeps,
            metrics_sink=Metrics(capture.emf.append),
        )
    )
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    saved = root.level
    root.setLevel(logging.INFO)
    yield capture
    root.removeHandler(handler)
    root.setLevel(saved)


@pytest.fixture
def app_client(captured: Captured) -> Iterator[Client]:
    with Client(app_module.app) as test_client:
        yield test_client


def test_an_api_call_logs_its_route_status_caller_and_each_aws_call_with_the_request_id(
    app_client: Client, captured: Captured
) -> None:
    response = post(app_client, body(subnets=1))
    assert response.status_code == 202
    request_id = response.json_body["request_id"]
    (invocation,) = captured.lines("invocation")
    assert invocation["route"] == "POST /vpcs"
    assert invocation["status"] == 202
    assert invocation["caller"] == "user-1"
    assert invocation["request_id"] == request_id
    assert invocation["duration_ms"] >= 0
    calls = captured.lines("aws_call")
    assert {(c["aws_service"], c["aws_operation"]) for c in calls} >= {
        ("dynamodb", "TransactWriteItems"),
        ("sqs", "SendMessage"),
    }
    # A call made once the request id was known carries it.
    sent = next(c for c in calls if c["aws_operation"] == "SendMessage")
    assert sent["request_id"] == request_id
    assert sent["route"] == "POST /vpcs"
    assert all(isinstance(c["duration_ms"], float) for c in calls)


def test_only_a_post_whose_request_is_stored_logs_a_request_id(
    app_client: Client, captured: Captured, settings: Any, reconfigure: Any
) -> None:
    """Operators filter by request_id (docs/operating.md): a refused POST's lines name no
    request (its id was never stored: GET answers 404); an accepted one's and a replay's
    name the stored request."""
    reconfigure(settings, allow_overlap=False)  # CIDR_OVERLAP=reject, as deployed
    accepted = post(app_client, body(cidr="10.30.0.0/16", subnets=1), key="key-1")
    replayed = post(app_client, body(cidr="10.30.0.0/16", subnets=1), key="key-1")
    reused = post(app_client, body(cidr="10.30.0.0/16", subnets=2), key="key-1")
    overlapping = post(app_client, body(cidr="10.30.0.0/16", subnets=1), key="key-2")
    assert [r.status_code for r in (accepted, replayed, reused, overlapping)] == [
        202,
        202,
        422,
        409,
    ]
    assert overlapping.json_body["Code"] == "CidrConflict"

    request_id = accepted.json_body["request_id"]
    posts = [i for i in captured.lines("invocation") if i.get("route") == "POST /vpcs"]
    assert [(i["status"], i.get("request_id")) for i in posts] == [
        (202, request_id),
        (202, request_id),
        (422, None),
        (409, None),
    ]
    assert {line.get("request_id") for line in captured.lines()} == {request_id, None}


def test_a_failed_aws_call_is_logged_with_its_error_code(
    app_client: Client, captured: Captured
) -> None:
    # The same key with another body: DynamoDB cancels the transaction (a real AWS error).
    post(app_client, body(subnets=1), key="key-1")
    assert post(app_client, body(subnets=2), key="key-1").status_code == 422
    failed = [c for c in captured.lines("aws_call") if c.get("error")]
    assert ("TransactWriteItems", "TransactionCanceledException") in {
        (c["aws_operation"], c["error"]) for c in failed
    }


def test_a_job_logs_one_job_line_and_its_emf_metrics(
    app_client: Client, captured: Captured
) -> None:
    request_id = post(app_client, body(subnets=2)).json_body["request_id"]
    deliver(app_client, request_id)
    (job,) = captured.lines("job")
    assert job["request_id"] == request_id
    assert job["operation"] == "create"
    assert job["outcome"] == "SUCCEEDED"
    assert job["attempts"] == 1
    assert job["in_place_retries"] == 0
    # Every EC2 call of the job (the subnets' threads too) carries the request id.
    ec2_calls = [
        c
        for c in captured.lines("aws_call")
        if c["aws_service"] == "ec2" and c.get("route") is None  # the worker's, not the POST's
    ]
    assert [c["aws_operation"] for c in ec2_calls].count("CreateSubnet") == 2
    assert {c.get("request_id") for c in ec2_calls} == {request_id}
    (emf,) = captured.metrics()
    block = emf["_aws"]["CloudWatchMetrics"][0]
    assert block["Namespace"] == NAMESPACE
    assert block["Dimensions"] == [["Operation", "Outcome"]]
    assert {m["Name"] for m in block["Metrics"]} == {
        "Jobs",
        "JobDuration",
        "Attempts",
        "InPlaceRetries",
        "OrphansRemoved",
        "ProvisioningDuration",
    }
    assert (emf["Operation"], emf["Outcome"], emf["Jobs"], emf["Attempts"]) == (
        "create",
        "SUCCEEDED",
        1,
        1,
    )
    assert emf["request_id"] == request_id
    assert emf["ProvisioningDuration"] >= 0


def test_in_place_retries_are_counted_in_the_jobs_metrics(
    app_client: Client, captured: Captured, stack: Stack
) -> None:
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    stack.faults.fail("ec2", "CreateSubnet", "RequestLimitExceeded", status=503, times=2)
    deliver(app_client, request_id)
    (job,) = captured.lines("job")
    assert job["outcome"] == "SUCCEEDED"
    assert job["in_place_retries"] == 2
    assert captured.metrics()[0]["InPlaceRetries"] == 2


def test_a_retried_checkpoint_write_counts_and_its_lines_carry_the_request_id(
    app_client: Client, captured: Captured, stack: Stack
) -> None:
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    stack.faults.fail("dynamodb", "UpdateItem", "InternalServerError", 500, match=is_vpc_checkpoint)
    written = stack.faults.signal("dynamodb", "UpdateItem", match=is_vpc_checkpoint)
    stack.faults.hold("ec2", "CreateSubnet", until=written)
    deliver(app_client, request_id)
    (job,) = captured.lines("job")
    assert job["outcome"] == "SUCCEEDED"
    assert job["in_place_retries"] == 1
    # The checkpoint thread's lines (its failed write's warning) are the job's.
    warning = next(line for line in captured.lines() if "checkpoint attempt" in line["message"])
    assert warning["request_id"] == request_id


def test_a_job_worth_another_try_is_logged_as_retry(
    app_client: Client, captured: Captured, stack: Stack
) -> None:
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    stack.faults.fail("ec2", "CreateVpc", "RequestLimitExceeded", status=503, times=10)
    with pytest.raises(Exception, match="RequestLimitExceeded"):
        deliver(app_client, request_id)
    (job,) = captured.lines("job")
    assert job["outcome"] == "RETRY"
    assert job["level"] == "INFO"
    (worker,) = [i for i in captured.lines("invocation") if i.get("route") is None]
    assert worker["outcome"] == "RetryLater"
    assert worker["level"] == "INFO"  # a normal retry: nothing for an ERROR alarm
    assert captured.metrics()[0]["Outcome"] == "RETRY"


def test_a_job_before_its_post_stored_the_request_is_debug_on_its_first_receive_only(
    app_client: Client, captured: Captured, stack: Stack
) -> None:
    """The usual race (docs/local-stack.md): a job sent beside its POST's transaction is
    received before the record is there, and comes back a second later. That first
    receive's `job` and `invocation` lines are DEBUG, below the POST's own line in `make
    run`; a later receive that still finds no record is worth its INFO lines."""
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    stack.truth.dynamodb.delete_item(TableName=TABLE, Key={"request_id": {"S": request_id}})
    (message,) = stack.messages()

    with pytest.raises(RetryLater):
        app_client.lambda_.invoke("worker", stack.event(message))
    assert captured.lines("job") == []  # DEBUG: below the handler's INFO
    assert [i for i in captured.lines("invocation") if i.get("route") is None] == []

    again = {**message, "Attributes": {**message["Attributes"], "ApproximateReceiveCount": "2"}}
    with pytest.raises(RetryLater):
        app_client.lambda_.invoke("worker", stack.event(again))
    (job,) = captured.lines("job")
    assert (job["outcome"], job["level"], job["request_id"]) == ("RETRY", "INFO", request_id)
    (worker,) = [i for i in captured.lines("invocation") if i.get("route") is None]
    assert (worker["outcome"], worker["level"]) == ("RetryLater", "INFO")


def test_no_token_or_authorization_header_ever_reaches_a_log_line(
    app_client: Client, captured: Captured
) -> None:
    headers = auth()
    token = headers["Authorization"].removeprefix("Bearer ")
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    app_client.http.get(f"/vpcs/{request_id}", headers=headers)
    app_client.http.get("/vpcs?limit=1", headers=headers)
    deliver(app_client, request_id)
    app_client.http.delete(f"/vpcs/{request_id}", headers=headers)
    assert len(captured.lines("invocation")) == 5
    for part in token.split("."):
        assert part not in captured.text
    assert "Bearer" not in captured.text


def test_the_reaper_reports_the_age_of_the_oldest_queued_request(
    app_client: Client, captured: Captured, clock: Any
) -> None:
    post(app_client, body(subnets=1))
    clock.advance(42)
    wiring.current().reaper.run()
    (emf,) = captured.metrics()
    assert emf["Function"] == "reaper"
    assert 42 <= emf["OldestQueuedAge"] <= 43
    assert emf["Requeued"] == 0


def _provisioned(app_client: Client, subnets: int, index: int) -> tuple[str, dict[str, Any]]:
    """A request provisioned with `subnets` subnets: its id, and its subnet `index`."""
    request_id = post(app_client, body(subnets=subnets)).json_body["request_id"]
    deliver(app_client, request_id)
    record = app_client.http.get(f"/vpcs/{request_id}", headers=auth()).json_body
    return request_id, record["subnets"][index]


def _reconcile_once_settled(clock: Any, settings: Any) -> None:
    """A reconciler run once what EC2 shows has had time to settle (DRIFT_SETTLE_SECONDS)."""
    clock.advance(settings.drift_settle_seconds + 2)
    wiring.current().reconciler.run()


def test_the_reconciler_counts_drifted_requests_and_logs_a_line_per_change(
    app_client: Client, captured: Captured, stack: Stack, clock: Any, settings: Any
) -> None:
    request_id, subnet = _provisioned(app_client, subnets=2, index=1)
    stack.truth.ec2.delete_subnet(SubnetId=subnet["subnet_id"])

    for _ in range(2):  # the change, then a run that changes nothing
        _reconcile_once_settled(clock, settings)

    runs = [m for m in captured.metrics() if m.get("Function") == "reconciler"]
    assert [m["DriftedRequests"] for m in runs] == [1, 1]
    assert "DriftedRequests" in {
        metric["Name"] for metric in runs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    (line,) = captured.lines("drift")
    assert line["level"] == "WARNING"
    assert line["request_id"] == request_id
    assert line["drift"] == 1
    assert line["appeared"] == [
        f"subnet {subnet['subnet_id']} missing: the subnet ({subnet['cidr']}) no longer exists"
    ]
    assert line["cleared"] == []


def test_drift_that_clears_is_a_log_line_of_its_own_and_the_metric_comes_back_to_zero(
    app_client: Client, captured: Captured, stack: Stack, clock: Any, settings: Any
) -> None:
    request_id, subnet = _provisioned(app_client, subnets=1, index=0)
    ec2 = stack.truth.ec2
    ec2.delete_tags(Resources=[subnet["subnet_id"]], Tags=[{"Key": REQUEST_ID_TAG}])
    _reconcile_once_settled(clock, settings)

    ec2.create_tags(
        Resources=[subnet["subnet_id"]], Tags=[{"Key": REQUEST_ID_TAG, "Value": request_id}]
    )
    _reconcile_once_settled(clock, settings)

    runs = [m for m in captured.metrics() if m.get("Function") == "reconciler"]
    assert [m["DriftedRequests"] for m in runs] == [1, 0]
    appeared, cleared = captured.lines("drift")
    assert (appeared["level"], appeared["drift"], appeared["cleared"]) == ("WARNING", 1, [])
    assert cleared["level"] == "INFO"
    assert cleared["request_id"] == request_id
    assert (cleared["drift"], cleared["appeared"]) == (0, [])
    assert cleared["cleared"] == appeared["appeared"]


def test_an_idle_scheduled_run_is_logged_at_debug_and_one_that_acted_at_info(
    app_client: Client, captured: Captured, stack: Stack, clock: Any, settings: Any
) -> None:
    """The local stack runs the reaper every few seconds: idle runs must not fill its output."""
    app_client.lambda_.invoke("reaper", scheduled_event())
    assert captured.lines("invocation") == []  # DEBUG: below the handler's INFO

    post(app_client, body(subnets=1))
    stack.messages()  # the job is lost: the reaper re-sends it once it is stale
    clock.advance(settings.stale_after_seconds + 1)
    app_client.lambda_.invoke("reaper", scheduled_event())

    (acted,) = [i for i in captured.lines("invocation") if i.get("route") is None]
    assert acted["level"] == "INFO"
    assert acted["outcome"] == "ok"
    # The function's name, from the Lambda context (the local stack sets no variable).
    assert acted["function"] == "reaper"


def test_an_idle_reconciler_run_is_logged_at_debug_and_one_that_removed_at_info(
    app_client: Client, captured: Captured, stack: Stack, clock: Any, settings: Any
) -> None:
    """The reconciler too runs every few seconds locally: a run that finds EC2 as the
    records say stays below INFO; one that removed an orphan is an INFO line."""
    request_id = post(app_client, body(subnets=1)).json_body["request_id"]
    deliver(app_client, request_id)
    clock.advance(settings.reconcile_grace_seconds + 1)
    app_client.lambda_.invoke("reconciler", scheduled_event())  # holds the default VPC's block
    before = len(captured.lines("invocation"))
    app_client.lambda_.invoke("reconciler", scheduled_event())
    assert captured.lines("invocation")[before:] == []

    tagged_vpc(stack, request_id, cidr="10.31.0.0/16")
    app_client.lambda_.invoke("reconciler", scheduled_event())

    (acted,) = captured.lines("invocation")[before:]
    assert acted["level"] == "INFO"
    assert acted["outcome"] == "ok"
    assert acted["function"] == "reconciler"


def test_an_address_upkeep_that_cannot_list_the_accounts_vpcs_says_so_and_counts_it(
    app_client: Client, captured: Captured, stack: Stack
) -> None:
    """While DescribeVpcs fails, what sized POSTs keep away from is as old as the last
    listing: each run says so in a WARNING and counts ForeignVpcsUnlisted 1 (the metric
    an alarm watches); a run that lists them again counts 0, and says nothing."""
    stack.faults.fail("ec2", "DescribeVpcs", "UnauthorizedOperation", times=-1)
    wiring.current().pool_keeper.run()
    stack.faults.clear()
    wiring.current().pool_keeper.run()

    runs = [m for m in captured.metrics() if "ForeignVpcsUnlisted" in m]
    assert [(m["ForeignVpcsUnlisted"], m["AddressUpkeepErrors"]) for m in runs] == [(1, 1), (0, 0)]
    warning, acted = [line for line in captured.lines() if "address upkeep" in line["message"]]
    assert (warning["level"], acted["level"]) == ("WARNING", "INFO")  # the default VPC held
    assert "the account's VPCs were not listed" in warning["message"]
    assert "UnauthorizedOperation" in warning["message"]


def test_the_reconciler_runs_when_the_address_upkeep_fails_and_the_upkeep_comes_first(
    app_client: Client, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upkeep runs first (a reconciler run that reaches the function's timeout must
    not leave it undone) and its failure does not keep the reconciler from running."""
    services = wiring.current()
    ran: list[str] = []

    def upkeep() -> None:
        ran.append("upkeep")
        raise RuntimeError("the upkeep broke")

    def reconcile(seconds_left: float | None = None) -> Any:
        ran.append("reconciler")
        return type("Report", (), {"acted": False})()

    monkeypatch.setattr(services.pool_keeper, "run", upkeep)
    monkeypatch.setattr(services.reconciler, "run", reconcile)

    with pytest.raises(RuntimeError, match="the upkeep broke"):
        app_client.lambda_.invoke("reconciler", scheduled_event())

    assert ran == ["upkeep", "reconciler"]


def test_the_local_stack_s_text_lines_show_the_fields_that_matter(
    app_client: Client, captured: Captured
) -> None:
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(TextFormatter())
    logging.getLogger().addHandler(handler)
    try:
        request_id = post(app_client, body(subnets=1)).json_body["request_id"]
        deliver(app_client, request_id)
    finally:
        logging.getLogger().removeHandler(handler)

    lines = text.getvalue().splitlines()
    [api] = [line for line in lines if "invocation" in line and "route=" in line]
    assert '"POST /vpcs"' in api
    assert f"request_id={request_id}" in api
    assert "outcome=202" in api
    assert "duration_ms=" in api
    [job] = [line for line in lines if ": job " in line]
    assert f"request_id={request_id}" in job
    assert "outcome=SUCCEEDED" in job


@pytest.mark.parametrize("answer", ["deleted", "only not found"])
def test_a_duplicate_counts_as_removed_only_when_its_delete_answered(
    app_client: Client, captured: Captured, stack: Stack, clock: Any, settings: Any, answer: str
) -> None:
    """`orphans_removed` and OrphansRemoved (docs/operating.md) count the duplicates a
    worker deleted: not one whose DeleteVpc answered only "not found", which the record
    notes not removed (EC2 may lag behind its making)."""
    request_id = racing_duplicate(app_client, stack, clock, settings)
    if answer == "only not found":
        stack.faults.fail("ec2", "DeleteVpc", "InvalidVpcID.NotFound", 400, times=1)

    deliver(app_client, request_id, receive_count=2)

    removed = 1 if answer == "deleted" else 0
    job = captured.lines("job")[-1]
    assert (job["outcome"], job["orphans_removed"]) == ("SUCCEEDED", removed), job
    assert captured.metrics()[-1]["OrphansRemoved"] == removed
