"""vpcctl's settings: flags, then environment variables, then the local stack's stack.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.aws import REGION_VARIABLES, region_from_environment
from support.fake_api import CognitoRefused, FakeCognito, FakeTime
from vpcctl.auth import Authenticator
from vpcctl.config import AWS_REGION_ENVS, default_config_dir, resolve
from vpcctl.errors import CliError, ExitCode
from vpcctl.tokens import TokenCache

STACK_URL = "http://127.0.0.1:8123"
DEPLOYED = "https://abc.execute-api.ap-south-1.amazonaws.com/api"


def write_stack(directory: Path, api_url: str = STACK_URL) -> Path:
    path = directory / "stack.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "api_url": api_url,
                "aws_endpoint_url": "http://127.0.0.1:5000",
                "region": "us-east-1",
                "user_pool_client_id": "stack-client",
                "username": "demo",
                "password": "pw-demo",
                "admin_username": "admin",
                "admin_password": "pw-admin",
            }
        )
    )
    # As `make run` writes it: vpcctl trusts no stack.json others may read.
    path.chmod(0o600)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository (its root has a `.git`) with the local stack's stack.json."""
    (tmp_path / ".git").mkdir()
    write_stack(tmp_path / ".local")
    return tmp_path


def test_the_local_stack_supplies_every_setting_when_nothing_else_does(project: Path) -> None:
    target = resolve({}, project)
    assert target.api_url == STACK_URL
    assert target.client_id == "stack-client"
    assert target.region == "us-east-1"
    assert target.cognito_endpoint == "http://127.0.0.1:5000"
    assert target.local is not None
    assert dict(target.local.passwords) == {"demo": "pw-demo", "admin": "pw-admin"}


@pytest.mark.parametrize(
    ("env_name", "flag", "attribute"),
    [
        ("VPCCTL_CLIENT_ID", "client_id", "client_id"),
        ("VPCCTL_REGION", "region", "region"),
    ],
)
def test_a_flag_beats_its_environment_variable_which_beats_the_stack_file(
    project: Path, env_name: str, flag: str, attribute: str
) -> None:
    from_env = resolve({env_name: "from-env"}, project)
    assert getattr(from_env, attribute) == "from-env"
    from_flag = resolve({env_name: "from-env"}, project, **{flag: "from-flag"})
    assert getattr(from_flag, attribute) == "from-flag"


def test_the_api_url_flag_beats_the_environment_which_beats_the_stack_file(
    project: Path,
) -> None:
    env = {"VPCCTL_API_URL": "https://env.example/api/"}
    assert resolve(env, project).api_url == "https://env.example/api"
    assert resolve(env, project, api_url="https://flag.example").api_url == "https://flag.example"


def test_another_api_borrows_nothing_from_the_stack_file(project: Path) -> None:
    # The stack's client id and moto endpoint belong to the stack's API, not to a deployed one.
    target = resolve({}, project, api_url="https://abc.execute-api.eu-west-1.amazonaws.com/api")
    assert target.local is None
    assert target.client_id is None
    assert target.cognito_endpoint is None
    assert target.region is None
    with pytest.raises(CliError) as raised:
        target.require_client_id()
    assert raised.value.exit_code is ExitCode.USAGE
    assert "--client-id" in raised.value.message


def test_the_stack_file_is_used_when_the_api_url_names_the_stack_itself(project: Path) -> None:
    target = resolve({"VPCCTL_API_URL": STACK_URL + "/"}, project)
    assert target.local is not None
    assert target.client_id == "stack-client"


def test_a_deployed_stage_takes_its_region_from_aws_region_last(tmp_path: Path) -> None:
    env = {"VPCCTL_API_URL": "https://x.example", "AWS_REGION": "eu-west-1"}
    assert resolve(env, tmp_path).region == "eu-west-1"
    assert resolve({**env, "VPCCTL_REGION": "eu-north-1"}, tmp_path).region == "eu-north-1"


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config file of this test's own, no region in the environment."""
    for name in (*AWS_REGION_ENVS, "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "aws-config"
    path.write_text("[default]\nregion = eu-west-3\n\n[profile ops]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    return path


def test_with_no_region_named_vpcctl_signs_in_where_the_profile_says_as_make_deploy_does(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aws configure` writes the region in the config file; the deployers take it from
    there (botocore's chain, infra/aws.py), and so does signing in: the default profile's,
    AWS_PROFILE's when set; a region named anywhere else first."""
    target = resolve({"VPCCTL_API_URL": "https://x.example"}, aws_config.parent)
    assert target.region is None

    assert target.require_region() == "eu-west-3"
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert target.require_region() == "ap-south-1"
    named = resolve(
        {"VPCCTL_API_URL": "https://x.example", "VPCCTL_REGION": "us-east-2"}, aws_config.parent
    )
    assert named.require_region() == "us-east-2"


def test_a_session_signed_in_with_the_profiles_region_is_refreshed_there(
    aws_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`AWS_PROFILE=ops vpcctl login` signs in to the user pool in ap-south-1; a later
    command from a shell without AWS_PROFILE refreshes there too, not in the default
    profile's region (the session keeps the region it signed in with)."""
    time = FakeTime()
    cognito = FakeCognito(time.clock)
    regions: list[str] = []

    def factory(target: Any) -> Any:
        regions.append(target.require_region())  # as boto3_cognito builds its client
        return cognito.factory(target)

    env = {"VPCCTL_API_URL": DEPLOYED, "VPCCTL_CLIENT_ID": "deployed-client"}
    cache = TokenCache(tmp_path / "vpcctl")
    monkeypatch.setenv("AWS_PROFILE", "ops")
    Authenticator(resolve(env, tmp_path), cache, factory, time.clock).login(
        "demo", "Demo-Password-1a"
    )
    monkeypatch.delenv("AWS_PROFILE")
    Authenticator(resolve(env, tmp_path), cache, factory, time.clock).refresh()

    assert regions == ["ap-south-1", "ap-south-1"]


def test_an_unknown_app_client_is_reported_in_the_profiles_region(
    aws_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed in where the profile says, Cognito knows no such app client: the message
    names the region asked (it said "Cognito in None")."""

    class Unknown:
        def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
            raise CognitoRefused("ResourceNotFoundException", "deployed-client")

        def respond_to_auth_challenge(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("no challenge was asked for")

    monkeypatch.setenv("AWS_PROFILE", "ops")
    env = {"VPCCTL_API_URL": DEPLOYED, "VPCCTL_CLIENT_ID": "deployed-client"}
    cache = TokenCache(tmp_path / "vpcctl")
    authenticator = Authenticator(resolve(env, tmp_path), cache, lambda target: Unknown())
    with pytest.raises(CliError) as refused:
        authenticator.login("demo", "Demo-Password-1a")
    assert "Cognito in ap-south-1 has no app client" in refused.value.message


def test_with_no_region_anywhere_the_usage_error_names_the_profile_too(
    aws_config: Path,
) -> None:
    aws_config.write_text("[default]\noutput = json\n")
    target = resolve({"VPCCTL_API_URL": "https://x.example"}, aws_config.parent)
    with pytest.raises(CliError) as raised:
        target.require_region()
    assert raised.value.exit_code is ExitCode.USAGE
    assert "--region" in raised.value.message
    assert "`region` in your AWS profile" in raised.value.message


def test_with_both_aws_region_variables_vpcctl_signs_in_where_make_deploy_deployed(
    tmp_path: Path,
) -> None:
    """AWS_DEFAULT_REGION first, as the deployers read them (infra/aws.py): the other
    order signed in to a user pool in a region the stage was not deployed to."""
    env = {
        "VPCCTL_API_URL": "https://x.example",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "us-east-2",
    }
    assert resolve(env, tmp_path).region == region_from_environment(env) == "us-east-2"
    assert AWS_REGION_ENVS == REGION_VARIABLES
    assert resolve({**env, "AWS_DEFAULT_REGION": " "}, tmp_path).region == "eu-west-1"


def test_the_stack_file_is_found_from_a_subdirectory(project: Path) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert resolve({}, deep).api_url == STACK_URL


def test_devstack_state_dir_names_the_stack_file_to_use(project: Path, tmp_path: Path) -> None:
    elsewhere = write_stack(tmp_path / "state", api_url="http://127.0.0.1:9999").parent
    assert resolve({"DEVSTACK_STATE_DIR": str(elsewhere)}, project).api_url == (
        "http://127.0.0.1:9999"
    )


def test_no_api_anywhere_is_a_stack_not_running_exit_5_that_says_how_to_get_one(
    tmp_path: Path,
) -> None:
    with pytest.raises(CliError) as raised:
        resolve({}, tmp_path)
    # The stack removes its stack.json when it stops: "down", as when its port is dead.
    assert raised.value.exit_code is ExitCode.UNAVAILABLE
    assert raised.value.code == "StackNotRunning"
    assert "make run" in raised.value.message
    assert "--api-url" in raised.value.message


def test_an_api_url_without_a_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError) as raised:
        resolve({}, tmp_path, api_url="api.example.com")
    assert raised.value.exit_code is ExitCode.USAGE


def test_an_unreadable_stack_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / ".local" / "stack.json"
    path.parent.mkdir()
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(CliError) as raised:
        resolve({}, tmp_path)
    assert raised.value.exit_code is ExitCode.USAGE
    assert str(path) in raised.value.message


STACK_STRINGS = [
    "api_url",
    "aws_endpoint_url",
    "region",
    "user_pool_client_id",
    "username",
    "password",
    # (admin_username is optional: a null one, as an empty one, means no admin)
    "admin_password",
]


@pytest.mark.parametrize("field", STACK_STRINGS)
@pytest.mark.parametrize("value", [None, 8000, ["http://127.0.0.1:8000"]])
def test_a_stack_file_value_that_is_not_a_string_is_a_usage_error_naming_it(
    project: Path, field: str, value: object
) -> None:
    """A stack.json hand-edited or written by another tool: `"api_url": null` crashed
    every command (AttributeError: exit 70, 'a bug in vpcctl')."""
    path = project / ".local" / "stack.json"
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(CliError) as raised:
        resolve({}, project)
    assert raised.value.exit_code is ExitCode.USAGE
    assert str(path) in raised.value.message
    assert f"its {field} is {json.dumps(value)}, not a string" in raised.value.message


def test_a_stack_file_that_is_not_a_json_object_is_a_usage_error(project: Path) -> None:
    path = project / ".local" / "stack.json"
    path.write_text('["http://127.0.0.1:8000"]')
    with pytest.raises(CliError) as raised:
        resolve({}, project)
    assert raised.value.exit_code is ExitCode.USAGE
    assert "it is not a JSON object" in raised.value.message


def test_the_config_dir_is_under_xdg_config_home_else_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "vpcctl"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_config_dir({}) == tmp_path / "home" / ".config" / "vpcctl"


@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.5:8000"])
def test_a_token_is_never_sent_over_plain_http_to_another_machine(tmp_path: Path, url: str) -> None:
    with pytest.raises(CliError, match="plain HTTP") as refused:
        resolve({}, tmp_path, api_url=url)
    assert refused.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:80"]
)
def test_plain_http_is_fine_on_this_machine(tmp_path: Path, url: str) -> None:
    assert resolve({}, tmp_path, api_url=url).api_url == url


def test_a_stack_file_naming_another_machine_is_refused(tmp_path: Path) -> None:
    """A planted .local/stack.json (in a shared parent folder) would receive the password
    `vpcctl login` sends: only a stack on this machine is trusted."""
    (tmp_path / ".git").mkdir()
    path = write_stack(tmp_path / ".local")
    info = json.loads(path.read_text())
    info["aws_endpoint_url"] = "https://collector.example.com"
    path.write_text(json.dumps(info))
    with pytest.raises(CliError, match="not on this machine") as refused:
        resolve({}, tmp_path / "work")
    assert refused.value.exit_code == ExitCode.USAGE


# --- URLs: judged by the parser that sends (urllib3), issue 21 --------------------------

# urlsplit reads 127.0.0.1 (so the plain-HTTP rule let it through); urllib3, which requests
# and botocore send with, connects to evil.example.
BACKSLASH_TRICK = "http://evil.example\\@127.0.0.1:8000"
USER_INFO = "http://user:pw@127.0.0.1:8000"


def with_stack_url(project: Path, field: str, url: str) -> Path:
    """The project's stack.json with `field` set to `url`."""
    path = project / ".local" / "stack.json"
    info = json.loads(path.read_text())
    info[field] = url
    path.write_text(json.dumps(info))
    return path


def refused_url(run: Callable[[], object]) -> CliError:
    """The usage error `run` raises: exit 2, one line."""
    with pytest.raises(CliError) as refused:
        run()
    assert refused.value.exit_code is ExitCode.USAGE
    assert "\n" not in refused.value.message
    return refused.value


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (BACKSLASH_TRICK, "backslash"),
        ("http://evil.example\\.127.0.0.1:8000", "backslash"),
        (USER_INFO, "user info"),
        ("http://evil.example@127.0.0.1:8000", "user info"),
        ("http://@127.0.0.1:8000", "user info"),
        # urllib3 rewrites these: what it would connect to is not what was checked.
        ("http://127.0.0.1:08000", "reads it as"),
        ("http://127.0.0.1:8000/a b", "reads it as"),
        ("http://127.0.0.1:8000/a/../b", "reads it as"),
        ("https://ex\u00e4mple.com", "ASCII"),
        ("http://127.0.0.1:8000?x=1", "query"),
        ("http://127.0.0.1:8000#@evil.example", "fragment"),
        ("http://127.0.0.1:99999", "not a URL"),
    ],
)
@pytest.mark.parametrize("source", ["flag", "env", "stack api_url"])
def test_an_api_url_the_sender_could_read_differently_is_refused(
    project: Path, source: str, url: str, why: str
) -> None:
    if source == "flag":
        error = refused_url(lambda: resolve({}, project, api_url=url))
    elif source == "env":
        error = refused_url(lambda: resolve({"VPCCTL_API_URL": url}, project))
    else:
        with_stack_url(project, "api_url", url)
        error = refused_url(lambda: resolve({}, project))
    assert why in error.message
    assert url.split("//")[1][:12] in error.message  # names what it refused


@pytest.mark.parametrize("url", [BACKSLASH_TRICK, USER_INFO, "http://127.0.0.1:05000"])
def test_a_stack_endpoint_the_sender_could_read_differently_is_refused(
    project: Path, url: str
) -> None:
    """`vpcctl login` sends the password to the stack's aws_endpoint_url."""
    path = with_stack_url(project, "aws_endpoint_url", url)
    error = refused_url(lambda: resolve({}, project))
    assert "aws_endpoint_url" in error.message
    assert str(path) in error.message


@pytest.mark.parametrize("name", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"])
@pytest.mark.parametrize("url", [BACKSLASH_TRICK, USER_INFO])
def test_an_aws_endpoint_botocore_would_take_from_the_environment_is_checked_too(
    tmp_path: Path, name: str, url: str
) -> None:
    """A deployed API names no Cognito endpoint: botocore then takes one from these."""
    env = {"VPCCTL_API_URL": "https://api.example.com", name: url}
    error = refused_url(lambda: resolve(env, tmp_path))
    assert name in error.message
    # Told to ignore them, botocore does, and so does vpcctl.
    ignored = resolve({**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, tmp_path)
    assert ignored.cognito_endpoint is None


@pytest.mark.parametrize("name", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"])
@pytest.mark.parametrize("url", ["http://cognito.example.com", "http://10.0.0.5:9229"])
def test_the_password_is_never_sent_over_plain_http_to_another_machine(
    tmp_path: Path, name: str, url: str
) -> None:
    """The API URL's rule, for the endpoint `vpcctl login` sends the password to."""
    env = {"VPCCTL_API_URL": "https://api.example.com", name: url}
    error = refused_url(lambda: resolve(env, tmp_path))
    assert "plain HTTP" in error.message
    assert name in error.message
    assert "https://" in error.message  # what to do


@pytest.mark.parametrize("url", ["http://127.0.0.1:9229", "https://cognito.example.com"])
def test_an_aws_endpoint_over_https_or_on_this_machine_is_accepted(
    tmp_path: Path, url: str
) -> None:
    env = {"VPCCTL_API_URL": "https://api.example.com", "AWS_ENDPOINT_URL": url}
    assert resolve(env, tmp_path).api_url == "https://api.example.com"


def test_a_refused_url_is_quoted_cut_short_on_one_line(tmp_path: Path) -> None:
    url = "http://" + "a" * 5000 + "\n\\@127.0.0.1:8000"
    error = refused_url(lambda: resolve({}, tmp_path, api_url=url))
    assert len(error.message) < 300
    assert "a" * 101 not in error.message


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://abc.execute-api.eu-west-1.amazonaws.com/api/", None),
        ("https://vpcs.example.com:8443/v1", None),
        # The same URL (RFC 3986 6.2.2.1), spelled as urllib3 spells it.
        ("http://LocalHost:8000", "http://localhost:8000"),
        ("https://api.example.com/a%7e", "https://api.example.com/a%7E"),
    ],
)
def test_an_ordinary_url_is_accepted(tmp_path: Path, url: str, used: str | None) -> None:
    assert resolve({}, tmp_path, api_url=url).api_url == (used or url.rstrip("/"))


def test_the_stacks_own_urls_are_accepted(project: Path) -> None:
    target = resolve({}, project)
    assert (target.api_url, target.cognito_endpoint) == (STACK_URL, "http://127.0.0.1:5000")


# --- which stack.json is trusted, issue 21 -----------------------------------------------


@pytest.mark.parametrize(
    "mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666], ids=lambda mode: f"{mode:04o}"
)
def test_a_stack_file_others_may_read_or_change_is_refused_saying_how_to_fix_it(
    project: Path, mode: int
) -> None:
    path = project / ".local" / "stack.json"
    path.chmod(mode)
    with pytest.raises(CliError) as refused:
        resolve({}, project)
    assert refused.value.exit_code is ExitCode.USAGE
    assert f"chmod 600 {path}" in refused.value.message
    assert f"{mode:04o}" in refused.value.message

    path.chmod(0o600)
    assert resolve({}, project).local is not None


def test_a_stack_file_of_another_user_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / ".local" / "stack.json"
    owner = path.stat().st_uid
    # As if another user (uid owner + 1) ran vpcctl: the file, 0600, is not theirs.
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    with pytest.raises(CliError) as refused:
        resolve({}, project)
    assert refused.value.exit_code is ExitCode.USAGE
    assert f"uid {owner}," in refused.value.message
    assert "remove it" in refused.value.message


def test_a_stack_file_under_devstack_state_dir_must_be_the_users_alone_too(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = write_stack(tmp_path / "state")
    elsewhere.chmod(0o644)
    with pytest.raises(CliError, match="chmod 600"):
        resolve({"DEVSTACK_STATE_DIR": str(elsewhere.parent)}, project)


def test_a_stack_file_above_the_repository_root_is_not_looked_for(tmp_path: Path) -> None:
    """Even a trusted one: a folder above the project is not the project's."""
    write_stack(tmp_path / ".local")
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "sub").mkdir()
    for cwd in (repository, repository / "sub"):
        with pytest.raises(CliError, match="no API to talk to"):
            resolve({}, cwd)


def test_a_planted_world_readable_stack_file_above_the_repository_is_ignored(
    tmp_path: Path,
) -> None:
    """Planted in a shared folder above the project, it would get the password."""
    planted = write_stack(tmp_path / ".local")
    info = json.loads(planted.read_text())
    info["aws_endpoint_url"] = "http://127.0.0.1:6666"  # a listener of the planter's
    planted.write_text(json.dumps(info))
    planted.chmod(0o644)
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    with pytest.raises(CliError, match="no API to talk to"):
        resolve({}, repository)
    target = resolve({}, repository, api_url=STACK_URL)
    assert target.local is None
    assert target.cognito_endpoint is None


def test_outside_a_repository_only_the_working_directory_is_looked_in(tmp_path: Path) -> None:
    write_stack(tmp_path / ".local")
    assert resolve({}, tmp_path).local is not None
    (tmp_path / "sub").mkdir()
    with pytest.raises(CliError, match="no API to talk to"):
        resolve({}, tmp_path / "sub")


def test_a_git_file_marks_the_root_of_a_worktree(tmp_path: Path) -> None:
    write_stack(tmp_path / ".local")
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: elsewhere\n")
    with pytest.raises(CliError, match="no API to talk to"):
        resolve({}, worktree)
    write_stack(worktree / ".local")
    (worktree / "sub").mkdir()
    assert resolve({}, worktree / "sub").local is not None
