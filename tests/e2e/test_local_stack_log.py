"""End to end: `make run`'s output reads as one log. moto's process (its snapshot's
lines, with PERSIST=1) writes its lines as the stack's own: the same time format."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

# TextFormatter's shape: "21:36:28 INFO    devstack: ..." (the time alone, as every other line).
STACK_LINE = re.compile(r"\d\d:\d\d:\d\d (INFO|DEBUG|WARNING|ERROR) +[a-z_.]+: ")


def test_the_snapshots_lines_have_the_stacks_time_format(tmp_path: Path) -> None:
    """moto's process with a snapshot (make run PERSIST=1): started, then stopped as the
    stack stops it (its stdin closed), so that it saves, and says so."""
    snapshot = tmp_path / "moto-state.pickle"
    moto = subprocess.Popen(
        [sys.executable, "-m", "devstack.moto_process", "--snapshot", str(snapshot)],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert moto.stdout is not None
        assert "endpoint" in moto.stdout.readline()
        _, stderr = moto.communicate(input="", timeout=60)  # closes stdin: stop, and save
    finally:
        moto.kill()
        moto.wait()

    [saved] = [line for line in stderr.splitlines() if "devstack.snapshot" in line]
    assert STACK_LINE.match(saved), saved
    assert "saved moto's state to" in saved
