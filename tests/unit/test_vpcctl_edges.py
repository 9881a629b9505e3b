"""vpcctl at the edges of its input and its streams: --timeout bounds the lookup of an id's
start; non-finite seconds, arguments that are not UTF-8 and a bad --region are usage
errors; a stdout that is not UTF-8 gets every output; a closed stdout or stdin is no
traceback; -o json inside combined short flags makes usage errors JSON; and a listing whose
items are not objects is UnexpectedAnswer (docs/local-stack.md's exit codes)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.cli_harness import Cli, json_err, logged_in, process_command, process_env
from support.fake_api import FakeApi, Reply

BODY: dict[str, Any] = {
    "vpc": {"cidr": "10.30.0.0/16", "name": "apps"},
    "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a"}],
}
RID = "6f0c1111-2222-3333-4444-555555555555"
UNAVAILABLE = {"Code": "ServiceUnavailable", "Message": "A backing service is unavailable"}


def record(status: str = "SUCCEEDED", name: str = "apps") -> dict[str, Any]:
    return {
        "request_id": RID,
        "status": status,
        "request": {"vpc": {"cidr": "10.30.0.0/16", "name": name}, "subnets": [{}]},
        "cidr": "10.30.0.0/16",
        "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a", "name": name}],
        "drift": [],
    }


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, BODY)


def run_process(
    api: FakeApi, tmp_path: Path, args: list[str], redirect: str = "", **env: str
) -> subprocess.CompletedProcess[bytes]:
    command = " ".join(shlex.quote(a) for a in process_command(*args)) + " " + redirect
    return subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={**process_env(tmp_path, api.url), **env},
        capture_output=True,
        timeout=60,
        check=False,
    )


# 1. --timeout does not bound the lookup of a REQUEST_ID given by its start ---------------


@pytest.mark.parametrize(
    "args",
    [["wait", "6f0c"], ["get", "6f0c", "--wait"], ["delete", "6f0c", "--wait"]],
)
def test_timeout_bounds_the_lookup_of_an_id_prefix_too(cli: Cli, args: list[str]) -> None:
    """--timeout: "Seconds it waits in all, its retries included; then exit 6". With the start
    of an id, the GET /vpcs?created_by=me that resolves it is retried outside the deadline:
    240 s of Retry-After, then exit 5."""
    cli.api.script("GET", "/vpcs", Reply(503, UNAVAILABLE, {"Retry-After": "60"}))
    result = cli.run(*args, "--timeout", "5")
    assert sum(cli.time.sleeps) <= 5, (cli.time.sleeps, result.exit_code)
    assert result.exit_code == 6, result.stderr


# 2. NaN / inf accepted by FloatRange ------------------------------------------------------


def test_timeout_nan_is_a_usage_error_not_a_wait_without_end(cli: Cli) -> None:
    """`--timeout nan` passes FloatRange(min=0) (nan < 0 is False); the deadline's `left()`
    is then nan, never <= 0: the wait never gives up (here it ends only because the request
    settles after 500 polls)."""
    polls = {"n": 0}

    def answer(_request: Any) -> Reply:
        polls["n"] += 1
        return Reply(200, record("SUCCEEDED" if polls["n"] > 500 else "IN_PROGRESS"))

    cli.api.respond("GET", f"/vpcs/{RID}", answer)
    result = cli.run("wait", RID, "--timeout", "nan")
    assert result.exit_code == 2, (result.exit_code, sum(cli.time.sleeps))


@pytest.mark.parametrize("interval", ["nan", "inf", "1e10"])
def test_watch_interval_nan_or_inf_is_a_usage_error_not_a_traceback(
    api: FakeApi, tmp_path: Path, interval: str
) -> None:
    """time.sleep(nan) raises ValueError, time.sleep(inf) OverflowError (as does a sleep of
    1e10 s, past the platform's clock): exit 70, a traceback."""
    api.script("GET", "/vpcs", Reply(200, {"items": [record()], "next_token": None}))
    result = run_process(api, tmp_path, ["list", "--watch", "--interval", interval])
    assert b"Traceback" not in result.stderr, result.stderr.decode()[-400:]
    assert result.returncode == 2


# 3. A stdout that is not UTF-8 -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["list"], ["list", "-o", "yaml"], ["get", RID], ["get", RID, "--query", "subnets[0].name"]],
)
def test_a_latin1_stdout_gets_the_table_and_yaml_not_exit_70(
    api: FakeApi, tmp_path: Path, args: list[str]
) -> None:
    """json_text escapes what a Latin-1 stdout cannot write; the table, -o yaml and a
    --query's plain text do not: UnicodeEncodeError, exit 70 (InternalError)."""
    api.script("GET", "/vpcs", Reply(200, {"items": [record(name="東京")], "next_token": None}))
    api.script("GET", f"/vpcs/{RID}", Reply(200, record(name="東京")))
    result = run_process(api, tmp_path, args, PYTHONIOENCODING="latin-1")
    assert result.returncode == 0, result.stderr.decode()[-400:]
    assert b"\\u6771" in result.stdout.lower(), result.stdout  # 東 as an escape


# 4. A closed stdout or stdin ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "redirect", "exit_code"),
    [
        (["get", RID], "1>&-", 74),
        (["list", "-q"], "1>&-", 74),
        (["create", "-f", "-"], "0<&-", 2),
        (["login", "--username", "bob"], "0<&-", 2),
        (["login", "--username", "bob", "--password-stdin"], "0<&-", 2),
    ],
)
def test_a_closed_stdout_or_stdin_is_no_traceback(
    api: FakeApi, tmp_path: Path, args: list[str], redirect: str, exit_code: int
) -> None:
    """Python sets sys.stdout / sys.stdin to None when the descriptor is closed; vpcctl calls
    .isatty() / .buffer on it: "internal error: AttributeError", exit 70, a traceback.
    (Expected: 74 for output that cannot be written, 2 for input that cannot be read.)"""
    api.script("GET", "/vpcs", Reply(200, {"items": [record()], "next_token": None}))
    api.script("GET", f"/vpcs/{RID}", Reply(200, record()))
    result = run_process(api, tmp_path, args, redirect)
    assert b"Traceback" not in result.stderr, result.stderr.decode()[-400:]
    assert result.returncode == exit_code, result.stderr.decode()


# 5. Arguments that are not UTF-8 (argv bytes: surrogate escapes) --------------------------


@pytest.mark.parametrize(
    "args", [["get", "\udcff"], ["delete", "ab\udcffcd"], ["list", "--next-token", "\udcff"]]
)
def test_an_argument_that_is_not_utf8_is_no_internal_error(cli: Cli, args: list[str]) -> None:
    """`vpcctl get $'\\xff'`: Python decodes argv with surrogateescape, and
    urllib.parse.quote (or requests' params) cannot encode '\\udcff': exit 70."""
    cli.api.script("GET", "/vpcs", Reply(200, {"items": [], "next_token": None}))
    result = cli.run(*args)
    assert result.exit_code in (2, 4), (result.exit_code, result.stderr)


# 6. -o json given inside combined short flags ----------------------------------------------


def test_a_usage_error_is_json_with_o_json_in_combined_short_flags(cli: Cli) -> None:
    """click reads `-wo json` as -w -o json, but wants_machine_output does not: the usage
    error is a text line, where -o json promises one JSON object on stderr."""
    result = cli.run("list", "-wo", "json", "--limit", "0")
    assert result.exit_code == 2
    assert json_err(result)["Code"] == "UsageError", result.stderr


# 7. A bad --region is "the API is down" --------------------------------------------------


def test_an_invalid_region_is_a_usage_error_not_exit_5(api: FakeApi, tmp_path: Path) -> None:
    """botocore's InvalidRegionError (raised making the client, nothing sent) becomes
    `unavailable` (exit 5: "the API is down or busy") in auth._cognito_error."""
    result = run_process(
        api,
        tmp_path,
        ["--region", "us east 1", "login", "--username", "u"],
        VPCCTL_API_URL="https://api.example.invalid",
        VPCCTL_REGION="",
        VPCCTL_PASSWORD="p",
    )
    assert result.returncode == 2, (result.returncode, result.stderr.decode())


# 8. A 2xx whose items are not objects ------------------------------------------------------


@pytest.mark.parametrize("args", [["list"], ["list", "-o", "json"]])
def test_a_listing_whose_items_are_not_objects_is_unexpected_answer(
    cli: Cli, args: list[str]
) -> None:
    """Documented: a 2xx that is not the API's is UnexpectedAnswer, exit 5; `_having` checks
    items is a list, not that its items are objects: AttributeError, exit 70."""
    cli.api.script("GET", "/vpcs", Reply(200, {"items": [1, "x"], "next_token": None}))
    result = cli.run(*args)
    assert result.exit_code == 5, result.stderr
