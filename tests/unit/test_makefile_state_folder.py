"""`make run`, `make -s env` and `make token` with STATE= hand the stack its state folder
whole, in a checkout whose path has a space (`~/My Projects/...`, macOS's
`~/Library/Mobile Documents/...`) and for a STATE that has one: the Makefile quotes the
folder for the shell. Unquoted, `DEVSTACK_STATE_DIR=/home/me/My Projects/.local-2 ...`
was the assignment `DEVSTACK_STATE_DIR=/home/me/My` and a command `Projects/...` (127),
and for `make -s env` an eval of nothing that succeeded.

Uses only make and sh: a stand-in .venv/bin/python prints the DEVSTACK_STATE_DIR it was
started with."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support.makefile_copy import installed, make_bare, project_copy

REPORTS_STATE_DIR = '#!/bin/sh\nprintf "%s\\n" "$DEVSTACK_STATE_DIR"\n'


def _checkout_with_a_space(tmp_path: Path) -> Path:
    """The Makefile and its requirements files under `My Projects/`, with a .venv the
    Makefile takes for installed (its stamp) whose python reports its state folder."""
    project = project_copy(tmp_path / "My Projects" / "vpc-provisioner")
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(REPORTS_STATE_DIR)
    (bin_dir / "python").chmod(0o755)
    installed(project)
    return project


def _make(project: Path, target: str, state: str) -> subprocess.CompletedProcess[str]:
    return make_bare(project, target, f"STATE={state}")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["run", "env", "token"])
def test_state_reaches_the_stack_in_a_checkout_whose_path_has_a_space(
    tmp_path: Path, target: str
) -> None:
    project = _checkout_with_a_space(tmp_path)

    result = _make(project, target, ".local-2")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{project / '.local-2'}\n"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("inside", [True, False], ids=["relative", "absolute"])
def test_a_state_whose_own_path_has_a_space_or_a_quote_reaches_the_stack_whole(
    tmp_path: Path, inside: bool
) -> None:
    """What the stack prints for a folder outside the project is its absolute path, quoted
    (`state_folder.state_argument`): pasted, make gets it with its space and its quote."""
    project = _checkout_with_a_space(tmp_path)
    state = "my state/it's" if inside else str(tmp_path / "other place" / "it's")

    result = _make(project, "env", state)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{project / state if inside else state}\n"
