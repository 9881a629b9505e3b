"""vpcctl's settings: flags, then environment variables, then the local stack's stack.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpcctl.config import default_config_dir, resolve
from vpcctl.errors import CliError, ExitCode

STACK_URL = "http://127.0.0.1:8123"


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
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
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


def test_the_stack_file_is_found_from_a_subdirectory(project: Path) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert resolve({}, deep).api_url == STACK_URL


def test_devstack_state_dir_names_the_stack_file_to_use(project: Path, tmp_path: Path) -> None:
    elsewhere = write_stack(tmp_path / "state", api_url="http://127.0.0.1:9999").parent
    assert resolve({"DEVSTACK_STATE_DIR": str(elsewhere)}, project).api_url == (
        "http://127.0.0.1:9999"
    )


def test_no_api_anywhere_is_a_usage_error_that_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CliError) as raised:
        resolve({}, tmp_path)
    assert raised.value.exit_code is ExitCode.USAGE
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
    with pytest.raises(CliError) as raised:
        resolve({}, tmp_path)
    assert raised.value.exit_code is ExitCode.USAGE
    assert str(path) in raised.value.message


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
    path = write_stack(tmp_path / ".local")
    info = json.loads(path.read_text())
    info["aws_endpoint_url"] = "https://collector.example.com"
    path.write_text(json.dumps(info))
    with pytest.raises(CliError, match="not on this machine") as refused:
        resolve({}, tmp_path / "work")
    assert refused.value.exit_code == ExitCode.USAGE
