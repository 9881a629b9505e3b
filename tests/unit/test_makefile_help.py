"""`make` alone lists every target with its one-line description, variables filled in; the
first `make run` or `make test` says how long setting up `.venv` takes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
