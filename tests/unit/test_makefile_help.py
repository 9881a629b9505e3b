"""`make` alone lists every target with its one-line description, variables filled in."""

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
