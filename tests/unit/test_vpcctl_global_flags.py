"""vpcctl's global flags (issue 24, 10): --api-url, --client-id, --region, --max-attempts,
-o/--json and --query once, before the command; still taken after it (that one wins).
And its `vpcctl: error:` in red on a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from support.cli_harness import CLIENT_ID, DEMO_PASSWORD, REGION, Cli, json_err, json_out, logged_in
from support.fake_api import FakeApi, Reply
from unit.test_vpcctl_commands import VPC_SPEC, record
from vpcctl.commands import cli as vpcctl

DEPLOYED = "https://abc.execute-api.eu-west-1.amazonaws.com/api"
OTHER = "https://other.example/api"
UNAVAILABLE = {"Code": "ServiceUnavailable", "Message": "A backing service is unavailable"}
RED_ERROR = "\x1b[31mvpcctl: error:\x1b[0m "


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return logged_in(tmp_path, api, VPC_SPEC)


# The connection flags, before the command.


def test_api_url_before_the_command_is_the_api(cli: Cli) -> None:
    result = cli.run("--api-url", DEPLOYED, "logout", "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result) == {"api_url": DEPLOYED, "logged_out": False}


def test_after_the_command_a_flag_wins_over_the_same_flag_before_it(cli: Cli) -> None:
    result = cli.run("--api-url", DEPLOYED, "logout", "--api-url", OTHER, "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result)["api_url"] == OTHER


def test_client_id_and_region_before_the_command_reach_cognito(cli: Cli) -> None:
    cli.cognito.username = "alice"
    result = cli.run(
        "--api-url",
        DEPLOYED,
        "--client-id",
        "deployed-client",
        "--region",
        "eu-west-1",
        "login",
        "--username",
        "alice",
        "--password-stdin",
        input=cli.cognito.password + "\n",
    )
    assert result.exit_code == 0, result.stderr
    target = cli.cognito.targets[-1]
    assert (target.cognito_endpoint, target.region) == (None, "eu-west-1")
    assert cli.cognito.calls[-1]["ClientId"] == "deployed-client"


@pytest.mark.parametrize(
    ("args", "attempts"),
    [
        (["--max-attempts", "2", "get", "r-1"], 2),
        (["--max-attempts", "2", "get", "r-1", "--max-attempts", "3"], 3),
        (["get", "r-1", "--max-attempts", "3"], 3),
    ],
)
def test_max_attempts_before_the_command_and_after_it(
    cli: Cli, args: list[str], attempts: int
) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(503, UNAVAILABLE))
    result = cli.run(*args)
    assert result.exit_code == 5
    assert len(cli.api.calls("GET", "/vpcs/r-1")) == attempts


@pytest.mark.parametrize("value", ["0", "101", "1000", "many"])
def test_max_attempts_from_the_environment_has_the_flags_bounds(cli: Cli, value: str) -> None:
    cli.env["VPCCTL_MAX_ATTEMPTS"] = value
    result = cli.run("get", "r-1")
    assert result.exit_code == 2
    assert "VPCCTL_MAX_ATTEMPTS must be a whole number from 1 to 100" in result.stderr
    assert cli.api.received == []


def test_a_global_flag_s_bad_value_is_a_usage_error_before_any_request(cli: Cli) -> None:
    result = cli.run("--max-attempts", "0", "get", "r-1")
    assert result.exit_code == 2
    assert "--max-attempts" in result.stderr
    assert cli.api.received == []


# -o, --json, --query before the command.


@pytest.mark.parametrize("flags", [["-o", "json"], ["--json"], ["--output=json"]])
def test_json_output_before_the_command(cli: Cli, flags: list[str]) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run(*flags, "get", "r-1")
    assert result.exit_code == 0, result.stderr
    assert json_out(result) == record("SUCCEEDED", 2)


def test_output_after_the_command_wins_over_json_before_it(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run("--json", "get", "r-1", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout) == record("SUCCEEDED", 2)


def test_query_before_the_command(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("SUCCEEDED", 2)))
    result = cli.run("--query", "status", "get", "r-1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "SUCCEEDED\n"


def test_json_before_the_command_makes_its_errors_json(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/nope", Reply(404, {"Code": "NotFoundError", "Message": "No"}))
    result = cli.run("-o", "json", "get", "nope")
    assert result.exit_code == 4
    assert json_err(result)["Code"] == "NotFoundError"


def test_request_ids_complete_from_the_api_the_global_api_url_names(
    tmp_path: Path, api: FakeApi
) -> None:
    cli = Cli(tmp_path, api)
    cli.write_stack("http://127.0.0.1:9/api")  # the local stack's is another API
    target = ["--api-url", api.url, "--client-id", CLIENT_ID, "--region", REGION]
    login = cli.run(*target, "login", "--username", "demo", "--password-stdin", input=DEMO_PASSWORD)
    assert login.exit_code == 0, login.stderr
    api.script("GET", "/vpcs", Reply(200, {"items": [record("QUEUED")], "next_token": None}))
    complete = ShellComplete(vpcctl, {"obj": cli.runtime()}, "vpcctl", "_VPCCTL_COMPLETE")
    assert [item.value for item in complete.get_completions([*target, "get"], "r")] == ["r-1"]


# Help


def test_vpcctl_help_lists_the_global_flags() -> None:
    result = CliRunner().invoke(vpcctl, ["--help"])
    assert result.exit_code == 0
    options = result.stdout.split("Options:", 1)[1]
    for flag in ("--api-url", "--client-id", "--region", "--max-attempts", "-o, --output"):
        assert flag in options
    assert "--json" in options
    assert "--query" in options
    assert "vpcctl --api-url URL" in " ".join(result.stdout.split())


def test_a_command_s_help_leaves_the_connection_flags_to_vpcctl_s() -> None:
    result = CliRunner().invoke(vpcctl, ["get", "--help"])
    assert result.exit_code == 0
    for flag in ("--api-url", "--client-id", "--region", "--max-attempts"):
        assert flag not in result.stdout
    assert "-o, --output" in result.stdout  # as `kubectl get -o`: where people look


# `vpcctl: error:` in red on a terminal.


def test_the_error_prefix_is_red_on_a_terminal(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/nope", Reply(404, {"Code": "NotFoundError", "Message": "No"}))
    cli.stderr_tty = True
    result = cli.run("get", "nope")
    assert result.exit_code == 4
    assert result.stderr.startswith(RED_ERROR + "No")


def test_a_failed_wait_s_error_is_red_on_a_terminal(cli: Cli) -> None:
    cli.api.script("GET", "/vpcs/r-1", Reply(200, record("FAILED", 0)))
    cli.stderr_tty = True
    result = cli.run("wait", "r-1")
    assert result.exit_code == 1
    assert RED_ERROR + "request r-1 ended FAILED" in result.stderr


@pytest.mark.parametrize("why", ["a pipe", "NO_COLOR", "-o yaml"])
def test_no_red_on_a_pipe_under_no_color_or_for_machines(cli: Cli, why: str) -> None:
    cli.api.script("GET", "/vpcs/nope", Reply(404, {"Code": "NotFoundError", "Message": "No"}))
    cli.stderr_tty = why != "a pipe"
    if why == "NO_COLOR":
        cli.env["NO_COLOR"] = "1"
    result = cli.run("get", "nope", *(["-o", "yaml"] if why == "-o yaml" else []))
    assert result.exit_code == 4
    assert "\x1b[" not in result.stderr
    if why == "-o yaml":
        assert json_err(result)["Code"] == "NotFoundError"
    else:
        assert result.stderr.startswith("vpcctl: error: No")
