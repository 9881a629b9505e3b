"""A newcomer's first hour off the main road of README.md and docs/local-stack.md: a
second and a third stack, a stack that died, Ctrl-C while it starts, another stack's eval
in the same shell, and the undo of the eval: what each says to run next works."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.env import restore_lines, save_lines
from devstack.lock import lock_holder, port_taken
from devstack.settings import MOTO_PORT_OFFSET
from e2e.conftest import PROJECT_DIR, launch_stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _devstack(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port(span: int = 1) -> int:
    """A port in 28000-28999 free with the next `span` - 1 ones and each one's moto port
    (+ MOTO_PORT_OFFSET): a test that needs the port after its stack's knows it is free."""
    rng = random.Random()
    while True:
        port = rng.randint(28000, 28999 - span)
        if all(
            port_taken(p) is None and port_taken(p + MOTO_PORT_OFFSET) is None
            for p in range(port, port + span)
        ):
            return port


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEVSTACK_"))}


# 1. A second `make run` is told to start "a second one" in a folder and on a port that a
#    running stack already holds (docs: `make run` on 8000, `make run STATE=.local-2 PORT=8001`).
def test_the_refusals_suggested_second_stack_is_not_one_already_running(tmp_path: Path) -> None:
    first_port = free_port(span=2)
    (tmp_path / "first").mkdir()
    first = start_stack(tmp_path / "first", {"PORT": str(first_port)})
    # The docs' second stack: STATE=.local-2 and the port after the first's.
    if lock_holder(PROJECT_DIR / ".local-2") is not None:
        pytest.skip("a stack of this checkout runs in .local-2/: the docs' second stack is taken")
    (tmp_path / "second").mkdir()
    second = start_stack(
        tmp_path / "second",
        {"PORT": str(first_port + 1), "DEVSTACK_STATE_DIR": str(PROJECT_DIR / ".local-2")},
    )
    try:
        # A third `make run` in the first one's folder (say, typed in the wrong terminal).
        env = {**_base_env(), "DEVSTACK_STATE_DIR": str(first.state_dir), "PORT": str(first_port)}
        refused = _devstack(env, "devstack")
        assert refused.returncode == 2, refused.stderr
        match = re.search(r"make run STATE=(\S+) PORT=(\d+)", refused.stderr)
        assert match, refused.stderr
        folder, port = match.group(1), int(match.group(2))
        # What it suggests must be startable: a folder no stack holds, a port nobody uses.
        assert lock_holder(PROJECT_DIR / folder) is None, (
            f"suggested STATE={folder} is held by the running stack: {refused.stderr}"
        )
        assert port_taken(port) is None, f"suggested PORT={port} is in use: {refused.stderr}"
    finally:
        stop_stack(second)
        stop_stack(first)


# 2. The advice to start a stack that died again drops its PORT: `make run STATE=...`
#    starts it on 8000 (moto 18000), and every shell's exports (API, AWS_ENDPOINT_URL of
#    PORT and PORT + 10000) stop working, the opposite of what a restart should keep.
def test_when_moto_dies_the_restart_advice_keeps_the_stacks_port(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    port = stack.url.rsplit(":", 1)[1]
    moto_pid = int(
        subprocess.run(
            ["pgrep", "-f", "-g", str(stack.process.pid), "devstack.moto_process"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
    )
    os.kill(moto_pid, signal.SIGKILL)
    assert stack.process.wait(timeout=30) == 2
    [error] = [line for line in stack.log().splitlines() if line.startswith("error:")]
    assert "start it again with `make run" in error
    assert f"PORT={port}" in error, error


def test_a_killed_stacks_make_token_advice_keeps_its_port(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    port = stack.url.rsplit(":", 1)[1]
    stack.process.kill()  # SIGKILL the stack's process (an OOM kill, a closed terminal)
    stack.process.wait()
    time.sleep(1)  # its moto sees its stdin close and ends
    assert (stack.state_dir / "stack.json").exists()
    env = {**_base_env(), "DEVSTACK_STATE_DIR": str(stack.state_dir)}
    told = _devstack(env, "devstack.token")
    assert told.returncode == 1
    assert "make run" in told.stderr
    assert f"PORT={port}" in told.stderr, told.stderr


# 3. Ctrl-C while moto starts (the first second or two of `make run`): the stack exits
#    and leaves its moto process running; it then prints a BrokenPipeError traceback into
#    the terminal the user has got back.
def _ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    [ignored] = [line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")]
    return bool(int(ignored, 16) & (1 << (signal.SIGINT - 1)))


def test_ctrl_c_while_moto_starts_leaves_no_process_and_no_traceback(tmp_path: Path) -> None:
    log_path = tmp_path / "stack.log"
    env = {
        **_base_env(),
        "PORT": str(free_port()),
        "DEVSTACK_STATE_DIR": str(tmp_path / "state"),
        "PYTHONUNBUFFERED": "1",
    }
    stack = launch_stack(env, log_path)
    moto_pid = None
    deadline = time.monotonic() + 30
    while moto_pid is None and time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-f", "-g", str(stack.pid), "devstack.moto_process"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if found and _ignores_sigint(int(found[0])):  # moto's main() has begun: importing moto
            moto_pid = int(found[0])
        time.sleep(0.01)
    assert moto_pid is not None
    os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    stack.wait(timeout=30)
    moto_alive_after_exit = Path(f"/proc/{moto_pid}").exists() and "Z" not in (
        Path(f"/proc/{moto_pid}/stat").read_text().split()[2]
        if Path(f"/proc/{moto_pid}/stat").exists()
        else "Z"
    )
    time.sleep(5)  # what the left-behind moto does once it has started
    output = log_path.read_text(errors="replace")
    assert not moto_alive_after_exit, f"moto (pid {moto_pid}) outlived the stack:\n{output}"
    assert "Traceback" not in output, output


# 4. The eval exports DEVSTACK_STATE_DIR, which every later bare `make` reads: in a shell
#    that once ran another stack's eval, the default stack's own printed command,
#    `eval "$(make -s env)"`, silently exports the *other* stack's API, token and moto.
def test_the_default_stacks_printed_eval_reaches_it_after_another_stacks_eval(
    tmp_path: Path,
) -> None:
    if lock_holder(PROJECT_DIR / ".local") is not None:
        pytest.skip("a stack of this checkout runs in .local/ (`make run`): left alone")
    (tmp_path / "other").mkdir()
    other = start_stack(tmp_path / "other")
    (tmp_path / "default").mkdir()
    default = start_stack(
        tmp_path / "default",
        {"DEVSTACK_STATE_DIR": str(PROJECT_DIR / ".local")},
    )
    try:
        [printed] = [
            line.split("#")[0].strip()
            for line in default.ready_log().splitlines()
            if line.strip().startswith('eval "$(make -s env')
        ]
        assert printed == 'eval "$(make -s env)"'
        script = f'eval "$(make -s env STATE={other.state_dir})" && {printed} && echo "$API"'
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=PROJECT_DIR,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == default.url, (
            f"the default stack's printed eval exported {result.stdout.strip()} "
            f"(the other stack's is {other.url})"
        )
    finally:
        stop_stack(default)
        stop_stack(other)


# 5. `eval "$(make -s unenv)"` exports a variable the shell had set but not exported (a
#    TOKEN or AWS_SECRET_ACCESS_KEY of the user's own): "back as the shell had it" it is
#    not, and from then on every program the shell starts gets it in its environment.
def test_the_undo_leaves_an_unexported_shell_variable_unexported(tmp_path: Path) -> None:
    script = (
        "TOKEN=my-own-secret\n"  # a shell variable, not exported
        + "\n".join(save_lines())
        + "\n"
        + "export TOKEN=the-stacks\n"  # what the eval's exports do
        + "\n".join(restore_lines())
        + "\n"
        + 'echo "shell: $TOKEN"; bash -c \'echo "child: ${TOKEN-unset}"\'\n'
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["shell: my-own-secret", "child: unset"]
