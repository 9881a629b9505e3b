"""The score of `make mutate`: mutants killed, survived, and the rest, per file and in all.

Reads what mutmut wrote (`mutants/**/*.py.meta`: each mutant's pytest exit code) without
importing mutmut, and lists the survivors (`mutmut show <name>` shows one's diff).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's meaning of each exit code (mutmut/stats.py); anything else is "suspicious".
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}


def main(root: Path = Path("mutants")) -> int:
    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutate`", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    survivors: list[str] = []
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        counts = Counter(STATUS.get(code, "suspicious") for code in codes.values())
        total.update(counts)
        survivors += sorted(k for k, code in codes.items() if STATUS.get(code) == "survived")
        source = meta.relative_to(root).with_suffix("")
        print(f"{source}: {_line(counts)}")
    print(f"all: {_line(total)}")
    for name in survivors:
        print(f"  survived: {name}")
    return 0


def _line(counts: Counter[str]) -> str:
    decided = counts["killed"] + counts["survived"] + counts["timeout"]
    # A mutant that makes the tests hang is caught too (the suite fails on it).
    caught = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    score = f"{100 * caught / (decided + counts['caught by type check']):.0f}%" if decided else "-"
    rest = ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("killed", "survived")
    )
    return f"{score} caught ({counts['killed']} killed, {counts['survived']} survived; {rest or 'none else'})"


if __name__ == "__main__":
    sys.exit(main())
