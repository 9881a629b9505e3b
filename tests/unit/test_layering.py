"""The structure cannot silently erode: which part of chalicelib may import which.

Read from the code's own imports (every one, those inside functions too):

- the core (models, request_spec, resource_ids, findings, errors, config, clock, backoff, logs,
  metrics, addresses) imports only the core;
- `aws` and `store`, the access layers, import only the core (and themselves);
- each role (`api`, `worker`, `upkeep`) imports the core, `aws` and `store`, and never
  another role: an API cold start never loads the worker's code; of `store`, only its
  own function's data-access modules (its IAM policy's) and the shared ones;
- `console` (the web console's files, served by the API's function) imports only the
  core: it calls no AWS service, and no role imports it;
- `wiring` (the composition root) and `invocations` (the middleware) may import any;
- nothing imports `app`.

`python -m pytest tests/unit/test_layering.py -s` prints the package graph.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "chalicelib"
CORE = {
    "models",
    "request_spec",
    "resource_ids",
    "findings",
    "errors",
    "config",
    "clock",
    "backoff",
    "logs",
    "metrics",
    "addresses",
}
ACCESS = {"aws", "store"}
ROLES = {"api", "worker", "upkeep", "console"}
COMPOSITION = {"wiring", "invocations"}

ALLOWED: dict[str, set[str]] = {
    **{part: set(CORE) for part in CORE},
    **{part: CORE | {part} for part in ACCESS},
    **{part: CORE | ACCESS | {part} for part in ROLES},
    "console": CORE | {"console"},
    **{part: CORE | ACCESS | ROLES | COMPOSITION for part in COMPOSITION},
}


def part_of(module: str) -> str:
    """The part of chalicelib a dotted module name belongs to (`chalicelib.aws.calls`:
    `aws`; `chalicelib.models`: `models`)."""
    return module.split(".")[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(LIB.rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[dotted.removesuffix(".__init__")] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    """Every module of chalicelib (or `app`) this one imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "app" or (n.startswith("chalicelib.") and n.count(".") >= 1)}


def graph() -> dict[str, set[str]]:
    """Part -> the parts it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    known = modules()
    for module, path in known.items():
        if module == "chalicelib":
            continue
        for name in imports(module, path):
            if name == "app":
                edges[part_of(module)].add("app")
                continue
            # `from chalicelib import logs` names a module; `from chalicelib.x import Y` a symbol
            target = name if name in known else name.rsplit(".", 1)[0]
            if target in known and target != "chalicelib" and part_of(target) != part_of(module):
                edges[part_of(module)].add(part_of(target))
    return edges


def test_every_part_is_known() -> None:
    parts = {part_of(m) for m in modules() if m != "chalicelib"}
    assert parts <= set(ALLOWED), parts - set(ALLOWED)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_its_layer_allows(part: str) -> None:
    uses = graph().get(part, set())
    assert "app" not in uses, f"{part} imports app"
    assert uses <= ALLOWED[part], f"{part} imports {sorted(uses - ALLOWED[part])}"


def test_the_roles_never_import_each_other() -> None:
    edges = graph()
    for role in ROLES:
        assert not edges.get(role, set()) & (ROLES - {role}), (role, edges[role])


# store/ holds one data-access module per function's IAM policy (and the modules they
# share): a role uses its own, never another function's (whose calls its policy denies).
STORE_OF_ROLE = {
    "api": {"api", "admission", "listing"},
    "worker": {"worker", "claims"},
    "upkeep": {"reaper", "reconciler", "drift", "pools"},
    "console": set(),
}
# (`schema`, the table's definition, no role imports: the local stack and infra/ do.)
STORE_SHARED = {"layout", "schema", "items", "table", "block_tree", "blocks", "quota", "ledger"}


def store_modules_used(role: str) -> set[str]:
    """The modules of store/ a role's modules import."""
    known = modules()
    used: set[str] = set()
    for module, path in known.items():
        if module == "chalicelib" or part_of(module) != role:
            continue
        for name in imports(module, path):
            target = name if name in known else name.rsplit(".", 1)[0]
            if target.startswith("chalicelib.store.") and target.count(".") == 2:
                used.add(target.split(".")[2])
    return used


@pytest.mark.parametrize("role", sorted(STORE_OF_ROLE))
def test_each_role_uses_only_its_own_functions_table_access(role: str) -> None:
    """The API never reaches for the worker's WorkerStore (nor the upkeep for the API's):
    what each function may call in DynamoDB is its own store module's, and its policy's."""
    every = {p.stem for p in (LIB / "store").glob("*.py")} - {"__init__"}
    assert set().union(*STORE_OF_ROLE.values()) | STORE_SHARED == every  # each one placed
    used = store_modules_used(role)
    assert used <= STORE_OF_ROLE[role] | STORE_SHARED, sorted(
        used - STORE_OF_ROLE[role] - STORE_SHARED
    )


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """(The checker itself: an API module importing the worker is seen.)"""
    source = tmp_path / "chalicelib" / "api" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("from chalicelib.worker.handler import Provisioner\nfrom ..upkeep import y\n")
    found = imports("chalicelib.api.x", source)
    assert "chalicelib.worker.handler" in found
    assert "chalicelib.upkeep" in found


def test_print_the_package_graph(capsys: pytest.CaptureFixture[str]) -> None:
    edges = graph()
    lines = [f"{part} -> {', '.join(sorted(edges[part]))}" for part in sorted(edges)]
    print("\n".join(lines))
    assert lines


# Endings that make another form of one word: "deletes", "deletion", "deleting".
_INFLECTIONS = ("ions", "ion", "ings", "ing", "ers", "er", "es", "ed", "s", "e")


def stem(name: str) -> str:
    """A module's name without the inflection of each of its words."""

    def word(w: str) -> str:
        for ending in _INFLECTIONS:
            if w.endswith(ending) and len(w) - len(ending) >= 3:
                return w[: -len(ending)]
        return w

    return "_".join(word(w) for w in name.split("_"))


def test_no_two_modules_are_forms_of_one_word() -> None:
    """`deletes.py`, `deletion.py` and `teardown.py` side by side made a reader open all
    three. One name in two packages is one thing seen by two roles (`store/reconciler.py`
    is `upkeep/reconciler.py`'s table access); two forms of one word are not allowed."""
    names = {path.stem for path in LIB.rglob("*.py")} - {"__init__"}
    forms: dict[str, set[str]] = defaultdict(set)
    for name in names:
        forms[stem(name)].add(name)
    assert not [sorted(f) for f in forms.values() if len(f) > 1]


def test_the_check_sees_two_forms_of_one_word() -> None:
    """(The checker itself: the names the regrouping replaced are caught.)"""
    assert stem("deletes") == stem("deletion") == stem("deleting")
    assert stem("creation") == stem("create")
    assert stem("addresses") == stem("addressing")
    assert stem("address_planner") != stem("addresses")


PACKAGES = sorted(p.parent.name for p in LIB.glob("*/__init__.py"))


@pytest.mark.parametrize("package", ["", *PACKAGES], ids=lambda p: p or "core")
def test_each_package_says_what_runs_there_and_what_it_may_touch(package: str) -> None:
    """Its docstring names every module in it and what the package may touch or import: a
    module added without a word there is a room nobody was told about. The core is the
    modules at chalicelib's top level, said in chalicelib/__init__.py."""
    where = LIB / package
    doc = ast.get_docstring(ast.parse((where / "__init__.py").read_text())) or ""
    unnamed = [
        path.stem
        for path in sorted(where.glob("*.py"))
        if path.stem != "__init__" and f"`{path.stem}`" not in doc
    ]
    assert not unnamed, f"{where.relative_to(ROOT)}/__init__.py does not name {unnamed}"
    assert "may" in doc, f"{where.relative_to(ROOT)}/__init__.py does not say what it may touch"


@pytest.mark.parametrize("package", ["", *PACKAGES], ids=lambda p: p or "core")
def test_the_module_map_names_every_module_of_each_package(package: str) -> None:
    """The map of where things live module by module (docs/layout.md, a row per package;
    the README's Layout says each package's role in a sentence) stays true: a module
    added or renamed without a word there is caught."""
    layout = (ROOT / "docs" / "layout.md").read_text()
    key = f"`chalicelib/{package}/`" if package else "`chalicelib/*.py`"
    (row,) = [line for line in layout.splitlines() if line.startswith(f"| {key} |")]
    unnamed = [
        path.name
        for path in sorted((LIB / package).glob("*.py"))
        if path.stem != "__init__" and path.name not in row
    ]
    assert not unnamed, f"docs/layout.md's row {key} does not name {unnamed}"
