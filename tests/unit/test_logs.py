"""Structured logs: one JSON object per line, with the invocation's context, and no secrets."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from typing import Any

import pytest

from chalicelib import logs, metrics
from chalicelib.metrics import Metrics, Unit

# A syntactically real ID token (header.payload.signature), as an Authorization header holds.
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"
    ".eyJzdWIiOiJ1c2VyLTEiLCJ0b2tlbl91c2UiOiJpZCJ9"
    ".c2lnbmF0dXJlLWJ5dGVz"
)


def test_every_line_is_one_json_object_with_the_bound_context_and_its_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs.one")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with logs.bound(function="worker", request_id="r-1"):
        logs.bind(operation="create")
        logs.event(logger, "job", outcome="SUCCEEDED", duration_ms=12.5)
    logger.info("after %s", "the block")
    logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == first["message"] == "job"
    assert first["level"] == "INFO"
    assert first["logger"] == "test.logs.one"
    assert {k: first[k] for k in ("function", "request_id", "operation", "outcome")} == {
        "function": "worker",
        "request_id": "r-1",
        "operation": "create",
        "outcome": "SUCCEEDED",
    }
    assert first["duration_ms"] == 12.5
    assert first["time"].endswith("+00:00")
    # The block's fields end with it.
    assert second["message"] == "after the block"
    assert "request_id" not in second
    assert "operation" not in second


def test_bind_outside_any_block_leaves_nothing_behind() -> None:
    logs.bind(request_id="leak")
    assert logs.context() == {}


def test_threads_started_with_a_copy_of_the_context_log_the_jobs_fields() -> None:
    seen: list[Any] = []
    with logs.bound(request_id="r-2"):
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(lambda: seen.append(logs.context()),))
        thread.start()
        thread.join()
    assert seen == [{"request_id": "r-2"}]


@pytest.mark.parametrize(
    "field",
    [
        "Authorization",
        "authorization",
        "id_token",
        "IdToken",
        "password",
        "client_secret",
        "Cookie",
    ],
)
def test_a_field_named_like_a_secret_is_never_written(field: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs.secret")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    fields: dict[str, Any] = {field: "hunter2-the-secret", "headers": {field: JWT}}
    logs.event(logger, "request", **fields)
    logger.removeHandler(handler)
    text = stream.getvalue()
    assert "hunter2" not in text
    assert JWT not in text
    line = json.loads(text)
    assert line[field] == logs.REDACTED
    assert line["headers"][field] == logs.REDACTED


def test_a_token_or_bearer_credential_inside_any_text_is_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs.text")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.warning("rejected %s and Bearer abc.def-ghi", JWT)
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        logger.exception("failed")
    with logs.bound(note=f"carried {JWT}"):
        logger.info("in context")
    logger.removeHandler(handler)
    text = stream.getvalue()
    assert JWT not in text
    assert "abc.def-ghi" not in text
    assert text.count(logs.REDACTED) >= 4


def test_configure_formats_the_root_loggers_lines_as_json() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        root.handlers = []
        logs.configure(stream)
        logs.configure(stream)  # idempotent: still one handler
        assert len(root.handlers) == 1
        with logs.bound(lambda_request_id="abc"):
            logging.getLogger("chalicelib.anything").info("hello")
    finally:
        root.handlers, root.level = saved_handlers, saved_level
    line = json.loads(stream.getvalue())
    assert line["message"] == "hello"
    assert line["lambda_request_id"] == "abc"


def test_an_emf_line_names_each_metric_under_its_dimensions() -> None:
    written: list[str] = []
    with logs.bound(request_id="r-3"):
        Metrics(written.append, clock=lambda: 1_800_000_000.5).put(
            {"Operation": "create", "Outcome": "SUCCEEDED"},
            {"Jobs": (1, Unit.COUNT), "JobDuration": (250.0, Unit.MILLISECONDS)},
        )
    (line,) = (json.loads(w) for w in written)
    directive = line["_aws"]
    assert directive["Timestamp"] == 1_800_000_000_500
    (block,) = directive["CloudWatchMetrics"]
    assert block["Namespace"] == metrics.NAMESPACE
    assert block["Dimensions"] == [["Operation", "Outcome"]]
    assert block["Metrics"] == [
        {"Name": "Jobs", "Unit": "Count"},
        {"Name": "JobDuration", "Unit": "Milliseconds"},
    ]
    # Every metric and dimension is a top-level member (what CloudWatch reads), and the
    # bound context rides along for Logs Insights.
    assert line["Jobs"] == 1
    assert line["JobDuration"] == 250.0
    assert line["Operation"] == "create"
    assert line["Outcome"] == "SUCCEEDED"
    assert line["request_id"] == "r-3"


def test_counts_from_a_jobs_threads_add_up_in_its_tally_and_nowhere_else() -> None:
    metrics.count(metrics.IN_PLACE_RETRIES)  # outside any tally: dropped
    with metrics.tallied() as tally:
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(metrics.count, metrics.IN_PLACE_RETRIES, 2),
            )
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with metrics.tallied() as inner:
            metrics.count(metrics.ORPHANS_REMOVED)
    assert tally[metrics.IN_PLACE_RETRIES] == 10
    assert tally[metrics.ORPHANS_REMOVED] == 0
    assert inner[metrics.ORPHANS_REMOVED] == 1


def test_emf_lines_go_to_stdout_in_lambda_and_to_a_debug_log_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    Metrics().put({"Function": "reaper"}, {"Requeued": (0, Unit.COUNT)})
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "vpc-provisioner-dev-reaper")
    Metrics().put({"Function": "reaper"}, {"Requeued": (0, Unit.COUNT)})
    assert json.loads(capsys.readouterr().out)["Requeued"] == 0
