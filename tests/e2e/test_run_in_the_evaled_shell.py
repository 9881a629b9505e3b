"""`make run` in the shell where `eval "$(make -s env)"` ran (the README's terminal 2)
starts a moto of its own: the AWS_ENDPOINT_URL there is the evaled stack's moto, not "a
moto server you keep running" (docs/local-stack.md), and the stack says in one line that
it does not use it. A PERSIST=1 restart there loads its saved state (it died with a
botocore traceback, calling the stopped stack's moto); a second stack there (another
STATE and PORT) has its own moto, table and user pool (it served the first one's). A
user's own AWS_ENDPOINT_URL that is not there is one `error:` line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from e2e.conftest import PROJECT_DIR, RunningStack, free_port, start_stack, stop_stack

pytestmark = pytest.mark.e2e

NOT_USED = 'exported by `eval "$(make -s env)"`: this stack does not use it'


def _shell_after_eval(stack: RunningStack) -> dict[str, str]:
    """The variables a shell holds after `eval "$(make -s env)"` against `stack`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["DEVSTACK_STATE_DIR"] = str(stack.state_dir)
    result = subprocess.run(
        ["bash", "-c", f'eval "$({sys.executable} -m devstack.env)" && env -0'],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    after = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return {
        k: v
        for k, v in after.items()
        if k.startswith(("AWS_", "DEVSTACK_SAVED")) or k in ("API", "TOKEN")
    }


def test_a_persist_restart_in_the_evaled_shell_starts_its_moto_and_loads_its_state(
    tmp_path: Path,
) -> None:
    first = start_stack(tmp_path, {"PERSIST": "1"})
    exports = _shell_after_eval(first)
    assert stop_stack(first) == 0
    assert (first.state_dir / "moto-state.pickle").exists()

    # make run PERSIST=1, the same STATE, typed in the shell that ran the eval.
    again = start_stack(tmp_path, {**exports, "PERSIST": "1"})
    try:
        log = again.log()
        assert "loaded moto's state" in log
        assert f"AWS_ENDPOINT_URL {exports['AWS_ENDPOINT_URL']} is a local stack's" in log
        assert NOT_USED in log
        assert "Traceback" not in log
    finally:
        assert stop_stack(again) == 0


def test_a_second_stack_started_in_the_evaled_shell_has_its_own_moto(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    exports = _shell_after_eval(local_stack)

    # make run STATE=.local-2 PORT=8001, typed in the shell that ran the eval.
    second = start_stack(tmp_path, exports)
    try:
        assert second.info["aws_endpoint_url"] != local_stack.info["aws_endpoint_url"]
        assert second.info["user_pool_id"] != local_stack.info["user_pool_id"]
        assert NOT_USED in second.log()
    finally:
        assert stop_stack(second) == 0


@contextmanager
def socket_nobody_listens_on() -> Iterator[int]:
    """A port held (bound, never listening) for the block: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_a_users_aws_endpoint_url_that_is_not_there_is_one_error_line(tmp_path: Path) -> None:
    with socket_nobody_listens_on() as port:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            PORT=str(free_port()),
            DEVSTACK_STATE_DIR=str(tmp_path / "state"),
        )
        result = subprocess.run(
            [sys.executable, "-m", "devstack"],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert f"127.0.0.1:{port}" in error
    assert "AWS_ENDPOINT_URL" in error
