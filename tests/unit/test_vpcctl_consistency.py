"""vpcctl says the same thing the same way: one table of exit codes (the help's and the
README's), the stack being down one exit code whatever its state, usage errors as JSON
under --json, an error's code named once, vpcctl's flags (not the API's parameters) in
its messages, and a restarted local stack called what it is."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from support.cli_harness import REGION, Cli, json_err, logged_in
from support.fake_api import FakeApi, Reply, closed_port_url
from vpcctl.api import DEFAULT_MAX_ATTEMPTS
from vpcctl.commands import cli as vpcctl
from vpcctl.config import AWS_REGION_ENVS, resolve
from vpcctl.errors import EXIT_CODES, ExitCode, exit_codes_markdown
from vpcctl.stack_file import start_command
from vpcctl.waiting import DEFAULT_WAIT_TIMEOUT_SECONDS

# The local stack's guide holds vpcctl's table (the README links it).
README = Path(__file__).resolve().parents[2] / "docs" / "local-stack.md"
# The body of spec.json (vpcctl create -f spec.json): any valid one.
EMPTY_SPEC = {"vpc": {"cidr": "10.30.0.0/16"}, "subnets": []}


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, EMPTY_SPEC)


# One table of exit codes.


def test_every_exit_code_is_described_once() -> None:
    assert [code for code, _ in EXIT_CODES] == list(ExitCode)


def test_the_readme_table_is_the_table_word_for_word() -> None:
    assert exit_codes_markdown() in README.read_text()


def test_the_help_shows_the_same_table() -> None:
    result = CliRunner().invoke(vpcctl, ["--help"])
    assert result.exit_code == 0
    shown = " ".join(result.stdout.split())
    for code, meaning in EXIT_CODES:
        assert f"{int(code)} {' '.join(meaning.replace('`', '').split())}" in shown


def test_the_regions_order_is_told_as_vpcctl_takes_it(cli: Cli) -> None:
    """--region, else VPCCTL_REGION, else the stack's (for its own API), and only then
    AWS_DEFAULT_REGION, then AWS_REGION, then the AWS profile's: the help's top, the flag's
    help and the guide say so, none putting the AWS variables before the stack file."""
    aws = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-2"}
    assert resolve(aws, cli.cwd).region == REGION  # the stack's, over both
    deployed = resolve({**aws, "VPCCTL_API_URL": "https://api.example"}, cli.cwd)
    assert deployed.region == "eu-west-1"
    assert AWS_REGION_ENVS == ("AWS_DEFAULT_REGION", "AWS_REGION")

    shown = " ".join(CliRunner().invoke(vpcctl, ["--help"]).stdout.split())
    assert (
        "--region VPCCTL_REGION (after stack.json: AWS_DEFAULT_REGION, then AWS_REGION, "
        "then the AWS profile's region)" in shown
    )
    assert (
        "(env VPCCTL_REGION, else the local stack's, else AWS_DEFAULT_REGION, then AWS_REGION, "
        "then the AWS profile's region)" in shown
    )
    guide = " ".join(README.read_text().split())
    assert (
        "`--region` (`VPCCTL_REGION`; after `.local/stack.json`, `AWS_DEFAULT_REGION`, then "
        "`AWS_REGION`, then the AWS profile's `region`" in guide
    )


def test_the_table_quotes_the_defaults_vpcctl_has() -> None:
    text = dict(EXIT_CODES)
    assert f"`--max-attempts` ({DEFAULT_MAX_ATTEMPTS})" in text[ExitCode.UNAVAILABLE]
    assert f"`--timeout` ({DEFAULT_WAIT_TIMEOUT_SECONDS:g} s)" in text[ExitCode.TIMEOUT]


# The stack being down: exit 5, at once, whether it left its stack.json or not.


def test_a_stopped_stack_and_a_killed_one_are_both_exit_5_stack_not_running(cli: Cli) -> None:
    killed = closed_port_url()  # a stack killed with SIGKILL leaves its stack.json behind
    cli.write_stack(killed)
    cli.remember_login(killed)
    dead_port = cli.run("get", "r-1", "--json")
    (cli.cwd / ".local" / "stack.json").unlink()  # a stack stopped with Ctrl-C removes it
    no_file = cli.run("get", "r-1", "--json")
    assert (dead_port.exit_code, no_file.exit_code) == (5, 5)
    assert json_err(dead_port)["Code"] == json_err(no_file)["Code"] == "StackNotRunning"
    assert "make run" in json_err(dead_port)["Message"]
    assert "make run" in json_err(no_file)["Message"]
    assert cli.time.sleeps == []  # not retried: nothing listens, waiting starts nothing


def test_a_stack_of_its_own_state_folder_that_is_down_is_told_to_start_with_that_state(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `eval "$(make -s env STATE=...)"` (DEVSTACK_STATE_DIR exported), a bare `make
    run` would start another stack, in .local/, which this shell does not look at."""
    state = tmp_path / "state 2"  # a folder a shell must quote
    state.mkdir()
    cli.env["DEVSTACK_STATE_DIR"] = str(state)
    stopped = json_err(cli.run("get", "r-1", "--json"))  # Ctrl-C removed its stack.json
    killed_url = closed_port_url()
    cli.write_stack(killed_url).rename(state / "stack.json")  # SIGKILL left it
    cli.remember_login(killed_url)
    killed = json_err(cli.run("get", "r-1", "--json"))
    monkeypatch.setattr(cli.cognito, "initiate_auth", _refused_connection)
    login = json_err(cli.run("login", "--json"))
    assert f"`make run STATE='{state}'`" in stopped["Message"]  # no URL, no port to name
    for error in (killed, login):  # the stack's own port, not the default one
        assert f"`make run STATE='{state}' PORT={urlsplit(killed_url).port}`" in error["Message"]
    for error in (stopped, killed, login):
        assert error["Code"] == "StackNotRunning"
    assert f"no stack.json in '{state}'" in stopped["Message"]
    assert ".local/stack.json" not in stopped["Message"]


def test_the_checkouts_own_state_folder_is_not_named_in_the_start_command(
    cli: Cli, tmp_path: Path
) -> None:
    """The eval exports DEVSTACK_STATE_DIR for the default `.local` too: a bare `make run`
    in the checkout keeps its stack there, and `STATE=/the/whole/path` said nothing more."""
    (cli.cwd / ".git").mkdir()  # the checkout: work/ (its .local/ holds the stack file)
    cli.env["DEVSTACK_STATE_DIR"] = str(cli.cwd / ".local")
    (cli.cwd / ".local" / "stack.json").unlink()  # the stack stopped

    message = json_err(cli.run("get", "r-1", "--json"))["Message"]

    assert "start one with `make run`," in message, message
    assert start_command(cli.env, None, cli.cwd / "sub") == "make run"
    other = str(tmp_path / "elsewhere" / ".local")
    assert start_command({"DEVSTACK_STATE_DIR": other}, None, cli.cwd) == f"make run STATE={other}"


def test_a_stack_on_another_port_that_is_down_is_told_to_start_on_that_port(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run PORT=8001` made it: a bare `make run` would start one on 8000."""
    url = closed_port_url()
    cli.write_stack(url)
    cli.remember_login(url)
    api_down = json_err(cli.run("get", "r-1", "--json"))
    other_url = closed_port_url()  # given by flag, no stack.json of its own
    tokens = cli.cache().load(url)
    assert tokens is not None
    cli.cache().store(other_url, tokens)
    other = json_err(cli.run("get", "r-1", "--json", "--api-url", other_url))
    monkeypatch.setattr(cli.cognito, "initiate_auth", _refused_connection)
    moto_down = json_err(cli.run("login", "--json"))
    port = urlsplit(url).port
    assert f"start it with `make run PORT={port}`" in api_down["Message"]
    assert f"start it with `make run PORT={port}`" in moto_down["Message"]  # moto: PORT+10000
    assert f"start it with `make run PORT={urlsplit(other_url).port}`" in other["Message"]


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("http://127.0.0.1:8000", "make run"),
        ("http://localhost:8001", "make run PORT=8001"),
        ("http://[::1]:9000", "make run PORT=9000"),
        ("http://127.0.0.1", "make run PORT=80"),
    ],
)
def test_the_start_command_names_the_port_unless_it_is_the_default(url: str, start: str) -> None:
    assert start_command({}, url) == start


def _refused_connection(**_kwargs: object) -> dict[str, object]:
    """Cognito's initiate_auth when nothing listens on the stack's moto, as botocore says it."""
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as refused:
        raise RuntimeError("Could not connect to the endpoint URL") from refused


def test_a_create_to_a_stack_that_is_down_does_not_say_it_may_have_been_accepted(
    cli: Cli,
) -> None:
    url = closed_port_url()
    cli.write_stack(url)
    cli.remember_login(url)
    result = cli.run("create", "-f", "spec.json")
    assert result.exit_code == 5
    assert "not running" in result.stderr
    assert "--idempotency-key" not in result.stderr  # nothing was sent


# A URL on this machine where nothing listens (a mistyped port): the stack is down, not
# the user logged out.


def test_not_logged_in_to_a_url_on_this_machine_where_nothing_listens_says_nothing_answers(
    cli: Cli,
) -> None:
    url = closed_port_url()  # --api-url with a mistyped port: no token cached for it
    result = cli.run("--api-url", url, "list")
    error = json_err(cli.run("--api-url", url, "get", "r-1", "--json"))
    assert result.exit_code == 5, result.stderr
    assert f"nothing answers at {url} (connection refused)" in result.stderr
    assert f"start it with `make run PORT={urlsplit(url).port}`" in result.stderr
    assert "(StackNotRunning)" in result.stderr
    assert "not logged in" not in result.stderr
    assert (error["Code"], error["exit_code"]) == ("StackNotRunning", 5)
    assert cli.time.sleeps == []


def test_not_logged_in_to_a_url_on_this_machine_that_answers_is_still_not_logged_in(
    cli: Cli, api: FakeApi
) -> None:
    cli.run("logout")
    result = cli.run("--api-url", api.url, "list")
    assert result.exit_code == 3, result.stderr
    assert f"not logged in to {api.url}: run `vpcctl login`" in result.stderr
    assert api.received == []  # the probe is a connection, not a request


def test_login_to_a_url_on_this_machine_where_nothing_listens_says_so_before_asking_anything(
    cli: Cli,
) -> None:
    url = closed_port_url()  # no stack.json of its own: no username, client id nor password
    cli.stdin_tty = True
    signed_in_before = len(cli.cognito.calls)
    result = cli.run("--api-url", url, "login")
    assert result.exit_code == 5, result.stderr
    assert f"nothing answers at {url} (connection refused)" in result.stderr
    assert "who?" not in result.stderr
    assert "Password" not in result.stderr
    assert len(cli.cognito.calls) == signed_in_before


def test_not_logged_in_to_a_remote_url_is_said_without_connecting_to_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def cut(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("the network is cut in this test")

    monkeypatch.setattr(socket, "getaddrinfo", cut)
    monkeypatch.setattr(socket.socket, "connect", cut)
    result = cli.run("--api-url", "https://vpc.example.com", "list")
    assert result.exit_code == 3, result.stderr
    assert "not logged in to https://vpc.example.com" in result.stderr
    assert attempts == []


def test_login_to_a_stack_that_is_down_is_exit_5_stack_not_running(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.cognito, "initiate_auth", _refused_connection)
    error = json_err(cli.run("login", "--json"))
    assert (error["Code"], error["exit_code"]) == ("StackNotRunning", 5)
    assert "make run" in error["Message"]


# --json: usage errors too are one JSON error on stderr.


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["list", "--status", "DONE", "--json"], "'DONE' is none of"),
        (["create", "--json"], "give -f FILE (the request body), or build it with"),
        (["get", "--json"], "REQUEST_ID"),
        (["list", "--json", "--limit", "0"], "--limit"),
        (["get", "r-1", "--json", "--bogus"], "--bogus"),
        # The global flags, before the command: --json there is one of them.
        (["--json", "--max-attempts", "0", "list"], "--max-attempts"),
        (["--json", "--bogus", "list"], "--bogus"),
    ],
)
def test_with_json_a_usage_error_is_json_on_stderr_too(
    cli: Cli, args: list[str], words: str
) -> None:
    result = cli.run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    error = json_err(result)
    assert (error["Code"], error["exit_code"]) == ("UsageError", 2)
    assert words in error["Message"]
    assert "--help" in error["hint"]
    assert cli.api.received == []


@pytest.mark.parametrize(
    ("args", "words", "command"),
    [
        (["create", "--size", "99"], "99 is not in the range 16<=x<=28", "vpcctl create"),
        (["list", "--status", "bogus"], "'bogus' is none of", "vpcctl list"),
        (["list", "--limit", "0"], "--limit", "vpcctl list"),
        (["get"], "Missing argument 'REQUEST_ID'", "vpcctl get"),
        (["-o", "xml", "list"], "'xml' is not one of", "vpcctl"),
        (
            ["completion", "powershell"],
            "Invalid value for 'SHELL': 'powershell' is not one of",
            "vpcctl completion",
        ),
        (["get", "r-1", "--bogus"], "No such option '--bogus'", "vpcctl get"),
        (["frobnicate"], "No such command 'frobnicate'", "vpcctl"),
    ],
)
def test_without_json_a_usage_error_is_one_line_in_vpcctls_format(
    args: list[str], words: str, command: str
) -> None:
    result = CliRunner().invoke(vpcctl, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("vpcctl: error: "), line
    assert words in line
    assert line.endswith(f"(UsageError; see `{command} --help`)"), line
    assert "Usage:" not in result.stderr


# click's parser raises an option given without its value with no command attached: the
# hint still names the command whose option it is, as every other usage error's does.
OPTIONS_WITHOUT_THEIR_VALUE = [
    (["list", "--status"], "Option '--status' requires an argument.", "vpcctl list"),
    (["list", "--limit"], "Option '--limit' requires an argument.", "vpcctl list"),
    (["get", "--timeout"], "Option '--timeout' requires an argument.", "vpcctl get"),
    (["create", "--size"], "Option '--size' requires an argument.", "vpcctl create"),
    (["--api-url"], "Option '--api-url' requires an argument.", "vpcctl"),
]


@pytest.mark.parametrize(("args", "words", "command"), OPTIONS_WITHOUT_THEIR_VALUE)
def test_an_option_without_its_value_points_at_its_command_s_help(
    args: list[str], words: str, command: str
) -> None:
    result = CliRunner().invoke(vpcctl, args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line == f"vpcctl: error: {words} (UsageError; see `{command} --help`)"


@pytest.mark.parametrize(("args", "words", "command"), OPTIONS_WITHOUT_THEIR_VALUE)
def test_with_json_an_option_without_its_value_points_at_its_command_s_help(
    args: list[str], words: str, command: str
) -> None:
    # --json first: after the option it would be taken for the missing value.
    result = CliRunner().invoke(vpcctl, ["--json", *args])
    assert result.exit_code == 2
    error = json_err(result)
    assert (error["Code"], error["Message"]) == ("UsageError", words)
    assert error["hint"] == f"`{command} --help`"


def test_a_usage_error_s_prefix_is_red_on_a_terminal(cli: Cli) -> None:
    cli.stderr_tty = True
    result = cli.run("list", "--limit", "0")
    assert result.exit_code == 2
    assert result.stderr.startswith("\x1b[31mvpcctl: error:\x1b[0m Invalid value")


def test_vpcctl_alone_prints_its_help_on_stdout_and_exits_0() -> None:
    result = CliRunner().invoke(vpcctl, [])
    assert result.exit_code == 0
    assert result.stdout == CliRunner().invoke(vpcctl, ["--help"]).stdout
    assert result.stdout.startswith("Usage: vpcctl [OPTIONS] COMMAND [ARGS]...")
    assert result.stderr == ""


# An error's code is named once.


def test_a_refused_login_names_cognitos_code_once(cli: Cli) -> None:
    result = cli.run("login", "--password-stdin", input="wrong\n")
    assert result.exit_code == 3
    assert result.stderr.count("NotAuthorizedException") == 1, result.stderr
    error = json_err(cli.run("login", "--password-stdin", "--json", input="wrong\n"))
    assert error["Code"] == "NotAuthorizedException"
    assert "NotAuthorizedException" not in error["Message"]


# A local stack restarted without PERSIST=1.


def test_after_a_restart_without_persist_vpcctl_says_the_stack_restarted(cli: Cli) -> None:
    cli.write_stack(cli.api.url, client_id="local-client-2")  # a new user pool, a new client
    result = cli.run("get", "r-1")
    assert result.exit_code == 3
    assert "the local stack at" in result.stderr
    assert "restarted" in result.stderr
    assert "PERSIST=1" in result.stderr
    assert "run `vpcctl login` again" in result.stderr
    assert "(StackRestarted)" in result.stderr
    assert cli.api.received == []


def test_a_token_the_api_says_is_from_before_a_restart_is_reported_with_its_reason(
    cli: Cli,
) -> None:
    restarted = (
        "This token is from before the local stack was restarted: its state (users, "
        "requests) lived in memory and is gone (`make run PERSIST=1` keeps it)."
    )
    cli.api.script(
        "GET", "/vpcs/r-1", Reply(401, {"Code": "UnauthorizedError", "Message": restarted})
    )
    cli.cognito.refresh_tokens.clear()  # the new stack's Cognito knows no old refresh token
    result = cli.run("get", "r-1", "--json")
    assert result.exit_code == 3
    error = json_err(result)
    assert (error["Code"], error["http_status"]) == ("UnauthorizedError", 401)
    assert error["Message"] == restarted
    assert "vpcctl login" in error["hint"]


# vpcctl's flags, not the API's parameters.


def test_mine_and_status_together_are_refused_naming_the_flags(cli: Cli) -> None:
    cli.api.script(
        "GET",
        "/vpcs",
        Reply(
            400,
            {"Code": "BadRequestError", "Message": "Give either status or created_by, not both."},
        ),
    )
    result = cli.run("list", "--mine", "--status", "SUCCEEDED")
    assert result.exit_code == 2
    assert "--mine" in result.stderr
    assert "--status" in result.stderr
    assert "created_by" not in result.stderr
    assert cli.api.received == []


def test_an_invalid_next_token_is_reported_as_the_flag(cli: Cli) -> None:
    cli.api.script(
        "GET",
        "/vpcs",
        Reply(
            400,
            {
                "Code": "BadRequestError",
                "Message": "next_token is not valid: pass the next_token of the previous page "
                "unchanged, or leave it out to start from the newest request.",
            },
        ),
    )
    result = cli.run("list", "--next-token", "garbage")
    assert result.exit_code == 2
    assert "--next-token" in result.stderr
    assert not re.search(r"(?<!-)next_token", result.stderr), result.stderr


def test_with_json_vpcctls_own_usage_errors_point_at_the_commands_help_too(cli: Cli) -> None:
    """docs/local-stack.md: under -o json a usage error carries a `hint` naming the help to
    read, vpcctl's own (two filters at once) as click's."""
    result = cli.run("list", "--mine", "--status", "FAILED", "--json")
    assert result.exit_code == 2
    error = json_err(result)
    assert error["Code"] == "UsageError"
    assert error["hint"] == "`vpcctl list --help`"
    assert cli.api.received == []
