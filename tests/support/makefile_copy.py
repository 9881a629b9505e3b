"""The Makefile in a folder of its own, for the tests that run it (tests/unit/test_makefile_*)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def project_copy(folder: Path) -> Path:
    """The Makefile and the requirements files it reads, copied into `folder` (made)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", *(p.name for p in PROJECT.glob("requirements*.txt"))):
        shutil.copy(PROJECT / name, folder / name)
    return folder


def stamp_digest(project: Path, *requirements: str) -> str:
    """The Makefile's stamp digest of these requirements files (`.installed-<digest>`)."""
    return subprocess.run(
        ["sh", "-c", f"cat {' '.join(requirements)} | cksum | cut -d' ' -f1"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def installed(project: Path) -> Path:
    """`project`'s .venv marked installed for its requirements (the stamp, touched)."""
    digest = stamp_digest(project, "requirements-dev.txt", "requirements.txt")
    stamp = project / ".venv" / f".installed-{digest}"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    return stamp


def make_bare(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`make -s ARGUMENTS` in `project` with only /usr/bin and /bin on the PATH (none of the
    machine's own Python tools), 30 s at most; its exit status unchecked."""
    return subprocess.run(
        ["make", "-s", *arguments],
        cwd=project,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
