"""vpcctl's retries: 503 and 409 (and lost connections) are retried with the same
Idempotency-Key, after the answer's Retry-After, so a retried create never makes two
VPCs; what is still failing after the last attempt ends with exit 5."""

from __future__ import annotations

import json
from email.utils import formatdate
from pathlib import Path

import pytest
import requests

from support.cli_harness import Cli, json_err, json_out
from support.fake_api import DroppingServer, FakeApi, Reply
from vpcctl.api import ApiClient, retry_after_seconds
from vpcctl.api_errors import api_error
from vpcctl.errors import CliError, ExitCode

VPC_SPEC = {
    "vpc": {"cidr": "10.30.0.0/16", "name": "apps"},
    "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a"}],
}
ACCEPTED = Reply(202, {"request_id": "r-1", "status": "QUEUED"}, {"Location": "/vpcs/r-1"})
UNAVAILABLE = {"Code": "ServiceUnavailable", "Message": "A backing service is unavailable"}
BUSY = {"Code": "ConflictError", "Message": "The same key is being accepted right now"}


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    cli = Cli(tmp_path, api)
    cli.login()
    (cli.cwd / "spec.json").write_text(json.dumps(VPC_SPEC, indent=1))
    return cli


def posts(api: FakeApi) -> list[tuple[str, bytes]]:
    return [(r.headers["idempotency-key"], r.body) for r in api.calls("POST", "/vpcs")]


def test_create_retries_503_and_409_with_the_same_key_after_each_retry_after(cli: Cli) -> None:
    cli.api.script(
        "POST",
        "/vpcs",
        Reply(503, UNAVAILABLE, {"Retry-After": "3"}),
        Reply(409, BUSY, {"Retry-After": "1"}),
        ACCEPTED,
    )
    result = cli.run("create", "-f", "spec.json", "--json")
    assert result.exit_code == 0, result.stderr
    sent = posts(cli.api)
    assert len(sent) == 3
    # One key and the spec file's very bytes on every attempt: the API's replay matches it.
    assert {key for key, _ in sent} == {"key-1"}
    assert {body for _, body in sent} == {(cli.cwd / "spec.json").read_bytes()}
    assert cli.time.sleeps == [3, 1]
    out = json_out(result)
    assert (out["request_id"], out["idempotency_key"], out["replayed"]) == ("r-1", "key-1", False)
    assert out["location"] == "/vpcs/r-1"
    assert result.stderr == ""  # --json: stderr carries only an error


def test_retries_are_told_on_stderr_without_json(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "2"}), ACCEPTED)
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == 0
    assert "503; retrying in 2s (attempt 2 of 5)" in result.stderr
    assert result.stdout.startswith("r-1  QUEUED")


def test_a_retry_after_date_is_honoured_and_without_one_the_wait_doubles(cli: Cli) -> None:
    in_four_seconds = formatdate(cli.time.now + 4, usegmt=True)
    cli.api.script(
        "POST",
        "/vpcs",
        Reply(503, UNAVAILABLE, {"Retry-After": in_four_seconds}),
        Reply(503, UNAVAILABLE),
        Reply(502, {"message": "Bad Gateway"}),
        ACCEPTED,
    )
    assert cli.run("create", "-f", "spec.json").exit_code == 0
    assert cli.time.sleeps == [4, 1, 2]


def test_a_retry_after_beyond_a_minute_is_waited_for_a_minute(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "3600"}), ACCEPTED)
    assert cli.run("create", "-f", "spec.json").exit_code == 0
    assert cli.time.sleeps == [60]


def test_each_invocation_sends_its_own_key_unless_one_is_given(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", ACCEPTED)
    for args in ([], [], ["--idempotency-key", "walkthrough-1"]):
        assert cli.run("create", "-f", "spec.json", *args).exit_code == 0
    assert [key for key, _ in posts(cli.api)] == ["key-1", "key-2", "walkthrough-1"]


def test_still_unavailable_after_the_last_attempt_exits_5_naming_the_key_to_finish_with(
    cli: Cli,
) -> None:
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "2"}))
    result = cli.run("create", "-f", "spec.json", "--max-attempts", "3")
    assert result.exit_code == 5
    assert len(posts(cli.api)) == 3
    assert cli.time.sleeps == [2, 2]
    assert "ServiceUnavailable, HTTP 503" in result.stderr
    assert "--idempotency-key key-1" in result.stderr
    assert result.stdout == ""


def test_a_quota_refusal_is_not_retried_and_says_how_to_free_a_place(cli: Cli) -> None:
    quota = {"Code": "QuotaExceeded", "Message": "You have 20 live requests and a user may have 20"}
    cli.api.script("POST", "/vpcs", Reply(429, quota))
    result = cli.run("create", "-f", "spec.json", "--json")
    assert result.exit_code == 2
    assert len(posts(cli.api)) == 1
    assert cli.time.sleeps == []
    error = json_err(result)
    assert (error["Code"], error["http_status"]) == ("QuotaExceeded", 429)
    assert "vpcctl delete" in error["hint"]
    assert "--mine" in error["hint"]


def test_a_quota_refusals_advice_is_said_once() -> None:
    """The API's message already names `vpcctl list --mine`: the hint adds only the delete."""
    said = (
        "You have 3 live requests and a user may have 3: DELETE one you no longer need ...; "
        "'vpcctl list --mine' lists yours."
    )
    response = requests.Response()
    response.status_code = 429
    response._content = json.dumps({"Code": "QuotaExceeded", "Message": said}).encode()

    error = api_error(response, attempts=1)

    assert "--mine" not in (error.hint or "")
    assert "vpcctl delete" in (error.hint or "")


def test_the_stage_s_throttle_is_still_retried(cli: Cli) -> None:
    throttled = {"Code": "TooManyRequestsError", "Message": "Too Many Requests"}
    cli.api.script("POST", "/vpcs", Reply(429, throttled, {"Retry-After": "1"}), ACCEPTED)
    result = cli.run("create", "-f", "spec.json", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(posts(cli.api)) == 2


def test_max_attempts_comes_from_the_environment_too(cli: Cli) -> None:
    cli.env["VPCCTL_MAX_ATTEMPTS"] = "2"
    cli.api.script("POST", "/vpcs", Reply(409, BUSY, {"Retry-After": "1"}))
    result = cli.run("create", "-f", "spec.json", "--json")
    assert result.exit_code == 5
    assert len(posts(cli.api)) == 2
    error = json_err(result)
    assert (error["Code"], error["http_status"]) == ("ConflictError", 409)
    assert "key-1" in error["hint"]


def test_a_lost_connection_is_retried_then_exits_5(cli: Cli) -> None:
    dropping = DroppingServer()
    try:
        cli.write_stack(dropping.url)
        cli.remember_login(dropping.url)  # (a login would connect once more)
        result = cli.run("get", "r-1", "--max-attempts", "3")
    finally:
        dropping.close()
    assert result.exit_code == 5
    assert cli.time.sleeps == [0.5, 1]
    assert dropping.accepted == 3
    assert dropping.url in result.stderr
    assert "(ConnectionFailed)" in result.stderr


def test_delete_retries_409_while_a_worker_is_on_the_request(cli: Cli) -> None:
    cli.api.script(
        "DELETE",
        "/vpcs/r-1",
        Reply(409, {"Code": "ConflictError", "Message": "IN_PROGRESS"}, {"Retry-After": "5"}),
        Reply(202, {"request_id": "r-1", "status": "DELETING"}),
    )
    result = cli.run("delete", "r-1")
    assert result.exit_code == 0, result.stderr
    assert cli.time.sleeps == [5]
    assert result.stdout.strip() == "r-1  DELETING"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("", None), ("soon", None), ("-3", 0.0)],
)
def test_retry_after_is_read_as_seconds(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=0.0) == seconds


def test_a_given_key_is_sent_even_when_empty_for_the_api_to_refuse(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", Reply(400, {"Code": "BadRequestError", "Message": "1 to 255"}))
    result = cli.run("create", "-f", "spec.json", "--idempotency-key", "")
    assert result.exit_code == 2
    assert [key for key, _ in posts(cli.api)] == [""]
    assert cli.keys == []  # no key of its own instead


def interrupt(_seconds: float) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_while_a_create_is_retried_exits_130_naming_the_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "1"}))
    monkeypatch.setattr(cli.time, "sleep", interrupt)
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == 130
    assert "--idempotency-key key-1" in result.stderr


def test_ctrl_c_while_waiting_exits_130_saying_the_request_goes_on(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.api.script("POST", "/vpcs", ACCEPTED)
    cli.api.script("GET", "/vpcs/r-1", Reply(200, {"request_id": "r-1", "status": "QUEUED"}))
    monkeypatch.setattr(cli.time, "sleep", interrupt)
    result = cli.run("create", "-f", "spec.json", "--wait")
    assert result.exit_code == 130
    assert "vpcctl get r-1" in result.stderr


@pytest.mark.parametrize(
    "key",
    [" walkthrough-4", "walkthrough-4 ", "a\nb", "\tkey", "line-end\n", "caf\u00e9", "\u20ac"],
)
def test_a_key_no_http_header_carries_is_a_usage_error_before_anything_is_sent(
    cli: Cli, key: str
) -> None:
    """requests refuses a leading space or tab and a line break before sending, http.client
    what is beyond Latin-1: vpcctl took the first for a lost connection (5 attempts, 'cannot
    reach', exit 5, a hint to rerun with that very key), the second for a bug (exit 70)."""
    cli.api.script("POST", "/vpcs", ACCEPTED)
    result = cli.run("create", "-f", "spec.json", "--idempotency-key", key)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "cannot be sent as an HTTP header: use printable ASCII" in result.stderr
    assert posts(cli.api) == []
    assert cli.time.sleeps == []
    assert "cannot reach" not in result.stderr
    assert "may have been accepted" not in result.stderr


class _Token:
    def id_token(self) -> str:
        return "id-token"

    def refresh(self) -> str:
        return "id-token"


def test_a_header_requests_refuses_is_a_usage_error_not_a_lost_connection(api: FakeApi) -> None:
    """Whatever header requests refuses before sending (InvalidHeader) no attempt sent:
    not retried, exit 2, and known unsent (no 'may have been accepted')."""
    sleeps: list[float] = []
    client = ApiClient(api.url, _Token(), sleep=sleeps.append)
    with pytest.raises(CliError) as raised:
        client.call("GET", "/vpcs", headers={"X-Anything": " leading space"})
    assert (raised.value.exit_code, raised.value.sent_nothing) == (ExitCode.USAGE, True)
    assert sleeps == []
    assert api.received == []


def test_the_key_to_finish_with_is_quoted_for_the_shell(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "2"}))
    result = cli.run(
        "create", "-f", "spec.json", "--idempotency-key", "my key", "--max-attempts", "2"
    )
    assert result.exit_code == 5
    assert "--idempotency-key 'my key' to finish it" in result.stderr


def _record(status: str) -> dict[str, object]:
    return {"request_id": "r-1", "status": status, "request": {}, "subnets": []}


def test_wait_timeout_bounds_the_polls_retries_and_their_retry_after(cli: Cli) -> None:
    """A poll answered 503 Retry-After: 60 slept 4 x 60 s past `--timeout 5`, then exit 5;
    --timeout bounds the wait as a whole: no sleep past it, then exit 6."""
    busy = Reply(503, UNAVAILABLE, {"Retry-After": "60"})
    cli.api.script("GET", "/vpcs/r-1", Reply(200, _record("IN_PROGRESS")), busy)
    result = cli.run("wait", "r-1", "--timeout", "5")
    assert result.exit_code == 6, (result.exit_code, result.stderr)
    assert sum(cli.time.sleeps) == 5
    assert "gave up waiting after 5s: request r-1 is IN_PROGRESS" in result.stderr
    assert "it goes on" in result.stderr


IN_PROGRESS_BUSY = Reply(
    409,
    {
        "Code": "ConflictError",
        "Message": "The request is IN_PROGRESS: it is being provisioned. Retry the DELETE "
        "after it finishes.",
    },
    {"Retry-After": "5"},
)


def test_delete_wait_waits_out_409s_beyond_max_attempts_until_its_timeout(cli: Cli) -> None:
    """A request still being provisioned refuses its DELETE (409, retry after 5 s): with
    --wait (600 s) vpcctl keeps asking while provisioning ends (30 s here), not giving up
    after --max-attempts with exit 5, 'the API is down or busy'."""
    cli.api.script(
        "DELETE",
        "/vpcs/r-1",
        *([IN_PROGRESS_BUSY] * 6),
        Reply(202, {"request_id": "r-1", "status": "DELETING"}),
    )
    cli.api.script("GET", "/vpcs/r-1", Reply(200, _record("DELETED")))
    result = cli.run("delete", "r-1", "--wait")
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    assert cli.time.sleeps == [5] * 6
    assert "(attempt 7 until --timeout, 575s left)" in result.stderr


def test_delete_wait_still_refused_at_its_timeout_exits_6_saying_it_was_not_accepted(
    cli: Cli,
) -> None:
    cli.api.script("DELETE", "/vpcs/r-1", IN_PROGRESS_BUSY)
    result = cli.run("delete", "r-1", "--wait", "--timeout", "12")
    assert result.exit_code == 6, (result.exit_code, result.stderr)
    assert sum(cli.time.sleeps) == 12
    assert "the DELETE of request r-1 was not accepted (The request is IN_PROGRESS" in result.stderr
    assert "run `vpcctl delete r-1` again" in result.stderr


def test_delete_without_wait_still_gives_up_on_409_after_max_attempts(cli: Cli) -> None:
    cli.api.script("DELETE", "/vpcs/r-1", IN_PROGRESS_BUSY)
    result = cli.run("delete", "r-1", "--max-attempts", "3")
    assert result.exit_code == 5, (result.exit_code, result.stderr)
    assert cli.time.sleeps == [5, 5]
