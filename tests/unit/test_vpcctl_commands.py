"""vpcctl's commands against a fake API: exit codes, --json, errors on stderr, the listing
followed page by page, and --wait with its progress."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.cli_harness import Cli, json_err, json_out, logged_in
from support.fake_api import FakeApi, Received, Reply
from vpcctl.commands import cli as vpcctl
from vpcctl.output import LIST_HEADERS
from vpcctl.request_view import Progress

VPC_SPEC: dict[str, Any] = {
    "vpc": {"cidr": "10.30.0.0/16", "name": "apps"},
    "subnets": [
        {"cidr": "10.30.1.0/24", "az": "us-east-1a", "name": "apps-a"},
        {"cidr": "10.30.2.0/24", "az": "us-east-1b", "public": True},
    ],
}


def record(status: str, subnets_done: int = 0, **extra: Any) -> dict[str, Any]:
    ids = [f"subnet-{i}" if i < subnets_done else None for i in range(2)]
    return {
        "request_id": "r-1",
        "status": status,
        "created_by": "sub-1",
        "created_by_username": "demo",
        "created_at": "2026-11-28T20:17:26Z",
        "updated_at": "2026-11-28T20:17:30Z",
        "request": VPC_SPEC,
        "vpc_id": "vpc-1" if status != "QUEUED" else None,
        "subnets": [
            {"cidr": s["cidr"], "az": s["az"], "name": s.get("name"), "subnet_id": ids[i]}
            for i, s in enumerate(VPC_SPEC["subnets"])
        ],
        "internet_gateway_id": None,
        "route_table_id": None,
        "error": None,
        "rollback": None,
        "teardown": None,
        "orphans": [],
        "attempts": 1,
        **extra,
    }


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, VPC_SPEC)


def accepted(status: str = "QUEUED", replayed: bool = False) -> Reply:
    headers = {"Location": "/vpcs/r-1"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Reply(202, {"request_id": "r-1", "status": status}, headers)


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (400, "BadRequestError", 2),
        (415, "UnsupportedMediaType", 2),
        (422, "UnprocessableEntityError", 2),
        (403, "ForbiddenError", 3),
        (404, "NotFoundError", 4),
        (500, "InternalServerError", 5),
    ],
)
def test_an_api_error_exits_with_the_code_of_its_status_and_says_why_on_stderr(
    cli: Cli, status: int, code: str, exit_code: int
) -> None:
    cli.api.script("POST", "/vpcs", Reply(status, {"Code": code, "Message": "what to fix"}))
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == exit_code
    assert result.stdout == ""
    assert f"what to fix ({code}, HTTP {status})" in result.stderr
    assert len(cli.api.received) == 1  # none of these is retried


# What the API answers about the Idempotency-Key header (chalicelib/api/submit_request.py
# and idempotency_key.py), and how vpcctl, whose users set it with --idempotency-key, says it.
IDEMPOTENCY_KEY_MESSAGES = [
    (
        422,
        "UnprocessableEntityError",
        "This Idempotency-Key was already used with a different request body; "
        "use a new key for a new request.",
        "This --idempotency-key was already used with a different request body; "
        "use a new key for a new request.",
    ),
    (
        400,
        "BadRequestError",
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        "The --idempotency-key must be 1 to 255 printable ASCII characters.",
    ),
    (
        503,
        "ServiceUnavailable",
        "The request was stored but could not be queued; retry with the same "
        "Idempotency-Key to complete it.",
        "The request was stored but could not be queued; retry with the same "
        "--idempotency-key to complete it.",
    ),
]


@pytest.mark.parametrize(("status", "code", "said", "shown"), IDEMPOTENCY_KEY_MESSAGES)
def test_api_messages_about_the_idempotency_key_name_the_flag_that_sets_it(
    cli: Cli, status: int, code: str, said: str, shown: str
) -> None:
    cli.api.script("POST", "/vpcs", Reply(status, {"Code": code, "Message": said}))

    result = cli.run("create", "-f", "spec.json", "--idempotency-key", "k-1")
    as_json = cli.run("create", "-f", "spec.json", "--idempotency-key", "k-1", "-o", "json")

    assert f"vpcctl: error: {shown}" in result.stderr
    assert "Idempotency-Key" not in result.stderr
    assert json_err(as_json)["Message"].startswith(shown)


def test_a_replay_waited_for_names_the_key_by_its_flag(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted(replayed=True))
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))

    result = cli.run("create", "-f", "spec.json", "--idempotency-key", "k-1", "--wait")

    assert result.exit_code == 0, result.stderr
    assert "vpcctl: r-1: the request --idempotency-key k-1 made before" in result.stderr


def test_json_errors_are_one_object_on_stderr_with_nothing_on_stdout(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/nope", Reply(404, {"Code": "NotFoundError", "Message": "No nope"}))
    result = cli.run("get", "nope", "--json")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert json_err(result) == {
        "Code": "NotFoundError",
        "Message": "No nope",
        "http_status": 404,
        "exit_code": 4,
    }


def test_get_json_prints_the_record_as_the_api_sent_it(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run("get", "r-1", "--json")
    assert result.exit_code == 0
    assert json_out(result) == record("SUCCEEDED", 2)


def test_get_shows_people_the_record_and_its_subnets(cli: Cli) -> None:
    failed = record(
        "FAILED",
        error={"code": "VpcLimitExceeded", "message": "The maximum number of VPCs"},
        rollback={"complete": True, "deleted": ["vpc-1"], "remaining": [], "error": None},
    )
    cli.api.script("GET", "/vpcs/r-1", Reply(200, failed))
    result = cli.run("get", "r-1")
    assert result.exit_code == 0  # a plain get succeeds whatever the request's status
    lines = result.stdout.splitlines()
    assert "status      FAILED" in lines
    assert "error       VpcLimitExceeded: The maximum number of VPCs" in lines
    assert "rollback    deleted 1, remaining nothing" in lines
    # Rolled back: nothing is left in EC2, the resources are shown without ids.
    assert ["subnet", "-", "10.30.2.0/24", "us-east-1b", "yes", "-"] in [
        line.split() for line in lines
    ]


def test_get_lists_what_the_request_made_in_ec2_and_how_to_find_it_there(cli: Cli) -> None:
    done = record("SUCCEEDED", 2, internet_gateway_id="igw-1", route_table_id="rtb-1")
    cli.api.script("GET", "/vpcs/r-1", Reply(200, done))
    result = cli.run("get", "r-1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("resources"))
    assert "RequestId=r-1" in lines[start]
    rows = [line.split() for line in lines[start + 1 : start + 7]]
    assert rows == [
        ["TYPE", "ID", "CIDR", "AZ", "PUBLIC", "NAME"],
        ["vpc", "vpc-1", "10.30.0.0/16", "-", "-", "apps"],
        ["subnet", "subnet-0", "10.30.1.0/24", "us-east-1a", "no", "apps-a"],
        ["subnet", "subnet-1", "10.30.2.0/24", "us-east-1b", "yes", "-"],
        ["internet-gateway", "igw-1", "-", "-", "-", "-"],
        ["route-table", "rtb-1", "-", "-", "-", "-"],
    ]
    assert "  aws ec2 describe-vpcs --filters Name=tag:RequestId,Values=r-1" in lines


def test_get_lists_the_resources_of_a_request_by_size_with_its_public_subnet(cli: Cli) -> None:
    """A sized body names no CIDR: the VPC's block is the record's, and a subnet's place in
    the body (the record keeps its order) says whether it is public."""
    sized = {
        "vpc": {"netmask_length": 20},
        "subnets": [{"netmask_length": 24}, {"netmask_length": 24, "public": True}],
    }
    done = record("SUCCEEDED", 2, request=sized, cidr="10.0.0.0/20", internet_gateway_id="igw-1")
    done["subnets"] = [
        {"cidr": "10.0.0.0/24", "az": "us-east-1a", "name": None, "subnet_id": "subnet-0"},
        {"cidr": "10.0.1.0/24", "az": "us-east-1b", "name": None, "subnet_id": "subnet-1"},
    ]
    cli.api.script("GET", "/vpcs/r-1", Reply(200, done))
    rows = [line.split() for line in cli.run("get", "r-1").stdout.splitlines()]
    assert ["vpc", "vpc-1", "10.0.0.0/20", "-", "-", "-"] in rows
    assert ["subnet", "subnet-0", "10.0.0.0/24", "us-east-1a", "no", "-"] in rows
    assert ["subnet", "subnet-1", "10.0.1.0/24", "us-east-1b", "yes", "-"] in rows


def test_get_shows_the_drift_on_the_record(cli: Cli) -> None:
    drifted = record(
        "SUCCEEDED",
        2,
        drift=[
            {
                "resource_id": "subnet-1",
                "type": "subnet",
                "problem": "missing",
                "detail": "the subnet (10.30.2.0/24) no longer exists",
            }
        ],
        drift_detected_at="2026-11-29T08:00:00Z",
    )
    cli.api.script("GET", "/vpcs/r-1", Reply(200, drifted))
    lines = cli.run("get", "r-1").stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("drift"))
    assert lines[start] == (
        "drift       since 2026-11-29T08:00:00Z: EC2 no longer matches the record"
    )
    assert lines[start + 1] == (
        "  subnet subnet-1 missing: the subnet (10.30.2.0/24) no longer exists"
    )


def test_get_of_a_record_without_drift_says_nothing_of_it(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2, drift=[])))
    assert "drift" not in cli.run("get", "r-1").stdout


def test_get_of_a_request_without_a_public_subnet_lists_no_gateway(cli: Cli) -> None:
    private = record("SUCCEEDED", 2, request={**VPC_SPEC, "subnets": [VPC_SPEC["subnets"][0]]})
    private["subnets"] = private["subnets"][:1]
    cli.api.script("GET", "/vpcs/r-1", Reply(200, private))
    kinds = [line.split()[0] for line in cli.run("get", "r-1").stdout.splitlines() if line]
    assert kinds.count("subnet") == 1
    assert "internet-gateway" not in kinds
    assert "route-table" not in kinds


def test_a_request_id_is_sent_as_one_path_segment(cli: Cli) -> None:
    cli.run("get", "../vpcs?x=1")
    assert cli.api.received[0].path == "/vpcs/..%2Fvpcs%3Fx%3D1"


def test_a_spec_file_that_is_not_json_exits_2_before_any_request(cli: Cli) -> None:
    (cli.cwd / "bad.json").write_text('{"vpc": ')
    result = cli.run("create", "-f", "bad.json")
    assert result.exit_code == 2
    assert "bad.json is not JSON" in result.stderr
    missing = cli.run("create", "-f", "missing.json", "--json")
    assert missing.exit_code == 2
    assert json_err(missing)["Code"] == "UsageError"
    # Nested past Python's recursion limit: json raises RecursionError, not ValueError
    # (it was exit 70, "internal error ... a bug in vpcctl", and a traceback).
    (cli.cwd / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    deep = cli.run("create", "-f", "deep.json")
    assert deep.exit_code == 2
    assert "deep.json is nested too deeply" in deep.stderr
    assert "Traceback" not in deep.stderr
    assert cli.api.received == []


def test_the_spec_can_come_from_stdin(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())
    result = cli.run("create", "-f", "-", input=json.dumps(VPC_SPEC))
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli.api.received[0].body) == VPC_SPEC


def test_a_replayed_create_says_so(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted("SUCCEEDED", replayed=True))
    result = cli.run("create", "-f", "spec.json", "--idempotency-key", "k", "--json")
    assert json_out(result)["replayed"] is True
    human = cli.run("create", "-f", "spec.json", "--idempotency-key", "k")
    assert "replayed" in human.stdout


def test_create_wait_shows_status_and_subnets_done_then_exits_0_on_succeeded(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())
    cli.api.script(
        "GET",
        "/vpcs/r-1",
        Reply(200, record("QUEUED")),
        Reply(200, record("IN_PROGRESS", 1)),
        Reply(200, record("IN_PROGRESS", 1)),
        Reply(200, record("SUCCEEDED", 2)),
    )
    result = cli.run("create", "-f", "spec.json", "--wait")
    assert result.exit_code == 0, result.stderr
    # Not a terminal: one plain line per change.
    assert result.stderr.splitlines() == [
        "r-1  QUEUED  vpc -  subnets 0/2",
        "r-1  IN_PROGRESS  vpc vpc-1  subnets 1/2",
        "r-1  SUCCEEDED  vpc vpc-1  subnets 2/2",
    ]
    assert cli.time.sleeps == [1.0, 1.0, 1.0]
    assert "status      SUCCEEDED" in result.stdout


def test_create_wait_exits_1_when_the_request_fails(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())
    failed = record("FAILED", error={"code": "VpcLimitExceeded", "message": "too many"})
    cli.api.script("GET", "/vpcs/r-1", Reply(200, failed))
    result = cli.run("create", "-f", "spec.json", "--wait", "--json")
    assert result.exit_code == 1
    assert json_out(result)["status"] == "FAILED"  # the record, for the script to read
    error = json_err(result)  # --json: no progress, only the error
    assert error["Code"] == "FAILED"
    assert "VpcLimitExceeded: too many" in error["Message"]


def test_wait_gives_up_after_its_timeout_with_exit_6(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("IN_PROGRESS", 1)))
    result = cli.run("create", "-f", "spec.json", "--wait", "--timeout", "3")
    assert result.exit_code == 6
    assert "gave up waiting after 3s: request r-1 is IN_PROGRESS" in result.stderr
    assert sum(cli.time.sleeps) == 3


@pytest.mark.parametrize(
    ("final", "exit_code"), [("DELETED", 0), ("CANCELLED", 0), ("DELETE_FAILED", 1)]
)
def test_delete_wait_exits_0_once_deleted_and_1_on_delete_failed(
    cli: Cli, final: str, exit_code: int
) -> None:
    cli.api.script("DELETE", "/vpcs/r-1", Reply(202, {"request_id": "r-1", "status": "DELETING"}))
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("DELETING", 2)), Reply(200, record(final)))
    result = cli.run("delete", "r-1", "--wait", "--json")
    assert result.exit_code == exit_code
    assert json_out(result)["status"] == final


def test_delete_without_wait_prints_the_answer(cli: Cli) -> None:
    cli.api.script("DELETE", "/vpcs/r-1", Reply(202, {"request_id": "r-1", "status": "CANCELLED"}))
    result = cli.run("delete", "r-1", "--json")
    assert result.exit_code == 0
    assert json_out(result) == {"request_id": "r-1", "status": "CANCELLED"}


ALL = [record("SUCCEEDED", 2, request_id=f"r-{i}") for i in range(7)]


def paged(request: Received) -> Reply:
    """GET /vpcs over ALL: the API's paging, next_token an offset."""
    start = int(request.param("next_token") or 0)
    limit = int(request.param("limit") or 20)
    end = min(start + limit, len(ALL))
    return Reply(200, {"items": ALL[start:end], "next_token": str(end) if end < len(ALL) else None})


def test_list_follows_next_token_to_the_end(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    result = cli.run("list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result) == {"items": ALL, "next_token": None}
    assert [r.param("limit") for r in cli.api.received] == ["50"]


def test_list_limit_asks_for_what_is_still_wanted_and_returns_the_resume_token(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    result = cli.run("list", "--limit", "3", "--json")
    assert json_out(result) == {"items": ALL[:3], "next_token": "3"}
    resumed = cli.run("list", "--limit", "3", "--next-token", "3", "--json")
    assert json_out(resumed)["items"] == ALL[3:6]
    assert [(r.param("limit"), r.param("next_token")) for r in cli.api.received] == [
        ("3", None),
        ("3", "3"),
    ]


def test_list_follows_pages_the_api_cuts_short(cli: Cli) -> None:
    def small_pages(request: Received) -> Reply:
        start = int(request.param("next_token") or 0)
        # The API may send fewer than asked (never more).
        end = min(start + 2, start + int(request.param("limit") or 20), len(ALL))
        return Reply(
            200, {"items": ALL[start:end], "next_token": str(end) if end < len(ALL) else None}
        )

    cli.api.respond("GET", "/vpcs", small_pages)
    result = cli.run("list", "--limit", "5", "--json")
    assert json_out(result) == {"items": ALL[:5], "next_token": "5"}
    assert [r.param("limit") for r in cli.api.received] == ["5", "3", "1"]


def test_list_passes_its_filters_on_every_page(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    cli.run("list", "--status", "succeeded", "--limit", "60")
    cli.run("list", "--mine")
    cli.run("list", "--drift")
    assert {
        (r.param("status"), r.param("created_by"), r.param("drift")) for r in cli.api.received
    } == {("SUCCEEDED", None, None), (None, "me", None), (None, None, "true")}


def test_drift_with_another_filter_is_a_usage_error_naming_the_flags(cli: Cli) -> None:
    result = cli.run("list", "--drift", "--mine")
    assert result.exit_code == 2
    assert "--drift" in result.stderr
    assert "--mine" in result.stderr
    assert cli.api.received == []


def test_list_shows_people_a_table(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    result = cli.run("list", "--limit", "2")
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "REQUEST_ID", "STATUS", "CIDR", "NAME", "VPC_ID", "SUBNETS", "BY", "CREATED_AT"
    ]  # fmt: skip
    assert rows[0].split() == [
        "r-0", "SUCCEEDED", "10.30.0.0/16", "apps", "vpc-1", "2/2", "demo", "2026-11-28T20:17:26Z"
    ]  # fmt: skip
    assert "--next-token 2" in result.stderr


def test_a_deleted_or_cancelled_requests_subnets_are_the_number_it_asked_for(cli: Cli) -> None:
    """SUBNETS is made/asked for while a request lives; a DELETED request's subnets were
    made, then deleted, and "0/2" read as never made: it shows 2, as the web console does
    (a CANCELLED one too: nothing of it is left). `get` says the same."""
    ended = {"vpc_id": None}
    items = [
        record("IN_PROGRESS", 1, request_id="r-working"),
        record("FAILED", 0, request_id="r-rolled-back", **ended),
        record("DELETED", 0, request_id="r-deleted", **ended),
        record("CANCELLED", 0, request_id="r-cancelled", **ended),
    ]
    cli.api.script("GET", "/vpcs", Reply(200, {"items": items, "next_token": None}))
    cli.api.script("GET", "/vpcs/r-deleted", Reply(200, items[2]))

    result = cli.run("list")

    assert result.exit_code == 0, result.stderr
    subnets = LIST_HEADERS.index("SUBNETS")
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [(row[0], row[subnets]) for row in rows] == [
        ("r-working", "1/2"),
        ("r-rolled-back", "0/2"),
        ("r-deleted", "2"),
        ("r-cancelled", "2"),
    ]
    assert "subnets     2\n" in cli.run("get", "r-deleted").stdout


def test_an_unknown_status_is_a_usage_error_before_any_request(cli: Cli) -> None:
    result = cli.run("list", "--status", "DONE")
    assert result.exit_code == 2
    assert cli.api.received == []


def test_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(vpcctl, ["--help"])
    assert result.exit_code == 0
    for line in ("0  done", "1  --wait", "2  usage error", "3  not logged in", "4  no such"):
        assert line in result.stdout
    assert "5  the API is down or busy" in result.stdout
    assert "6  --wait or vpcctl wait gave up" in result.stdout


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress(stream, live=True, clock=lambda: now[0])
    progress.show(record("QUEUED"))
    now[0] = 2.0
    progress.show(record("IN_PROGRESS", 1))
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[Kr-1  QUEUED  vpc -  subnets 0/2  0s"
        "\r\x1b[Kr-1  IN_PROGRESS  vpc vpc-1  subnets 1/2  2s\n"
    )
