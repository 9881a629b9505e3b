"""vpcctl, the installed console script, against the local stack: it finds the stack
through its stack.json, signs in with the stack's Cognito (moto), and drives create,
get, list and delete; EC2 (moto) is the ground truth."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import RunningStack
from e2e.test_local_stack import body, vpcs_of

pytestmark = pytest.mark.e2e

VPCCTL = Path(sys.executable).with_name("vpcctl")


@dataclass
class Vpcctl:
    """Runs `vpcctl` as a user would, in a folder of its own with its own config dir;
    DEVSTACK_STATE_DIR points it at the test session's stack.json."""

    stack: RunningStack
    home: Path
    # Where its stack.json is looked for: the running stack's unless told otherwise.
    state_dir: Path | None = None

    @property
    def config_dir(self) -> Path:
        return self.home / "config" / "vpcctl"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "DEVSTACK_STATE_DIR": str(self.state_dir or self.stack.state_dir),
        }
        return subprocess.run(
            [str(VPCCTL), *args],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def vpcctl(local_stack: RunningStack, tmp_path: Path) -> Vpcctl:
    return Vpcctl(local_stack, tmp_path)


def test_the_console_script_is_installed() -> None:
    assert VPCCTL.exists(), "pip install -r requirements-dev.txt installs vpcctl (-e ./cli)"


def test_login_signs_in_the_stacks_demo_user_and_caches_a_token_only_the_user_reads(
    vpcctl: Vpcctl,
) -> None:
    # The stack's stack.json holds the passwords: the user's alone, or vpcctl refuses it.
    stack_json = vpcctl.stack.state_dir / "stack.json"
    assert stat.S_IMODE(stack_json.stat().st_mode) == 0o600
    before = vpcctl("get", "any")
    assert before.returncode == 3, before.stderr  # not logged in yet
    assert "vpcctl login" in before.stderr

    answer = vpcctl.json("login")

    assert answer["username"] == vpcctl.stack.info["username"]
    assert answer["api_url"] == vpcctl.stack.url
    tokens = vpcctl.config_dir / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    cached = json.loads(tokens.read_text())["apis"][vpcctl.stack.url]
    assert cached["refresh_token"]
    assert vpcctl("get", "no-such-request").returncode == 4  # the token is accepted

    # Expired: the next command refreshes it with Cognito's REFRESH_TOKEN_AUTH (moto's).
    everything = json.loads(tokens.read_text())
    everything["apis"][vpcctl.stack.url]["expires_at"] = 0
    tokens.write_text(json.dumps(everything))
    assert vpcctl("get", "no-such-request").returncode == 4
    refreshed = json.loads(tokens.read_text())["apis"][vpcctl.stack.url]
    assert refreshed["expires_at"] > 0
    assert refreshed["refresh_token"] == cached["refresh_token"]
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


def test_create_wait_get_list_and_delete_wait_drive_the_local_stack(vpcctl: Vpcctl) -> None:
    assert vpcctl("login").returncode == 0
    spec = body(150, subnets=2)
    spec["subnets"][0]["public"] = True
    (vpcctl.home / "spec.json").write_text(json.dumps(spec))
    key = f"e2e-vpcctl-{vpcctl.home.name}"

    created = vpcctl("create", "-f", "spec.json", "--wait", "--idempotency-key", key)

    assert created.returncode == 0, created.stderr
    # Not a terminal: the progress is plain lines on stderr, the last one the final state.
    last = created.stderr.splitlines()[-1].split()
    assert (last[1], last[-2:]) == ("SUCCEEDED", ["subnets", "2/2"])
    request_id = last[0]
    record = vpcctl.json("get", request_id)
    assert record["status"] == "SUCCEEDED"
    assert [v["VpcId"] for v in vpcs_of(vpcctl.stack, request_id)] == [record["vpc_id"]]
    shown = vpcctl("get", request_id).stdout
    assert "status      SUCCEEDED" in shown
    # What it made in EC2, listed by `get`: the ids EC2 holds under the request's tag.
    ec2 = vpcctl.stack.client("ec2")
    tagged = [{"Name": "tag:RequestId", "Values": [request_id]}]
    listed = {tuple(line.split()[:2]) for line in shown.splitlines()}
    assert ("vpc", record["vpc_id"]) in listed
    subnets = ec2.describe_subnets(Filters=tagged)["Subnets"]
    assert len(subnets) == 2
    for subnet in subnets:
        assert ("subnet", subnet["SubnetId"]) in listed
    [gateway] = ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]
    assert ("internet-gateway", gateway["InternetGatewayId"]) in listed
    [routes] = ec2.describe_route_tables(Filters=tagged)["RouteTables"]
    assert ("route-table", routes["RouteTableId"]) in listed
    assert f"Name=tag:RequestId,Values={request_id}" in shown

    # The same command again (same key): the same request, replayed; no second VPC.
    again = vpcctl.json("create", "-f", "spec.json", "--idempotency-key", key)
    assert (again["request_id"], again["replayed"]) == (request_id, True)
    assert len(vpcs_of(vpcctl.stack, request_id)) == 1

    newest_mine = vpcctl.json("list", "--mine", "--limit", "1")
    assert [r["request_id"] for r in newest_mine["items"]] == [request_id]
    succeeded = vpcctl.json("list", "--status", "SUCCEEDED")
    assert request_id in [r["request_id"] for r in succeeded["items"]]
    assert {r["status"] for r in succeeded["items"]} == {"SUCCEEDED"}
    assert succeeded["next_token"] is None  # every page followed
    table = vpcctl("list", "--limit", "5").stdout.splitlines()
    assert table[0].split()[:2] == ["REQUEST_ID", "STATUS"]
    assert any(line.split()[:2] == [request_id, "SUCCEEDED"] for line in table[1:])

    deleted = vpcctl.json("delete", request_id, "--wait")

    assert deleted["status"] == "DELETED"
    assert vpcs_of(vpcctl.stack, request_id) == []
    assert vpcctl.json("get", request_id)["status"] == "DELETED"


def test_an_invalid_spec_is_refused_by_the_api_with_exit_2(vpcctl: Vpcctl) -> None:
    assert vpcctl("login").returncode == 0
    (vpcctl.home / "bad.json").write_text(json.dumps({"vpc": {"cidr": "10.151.0.0/8"}}))

    result = vpcctl("create", "-f", "bad.json", "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert (error["Code"], error["http_status"]) == ("BadRequestError", 400)


def test_a_stack_that_is_down_is_exit_5_whether_it_left_its_stack_json_or_not(
    vpcctl: Vpcctl, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    killed = tmp_path / "killed"  # SIGKILL: its stack.json stays, nothing on its port
    killed.mkdir()
    dead = f"http://127.0.0.1:{dead_port}"
    info = {**vpcctl.stack.info, "api_url": dead, "aws_endpoint_url": dead}
    (killed / "stack.json").write_text(json.dumps(info))
    (killed / "stack.json").chmod(0o600)
    stopped = tmp_path / "stopped"  # Ctrl-C: its stack.json removed
    stopped.mkdir()
    answers = []
    for state_dir, command in ((killed, "login"), (stopped, "login"), (stopped, "list")):
        vpcctl.state_dir = state_dir
        started = time.monotonic()
        result = vpcctl(command, "--json")
        answers.append((result.returncode, json.loads(result.stderr)["Code"]))
        assert time.monotonic() - started < 10  # not retried for seconds
    assert answers == [(5, "StackNotRunning")] * 3


def test_a_usage_error_with_json_is_json(vpcctl: Vpcctl) -> None:
    result = vpcctl("list", "--status", "DONE", "--json")
    assert result.returncode == 2
    assert json.loads(result.stderr)["Code"] == "UsageError"
