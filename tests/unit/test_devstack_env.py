"""`eval "$(make -s env)"` puts vpcctl on the shell's PATH (a fresh clone has it only in
.venv/bin, so the `vpcctl login` the ready message prints was "command not found"), and
`eval "$(make -s unenv)"` takes off only what the eval added (issue 24, 1), and puts back
every variable the eval set or unset as the shell had it (a profile, real credentials).
A stack whose moto does not answer makes the eval fail saying so, as no stack does.

What `python -m devstack.env` prints (for a stand-in stack and venv) is run by bash, as
the eval runs it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import env as devstack_env
from support.fake_api import closed_port_url
from unit.test_devstack_token import stack_whose_moto_is_gone

STACK = {
    "aws_endpoint_url": "http://127.0.0.1:18000",
    "region": "us-east-1",
    "api_url": "http://127.0.0.1:8000",
}


@pytest.fixture
def venv_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The venv `make` runs devstack.env with: a bin folder with its vpcctl (a script that
    says where it is), in a path a shell must quote; and a running stack."""
    folder = tmp_path / "project dir" / ".venv" / "bin"
    folder.mkdir(parents=True)
    script = folder / "vpcctl"
    script.write_text("#!/bin/sh\necho from-the-venv\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(folder / "python"))
    monkeypatch.setattr(devstack_env, "running_stack", lambda: STACK)
    monkeypatch.setattr(devstack_env, "fresh_token", lambda stack: "a-token")
    return folder


def printed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shell_env: dict[str, str],
    argv: list[str],
) -> str:
    """What `python -m devstack.env ARGV` prints in a shell whose environment is `shell_env`."""
    monkeypatch.delenv("DEVSTACK_PATH_ADDED", raising=False)
    for name, value in shell_env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert devstack_env.main(argv) == 0
    return capsys.readouterr().out


def bash(script: str, path: str) -> list[str]:
    result = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", script],
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_after_the_eval_vpcctl_is_found_and_after_the_undo_the_path_is_as_it_was(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/usr/bin:/bin"
    exports = printed(capsys, monkeypatch, {"PATH": path}, [])
    # The undo is printed in the shell the eval changed.
    evaluated = {"PATH": f"{path}:{venv_bin}", "DEVSTACK_PATH_ADDED": str(venv_bin)}
    undo = printed(capsys, monkeypatch, evaluated, ["--unset"])

    out = bash(f'{exports}vpcctl; echo "$PATH"\n{undo}echo "[$PATH]"', path)

    # The venv's folder goes last: the shell's own python and tools stay first.
    assert out == ["from-the-venv", f"{path}:{venv_bin}", f"[{path}]"]


def test_a_path_that_has_the_venv_already_is_left_alone_and_the_undo_keeps_it(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activated venv: nothing added, so nothing to take off."""
    path = f"{venv_bin}:/usr/bin:/bin"
    exports = printed(capsys, monkeypatch, {"PATH": path}, [])
    undo = printed(capsys, monkeypatch, {"PATH": path}, ["--unset"])

    assert bash(f'{exports}{undo}echo "$PATH"', path) == [path]


def test_a_second_eval_adds_nothing_more_and_one_undo_takes_it_off(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/usr/bin:/bin"
    once = printed(capsys, monkeypatch, {"PATH": path}, [])
    evaluated = {"PATH": f"{path}:{venv_bin}", "DEVSTACK_PATH_ADDED": str(venv_bin)}
    twice = printed(capsys, monkeypatch, evaluated, [])
    undo = printed(capsys, monkeypatch, evaluated, ["--unset"])

    out = bash(f'{once}{twice}echo "$PATH"\n{undo}echo "[$PATH]"', path)

    assert out == [f"{path}:{venv_bin}", f"[{path}]"]


def test_the_undo_takes_off_the_entry_the_eval_added_not_an_earlier_one_of_the_user(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"{venv_bin}:/usr/bin:/bin:{venv_bin}:/opt/later"
    undo = printed(
        capsys, monkeypatch, {"PATH": path, "DEVSTACK_PATH_ADDED": str(venv_bin)}, ["--unset"]
    )

    out = bash(f'{undo}echo "$PATH"; echo "[${{DEVSTACK_PATH_ADDED-unset}}]"', path)

    assert out == [f"{venv_bin}:/usr/bin:/bin:/opt/later", "[unset]"]


def test_a_venv_without_vpcctl_adds_nothing(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (venv_bin / "vpcctl").unlink()
    exports = printed(capsys, monkeypatch, {"PATH": "/usr/bin:/bin"}, [])

    assert bash(f'{exports}echo "$PATH"', "/usr/bin:/bin") == ["/usr/bin:/bin"]


# This interpreter (the venv_bin fixture points sys.executable at a stand-in venv).
PYTHON = sys.executable

# A user's shell before the eval: a profile and real credentials, an empty session token
# (set, but to ""), values a shell must quote, a TOKEN and a region of their own; API,
# AWS_ENDPOINT_URL, AWS_REGION and DEVSTACK_STATE_DIR unset.
USER_SHELL = {
    "PATH": "/usr/bin:/bin",
    "AWS_PROFILE": "work",
    "AWS_SESSION_TOKEN": "",
    "AWS_ACCESS_KEY_ID": "AKIA REAL",
    "AWS_SECRET_ACCESS_KEY": 'it\'s "$ecret"\nline two `x`',
    "AWS_DEFAULT_REGION": "eu-west-1",
    "TOKEN": "my own token",
}


def evaluated(venv_bin: Path) -> dict[str, str]:
    """What `make -s unenv` sees of the shell after the eval: the PATH it extended."""
    return {"PATH": f"{USER_SHELL['PATH']}:{venv_bin}", "DEVSTACK_PATH_ADDED": str(venv_bin)}


def shell_environment(script: str, environ: dict[str, str]) -> dict[str, str]:
    """The environment bash exports after running `script`, started with `environ`."""
    dump = f"{shlex.quote(PYTHON)} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    result = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", f"{script}\n{dump}"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen: dict[str, str] = json.loads(result.stdout)
    for name in ("PWD", "SHLVL", "_", "LC_CTYPE"):  # bash's own, and Python's (PEP 538)
        seen.pop(name, None)
    return seen


def test_the_undo_puts_back_what_two_evals_changed_set_empty_or_unset(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second eval (a new token, say) must not save the first's values over the user's."""
    exports = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, [])
    undo = printed(capsys, monkeypatch, evaluated(venv_bin), ["--unset"])

    during = shell_environment(f"{exports}{exports}", USER_SHELL)
    after = shell_environment(f"{exports}{exports}{undo}", USER_SHELL)

    assert "AWS_PROFILE" not in during
    assert "AWS_SESSION_TOKEN" not in during
    assert during["AWS_ACCESS_KEY_ID"] == "local"
    assert during["TOKEN"] == "a-token"
    assert after == USER_SHELL  # the same values, "" still "", unset still unset
    assert not [name for name in after if name.startswith("DEVSTACK_SAVED")]


def test_the_test_suites_undo_leaves_what_the_shells_undo_leaves(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` in the quick start's terminal 2: tests/conftest.py undoes the eval
    (`undo`) as `make -s unenv` does, but for PATH (the stack's endpoint and credentials
    made 9 deploy tests fail, their deployers refusing the tests' own moto)."""
    exports = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, [])
    during = shell_environment(f"{exports}{exports}", USER_SHELL)

    devstack_env.undo(during)

    assert during == {**USER_SHELL, "PATH": during["PATH"], "DEVSTACK_PATH_ADDED": str(venv_bin)}
    untouched = dict(USER_SHELL)
    devstack_env.undo(untouched)  # no eval ran: nothing to undo
    assert untouched == USER_SHELL


def test_an_undo_with_no_eval_before_it_leaves_the_users_variables_alone(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    undo = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, ["--unset"])

    assert shell_environment(undo, USER_SHELL) == USER_SHELL


def test_an_eval_after_an_undo_saves_the_shells_values_again(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user changed a value between two rounds: the second undo gives the new one."""
    exports = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, [])
    undo = printed(capsys, monkeypatch, evaluated(venv_bin), ["--unset"])
    script = f"{exports}{undo}export AWS_PROFILE=other\n{exports}{undo}"

    assert shell_environment(script, USER_SHELL) == {**USER_SHELL, "AWS_PROFILE": "other"}


# --- `make run` in the evaled shell (devstack/stack.py reads AWS_ENDPOINT_URL) -------------


def test_after_the_eval_the_stacks_endpoint_is_not_taken_for_the_users_own(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` there (a restart, a second stack) starts its own moto, saying why."""
    exports = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, [])

    endpoint, why = devstack_env.endpoint_of_the_shell(shell_environment(exports, USER_SHELL))

    assert endpoint == ""
    assert why is not None
    assert STACK["aws_endpoint_url"] in why
    assert "starts its own moto" in why


def test_after_the_eval_the_users_own_endpoint_from_before_it_is_the_one(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = printed(capsys, monkeypatch, {"PATH": USER_SHELL["PATH"]}, [])
    mine = "http://127.0.0.1:5000"

    shell = shell_environment(exports, {**USER_SHELL, "AWS_ENDPOINT_URL": mine})
    endpoint, why = devstack_env.endpoint_of_the_shell(shell)

    assert endpoint == mine
    assert why is not None
    assert mine in why


@pytest.mark.parametrize("saved", [{}, {"DEVSTACK_SAVED": "1"}])
def test_an_endpoint_the_user_set_is_used_as_it_is(saved: dict[str, str]) -> None:
    """No eval ran, or the stack the eval was for uses the user's own moto server."""
    mine = "http://127.0.0.1:5000"
    own = {"DEVSTACK_SAVED_AWS_ENDPOINT_URL": mine} if saved else {}
    environ = {"AWS_ENDPOINT_URL": f" {mine} ", **saved, **own}

    assert devstack_env.endpoint_of_the_shell(environ) == (mine, None)
    assert devstack_env.endpoint_of_the_shell({}) == ("", None)


def test_a_stack_whose_moto_does_not_answer_makes_the_eval_fail_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a traceback and an eval of nothing, which succeeds (moto's process died)."""
    moto = closed_port_url()
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(devstack_env, "running_stack", lambda: stack_whose_moto_is_gone(moto))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)

    assert devstack_env.main([]) == devstack_env.EVAL_FAILS

    result = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", capsys.readouterr().out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"error: the stack at http://127.0.0.1:8000 does not answer (moto at {moto} cannot "
        f"be reached): restart it with `make run STATE={tmp_path}`"
    ]


# `eval $(make -s env)` without the double quotes: how ssh-agent, `minikube docker-env` and
# `docker-machine env` are documented, so typed from habit. The shell's word splitting
# joins the printed lines into one; each statement ends with `;`, so it still reads.
def _unquoted_eval(script: str, then: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", f"eval $(cat) && {then}"],
        input=script,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_unquoted_eval_of_make_env_sets_the_stacks_variables(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was a syntax error ("near unexpected token `if'") that quoted the whole joined
    script, the demo user's token in it, and set nothing."""
    script = printed(capsys, monkeypatch, {"PATH": "/usr/bin:/bin"}, [])

    result = _unquoted_eval(script, 'echo "$API $TOKEN"; vpcctl', {"PATH": "/usr/bin:/bin"})

    assert "a-token" not in result.stderr  # the token is never printed in an error
    assert result.returncode == 0, result.stderr[:300]
    assert result.stdout.splitlines() == ["http://127.0.0.1:8000 a-token", "from-the-venv"]


def test_an_unquoted_eval_of_make_unenv_undoes_it(
    venv_bin: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    evaled = {"PATH": "/usr/bin:/bin", "API": "http://127.0.0.1:8000", "DEVSTACK_SAVED": "1"}
    script = printed(capsys, monkeypatch, evaled, ["--unset"])

    result = _unquoted_eval(script, 'echo "[${API-unset}]"', evaled)

    assert result.returncode == 0, result.stderr[:300]
    assert result.stdout == "[unset]\n"


def test_an_unquoted_eval_with_no_stack_fails_saying_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert devstack_env.main([]) == devstack_env.EVAL_FAILS

    result = _unquoted_eval(capsys.readouterr().out, "echo evaled", {"PATH": "/usr/bin:/bin"})

    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: "), line
    assert "stack.json not found" in line, line
