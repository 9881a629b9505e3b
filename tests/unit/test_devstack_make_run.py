"""`make run`'s first line is the stack's own, not make echoing the command that starts it
(`.venv/bin/python -m devstack`: noise above the log a newcomer reads)."""

from __future__ import annotations

import re

from devstack.settings import PROJECT_DIR


def test_make_run_does_not_echo_its_command() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    [recipe] = re.findall(r"^run:.*\n((?:\t.*\n)+)", makefile, flags=re.M)

    assert [line for line in recipe.splitlines() if not line.startswith("\t@")] == []
