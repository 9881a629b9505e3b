"""A review of vpcctl ("a CLI as good as gh", 2026-12-07): each test here failed before its
fix, and shows one defect (docs/how-it-works.md tells the day's reviews)."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.cli_harness import CLIENT_ID, DEMO_PASSWORD, Cli, logged_in
from support.fake_api import FakeApi, Reply
from vpcctl.commands import cli as vpcctl
from vpcctl.output import LIST_HEADERS, fit, list_rows, table
from vpcctl.request_view import Progress
from vpcctl.runtime import Runtime
from vpcctl.tokens import Tokens

# The POST /vpcs body the requests of these tests were made from.
BODY: dict[str, Any] = {
    "vpc": {"cidr": "10.30.0.0/16", "name": "apps"},
    "subnets": [
        {"cidr": "10.30.1.0/24", "az": "us-east-1a"},
        {"cidr": "10.30.2.0/24", "az": "us-east-1b"},
    ],
}
UNAVAILABLE = {"Code": "ServiceUnavailable", "Message": "A backing service is unavailable"}


def record(status: str = "SUCCEEDED", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "11111111-2222-3333-4444-555555555555",
        "status": status,
        "created_by_username": "demo",
        "created_at": "2026-12-07T09:37:37Z",
        "updated_at": "2026-12-07T09:37:37Z",
        "request": BODY,
        "cidr": "10.30.0.0/16",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnets": [
            {"cidr": "10.30.1.0/24", "az": "us-east-1a", "subnet_id": "subnet-0aaaaaaaaaaaaaaa1"},
            {"cidr": "10.30.2.0/24", "az": "us-east-1b", "subnet_id": "subnet-0bbbbbbbbbbbbbbb2"},
        ],
        "drift": [],
        "attempts": 1,
        **extra,
    }


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, BODY)


# --- 1. --wait's live progress line is longer than an 80-column terminal ---------------


def render(data: str, cols: int) -> list[str]:
    """What a terminal `cols` wide shows of `data`: wraps, \\r, \\n and ESC[K (erase to the
    end of the line), as xterm does; other escapes dropped."""
    rows: list[list[str]] = [[]]
    r = c = i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", data[i:])
            if m:
                if m.group(2) == "K":
                    del rows[r][c:]
                i += m.end()
                continue
        if ch == "\r":
            c = 0
        elif ch == "\n":
            r, c = r + 1, 0
            if r == len(rows):
                rows.append([])
        else:
            if c == cols:
                r, c = r + 1, 0
                if r == len(rows):
                    rows.append([])
            if c < len(rows[r]):
                rows[r][c] = ch
            else:
                rows[r].append(ch)
            c += 1
        i += 1
    return ["".join(row) for row in rows]


def test_wait_progress_on_an_80_column_terminal_is_one_line_not_one_per_poll() -> None:
    """Once the record names its VPC (IN_PROGRESS after CreateVpc, DELETING), the line is 90+
    characters: it wraps, and each poll's \\r ESC[K erases only the wrapped tail, leaving the
    head of every earlier poll on the screen."""
    stream = io.StringIO()
    clock = iter(range(100))
    progress = Progress(stream, live=True, clock=lambda: float(next(clock)), columns=lambda: 80)
    for _ in range(5):
        progress.show(record("IN_PROGRESS"))
    screen = render(stream.getvalue(), cols=80)
    shown = [row for row in screen if "11111111-2222" in row]
    assert len(shown) == 1, "\n".join(screen)


# --- 2. create --wait --timeout does not bound the POST's retries -------------------------


def test_create_wait_timeout_bounds_the_whole_command_as_its_help_says(cli: Cli) -> None:
    """`--timeout`: "Seconds --wait waits in all, its retries included; then exit 6." The
    POST's own retries (Retry-After: 60, 5 attempts) are outside it: 240 s, then exit 5."""
    cli.api.script("POST", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "60"}))
    result = cli.run("create", "-f", "spec.json", "--wait", "--timeout", "5")
    assert sum(cli.time.sleeps) <= 5, (cli.time.sleeps, result.exit_code, result.stderr)
    assert result.exit_code == 6


# --- 3. the session of a deployed API needs the region again at each refresh ---------------


def test_a_session_with_a_deployed_api_is_refreshed_without_the_login_flags(
    tmp_path: Path, api: FakeApi
) -> None:
    """`vpcctl --api-url URL --client-id ID --region R login`: the tokens file keeps the
    client id (a refresh uses it), not the region. Within the hour `vpcctl --api-url URL list`
    works; after it, the refresh stops at "no AWS region" (exit 2)."""
    cli = Cli(tmp_path, api, stack=False)
    fake_factory = cli.cognito.factory

    def boto3_like_factory(target: Any) -> Any:
        target.require_region()  # what vpcctl.auth.boto3_cognito does first
        return fake_factory(target)

    cli.cognito.factory = boto3_like_factory  # type: ignore[method-assign]
    login = cli.run(
        "--api-url", api.url, "--client-id", CLIENT_ID, "--region", "us-east-1",
        "login", "--username", "demo", "--password-stdin",
        input=DEMO_PASSWORD + "\n",
    )  # fmt: skip
    assert login.exit_code == 0, login.stderr
    api.script("GET", "/vpcs", Reply(200, {"items": [], "next_token": None}))
    assert cli.run("--api-url", api.url, "list").exit_code == 0  # within the hour
    cli.time.sleep(3600)  # the ID token expires
    later = cli.run("--api-url", api.url, "list")
    assert later.exit_code == 0, later.stderr


# --- 4. an answer not in the API's shape is "a bug in vpcctl" (exit 70) --------------------


def test_a_listing_answered_in_another_shape_is_an_unexpected_answer_not_a_bug(cli: Cli) -> None:
    """A 200 whose JSON is not the API's (another server at the URL, a proxy): exit 70, a
    traceback and "a bug in vpcctl: please report it"; a body that is not JSON is exit 5,
    UnexpectedAnswer."""
    cli.api.script("GET", "/vpcs", Reply(200, [1, 2]))
    result = cli.run("list")
    assert result.exit_code == 5, result.stderr
    assert "Traceback" not in result.stderr


def test_an_accepted_create_without_a_body_names_the_key_to_finish_it(cli: Cli) -> None:
    """The POST may have been accepted (2xx) but the answer is not one vpcctl can read: the
    user must be told the Idempotency-Key, as for a lost answer; instead exit 70, KeyError."""
    cli.api.script("POST", "/vpcs", Reply(202, None))
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == 5, result.stderr
    assert "--idempotency-key key-1" in result.stderr


def test_an_empty_listing_answer_is_not_no_requests(cli: Cli) -> None:
    """An empty 200 body is read as {}: `vpcctl list` prints "No requests." and exits 0."""
    cli.api.script("GET", "/vpcs", Reply(200, None))
    result = cli.run("list")
    assert result.exit_code != 0, result.stdout


# --- 5. a subnet drift found missing is shown as there --------------------------------------

MISSING = {
    "resource_id": "subnet-0bbbbbbbbbbbbbbb2",
    "type": "subnet",
    "problem": "missing",
    "detail": "the subnet (10.30.2.0/24) no longer exists",
}


def test_get_does_not_list_a_subnet_drift_found_missing_as_in_ec2(cli: Cli) -> None:
    """The drift lines say subnet-0bbb... no longer exists; under "resources   in EC2 ...
    (ID -: not made, or deleted)" its row still shows the ID, and "subnets 2/2"."""
    drifted = record(drift=[MISSING], drift_detected_at="2026-12-07T09:40:00Z")
    cli.api.script("GET", "/vpcs/11111111-2222-3333-4444-555555555555", Reply(200, drifted))
    out = cli.run("get", "11111111-2222-3333-4444-555555555555").stdout
    resources = out.split("resources", 1)[1]
    row = next(line for line in resources.splitlines() if "subnet-0bbbbbbbbbbbbbbb2" in line)
    assert "missing" in row, out


def test_list_shows_a_drifted_request_differently_from_one_that_matches_ec2() -> None:
    """The console's list has a drift column; `vpcctl list` shows a request whose subnet was
    deleted behind its back exactly as a healthy one (SUCCEEDED, 2/2)."""
    assert list_rows([record(drift=[MISSING])]) != list_rows([record()])


# --- 6. names of wide characters break the list's columns ---------------------------------


def display_width(text: str) -> int:
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


@pytest.mark.parametrize("name", ["東京-本番", "cafe\u0301"])
def test_list_columns_stay_aligned_with_wide_or_combining_names(name: str) -> None:
    """The API takes any letters, marks and numbers in a name; the table pads by len(),
    not by the columns a terminal gives them."""
    rows = list_rows([record(request={**BODY, "vpc": {**BODY["vpc"], "name": name}}), record()])
    headers, kept = fit(LIST_HEADERS, rows, None)
    lines = table(headers, kept).splitlines()
    starts = {display_width(line[: line.index("vpc-")]) for line in lines[1:]}
    assert len(starts) == 1, "\n".join(lines)


# --- 7. a redirect: "Found", nothing to act on ---------------------------------------------


def test_a_redirect_says_where_to_and_what_to_do(cli: Cli) -> None:
    """vpcctl rightly never follows a redirect with the token; but it says only
    `vpcctl: error: Found (Http302, HTTP 302)` (exit 5, which the table gives 5xx), not where
    the API URL points now."""
    cli.api.script(
        "GET", "/vpcs", Reply(302, None, {"Location": "https://api.example.com/dev/vpcs"})
    )
    result = cli.run("list")
    assert "https://api.example.com/dev" in result.stderr, result.stderr


# --- 8. after `eval "$(make -s env)"`, login to a deployed API talks to the local moto ------


def test_login_names_the_cognito_endpoint_it_was_refused_by(
    tmp_path: Path, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eval exports AWS_ENDPOINT_URL (the stack's moto). `vpcctl login` to a deployed API
    from that shell sent the password to moto, which knows no such client, and the error
    blamed --client-id and --region: it is refused now before anything is sent, naming
    AWS_ENDPOINT_URL."""
    cognito = api  # plays the local moto: botocore POSTs to "/"
    cognito.script(
        "POST",
        "/",
        Reply(
            400,
            {
                "__type": "ResourceNotFoundException",
                "message": "User pool client x does not exist.",
            },
        ),
    )
    env = {
        "DEVSTACK_SAVED": "1",
        "AWS_ENDPOINT_URL": cognito.url,
        "VPCCTL_API_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/dev",
        "VPCCTL_CLIENT_ID": "4abcdefghijklmnop",
        "VPCCTL_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # botocore reads os.environ
    (tmp_path / "work").mkdir()
    runtime = Runtime(env=env, cwd=tmp_path / "work", config_dir=tmp_path / "config")
    result = CliRunner().invoke(
        vpcctl, ["login", "--username", "alice", "--password-stdin"], obj=runtime,
        input="S3cret-pass\n",
    )  # fmt: skip
    assert cognito.calls("POST", "/") == [], "the password went to AWS_ENDPOINT_URL"
    assert result.exit_code == 2, result.stderr
    assert "unset AWS_ENDPOINT_URL" in result.stderr, result.stderr


# --- 9. `vpcctl logout` once the stack has stopped ------------------------------------------


def test_logout_after_the_stack_stopped_forgets_the_local_sessions_only(cli: Cli) -> None:
    """The stack removes its stack.json when it stops: `vpcctl logout` then has no API to
    name, and said "no API to talk to: start one" (exit 5). It forgets the sessions of the
    APIs on this machine (the local stacks') instead, and keeps a deployed API's."""
    cli.login()
    deployed = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
    cli.cache().store(deployed, Tokens("t", None, cli.time.now + 100, "bob", "c"))
    (cli.cwd / ".local" / "stack.json").unlink()  # the stack stopped

    result = cli.run("logout")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Logged out of {cli.api.url} (no stack running).\n"
    assert cli.cache().load(cli.api.url) is None
    assert cli.cache().load(deployed) is not None
    assert cli.run("logout").stdout == "Not logged in to any local stack (and none is running).\n"


def test_other_commands_still_say_the_stack_is_not_running(cli: Cli) -> None:
    (cli.cwd / ".local" / "stack.json").unlink()
    result = cli.run("list")
    assert result.exit_code == 5
    assert "StackNotRunning" in result.stderr
