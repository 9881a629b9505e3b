"""`make -s token | head -c 20`: when what reads the token stops first, `python -m
devstack.token` exits quietly with 141 (128 + SIGPIPE, as a shell reports a process the
pipe's signal ended, and as vpcctl does), not with a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.settings import PROJECT_DIR

# devstack.token's main with a stand-in for the running stack and its Cognito: a token as
# long as a real one (about 1 kB), written into a pipe nobody reads.
STAND_IN = """
import sys
import devstack.token as t
t.running_stack = lambda: {}
t.fresh_token = lambda stack, admin=False: "x" * 1200
sys.exit(t.main())
"""


def test_a_token_into_a_closed_pipe_exits_141_saying_nothing() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head -c 20`) is gone before the token is written
    try:
        result = subprocess.run(
            [sys.executable, "-c", STAND_IN],
            cwd=PROJECT_DIR,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert result.stderr == ""
    assert result.returncode == 141


def _make_token(tmp_path: Path, status: int) -> subprocess.CompletedProcess[str]:
    """`make -s token`, its Python standing in as a script that exits with `status` (and
    the venv taken as it is: `-o venv`, nothing installed)."""
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexit {status}\n")
    python.chmod(0o755)
    return subprocess.run(
        ["make", "-s", "-o", "venv", "token", f"BIN={tmp_path}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_token_into_a_closed_pipe_says_nothing_either(tmp_path: Path) -> None:
    """make reports a recipe's 141 as an error ("make: *** [Makefile:86: token] Error
    141") even with -s: the token target lets that one status go, and no other."""
    closed = _make_token(tmp_path, 141)
    assert (closed.returncode, closed.stderr) == (0, "")

    failed = _make_token(tmp_path, 3)
    assert failed.returncode != 0
