"""What make starts keeps Python's bytecode caches, whatever the shell says: with
PYTHONDONTWRITEBYTECODE=1 (set in some shells and containers), every process `make test`
starts compiled the project's modules again, and pytest rewrote the asserts of every
test module in every worker (docs/how-it-works.md, the suite's time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_a_recipe_of_the_makefile_writes_bytecode_in_a_shell_that_says_not_to() -> None:
    probe = f"probe: ; @{sys.executable} -c 'import sys; print(sys.dont_write_bytecode)'"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    result = subprocess.run(
        ["make", "-s", f"--eval={probe}", "probe"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
