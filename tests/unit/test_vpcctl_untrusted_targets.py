"""Issue 21, through the CLI: a URL the HTTP layer could read otherwise than vpcctl
checked it, or a stack.json vpcctl cannot trust, ends the command with exit 2 and one
line on stderr before anything is sent: no token to the API, no password to Cognito.

"Nothing sent" is shown two ways: the network is cut (a name looked up or a connection
attempted is recorded, and fails), or a listener stands in for the host urllib3 would
have connected to, and must receive nothing."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from support.cli_harness import DEMO_PASSWORD, Cli
from support.fake_api import FakeApi, Reply, fake_jwt, serve
from vpcctl.auth import boto3_cognito
from vpcctl.commands import cli as vpcctl
from vpcctl.config import AWS_ENDPOINT_ENVS
from vpcctl.tokens import Tokens
from vpcctl.urls import checked_url

# To urlsplit (vpcctl's old check) this is 127.0.0.1; to urllib3 (requests, botocore) it
# is evil.example, which would get the token or the password.
BACKSLASH_TRICK = "http://evil.example\\@127.0.0.1:8000"
USER_INFO = "http://user:pw@127.0.0.1:8000"
ID_TOKEN = fake_jwt({"sub": "u-1", "exp": 4_000_000_000})


@pytest.fixture
def trap() -> Iterator[FakeApi]:
    """A listener in the place of evil.example: what reaches it went to the wrong host."""
    yield from serve()


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    return Cli(tmp_path, api)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The network, cut: each name looked up and each connection attempted is recorded
    (and fails)."""
    attempts: list[Any] = []

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(("lookup", host))
        raise OSError("the network is cut in this test")

    def connect(_socket: socket.socket, address: Any) -> None:
        attempts.append(("connect", address))
        raise OSError("the network is cut in this test")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def logged_in(cli: Cli, api_url: str) -> None:
    """A cached, valid ID token for `api_url`: a command would send it at once."""
    tokens = Tokens(ID_TOKEN, "refresh-1", 4_000_000_000.0, "demo", "some-client")
    cli.cache().store(api_url, tokens)


def set_stack_endpoint(cli: Cli, url: str) -> Path:
    path = cli.cwd / ".local" / "stack.json"
    info = json.loads(path.read_text())
    info["aws_endpoint_url"] = url
    path.write_text(json.dumps(info))
    return path


def assert_refused(result: Result, *words: str) -> None:
    """Exit 2, one line on stderr naming why, no secret shown."""
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vpcctl: error: ")
    assert lines[0].endswith("(UsageError)")
    for word in words:
        assert word in lines[0]
    assert ID_TOKEN not in result.output
    assert DEMO_PASSWORD not in result.output


@pytest.mark.parametrize(("url", "why"), [(BACKSLASH_TRICK, "backslash"), (USER_INFO, "user info")])
@pytest.mark.parametrize("source", ["--api-url", "VPCCTL_API_URL"])
def test_an_api_url_read_two_ways_exits_2_and_connects_to_nothing(
    cli: Cli, network: list[Any], source: str, url: str, why: str
) -> None:
    logged_in(cli, url)
    if source == "--api-url":
        result = cli.run("get", "r-1", "--api-url", url)
    else:
        cli.env["VPCCTL_API_URL"] = url
        result = cli.run("get", "r-1")
    assert network == []
    assert_refused(result, why, source)


def test_the_token_never_reaches_the_host_urllib3_reads_in_a_backslash_url(
    cli: Cli, trap: FakeApi
) -> None:
    # urlsplit: 127.0.0.1:9, where nothing listens; urllib3: the trap.
    url = f"{trap.url}\\@127.0.0.1:9"
    logged_in(cli, url)
    result = cli.run("get", "r-1", "--api-url", url)
    assert trap.received == []  # it would hold the bearer token
    assert_refused(result, "backslash")


def test_login_with_a_stack_endpoint_read_two_ways_exits_2_and_sends_no_password(
    cli: Cli, network: list[Any]
) -> None:
    path = set_stack_endpoint(cli, BACKSLASH_TRICK)
    result = cli.run("login")
    assert cli.cognito.calls == []
    assert cli.cognito.targets == []
    assert network == []
    assert_refused(result, "backslash", f"aws_endpoint_url of {path}")


def test_the_password_never_reaches_the_host_urllib3_reads_in_a_stack_endpoint(
    cli: Cli, trap: FakeApi
) -> None:
    """With boto3 itself (botocore sends with urllib3): the trap would get the password."""
    trap.script("POST", "/", Reply(400, {"__type": "NotAuthorizedException", "message": "trap"}))
    set_stack_endpoint(cli, f"{trap.url}\\@127.0.0.1:9")
    runtime = cli.runtime()
    runtime.cognito = boto3_cognito
    result = CliRunner().invoke(vpcctl, ["login"], obj=runtime)
    assert trap.received == []  # it would hold the password
    assert_refused(result, "backslash")


# `vpcctl login` to a deployed API: vpcctl names no Cognito endpoint, botocore finds one.
DEPLOYED_LOGIN = [
    *("login", "--api-url", "https://api.example.com", "--client-id", "c-1"),
    *("--region", "eu-west-1", "--username", "demo", "--password-stdin"),
]


@pytest.mark.parametrize("name", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"])
def test_login_to_a_deployed_api_refuses_an_aws_endpoint_variable_read_two_ways(
    cli: Cli, network: list[Any], name: str
) -> None:
    """No endpoint is named for a deployed API: botocore would take this one."""
    cli.env[name] = BACKSLASH_TRICK
    result = cli.run(*DEPLOYED_LOGIN, input=DEMO_PASSWORD + "\n")
    assert cli.cognito.calls == []
    assert network == []
    assert_refused(result, "backslash", name)


def aws_config_naming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, section: str
) -> Path:
    """An AWS config file whose default profile gives cognito-idp `endpoint`, in the
    profile itself (`endpoint_url`) or in the `services` section it names, read by botocore
    (and by nothing vpcctl reads): no endpoint variable set, no other profile chosen."""
    for name in (*AWS_ENDPOINT_ENVS, "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    if section == "profile":
        config.write_text(f"[default]\nendpoint_url = {endpoint}\n")
    else:
        config.write_text(
            "[default]\nservices = mine\n\n[services mine]\ncognito_identity_provider =\n"
            f"  endpoint_url = {endpoint}\n"
        )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def boto3_login_to_a_deployed_api(cli: Cli) -> Result:
    """`vpcctl login` to a deployed API (no endpoint named by vpcctl), with boto3 itself."""
    runtime = cli.runtime()
    runtime.cognito = boto3_cognito
    return CliRunner().invoke(vpcctl, DEPLOYED_LOGIN, obj=runtime, input=DEMO_PASSWORD + "\n")


# Where each way of writing it is named in the refusal.
CONFIG_ORIGINS = {"profile": "endpoint_url of profile 'default'", "services": "services section"}


@pytest.mark.parametrize("section", ["profile", "services"])
def test_the_password_never_reaches_the_host_urllib3_reads_in_an_aws_config_endpoint(
    tmp_path: Path, api: FakeApi, trap: FakeApi, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    """botocore also takes the Cognito endpoint from the AWS config file, a profile's
    `endpoint_url` or its `services` section's, which no variable shows: the endpoint the
    client resolved is checked, wherever it came from, and the refusal names the file."""
    trap.script("POST", "/", Reply(400, {"__type": "NotAuthorizedException", "message": "trap"}))
    config = aws_config_naming(tmp_path, monkeypatch, f"{trap.url}\\@127.0.0.1:9", section)
    result = boto3_login_to_a_deployed_api(Cli(tmp_path, api, stack=False))
    assert trap.received == []  # it would hold the password
    assert_refused(result, "backslash", CONFIG_ORIGINS[section], str(config))


@pytest.mark.parametrize("section", ["profile", "services"])
def test_the_password_is_never_sent_over_plain_http_to_an_aws_config_endpoint_elsewhere(
    tmp_path: Path,
    api: FakeApi,
    network: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    section: str,
) -> None:
    """The API URL's rule (https://, or http:// to this machine) holds for the endpoint
    the AWS config file gives as for AWS_ENDPOINT_URL: refused, saying what to do."""
    config = aws_config_naming(tmp_path, monkeypatch, "http://cognito.example.com", section)
    result = boto3_login_to_a_deployed_api(Cli(tmp_path, api, stack=False))
    assert network == []
    assert_refused(result, "plain HTTP", CONFIG_ORIGINS[section], "https://", str(config))


def test_an_aws_config_endpoint_on_this_machine_gets_the_login(
    tmp_path: Path, api: FakeApi, trap: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every configured endpoint is refused: http:// to this machine (a moto, say) is
    the API URL's rule too, and there Cognito's answer is the login's."""
    trap.script("POST", "/", Reply(400, {"__type": "NotAuthorizedException", "message": "no"}))
    aws_config_naming(tmp_path, monkeypatch, trap.url, "services")
    result = boto3_login_to_a_deployed_api(Cli(tmp_path, api, stack=False))
    assert len(trap.received) == 1
    assert result.exit_code == 3, result.stderr
    assert "login refused: no" in result.stderr


@pytest.mark.parametrize("scheme", ["HTTP", "Http", "HTTPS"])
def test_a_scheme_in_capitals_is_the_same_url_not_a_refusal(scheme: str) -> None:
    """RFC 3986 6.2.2.1: the scheme's case does not matter (HTTP://LOCALHOST:8000 is
    http://localhost:8000), so it is not "a URL that must start with http://"."""
    assert checked_url(f"{scheme}://LOCALHOST:8000", "--api-url") == (
        f"{scheme.lower()}://localhost:8000"
    )


def test_a_long_url_is_quoted_cut_short(cli: Cli, network: list[Any]) -> None:
    url = "https://" + "a" * 10_000 + "\\@api.example.com"
    result = cli.run("get", "r-1", "--api-url", url)
    assert_refused(result, "backslash")
    assert len(result.stderr) < 400
    assert network == []


def test_login_refuses_a_stack_file_others_can_read_and_says_how_to_fix_it(cli: Cli) -> None:
    path = cli.cwd / ".local" / "stack.json"
    path.chmod(0o644)
    result = cli.run("login")
    assert cli.cognito.calls == []
    assert_refused(result, str(path), f"chmod 600 {path}")

    path.chmod(0o600)
    assert cli.run("login").exit_code == 0


def test_login_refuses_a_stack_file_of_another_user(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cli.cwd / ".local" / "stack.json"
    if os.geteuid() == 0:
        os.chown(path, 65534, -1)  # nobody's
        owner = 65534
    else:  # as if another user ran vpcctl here
        owner = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    result = cli.run("login")
    assert cli.cognito.calls == []
    assert_refused(result, str(path), f"uid {owner},", "remove it")


def test_login_ignores_a_stack_file_planted_above_the_repository(
    cli: Cli, tmp_path: Path, network: list[Any]
) -> None:
    planted = cli.cwd / ".local" / "stack.json"
    planted.chmod(0o644)  # world-readable, in a folder above the repository
    repository = cli.cwd / "repo"
    (repository / ".git").mkdir(parents=True)
    cli.cwd = repository
    result = cli.run("login")
    assert cli.cognito.calls == []
    assert network == []
    # No stack file of the project's: no stack running, exit 5 as for any stack that is down.
    assert result.exit_code == 5, result.stderr
    assert "no API to talk to: no local stack found from here" in result.stderr
    assert 'eval "$(make -s env)"' in result.stderr  # how to reach one running elsewhere
    assert "(StackNotRunning)" in result.stderr


@pytest.mark.parametrize("named_by", ["--api-url", "VPCCTL_API_URL"])
def test_a_distrusted_stack_file_does_not_stop_a_command_that_names_another_api(
    cli: Cli, named_by: str
) -> None:
    """A stack file planted where vpcctl looks (a `.git` and `.local/stack.json` in a shared
    folder above a project with no `.git` of its own) cannot stop a command naming its API:
    its password is not at stake. Without the name, the refusal stands (above)."""
    cli.login()
    (cli.cwd / ".local" / "stack.json").chmod(0o644)  # distrusted as another user's is
    (cli.cwd / ".git").mkdir()
    project = cli.cwd / "project"
    project.mkdir()
    cli.cwd = project
    cli.api.script("GET", "/pools", Reply(200, {"items": []}))
    if named_by == "--api-url":
        result = cli.run("--api-url", cli.api.url, "pools")
    else:
        cli.env["VPCCTL_API_URL"] = cli.api.url
        result = cli.run("pools")

    assert "not using" not in result.stderr
    assert result.exit_code == 0, result.stderr
    assert cli.api.calls("GET", "/pools")


def test_login_uses_a_stack_file_of_the_users_own_in_the_repository(cli: Cli) -> None:
    (cli.cwd / ".git").mkdir()
    (cli.cwd / "sub").mkdir()
    cli.cwd = cli.cwd / "sub"
    result = cli.run("login")
    assert result.exit_code == 0, result.stderr
    assert [t.cognito_endpoint for t in cli.cognito.targets] == ["http://127.0.0.1:5999"]
