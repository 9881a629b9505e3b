"""vpcctl in daily use (issue 24, 10): -o json|yaml|table, --query (JMESPath) and -q
on the reads."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from support.cli_harness import (
    VPCCTL_SOURCE,
    Cli,
    json_err,
    json_out,
    logged_in,
    process_command,
    process_env,
)
from support.fake_api import FakeApi, Reply
from unit.test_vpcctl_commands import ALL, VPC_SPEC, accepted, paged, record
from vpcctl.commands import cli as vpcctl
from vpcctl.errors import EXIT_CODES, ExitCode
from vpcctl.runtime import reader_gone


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, VPC_SPEC)


# -o json|yaml|table


@pytest.mark.parametrize("flags", [["-o", "json"], ["--output=json"], ["-ojson"], ["--json"]])
def test_o_json_is_what_json_prints(cli: Cli, flags: list[str]) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run("get", "r-1", *flags)
    assert result.exit_code == 0, result.stderr
    assert json_out(result) == record("SUCCEEDED", 2)


def test_o_json_writes_a_names_letters_as_they_are(cli: Cli) -> None:
    """A subnet named in another script reads the same under -o json as under -o yaml
    and in the table: its letters, not JSON's \\u escapes (still one JSON document)."""
    named = record("SUCCEEDED", 2)
    named["subnets"][0]["name"] = "réseau-東京"
    cli.api.script("GET", "/vpcs/r-1", Reply(200, named))
    cli.api.script("GET", "/vpcs/r-1", Reply(200, named))
    got = cli.run("get", "r-1", "-o", "json")
    table = cli.run("get", "r-1")
    watching(cli, [named])
    listed = cli.run("list", "--watch", "-o", "json")

    assert got.exit_code == 0, got.stderr
    assert json_out(got) == named
    assert "réseau-東京" in got.stdout
    assert "\\u" not in got.stdout
    assert "réseau-東京" in listed.stdout, listed.stderr
    assert "réseau-東京" in table.stdout


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_o_json_is_written_whatever_stdouts_encoding(
    api: FakeApi, tmp_path: Path, encoding: str
) -> None:
    """A real vpcctl whose stdout is not UTF-8 (PYTHONIOENCODING, a Latin-1 locale,
    Windows' cp1252 when piped) writes the name as JSON's \\u escapes: the same JSON,
    not "internal error" (exit 70) for a letter it cannot write."""
    named = record("SUCCEEDED", 2)
    named["subnets"][0]["name"] = "réseau-東京"
    api.script("GET", "/vpcs/r-1", Reply(200, named))
    result = subprocess.run(
        process_command("get", "r-1", "-o", "json"),
        cwd=tmp_path,
        env={**process_env(tmp_path, api.url), "PYTHONIOENCODING": encoding},
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-600:]
    assert json.loads(result.stdout.decode(encoding))["subnets"][0]["name"] == "réseau-東京"


def test_o_yaml_prints_the_record_as_yaml(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run("get", "r-1", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout) == record("SUCCEEDED", 2)
    assert result.stdout.startswith("request_id: r-1\n")  # the API's order of keys


def test_o_yaml_errors_are_json_on_stderr(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/nope", Reply(404, {"Code": "NotFoundError", "Message": "No"}))
    result = cli.run("get", "nope", "-o", "yaml")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert json_err(result)["Code"] == "NotFoundError"
    usage = cli.run("list", "--status", "DONE", "-o", "yaml")
    assert usage.exit_code == 2
    assert json_err(usage)["Code"] == "UsageError"


def test_o_table_is_the_default(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    assert cli.run("list", "-o", "table").stdout == cli.run("list").stdout
    assert cli.run("list").stdout.startswith("REQUEST_ID")


def test_json_with_another_output_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("get", "r-1", "--json", "-o", "yaml")
    assert result.exit_code == 2
    assert "--json is -o json" in json_err(result)["Message"]
    assert cli.api.received == []


def test_an_unknown_output_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("get", "r-1", "-o", "xml")
    assert result.exit_code == 2
    assert "'xml' is not one of" in result.stderr


# --query


def test_query_selects_from_the_json_and_prints_a_scalar_plainly(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    assert cli.run("get", "r-1", "--query", "vpc_id").stdout == "vpc-1\n"
    assert cli.run("get", "r-1", "--query", "vpc_id", "-o", "json").stdout == '"vpc-1"\n'
    assert cli.run("get", "r-1", "--query", "subnets[].subnet_id").stdout == (
        "subnet-0\nsubnet-1\n"
    )


def test_query_over_a_listing_filters_and_projects(cli: Cli) -> None:
    listed = [*ALL[:2], record("FAILED", request_id="r-f")]
    cli.api.script("GET", "/vpcs", Reply(200, {"items": listed, "next_token": None}))
    failed = cli.run("list", "--query", "items[?status=='FAILED'].request_id", "--json")
    assert json_out(failed) == ["r-f"]
    projected = cli.run("list", "--query", "items[].{id: request_id, status: status}")
    assert [line.split() for line in projected.stdout.splitlines()] == [
        ["ID", "STATUS"],
        ["r-0", "SUCCEEDED"],
        ["r-1", "SUCCEEDED"],
        ["r-f", "FAILED"],
    ]
    as_yaml = cli.run("list", "--query", "items[0].request", "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout) == VPC_SPEC


@pytest.mark.parametrize(
    ("args", "query"),
    [
        (["get", "r-1"], "no_such_key"),  # null
        (["list"], "items[?status=='DELETED'].request_id"),  # []
        (["list"], "items[?status=='DELETED']"),  # [] of objects
        (["get", "r-1"], "drift"),  # {}
    ],
)
def test_a_query_that_selects_nothing_prints_nothing(cli: Cli, args: list[str], query: str) -> None:
    """Not an empty line (`| wc -l` says 1), nor a table's header over no rows; the JSON
    output stays JSON."""
    cli.api.script("GET", "/vpcs/r-1", Reply(200, {**record("SUCCEEDED", 2), "drift": {}}))
    cli.api.script("GET", "/vpcs", Reply(200, {"items": ALL[:2], "next_token": None}))
    plain = cli.run(*args, "--query", query)
    assert (plain.exit_code, plain.stdout) == (0, "")
    as_json = cli.run(*args, "--query", query, "--json")
    assert as_json.stdout in ("null\n", "[]\n", "{}\n")


def test_a_query_that_is_not_jmespath_is_a_usage_error_before_any_request(cli: Cli) -> None:
    result = cli.run("list", "--query", "items[?", "--json")
    assert result.exit_code == 2
    error = json_err(result)
    assert error["Code"] == "UsageError"
    assert "not a JMESPath expression" in error["Message"]
    assert cli.api.received == []


# -q: ids only


def test_q_prints_only_ids(cli: Cli) -> None:
    cli.api.respond("GET", "/vpcs", paged)
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    cli.api.script("POST", "/vpcs", accepted())
    assert cli.run("list", "-q").stdout == "".join(f"r-{i}\n" for i in range(7))
    assert cli.run("get", "r-1", "-q").stdout == "r-1\n"
    created = cli.run("create", "-f", "spec.json", "-q")
    assert created.stdout == "r-1\n"


def test_q_says_nothing_else_not_even_that_there_is_more(cli: Cli) -> None:
    """`vpcctl delete "$(vpcctl list -q --limit 1)"`: the ids, and no hint on stderr (the
    table's "more: add --next-token ..." is for a person reading it)."""
    cli.api.respond("GET", "/vpcs", paged)
    quiet = cli.run("list", "-q", "--limit", "1")
    assert (quiet.stdout, quiet.stderr) == ("r-0\n", "")
    assert "more: add --next-token 1" in cli.run("list", "--limit", "1").stderr


def test_q_with_json_or_query_is_a_usage_error(cli: Cli) -> None:
    for flags in (["--json"], ["-o", "yaml"], ["--query", "items"]):
        result = cli.run("list", "-q", *flags)
        assert result.exit_code == 2, flags
        assert "-q prints the ids only" in result.stderr
    assert cli.api.received == []


# Output into a closed pipe (`vpcctl list -q | head -1`): vpcctl stops quietly.


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write fails as a pipe's does then."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize("args", [["list", "-q"], ["list"], ["get", "r-1", "--json"]])
def test_a_reader_that_went_away_ends_vpcctl_quietly_with_141(
    cli: Cli, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not exit 70 "internal error ... please report it", with a traceback: the shell's
    code for a process a closed pipe ends (what `yes | head -1` exits with)."""
    cli.api.respond("GET", "/vpcs", paged)
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())

    with pytest.raises(SystemExit) as ended:
        vpcctl.main(args, prog_name="vpcctl", obj=cli.runtime())

    assert ended.value.code == ExitCode.PIPE_CLOSED
    assert int(ExitCode.PIPE_CLOSED) == 141
    assert capsys.readouterr().err == ""


def _into_a_closed_pipe(tmp_path: Path, args: list[str], stream: str) -> tuple[int, str]:
    """The installed vpcctl run with `stream` (stdout or stderr) a pipe whose reader has
    already gone: its exit code, and what it said on the other stream."""
    script = Path(sys.executable).parent / "vpcctl"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "PYTHONPATH": VPCCTL_SOURCE,  # the code under test, not only the installed one
    }
    with subprocess.Popen(
        [str(script), *args],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        closed, other = (
            (process.stdout, process.stderr)
            if stream == "stdout"
            else (process.stderr, process.stdout)
        )
        closed.close()  # before vpcctl writes a byte
        said = other.read()
        return process.wait(timeout=60), said


@pytest.mark.parametrize(
    ("args", "stream"),
    [
        (["completion", "bash"], "stdout"),
        (["--help"], "stdout"),
        (["list", "--help"], "stdout"),
        (["--version"], "stdout"),
        (["--no-such-flag"], "stderr"),  # click's own usage error, shown last
    ],
)
def test_any_output_into_a_closed_pipe_exits_141_saying_nothing(
    tmp_path: Path, args: list[str], stream: str
) -> None:
    """The real thing: the process's own pipe, and nothing said on the other stream (no
    traceback, no "Exception ignored ... BrokenPipeError" as Python exits)."""
    assert _into_a_closed_pipe(tmp_path, args, stream) == (141, "")


# Output that cannot be written (a full disk): exit 74, saying so.

FULL = Path("/dev/full")


def _into_a_full_disk(api: FakeApi, tmp_path: Path, *args: str) -> Any:
    """A logged-in vpcctl process of `args`, its stdout /dev/full (every write fails)."""
    with FULL.open("w") as full:
        return subprocess.run(
            process_command(*args),
            cwd=tmp_path,
            env=process_env(tmp_path, api.url),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["get", "r-1"],
        ["--help"],
        ["list", "--help"],
        ["--version"],
        ["completion", "bash"],
    ],
)
def test_output_that_cannot_be_written_exits_74_saying_so(
    api: FakeApi, tmp_path: Path, args: list[str]
) -> None:
    """The real thing: stdout is /dev/full. Not a traceback and exit 70 ("a bug in
    vpcctl") or 1, nor Python's own complaint as it exits."""
    api.respond("GET", "/vpcs", paged)
    api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    done = _into_a_full_disk(api, tmp_path, *args)
    assert (done.returncode, done.stderr) == (
        ExitCode.OUTPUT_FAILED,
        "vpcctl: error: cannot write the output: No space left on device (OutputFailed)\n",
    )
    assert int(ExitCode.OUTPUT_FAILED) == 74  # sysexits' EX_IOERR


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full")
def test_output_that_cannot_be_written_is_a_json_error_under_json(
    api: FakeApi, tmp_path: Path
) -> None:
    api.respond("GET", "/vpcs", paged)
    done = _into_a_full_disk(api, tmp_path, "list", "--json")
    assert done.returncode == ExitCode.OUTPUT_FAILED
    assert json.loads(done.stderr) == {
        "Code": "OutputFailed",
        "Message": "cannot write the output: No space left on device",
        "exit_code": 74,
    }


# vpcctl wait ID, get --wait


def test_wait_polls_until_the_request_settles_then_shows_it(cli: Cli) -> None:
    cli.api.script(
        "GET",
        "/vpcs/r-1",
        Reply(200, record("QUEUED")),
        Reply(200, record("IN_PROGRESS", 1)),
        Reply(200, record("SUCCEEDED", 2)),
    )
    result = cli.run("wait", "r-1")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "r-1  QUEUED  vpc -  subnets 0/2",
        "r-1  IN_PROGRESS  vpc vpc-1  subnets 1/2",
        "r-1  SUCCEEDED  vpc vpc-1  subnets 2/2",
    ]
    assert "status      SUCCEEDED" in result.stdout
    assert cli.time.sleeps == [1.0, 1.0]


@pytest.mark.parametrize(
    ("final", "exit_code"),
    [("SUCCEEDED", 0), ("DELETED", 0), ("FAILED", 1), ("CANCELLED", 1), ("DELETE_FAILED", 1)],
)
def test_wait_exits_0_only_when_the_request_succeeded_or_was_deleted(
    cli: Cli, final: str, exit_code: int
) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("DELETING", 2)), Reply(200, record(final)))
    result = cli.run("wait", "r-1", "--json")
    assert result.exit_code == exit_code
    assert json_out(result)["status"] == final  # DELETING is waited through
    if exit_code:
        assert json_err(result)["Code"] == final


def test_get_wait_is_wait(cli: Cli) -> None:
    cli.api.script(
        "GET", "/vpcs/r-1", Reply(200, record("IN_PROGRESS", 1)), Reply(200, record("FAILED"))
    )
    result = cli.run("get", "r-1", "--wait", "-q")
    assert result.exit_code == 1
    assert result.stdout == "r-1\n"
    assert "request r-1 ended FAILED" in result.stderr


def test_wait_answers_as_yaml_and_through_a_query(cli: Cli) -> None:
    """wait is a read like get: -o yaml and --query apply to the record it ends with."""
    cli.api.script(
        "GET", "/vpcs/r-1", Reply(200, record("IN_PROGRESS", 1)), Reply(200, record("SUCCEEDED", 2))
    )
    as_yaml = cli.run("wait", "r-1", "-o", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout)["status"] == "SUCCEEDED"

    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    queried = cli.run("wait", "r-1", "--query", "subnets[].subnet_id")
    assert queried.stdout.splitlines() == ["subnet-0", "subnet-1"]


def test_wait_gives_up_after_its_timeout(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("IN_PROGRESS", 1)))
    result = cli.run("wait", "r-1", "--timeout", "2")
    assert result.exit_code == 6
    assert "gave up waiting after 2s" in result.stderr
    assert sum(cli.time.sleeps) == 2


def test_the_exit_codes_say_what_wait_exits_with() -> None:
    meaning = dict(EXIT_CODES)
    assert "`vpcctl wait`" in meaning[ExitCode.REQUEST_FAILED]
    assert "`vpcctl wait`" in meaning[ExitCode.TIMEOUT]


# An unambiguous id prefix is enough.

IDS = [
    "6f0c1a2b-0000-4000-8000-000000000001",
    "6f0d9e8f-0000-4000-8000-000000000002",
    "a1b2c3d4-0000-4000-8000-000000000003",
]
MINE = [record("SUCCEEDED", 2, request_id=i) for i in IDS]


@pytest.fixture
def mine(cli: Cli) -> Cli:
    cli.api.script("GET", "/vpcs", Reply(200, {"items": MINE, "next_token": None}))
    for request_id in IDS:
        cli.api.script(
            "GET", f"/vpcs/{request_id}", Reply(200, record("SUCCEEDED", 2, request_id=request_id))
        )
    return cli


def test_the_start_of_an_id_names_the_one_request_of_mine_it_starts(mine: Cli) -> None:
    result = mine.run("get", "6F0C", "--query", "request_id")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{IDS[0]}\n"
    listing, got = mine.api.received
    assert (listing.path, listing.param("created_by")) == ("/vpcs", "me")
    assert got.path == f"/vpcs/{IDS[0]}"


def test_wait_and_delete_take_the_start_of_an_id_too(mine: Cli) -> None:
    mine.api.script(
        "DELETE", f"/vpcs/{IDS[2]}", Reply(202, {"request_id": IDS[2], "status": "DELETING"})
    )
    assert mine.run("wait", "6f0d", "-q").stdout == f"{IDS[1]}\n"
    assert mine.run("delete", "a1").exit_code == 0
    assert [r.path for r in mine.api.calls("DELETE")] == [f"/vpcs/{IDS[2]}"]


def test_an_ambiguous_start_is_a_usage_error_naming_the_candidates(mine: Cli) -> None:
    result = mine.run("delete", "6f0")
    assert result.exit_code == 2
    assert "'6f0' is the start of 2 of your requests' ids" in result.stderr
    assert f"{IDS[0]} (SUCCEEDED, apps)" in result.stderr
    assert IDS[1] in result.stderr
    assert IDS[2] not in result.stderr
    assert mine.api.calls("DELETE") == []


def test_a_start_no_request_of_mine_has_is_a_usage_error_naming_my_newest(mine: Cli) -> None:
    result = mine.run("get", "ffff", "--json")
    assert result.exit_code == 2
    error = json_err(result)
    assert error["Code"] == "UsageError"
    assert "no request of yours has an id that starts with 'ffff'" in error["Message"]
    assert IDS[0] in error["Message"]
    assert "whole id" in error["hint"]


def test_a_whole_id_is_not_looked_up(mine: Cli) -> None:
    assert mine.run("get", IDS[2].upper(), "-q").stdout == f"{IDS[2]}\n"
    assert [r.path for r in mine.api.received] == [f"/vpcs/{IDS[2]}"]


# create without --wait says what to run next.


def test_create_without_wait_prints_the_next_command_on_stderr(cli: Cli) -> None:
    cli.api.script("POST", "/vpcs", accepted())
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "r-1  QUEUED\n"
    assert "next: `vpcctl wait r-1`" in result.stderr
    # Not where a script reads: -q and --json print no hint.
    assert cli.run("create", "-f", "spec.json", "-q").stderr == ""
    assert cli.run("create", "-f", "spec.json", "--json").stderr == ""
    # A replay of a request that has settled: nothing to wait for.
    cli.api.script("POST", "/vpcs", accepted("SUCCEEDED", replayed=True))
    settled = cli.run("create", "-f", "spec.json")
    assert "next: `vpcctl get r-1`" in settled.stderr
    assert "wait" not in settled.stderr


# A terminal: the list fitted to its width, colour unless NO_COLOR.

LONG = [
    record("SUCCEEDED", 2, request_id=IDS[0]),
    record(
        "FAILED",
        request_id=IDS[1],
        request={**VPC_SPEC, "vpc": {"cidr": "10.31.0.0/16", "name": "a-rather-long-vpc-name"}},
    ),
]


def list_on_a_terminal(cli: Cli, width: int, *flags: str) -> list[str]:
    cli.api.script("GET", "/vpcs", Reply(200, {"items": LONG, "next_token": None}))
    cli.stdout_tty, cli.width = True, width
    cli.env["NO_COLOR"] = "1"
    result = cli.run("list", *flags)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_a_wide_terminal_gets_every_column(cli: Cli) -> None:
    header, *_ = list_on_a_terminal(cli, 200)
    assert header.split() == [
        "REQUEST_ID", "STATUS", "CIDR", "NAME", "VPC_ID", "SUBNETS", "BY", "CREATED_AT"
    ]  # fmt: skip


def test_a_narrow_terminal_drops_columns_then_cuts_the_name(cli: Cli) -> None:
    lines = list_on_a_terminal(cli, 95)
    assert lines[0].split() == ["REQUEST_ID", "STATUS", "CIDR", "NAME", "SUBNETS"]
    assert all(len(line) <= 95 for line in lines)
    lines = list_on_a_terminal(cli, 80)
    assert lines[0].split() == ["REQUEST_ID", "STATUS", "CIDR", "NAME"]
    assert all(len(line) <= 80 for line in lines)
    assert lines[2].split()[-1].endswith("…")  # a-rather-long-vpc-name, cut
    assert IDS[1] in lines[2]  # the id, whole: what `get` takes


def test_a_pipe_gets_the_whole_table_whatever_the_terminal(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs", Reply(200, {"items": LONG, "next_token": None}))
    cli.width = 40
    header = cli.run("list").stdout.splitlines()[0]
    assert header.split()[-1] == "CREATED_AT"


def test_statuses_are_coloured_on_a_terminal(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs", Reply(200, {"items": LONG, "next_token": None}))
    cli.api.script("GET", f"/vpcs/{IDS[1]}", Reply(200, LONG[1]))
    cli.stdout_tty = True
    listed = cli.run("list").stdout
    assert "\x1b[32mSUCCEEDED" in listed
    assert "\x1b[31mFAILED" in listed
    assert "\x1b[1mREQUEST_ID" in listed  # the header, bold
    assert "status      \x1b[31mFAILED\x1b[0m" in cli.run("get", IDS[1]).stdout


@pytest.mark.parametrize("why", ["NO_COLOR", "TERM=dumb", "a pipe", "-o json", "--query"])
def test_no_colour_with_no_color_on_a_pipe_or_for_machines(cli: Cli, why: str) -> None:
    cli.api.script("GET", "/vpcs", Reply(200, {"items": LONG, "next_token": None}))
    cli.stdout_tty = why != "a pipe"
    if why == "NO_COLOR":
        cli.env["NO_COLOR"] = "1"
    if why == "TERM=dumb":  # a terminal that says it shows no escape codes
        cli.env["TERM"] = "dumb"
    flags = {"-o json": ["-o", "json"], "--query": ["--query", "items[].status"]}
    result = cli.run("list", *flags.get(why, []))
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout


# list --watch


def watching(cli: Cli, *listings: list[dict[str, Any]]) -> None:
    """GET /vpcs answers each listing in turn; Ctrl-C during the sleep after the last."""
    cli.api.script(
        "GET", "/vpcs", *(Reply(200, {"items": items, "next_token": None}) for items in listings)
    )
    sleep = cli.time.sleep

    def sleep_then_ctrl_c(seconds: float) -> None:
        sleep(seconds)
        if len(cli.time.sleeps) == len(listings):
            raise KeyboardInterrupt

    cli.time.sleep = sleep_then_ctrl_c  # type: ignore[method-assign]


QUEUED = record("QUEUED", request_id=IDS[0])
WORKING = record("IN_PROGRESS", 1, request_id=IDS[0])


def test_watch_prints_the_table_again_when_it_changed_and_ctrl_c_exits_0(cli: Cli) -> None:
    watching(cli, [QUEUED], [QUEUED], [WORKING])
    result = cli.run("list", "--watch", "--interval", "5")
    assert result.exit_code == 0, result.stderr
    tables = result.stdout.split("\n\n")
    assert len(tables) == 2  # the second listing changed nothing
    assert "QUEUED" in tables[0]
    assert "IN_PROGRESS" in tables[1]
    assert cli.time.sleeps == [5.0, 5.0, 5.0]


def test_the_exit_codes_say_ctrl_c_ends_list_watch_with_0() -> None:
    """Ctrl-C is how `list --watch` ends, not an interruption: the table (the help's and
    the guide's) says so where it says 130."""
    assert "`list --watch`" in dict(EXIT_CODES)[ExitCode.INTERRUPTED]
    assert "exits 0" in dict(EXIT_CODES)[ExitCode.INTERRUPTED]


def test_watch_on_a_terminal_redraws_in_place(cli: Cli) -> None:
    watching(cli, [QUEUED], [WORKING])
    cli.stdout_tty = True
    result = cli.run("list", "-w")
    assert result.stdout.count("\x1b[H\x1b[2J") == 2
    assert "Every 2s: vpcctl list" in result.stdout


def test_watch_json_prints_each_new_or_changed_request_once_a_line(cli: Cli) -> None:
    other = record("SUCCEEDED", 2, request_id=IDS[1])
    watching(cli, [QUEUED], [QUEUED, other], [WORKING, other])
    result = cli.run("list", "--watch", "-o", "json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["request_id"], d["status"]) for d in lines] == [
        (IDS[0], "QUEUED"),
        (IDS[1], "SUCCEEDED"),
        (IDS[0], "IN_PROGRESS"),
    ]


def test_watch_ends_141_saying_nothing_once_the_reader_of_stdout_has_gone(cli: Cli) -> None:
    """Off a terminal, watch writes only what changed: it must look for the reader itself."""
    watching(cli, [QUEUED], [QUEUED], [QUEUED], [QUEUED])
    sleep = cli.time.sleep

    def head_reads_then_leaves(seconds: float) -> None:
        sleep(seconds)
        cli.stdout_reader_gone = len(cli.time.sleeps) == 2

    cli.time.sleep = head_reads_then_leaves  # type: ignore[method-assign]

    result = cli.run("list", "--watch")

    assert result.exit_code == ExitCode.PIPE_CLOSED
    assert result.stderr == ""
    assert len(cli.api.calls("GET", "/vpcs")) == 2  # not listed again after it noticed


def test_reader_gone_is_a_pipe_whose_reader_closed_not_a_file(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    with open(write_end, "w") as into_pipe, (tmp_path / "out").open("w") as into_file:
        assert not reader_gone(into_pipe)
        os.close(read_end)
        assert reader_gone(into_pipe)
        assert not reader_gone(into_file)
    assert not reader_gone(io.StringIO())  # no descriptor: click's CliRunner


def test_watch_into_a_pipe_whose_reader_went_away_exits_141(api: FakeApi, tmp_path: Path) -> None:
    """The real thing: `vpcctl list --watch | head -1` returns once head has its line,
    though the listing never changes (so watch never writes again)."""
    api.script("GET", "/vpcs", Reply(200, {"items": [QUEUED], "next_token": None}))
    with subprocess.Popen(
        process_command("list", "--watch", "--interval", "0.5"),
        cwd=tmp_path,
        env=process_env(tmp_path, api.url),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # head -1 has its line
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            code = None
        said = process.stderr.read()
    assert first.startswith("REQUEST_ID"), said
    assert (code, said) == (ExitCode.PIPE_CLOSED, "")


def test_watch_with_q_or_query_is_a_usage_error(cli: Cli) -> None:
    assert cli.run("list", "--watch", "-q").exit_code == 2
    assert cli.run("list", "--watch", "--query", "items").exit_code == 2
    assert cli.api.received == []


# Shell completion


def completions(cli: Cli, args: list[str], incomplete: str) -> list[tuple[str, str | None]]:
    complete = ShellComplete(vpcctl, {"obj": cli.runtime()}, "vpcctl", "_VPCCTL_COMPLETE")
    return [(item.value, item.help) for item in complete.get_completions(args, incomplete)]


def test_status_values_complete_in_any_case(cli: Cli) -> None:
    assert completions(cli, ["list", "--status"], "de") == [
        ("DELETING", None),
        ("DELETED", None),
        ("DELETE_FAILED", None),
    ]


def test_request_ids_complete_from_my_newest_requests_when_logged_in(mine: Cli) -> None:
    assert completions(mine, ["get"], "6f0") == [
        (IDS[0], "SUCCEEDED apps"),
        (IDS[1], "SUCCEEDED apps"),
    ]
    assert completions(mine, ["delete"], "a") == [(IDS[2], "SUCCEEDED apps")]
    (listing,) = {(r.param("created_by"), r.param("limit")) for r in mine.api.received}
    assert listing == ("me", "50")


def test_request_ids_complete_to_nothing_when_logged_out_or_the_api_fails(mine: Cli) -> None:
    mine.run("logout")
    assert completions(mine, ["wait"], "") == []
    assert mine.api.received == []
    mine.login()
    mine.api.script("GET", "/vpcs", Reply(503, {"Code": "Busy", "Message": "busy"}))
    assert completions(mine, ["get"], "") == []
    assert len(mine.api.received) == 1  # one attempt: completion does not retry


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_what_the_completion_variable_prints_byte_for_byte(shell: str) -> None:
    """docs/local-stack.md: `_VPCCTL_COMPLETE=bash_source vpcctl` prints the same script."""
    command = CliRunner().invoke(vpcctl, ["completion", shell])
    variable = CliRunner().invoke(vpcctl, [], env={"_VPCCTL_COMPLETE": f"{shell}_source"})

    assert (command.exit_code, variable.exit_code) == (0, 0)
    assert command.stdout_bytes == variable.stdout_bytes


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_of_a_shell(shell: str) -> None:
    result = CliRunner().invoke(vpcctl, ["completion", shell])
    assert result.exit_code == 0
    assert "_VPCCTL_COMPLETE" in result.stdout
