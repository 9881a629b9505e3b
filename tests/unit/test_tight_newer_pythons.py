"""`tight` (infra/shrink.py) on whatever Python builds the zip (the README asks for 3.11 or
later; `make package` runs in a virtualenv of the machine's `python3`): the same text on
every one.

From 3.12 on, tokenize splits an f-string into its parts (PEP 701), and `tight` took out
spaces inside them: a debug `=` lost its spaces (the f-string's text changed), a dict first
in a field (`{ {1: 2}[1] }`) became an escaped `{{`, `{{{uri}}}` lost a brace; and 3.12.1's
tokenize ends a string over lines at a byte column, which made the cut repeat an operator
(a SyntaxError at import). An f-string's parts are kept whole now, and `tight` compares
the trees at every build: a change it cannot vouch for leaves the module as it was. These
run `tight` under this virtualenv's Python and under each 3.12+ found on the machine
(skipped when there is none).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from infra.stage import PROJECT_DIR

# What `tight` makes of each: the spaces around the code go, an f-string's stay.
TIGHTENED = {
    'x = f"{a = }"\n': 'x=f"{a = }"\n',
    'x = f"{{{uri}}}{name}" + y\n': 'x=f"{{{uri}}}{name}"+y\n',
    'x = f"environ({{{items}}})"\n': 'x=f"environ({{{items}}})"\n',
    'x = f"{ {1: 2}[1] }"\n': 'x=f"{ {1: 2}[1] }"\n',
    # `type` is a soft keyword from 3.12 on (the Lambda runtime's): its space stays on every
    # Python, or a zip built on 3.11 and one built on 3.12 differ (a review, 2026-12-06).
    "g(context, type(e).__name__)\n": "g(context, type(e).__name__)\n",
    'x = f"{f"{a + b}" + c}" , d\n': 'x=f"{f"{a + b}" + c}",d\n',
}
# 3.12.1's tokenize may misplace this string's end: tightened, or else left as it was.
OVER_LINES = 'x = ("""a\n— b""" , 1)\n'


def _pythons() -> list[str]:
    """This virtualenv's Python, and each 3.12+ on the machine (PATH or pyenv)."""
    found = [sys.executable]
    for name in ("python3.12", "python3.13", "python3.14"):
        candidates = [shutil.which(name)]
        candidates += glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.1[234]*/bin/{name}"))
        for path in candidates:
            if path and os.access(path, os.X_OK):
                ran = subprocess.run([path, "-c", "pass"], capture_output=True, check=False)
                if ran.returncode == 0:
                    found.append(path)
                    break
    return found


_SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("shrink", sys.argv[1])
shrink = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shrink)
print(json.dumps({s: shrink.tight(s) for s in json.loads(sys.argv[2])}))
"""


def _tight_under(python: str, sources: list[str]) -> dict[str, str]:
    result = subprocess.run(
        [python, "-c", _SCRIPT, str(PROJECT_DIR / "infra" / "shrink.py"), json.dumps(sources)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("python", _pythons())
def test_tight_keeps_every_f_string_whole_on_every_python(python: str) -> None:
    sources = [*TIGHTENED, OVER_LINES]
    if python == sys.executable and sys.version_info < (3, 12):
        # Nested quotes of one kind in an f-string are 3.12+ syntax.
        sources = [s for s in sources if 'f"{f"' not in s]

    made = _tight_under(python, sources)

    assert {s: made[s] for s in sources if s in TIGHTENED} == {
        s: TIGHTENED[s] for s in sources if s in TIGHTENED
    }, python
    assert made[OVER_LINES] in ('x=("""a\n— b""",1)\n', OVER_LINES), python


@pytest.mark.parametrize(
    "python",
    [p for p in _pythons() if p != sys.executable] or [pytest.param("", marks=pytest.mark.skip)],
)
def test_a_change_tight_cannot_vouch_for_leaves_the_source_as_it_was(python: str) -> None:
    """The tree check at every build: with the f-string's parts not kept whole (as before),
    the cut would change what `f"{a = }"` says; the module then ships as written."""
    source = 'x = f"{a = }"\n'
    script = _SCRIPT.replace("print(", "shrink._STRING_PARTS_START = ()\nprint(")

    result = subprocess.run(
        [python, "-c", script, str(PROJECT_DIR / "infra" / "shrink.py"), json.dumps([source])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert json.loads(result.stdout) == {source: source}
