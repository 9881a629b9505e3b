"""Two makes at once install .venv once: the README's quick start is `make run` in terminal 1
and `eval "$(make -s env)"` in terminal 2, and both need .venv. Unserialized, a second make
that started while the first was inside `python -m venv` (ensurepip: bin/python there, pip
not yet) took that venv for one made half way and removed it under the first, which then
failed with "python3 -m venv could not make .venv (on Debian or Ubuntu: apt install
python3-venv)". The Makefile's install now holds a lock beside the venv (flock, where there
is one); the second waits, says so, and finds the stamp.

Simulated with a stand-in python whose `-m venv` takes 1.5 s between making bin/python and
installing pip (as ensurepip does), and fails, as ensurepip would, if its folder was
replaced meanwhile."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from support.makefile_copy import installed, make_bare, project_copy

SLOW_VENV_PYTHON = """#!/bin/sh
here=$(dirname "$0")
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && echo $$ > "$3/maker"
  sleep 1.5   # ensurepip
  [ "$(cat "$3/maker" 2>/dev/null)" = "$$" ] || { echo "ensurepip: $3 changed" >&2; exit 1; }
  touch "$3/pip"; exit 0
fi
case "$*" in
  *"import pip"*) [ -e "$here/../pip" ] ;;
  *uv==*) printf '#!/bin/sh\\nsleep 0.2\\n' > "$here/uv" && chmod +x "$here/uv" ;;
  *) exit 0 ;;
esac
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.skipif(shutil.which("flock") is None, reason="no flock: installs run unserialized")
def test_a_second_make_during_the_first_install_waits_for_it_and_installs_nothing(
    tmp_path: Path,
) -> None:
    project = project_copy(tmp_path / "checkout")
    python = tmp_path / "python3"
    python.write_text(SLOW_VENV_PYTHON)
    python.chmod(0o755)

    def make() -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["make", "-s", "venv", f"PYTHON={python}"],
            cwd=project,
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    terminal_1 = make()  # `make run`
    time.sleep(0.5)
    terminal_2 = make()  # `eval "$(make -s env)"`, typed while terminal 1 installs
    first = terminal_1.communicate(timeout=60)
    second = terminal_2.communicate(timeout=60)

    assert terminal_1.returncode == 0, first[1]
    assert terminal_2.returncode == 0, second[1]
    assert first[1].startswith("Installing the pinned dependencies"), first[1]
    assert second[1] == "(another make is installing into .venv: waiting for it to finish)\n"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_without_flock_the_install_runs_as_before(tmp_path: Path) -> None:
    """macOS has no flock by default: the install runs unserialized, it does not fail."""
    project = project_copy(tmp_path / "checkout")
    tools = tmp_path / "bin"  # the tools the install calls, flock not among them
    tools.mkdir()
    for tool in (
        "sh",
        "cat",
        "cksum",
        "cut",
        "rm",
        "touch",
        "mkdir",
        "cp",
        "dirname",
        "sleep",
        "chmod",
    ):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found is not None, tool
        (tools / tool).symlink_to(found)
    python = tmp_path / "python3"
    python.write_text(SLOW_VENV_PYTHON.replace("sleep 1.5", "sleep 0"))
    python.chmod(0o755)

    result = subprocess.run(
        [shutil.which("make") or "make", "-s", "venv", f"PYTHON={python}"],
        cwd=project,
        env={"PATH": str(tools)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Installing the pinned dependencies"), result.stderr
    assert list((project / ".venv").glob(".installed-*"))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_stamp_older_than_the_same_requirements_installs_nothing_and_takes_no_lock(
    tmp_path: Path,
) -> None:
    """A fresh worktree's requirements files are newer than the venv's stamp, named for their
    content: nothing to install (a make run against the shared venv of the tests, VENV=...,
    made no lock file beside it either)."""
    project = project_copy(tmp_path / "checkout")
    stamp = installed(project)
    os.utime(stamp, (time.time() - 3600, time.time() - 3600))
    python = tmp_path / "python3"
    python.write_text("#!/bin/sh\necho called >&2\nexit 1\n")
    python.chmod(0o755)

    result = make_bare(project, "venv", f"PYTHON={python}")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not (project / ".venv.lock").exists()
