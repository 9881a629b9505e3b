"""End to end: one stack per state folder, the state across restarts, and `make -s env`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from devstack.settings import MOTO_PORT_OFFSET
from e2e.conftest import PROJECT_DIR, RunningStack, free_port, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _devstack(
    state_dir: Path, port: int | str, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DEVSTACK_STATE_DIR=str(state_dir), PORT=str(port), **settings)
    return subprocess.run(
        [sys.executable, "-m", "devstack"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_stack_on_the_same_state_folder_refuses_naming_the_first(
    local_stack: RunningStack, token: str
) -> None:
    stack_json = local_stack.state_dir / "stack.json"
    before = stack_json.read_bytes()

    second = _devstack(local_stack.state_dir, free_port())

    assert second.returncode == 2
    assert "already running" in second.stderr
    assert local_stack.url in second.stderr
    assert stack_json.read_bytes() == before
    assert requests.get(f"{local_stack.url}/vpcs", headers={"Authorization": token}).ok


def test_a_stack_on_a_busy_port_refuses_and_writes_no_stack_json(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    busy = int(local_stack.url.rsplit(":", 1)[1])

    second = _devstack(tmp_path / "state", busy)

    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{busy}" in second.stderr
    # The next port (not 8001, which may be the busy one), this stack's own folder, kept.
    assert f"make run PORT={busy + 1} STATE=" in second.stderr
    assert not (tmp_path / "state" / "stack.json").exists()
    assert not (tmp_path / "state" / "stack.lock").exists()  # nothing of it in its folder
    assert (local_stack.state_dir / "stack.json").exists()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CIDR_OVERLAP", "maybe", "CIDR_OVERLAP must be reject or allow, got 'maybe'"),
        ("ADDRESS_POOLS", "nope", "ADDRESS_POOLS is not JSON"),
        (
            "ADDRESS_POOLS",
            '[{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "10.1.0.0/16"}]',
            "pools 'a' and 'b' overlap",
        ),
        ("MAX_LIVE_REQUESTS_PER_USER", "lots", "MAX_LIVE_REQUESTS_PER_USER must be an integer"),
    ],
)
def test_a_setting_it_cannot_read_stops_it_in_one_line_before_anything_starts(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    """As a busy port does (docs/local-stack.md: "a value it cannot read stops it, saying
    what to fix"): one `error:` line, exit 2, and no moto started, nothing in its folder."""
    port = free_port()

    refused = _devstack(tmp_path / "state", port, **{name: value})

    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.splitlines()
    assert line.startswith("error: "), line
    assert says in line
    assert refused.stdout == ""  # not "vpc-provisioner stopped": nothing started
    assert not (tmp_path / "state").exists()
    with socket.socket() as moto_port:  # moto never listened (or was left listening)
        moto_port.bind(("127.0.0.1", port + MOTO_PORT_OFFSET))


@pytest.mark.parametrize("port", ["800O", "70000", "-1", "0"])
def test_a_port_it_cannot_listen_on_stops_it_in_one_line_before_anything_starts(
    tmp_path: Path, port: str
) -> None:
    """PORT is checked as the other settings are: a typo or a number out of range was a
    traceback, and 0 ("any free port") a stack that said it was ready on port 0 and wrote
    that URL into stack.json, for `make -s env` and vpcctl to use."""
    refused = _devstack(tmp_path / "state", port)

    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"error: PORT must be a port number, 1-65535, got '{port}'"), line
    assert refused.stdout == ""  # nothing started
    assert not (tmp_path / "state").exists()


def test_make_env_points_curl_and_boto3_at_the_stack(local_stack: RunningStack) -> None:
    script = (
        f'eval "$({sys.executable} -m devstack.env)" && '
        'curl -s -o /dev/null -w "%{http_code}\\n" "$API/vpcs" '
        '-H "Authorization: Bearer $TOKEN" && '
        f"{sys.executable} -c \"import boto3; print(boto3.client('dynamodb').list_tables()"
        "['TableNames'])\""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DEVSTACK_STATE_DIR=str(local_stack.state_dir), AWS_PROFILE="someone-elses")

    result = subprocess.run(
        ["bash", "-c", script],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    status, tables = result.stdout.splitlines()
    assert status == "200"
    assert local_stack.info["table_name"] in tables


def test_persist_keeps_requests_and_tokens_and_a_fresh_start_names_old_tokens(
    tmp_path: Path,
) -> None:
    """PERSIST=1: a request and the demo user's token survive a restart. Then a start
    without it (state in memory, gone): the old token gets a 401 saying the stack was
    restarted, not a bare 'invalid token'."""
    first = start_stack(tmp_path, {"PERSIST": "1"})
    try:
        token = first.id_token()
        answer = requests.post(
            f"{first.url}/vpcs",
            json={
                "vpc": {"cidr": "10.77.0.0/16"},
                "subnets": [{"cidr": "10.77.1.0/24", "az": "us-east-1a"}],
            },
            headers={"Authorization": token, "Idempotency-Key": str(uuid.uuid4())},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        request_id = answer.json()["request_id"]
    finally:
        assert stop_stack(first) == 0
    assert (first.state_dir / "moto-state.pickle").exists()

    again = start_stack(tmp_path, {"PERSIST": "1"})
    try:
        assert "PERSIST: 1 request(s) restored" in again.log()
        record = requests.get(
            f"{again.url}/vpcs/{request_id}", headers={"Authorization": token}, timeout=10
        )
    finally:
        assert stop_stack(again) == 0
    assert record.status_code == 200, record.text
    assert record.json()["request_id"] == request_id

    fresh = start_stack(tmp_path)
    try:
        refused = requests.get(f"{fresh.url}/vpcs", headers={"Authorization": token}, timeout=10)
    finally:
        assert stop_stack(fresh) == 0
    assert refused.status_code == 401
    assert "restarted" in refused.json()["Message"]
    assert f"`make token STATE={fresh.state_dir}`, or `vpcctl login`" in refused.json()["Message"]


def _bash(
    script: str, env: dict[str, str], cwd: Path = PROJECT_DIR
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_after_the_eval_vpcctl_finds_the_stack_of_its_state_folder(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    """`make run STATE=...`: the eval exports DEVSTACK_STATE_DIR, so `vpcctl login` works in
    that shell from anywhere (here a folder with no stack.json above it)."""
    vpcctl = Path(sys.executable).parent / "vpcctl"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    script = (
        f'eval "$(make -s env STATE={local_stack.state_dir})" '
        f"&& cd {tmp_path} && {vpcctl} login && {vpcctl} list --json"
    )

    result = _bash(script, env)

    assert result.returncode == 0, result.stderr


def test_the_eval_fails_visibly_when_no_stack_runs(tmp_path: Path) -> None:
    """Through make, as the README says it: the STATE given reaches the lookup, and the
    advice names it."""
    state = tmp_path / "none"

    result = _bash(
        f'eval "$(make -s env STATE={state})" && echo reached', {"PATH": "/usr/bin:/bin"}
    )

    assert result.returncode != 0
    assert "reached" not in result.stdout
    assert f"`make run STATE={state}`" in result.stderr
    assert result.stderr.count("error: ") == 1  # said once, not by make's python and eval


def test_the_failed_eval_shows_its_own_error_and_no_line_of_make(tmp_path: Path) -> None:
    """The eval's error is the one line the shell shows: make adds no `make: *** [...]
    Error` under it, and the eval still fails. (Through make, with the venv running the
    tests: a make that installs nothing.)"""
    state = tmp_path / "none"

    result = _bash(
        f'eval "$(make -s env VENV={sys.prefix} STATE={state})"; echo "eval: $?"',
        {"PATH": "/usr/bin:/bin"},
    )

    assert result.stdout.splitlines() == ["eval: 1"]
    assert result.stderr.splitlines() == [
        f"error: {state}/stack.json not found; start the local stack with "
        f"`make run STATE={state}` first"
    ]


def test_the_undo_unsets_what_the_eval_set_and_restores_what_the_shell_had(
    local_stack: RunningStack,
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEVSTACK_STATE_DIR": str(local_stack.state_dir),
        "AWS_PROFILE": "work",
    }
    script = (
        f'eval "$({sys.executable} -m devstack.env)" && test -n "$API" && '
        'test -z "${AWS_PROFILE+x}" && '
        f'eval "$({sys.executable} -m devstack.env --unset)" && '
        'echo "[$API$TOKEN$AWS_ENDPOINT_URL]" "$AWS_PROFILE" "$DEVSTACK_STATE_DIR"'
    )

    result = _bash(script, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"[] work {local_stack.state_dir}"


def test_moto_listens_at_the_api_port_plus_ten_thousand(local_stack: RunningStack) -> None:
    """The same port on every start: an earlier shell's exports keep working."""
    api_port = int(local_stack.url.rsplit(":", 1)[1])

    assert local_stack.info["aws_endpoint_url"].endswith(f":{api_port + 10000}")
