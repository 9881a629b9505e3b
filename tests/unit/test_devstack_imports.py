"""The stack's own process (`python -m devstack`) never imports moto: moto runs in a
process of its own (devstack/moto_process.py), and importing it here too cost every
stack start (`make run`, the end-to-end tests' many) a fifth of a second of CPU."""

from __future__ import annotations

import subprocess
import sys

from devstack.settings import PROJECT_DIR


def test_the_stacks_process_imports_no_moto() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, devstack.stack; print(*sys.modules)"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert [name for name in loaded if name.split(".")[0] == "moto"] == []
