"""A real headless Chromium for the console's tests: Debian's `chromium`, driven by Playwright.

Playwright's own browser builds are never downloaded: it launches the system's Chromium
(`apt-get install chromium`, which `.ci/run` does when it is missing), or the one
CHROMIUM names. Without Playwright or without a Chromium the tests skip, saying which
is missing and how to get it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Where Debian puts it, then other names it goes by.
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# As root there is no sandbox to use; the rest keeps Chromium off a network it cannot
# reach (it would try Google's hosts at every start) and quick to start.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The Chromium executable to launch: CHROMIUM if set, else the system's, else None."""
    configured = os.environ.get("CHROMIUM", "").strip()
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def missing_reason() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import playwright.sync_api  # noqa: F401, PLC0415 - only to know it is there
    except ImportError:
        return "Playwright is not installed: `make venv` (requirements-dev.txt)"
    if chromium_path() is None:
        return (
            "no Chromium on this machine: `apt-get install -y chromium` (Debian; .ci/run "
            "installs it), or set CHROMIUM to a Chromium executable"
        )
    return None
