"""`make` alone lists every target with its one-line description, variables filled in; the
first `make run` or `make test` says how long setting up `.venv` takes, and so do the
first `make test` (.venv-checkov) and `make mutate` (.venv-mutmut) for theirs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.makefile_copy import make_bare, project_copy, stamp_digest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_make_help_names_the_stage_instead_of_printing_a_make_variable(stage: str) -> None:
    result = subprocess.run(
        ["make", "-s", "help", f"STAGE={stage}"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    assert re.search(r"\$\([A-Z_]+\)", result.stdout) is None  # a make variable, unexpanded
    assert f"two complete deployments of {stage}" in result.stdout
    for target in ("run", "test", "env", "unenv", "token", "bench", "deploy"):
        assert f"\n  {target} " in result.stdout, target


# An interpreter for `make venv` that installs nothing: `-m venv DIR` makes DIR/bin/python
# (this script again), `-m pip install uv==...` makes an uv that succeeds (unless NO_UV is
# set: then it fails, and the Makefile falls back to pip); every other call succeeds.
FAKE_PYTHON = """#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit; fi
case "$*" in
  *uv==*)
    [ -z "$NO_UV" ] || exit 1
    printf '#!/bin/sh\\n' > "$(dirname "$0")/uv" && chmod +x "$(dirname "$0")/uv" ;;
esac
"""
DURATION = re.compile(r"about \d+ (seconds?|minutes?)")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("uv", [True, False], ids=["uv", "pip"])
def test_the_first_install_says_roughly_how_long_it_takes(tmp_path: Path, uv: bool) -> None:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    result = subprocess.run(
        ["make", "-s", "venv", f"VENV={tmp_path / 'venv'}", f"PYTHON={python}"],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", **({} if uv else {"NO_UV": "1"})},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    said = result.stderr.splitlines()
    assert said[0].startswith("Installing the pinned dependencies"), said
    assert (tmp_path / "venv" / "bin" / "uv").exists() is uv  # the path this run took
    if uv:
        assert len(said) == 1
        assert DURATION.search(said[0]), said  # e.g. "about 15 seconds with uv"
    else:
        assert "pip" in said[-1]
        assert DURATION.search(said[-1]), said  # "pip it is, about 2 minutes"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("venv", "requirements", "what"),
    [
        (".venv-checkov", ("requirements-checkov.txt",), "checkov"),
        (
            ".venv-mutmut",
            ("requirements-mutmut.txt", "requirements-dev.txt", "requirements.txt"),
            "mutmut",
        ),
    ],
    ids=["checkov", "mutmut"],
)
def test_the_first_install_of_checkov_or_mutmut_says_what_and_roughly_how_long(
    tmp_path: Path, venv: str, requirements: tuple[str, ...], what: str
) -> None:
    """The README's quick start ends with `make test`, whose first run, after lint passed,
    went quiet while it installed checkov's 101 pinned packages (`make mutate`: mutmut's)."""
    project = project_copy(tmp_path / "checkout")
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)

    result = make_bare(
        project, f"{venv}/.installed-{stamp_digest(project, *requirements)}", f"PYTHON={python}"
    )
    assert result.returncode == 0, result.stderr

    [said] = result.stderr.splitlines()
    assert said.startswith(f"Installing {what} "), said
    assert f"into {venv} " in said, said
    assert DURATION.search(said), said


def _make_venv(project: Path, python: str) -> subprocess.CompletedProcess[str]:
    """`make venv` in `project`, with `python` as PYTHON."""
    return subprocess.run(
        ["make", "-s", "venv", f"PYTHON={python}"],
        check=False,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _old_python(path: Path) -> Path:
    """A `python3` that is 3.10 as far as the Makefile can tell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\n[ "$1" = -V ] && { echo "Python 3.10.13"; exit 0; }\nexit 1\n')
    path.chmod(0o755)
    return path


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_python_older_than_3_11_is_named_with_what_to_do_not_a_resolver_error(
    tmp_path: Path,
) -> None:
    project = project_copy(tmp_path)
    old = _old_python(tmp_path / "bin" / "python3")

    result = _make_venv(project, str(old))

    assert result.returncode != 0
    assert "needs Python 3.11 or newer" in result.stderr
    assert "is Python 3.10.13" in result.stderr
    assert "PYTHON=python3.11" in result.stderr
    assert not (project / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_virtualenv_of_an_old_python_or_without_pip_is_made_again_not_kept(
    tmp_path: Path,
) -> None:
    """Made by a 3.10 (or left without pip), `.venv` failed the same way on every later
    run, whatever python3 was by then: it is removed and made again (here the Python
    given is old too, so making it again is refused, saying why)."""
    project = project_copy(tmp_path)
    _old_python(project / ".venv" / "bin" / "python")
    old = _old_python(tmp_path / "bin" / "python3")

    result = _make_venv(project, str(old))

    assert "needs Python 3.11 or newer" in result.stderr
    assert not (project / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_virtualenv_with_its_uv_and_without_pip_is_kept(tmp_path: Path) -> None:
    """What `.venv/bin/uv pip sync` leaves (it takes pip out, keeps uv) is whole: the
    install uses the venv's own uv, and a `make run` may be running from it (an audit of
    the change that remakes broken ones, 2026-12-06)."""
    project = project_copy(tmp_path)
    for name in ("requirements.txt", "requirements-dev.txt"):
        (project / name).write_text("")  # nothing to install: no registry needed
    venv = project / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    uv = venv / "bin" / "uv"  # stands in for the uv the Makefile put there
    uv.write_text('#!/bin/sh\necho "uv $*" >> "$(dirname "$0")/../uv-calls"\n')
    uv.chmod(0o755)
    (venv / "in-use").write_text("")

    result = _make_venv(project, sys.executable)

    assert result.returncode == 0, result.stderr
    assert (venv / "in-use").exists(), "a whole .venv was removed and made again"
    assert (venv / "uv-calls").exists(), "its own uv was not used"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_python_that_is_not_there_is_named_missing_in_one_line(tmp_path: Path) -> None:
    project = project_copy(tmp_path)

    result = _make_venv(project, "python-that-is-not-here")

    assert result.returncode != 0
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "python-that-is-not-here is missing: install one" in error, result.stderr
    assert "not found" not in result.stderr
