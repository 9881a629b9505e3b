"""`make mutate` mutates what bench/mutation_score.py names: every module of its TARGETS
is in pyproject.toml's `only_mutate`, and every function it names exists there (a
rename or a move would otherwise leave that code unmutated without a word)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from bench.mutation_score import TARGETS

ROOT = Path(__file__).resolve().parents[2]


def _defined(path: Path) -> set[str]:
    """Module-level functions and Class.method names defined in `path`."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_every_target_module_is_mutated() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mutated = set(config["tool"]["mutmut"]["only_mutate"])

    missing = [m for m in TARGETS if f"chalicelib/{m.replace('.', '/')}.py" not in mutated]

    assert missing == []


def test_every_target_function_exists() -> None:
    unknown = [
        f"{module}:{name}"
        for module, names in TARGETS.items()
        for name in names
        if name not in _defined(ROOT / "chalicelib" / f"{module.replace('.', '/')}.py")
    ]

    assert unknown == []
