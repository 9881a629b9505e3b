"""vpcctl login and its token cache: a 0600 file per user, one entry per API URL, the ID
token refreshed with the refresh token when it expires or the API refuses it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore import UNSIGNED
from botocore.client import BaseClient
from click.testing import CliRunner
from requests.adapters import BaseAdapter

from support.cli_harness import CLIENT_ID, COGNITO_ENDPOINT, REGION, Cli, json_err, json_out
from support.fake_api import CognitoRefused, FakeApi, Reply, fake_jwt
from vpcctl.auth import boto3_cognito
from vpcctl.commands import cli as vpcctl
from vpcctl.config import Target
from vpcctl.errors import ExitCode
from vpcctl.tokens import Tokens, token_expiry

RECORD = {"request_id": "r-1", "status": "SUCCEEDED", "subnets": []}


@pytest.fixture
def cli(tmp_path: Path, api: FakeApi) -> Cli:
    api.script("GET", "/vpcs/r-1", Reply(200, RECORD))
    return Cli(tmp_path, api)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def bearer(cli: Cli) -> list[str]:
    return [r.headers["authorization"] for r in cli.api.calls("GET")]


def test_login_caches_the_tokens_in_a_file_only_the_user_can_read(cli: Cli) -> None:
    previous = os.umask(0)  # even a umask that lets everyone read new files
    try:
        result = cli.run("login")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stderr
    assert mode(cli.tokens_file()) == 0o600
    assert mode(cli.tokens_file().parent) == 0o700
    cached = json.loads(cli.tokens_file().read_text())["apis"][cli.api.url]
    assert cached["username"] == "demo"
    assert cached["client_id"] == CLIENT_ID
    assert cached["refresh_token"] == "refresh-1"
    # The token is cached, never shown.
    assert cached["id_token"] not in result.stdout + result.stderr
    assert list(cli.config_dir.iterdir()) == [cli.tokens_file()]  # no temporary file left


def test_login_narrows_a_tokens_file_someone_widened_and_keeps_other_apis(cli: Cli) -> None:
    cli.config_dir.mkdir(parents=True)
    other = {"id_token": "t", "refresh_token": None, "expires_at": 1.0}
    other.update(username="bob", client_id="c")
    cli.tokens_file().write_text(json.dumps({"apis": {"https://other.example": other}}))
    cli.tokens_file().chmod(0o644)
    cli.login()
    assert mode(cli.tokens_file()) == 0o600
    apis = json.loads(cli.tokens_file().read_text())["apis"]
    assert set(apis) == {"https://other.example", cli.api.url}


def test_login_to_the_local_stack_uses_its_demo_user_and_its_cognito_endpoint(cli: Cli) -> None:
    result = cli.run("login", "--json")
    assert result.exit_code == 0, result.stderr
    call = cli.cognito.calls[0]
    assert call["ClientId"] == CLIENT_ID
    assert call["AuthFlow"] == "USER_PASSWORD_AUTH"
    assert call["AuthParameters"]["USERNAME"] == "demo"
    target = cli.cognito.targets[0]
    assert (target.cognito_endpoint, target.region) == (COGNITO_ENDPOINT, REGION)
    assert json_out(result)["username"] == "demo"
    assert "id_token" not in result.stdout


def test_login_as_the_local_admin_takes_its_password_from_the_stack_file(cli: Cli) -> None:
    cli.cognito.username, cli.cognito.password = "admin", "Admin-Password-2b"
    result = cli.run("login", "--username", "admin")
    assert result.exit_code == 0, result.stderr


def test_login_to_a_deployed_stage_uses_client_id_and_region_and_no_endpoint(cli: Cli) -> None:
    cli.cognito.username = "alice"
    result = cli.run(
        "login",
        "--api-url",
        "https://abc.execute-api.eu-west-1.amazonaws.com/api",
        "--client-id",
        "deployed-client",
        "--region",
        "eu-west-1",
        "--username",
        "alice",
        "--password-stdin",
        input=cli.cognito.password + "\n",
    )
    assert result.exit_code == 0, result.stderr
    target = cli.cognito.targets[0]
    assert (target.cognito_endpoint, target.region) == (None, "eu-west-1")
    assert cli.cognito.calls[0]["ClientId"] == "deployed-client"
    cached = json.loads(cli.tokens_file().read_text())["apis"]
    assert list(cached) == ["https://abc.execute-api.eu-west-1.amazonaws.com/api"]


def test_login_without_a_password_and_no_terminal_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("login", "--username", "alice")
    assert result.exit_code == 2
    assert "--password-stdin" in result.stderr
    assert cli.cognito.calls == []


def test_a_refused_login_exits_3_and_caches_nothing(cli: Cli) -> None:
    cli.env["VPCCTL_PASSWORD"] = "wrong"
    result = cli.run("login", "--json")
    assert result.exit_code == 3
    assert json_err(result)["Code"] == "NotAuthorizedException"
    assert result.stdout == ""
    assert not cli.tokens_file().exists()


def test_a_command_before_any_login_exits_3_without_calling_the_api(cli: Cli) -> None:
    result = cli.run("get", "r-1")
    assert result.exit_code == 3
    assert "vpcctl login" in result.stderr
    assert cli.api.received == []


def test_a_fresh_token_is_sent_as_it_is_without_asking_cognito(cli: Cli) -> None:
    cli.login()
    cached = cli.cache().load(cli.api.url)
    assert cached is not None
    cli.time.now += 3000  # 10 minutes before it expires
    assert cli.run("get", "r-1").exit_code == 0
    assert bearer(cli) == [f"Bearer {cached.id_token}"]
    assert len(cli.cognito.calls) == 1  # the login only


class _Recorder(BaseAdapter):
    """A transport that answers an empty listing and keeps each request as it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"items": [], "next_token": null}'
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def test_a_netrc_entry_for_the_api_host_never_replaces_the_id_token(
    tmp_path: Path, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests, trusting the environment (as it must for an https:// API: its proxies and
    CA bundle), would put ~/.netrc's (or $NETRC's) Basic credentials over the bearer
    header: the API would get the netrc password and not the ID token."""
    url = "https://api.example.com"
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.example.com login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    cli = Cli(tmp_path, api, stack=False)
    cli.env.update({"VPCCTL_API_URL": url, "VPCCTL_CLIENT_ID": CLIENT_ID, "VPCCTL_REGION": REGION})
    cli.remember_login(url)
    recorder = _Recorder()

    def session() -> requests.Session:
        http = requests.Session()
        http.mount("https://", recorder)
        return http

    runtime = cli.runtime()
    runtime.http = session
    result = CliRunner().invoke(vpcctl, ["list"], obj=runtime)

    assert result.exit_code == 0, result.stderr
    cached = cli.cache().load(url)
    assert cached is not None
    assert [r.headers["Authorization"] for r in recorder.sent] == [f"Bearer {cached.id_token}"]


def test_an_expired_token_is_refreshed_and_the_new_one_sent_and_cached(cli: Cli) -> None:
    cli.login()
    old = cli.cache().load(cli.api.url)
    assert old is not None
    cli.time.now += 3590  # within a minute of its expiry: refreshed before the call
    result = cli.run("get", "r-1")
    assert result.exit_code == 0, result.stderr
    refresh = cli.cognito.calls[-1]
    assert refresh["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    assert refresh["AuthParameters"] == {"REFRESH_TOKEN": "refresh-1"}
    new = cli.cache().load(cli.api.url)
    assert new is not None
    assert new.id_token != old.id_token
    assert new.refresh_token == "refresh-1"  # Cognito's refresh answer has none: kept
    assert new.expires_at == pytest.approx(cli.time.now + 3600)
    assert bearer(cli) == [f"Bearer {new.id_token}"]
    assert mode(cli.tokens_file()) == 0o600


def test_a_refused_refresh_exits_3_saying_to_log_in_again(cli: Cli) -> None:
    cli.login()
    cli.cognito.refresh_tokens.clear()  # revoked
    cli.time.now += 7200
    result = cli.run("get", "r-1")
    assert result.exit_code == 3
    assert "vpcctl login" in result.stderr
    assert cli.api.received == []


def test_a_token_the_api_refuses_is_refreshed_once_and_the_call_repeated(cli: Cli) -> None:
    cli.login()
    cli.api.script(
        "GET", "/vpcs/r-1", Reply(401, {"Code": "UnauthorizedError"}), Reply(200, RECORD)
    )
    result = cli.run("get", "r-1")
    assert result.exit_code == 0, result.stderr
    first, second = bearer(cli)
    assert first != second
    assert [c["AuthFlow"] for c in cli.cognito.calls] == [
        "USER_PASSWORD_AUTH",
        "REFRESH_TOKEN_AUTH",
    ]


def test_a_token_refused_again_after_its_refresh_exits_3(cli: Cli) -> None:
    cli.login()
    cli.api.script("GET", "/vpcs/r-1", Reply(401, {"Code": "UnauthorizedError", "Message": "no"}))
    result = cli.run("get", "r-1", "--json")
    assert result.exit_code == 3
    assert len(cli.api.calls("GET")) == 2
    error = json_err(result)
    assert (error["Code"], error["http_status"], error["exit_code"]) == (
        "UnauthorizedError",
        401,
        3,
    )


# A token cache vpcctl cannot use: a usage error naming the file and why, never a traceback.


@pytest.mark.parametrize("where", ["XDG_CONFIG_HOME is a file", "a read-only folder"])
def test_tokens_that_cannot_be_saved_exit_2_saying_where_and_why(
    cli: Cli, tmp_path: Path, where: str
) -> None:
    if where == "XDG_CONFIG_HOME is a file":
        (tmp_path / "a-file").write_text("")
        cli.config_dir = tmp_path / "a-file" / "vpcctl"
        why = f"Not a directory ({cli.config_dir})"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes in a read-only folder")
        cli.config_dir.parent.mkdir(parents=True)
        cli.config_dir.parent.chmod(0o500)
        why = f"Permission denied ({cli.config_dir})"

    result = cli.run("login")

    tokens = cli.config_dir / "tokens.json"
    assert (result.exit_code, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == (
        f"vpcctl: error: cannot save tokens to {tokens}: {why}; set XDG_CONFIG_HOME to a "
        "writable folder (TokenCacheError)\n"
    )


@pytest.mark.parametrize("command", [["login"], ["get", "r-1"], ["logout"]])
def test_a_tokens_file_that_cannot_be_read_exits_2_saying_where_and_why(
    cli: Cli, command: list[str]
) -> None:
    cli.tokens_file().mkdir(parents=True)  # tokens.json a directory

    result = cli.run(*command, "--json")

    assert result.exit_code == ExitCode.USAGE
    assert json_err(result)["Message"] == (
        f"cannot read the tokens in {cli.tokens_file()}: Is a directory; remove it, or set "
        "XDG_CONFIG_HOME to another folder"
    )
    assert cli.tokens_file().is_dir()
    assert mode(cli.tokens_file()) != 0o600  # not narrowed as if it were the file


# The local stack's 401 for an expired token (devstack/auth.py), and API Gateway's.
EXPIRED_LOCALLY = "The token has expired. Get a new one: `make token`, or `vpcctl login`."
EXPIRED_ANSWERS = [
    {"Code": "UnauthorizedError", "Message": EXPIRED_LOCALLY},
    {"message": "The incoming token has expired"},
]


@pytest.mark.parametrize("expired", EXPIRED_ANSWERS)
def test_a_token_the_api_says_expired_while_the_cache_thinks_it_valid_is_refreshed_once(
    cli: Cli, expired: dict[str, str]
) -> None:
    """Clock skew: the cache's expiry (the token's exp against this machine's clock) is
    not the API's. One refresh with the refresh token, the call repeated once."""
    cli.login()
    cli.api.script("GET", "/vpcs/r-1", Reply(401, expired), Reply(200, RECORD))

    result = cli.run("get", "r-1")

    assert result.exit_code == 0, result.stderr
    first, second = bearer(cli)
    assert first != second
    cached = cli.cache().load(cli.api.url)
    assert cached is not None
    assert second == f"Bearer {cached.id_token}"
    assert [c["AuthFlow"] for c in cli.cognito.calls] == [
        "USER_PASSWORD_AUTH",
        "REFRESH_TOKEN_AUTH",
    ]


@pytest.mark.parametrize(
    "expired",
    [EXPIRED_LOCALLY, EXPIRED_LOCALLY.replace("`make token`", "`make token STATE=.local-2`")],
    ids=["default-stack", "own-state"],
)
def test_a_token_still_expired_after_its_refresh_says_vpcctl_login_not_make_token(
    cli: Cli, expired: str
) -> None:
    """A stack with a state folder of its own says `make token STATE=...`: vpcctl's user is
    told `vpcctl login` all the same."""
    cli.login()
    refused = {"Code": "UnauthorizedError", "Message": expired}
    cli.api.script("GET", "/vpcs/r-1", Reply(401, refused))

    result = cli.run("get", "r-1")

    assert result.exit_code == ExitCode.AUTH
    assert len(cli.api.calls("GET")) == 2  # one refresh, one retry, then it gives up
    assert result.stderr == (
        "vpcctl: error: The token has expired. Get a new one: `vpcctl login`. "
        "(UnauthorizedError, HTTP 401)\n"
        "vpcctl: hint: run `vpcctl login`\n"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expires_at", "soon"),
        ("expires_at", None),
        ("expires_at", True),
        ("id_token", 42),
        ("refresh_token", ["r"]),
        ("username", None),
        ("client_id", {}),
    ],
)
def test_a_tokens_entry_with_a_wrong_type_exits_2_and_login_replaces_it(
    cli: Cli, field: str, value: object
) -> None:
    """A hand-edited tokens.json: `"expires_at": "soon"` crashed every command (TypeError:
    exit 70, 'a bug in vpcctl'); the exit codes say 2 for a tokens file vpcctl cannot read."""
    cli.login()
    data = json.loads(cli.tokens_file().read_text())
    data["apis"][cli.api.url][field] = value
    cli.tokens_file().write_text(json.dumps(data))

    refused = cli.run("get", "r-1")
    assert refused.exit_code == 2, (refused.exit_code, refused.stderr)
    assert f"cannot read the tokens of {cli.api.url} in {cli.tokens_file()}" in refused.stderr
    assert f"its {field} is {json.dumps(value)}, not " in refused.stderr
    assert "run `vpcctl login` again" in refused.stderr
    assert cli.run("login").exit_code == 0
    assert cli.run("get", "r-1").exit_code == 0


def test_tokens_of_another_app_client_are_not_used(cli: Cli) -> None:
    cli.login()
    result = cli.run("get", "r-1", "--client-id", "another-client")
    assert result.exit_code == 3
    assert cli.api.received == []


def test_logout_forgets_this_api_only(cli: Cli) -> None:
    cli.login()
    cli.cache().store(
        "https://other.example",
        Tokens("t", None, cli.time.now + 100, "bob", "c"),
    )
    assert cli.run("logout").exit_code == 0
    assert cli.cache().load(cli.api.url) is None
    assert cli.cache().load("https://other.example") is not None
    assert cli.run("get", "r-1").exit_code == 3


def test_token_expiry_is_the_tokens_exp_claim_else_now_plus_expires_in() -> None:
    assert token_expiry(fake_jwt({"exp": 2_000_000_000}), 3600, now=1.0) == 2_000_000_000
    assert token_expiry("not-a-jwt", 3600, now=1.0) == 3601.0


def test_the_cognito_client_is_unsigned_and_points_at_the_local_stacks_moto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # InitiateAuth needs no AWS credentials: none are looked for, none sent.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", raising=False)
    target = Target("http://127.0.0.1:8000", "c", "us-east-1", "http://127.0.0.1:5000", None)
    client = boto3_cognito(target)
    assert isinstance(client, BaseClient)  # boto3's own client, whose `meta` is read here
    assert client.meta.endpoint_url == "http://127.0.0.1:5000"
    assert client.meta.config.signature_version is UNSIGNED
    deployed = boto3_cognito(Target("https://x.example", "c", "eu-west-1", None, None))
    assert isinstance(deployed, BaseClient)
    assert deployed.meta.endpoint_url == "https://cognito-idp.eu-west-1.amazonaws.com"


def test_an_app_client_cognito_does_not_have_is_named_with_the_settings_that_chose_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not Cognito's bare "login refused: abc (ResourceNotFoundException)": moto's message
    is the client id alone, AWS's a sentence that names no flag."""

    def no_such_client(**kwargs: str) -> dict[str, object]:
        raise CognitoRefused("ResourceNotFoundException", kwargs["ClientId"])

    monkeypatch.setattr(cli.cognito, "initiate_auth", no_such_client)

    result = cli.run("--client-id", "abc", "login")

    assert result.exit_code == ExitCode.AUTH
    assert result.stderr == (
        f"vpcctl: error: login refused: Cognito in {REGION} has no app client 'abc' "
        "(--client-id / VPCCTL_CLIENT_ID; its user pool's region: --region / VPCCTL_REGION) "
        "(ResourceNotFoundException)\n"
    )


# --- a user pool that requires MFA (USER_POOL_MFA=ON) ---------------------------------


def test_login_answers_the_mfa_challenge_with_the_code_given(cli: Cli) -> None:
    cli.cognito.mfa_code = "123456"

    result = cli.run("login", "--mfa-code", "123456")

    assert result.exit_code == 0, result.stderr
    [_, answer] = cli.cognito.calls
    assert answer["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert answer["ChallengeResponses"] == {"USERNAME": "demo", "SOFTWARE_TOKEN_MFA_CODE": "123456"}
    assert json.loads(cli.tokens_file().read_text())["apis"][cli.api.url]["refresh_token"]


def test_the_mfa_code_comes_from_the_environment_or_a_prompt_on_a_terminal(cli: Cli) -> None:
    cli.cognito.mfa_code = "654321"
    cli.env["VPCCTL_MFA_CODE"] = "654321"
    assert cli.run("login").exit_code == 0

    del cli.env["VPCCTL_MFA_CODE"]
    cli.stdin_tty = True
    assert cli.run("login", input="654321\n").exit_code == 0


def test_without_a_code_and_no_terminal_login_says_to_pass_one(cli: Cli) -> None:
    cli.cognito.mfa_code = "123456"

    result = cli.run("login", "--json")

    assert result.exit_code == 3
    error = json_err(result)
    assert error["Code"] == "MfaCodeRequired"
    assert "--mfa-code" in error["Message"]


def test_a_wrong_mfa_code_is_refused_as_a_login(cli: Cli) -> None:
    cli.cognito.mfa_code = "123456"

    result = cli.run("login", "--mfa-code", "000000", "--json")

    assert result.exit_code == 3
    assert "CodeMismatchException" in json_err(result)["Code"] + json_err(result)["Message"]
    assert not cli.tokens_file().exists()
