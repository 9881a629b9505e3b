"""What the Lambda zip holds: app.py, Chalice's runtime, and of chalicelib/ every file
but the Python modules no function can import.

Chalice zips all of chalicelib/. A module that app.py cannot reach through imports,
directly or not (every import statement counts, those inside functions too: the
services wiring.py imports when first used; not those under TYPE_CHECKING, which never
run), is never
read in Lambda and left out (`slim` returns their names; today every module of
chalicelib is imported by some function). The day something imports one, it is in the
zip again.
Files that are not Python modules are all kept (a function may read them). chalicelib
imports by name only (no importlib), which tests/deploy/test_cloudformation.py holds,
with an import of every module of the zip from the zip alone.

Each file is made smaller on the way in: our Python line for line (`infra/shrink.py`),
without comments, docstrings, annotations and the imports only they used (those under
`if TYPE_CHECKING:` too: 0.2 KiB, 2026-12-07); Chalice's runtime
without what the app never uses (`infra/chalice_unused.py`: event sources it has none of,
built-in authorizers, blueprints, cross-origin headers, swagger; 3.2 KiB, 2026-12-07; 0.7 KiB
more since),
minified (python-minifier, at build time only: 1.7 KiB, 2026-12-06; its lines are not
kept, which our tracebacks do not need); the console's script without its comment lines
and indentation, line for line (rjsmin, tried 2026-12-06, took the spaces out of template
literals nested in others: a console that said "/16· 3allocations"), its style minified
(rcssmin, at build time only). A
sub-package of chalicelib whose `__init__.py` holds nothing but its (emptied) docstring
ships without that file: Python imports the folder as a namespace package within chalicelib's path
(with the future imports `unannotated` drops, 1.2 KiB of the zip, 2026-12-05; the
console's, once app.py imported its `site` itself, 0.2 KiB, 2026-12-06).

Each entry is compressed with Zopfli (zopflipy, at build time only: a Deflate stream any
unzip reads), 2.8 KiB smaller than zlib's best for the whole zip (2026-12-05: 130.9 KiB
became 128.1) at about 2.5 s of CPU a build; with 100 iterations a block, not Zopfli's
15, 81 bytes smaller again for 2.4 s more (2026-12-07). All of it is about 5 s of CPU a
build, which the suite does about twenty times: a zip whose input (Chalice's entries, the
code of this module and of shrink.py, the tools' and Python's versions) was slimmed
before is taken from `.cache/lambda-zip/`, as it came out.

`infra/chalice_cli.py` applies this to every zip Chalice builds there (`make package`,
`make chalice-deploy`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import python_minifier
import rcssmin
import zopfli

from . import chalice_unused, shrink
from .chalice_unused import without_unused
from .shrink import (
    imported_from,
    lean,
    relative,
    shed,
    shed_script,
    tight,
    unannotated,
    unimported,
    untyped,
)
from .stage import PROJECT_DIR

LIBRARY = "chalicelib"
# Chalice's own runtime, which Chalice puts in every zip.
RUNTIME = "chalice"
ROOTS = ("app",)
# Zips slimmed before, by a digest of what went in (`_input_digest`), each beside the list of
# modules it left out; the CACHED_ZIPS last used are kept.
CACHE_DIR = PROJECT_DIR / ".cache" / "lambda-zip"
CACHED_ZIPS = 8
ZOPFLI_ITERATIONS = 100
# The distributions whose code rewrites the zip's files.
REWRITERS = ("python-minifier", "rcssmin", "zopflipy")


def module_name(path: str) -> str:
    """`chalicelib/aws/ec2.py` -> `chalicelib.aws.ec2`; a package's `__init__.py`, its name."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def imported_names(module: str, is_package: bool, source: str) -> set[str]:
    """Every dotted name an import statement of `source` names (for `from a import b`:
    both `a` and `a.b`), relative imports resolved, wherever the statement is."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = imported_from(node, package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def reachable(sources: Mapping[str, str]) -> set[str]:
    """The modules of `sources` ({zip path: source} of the Python files) that the roots
    import, directly or not, with the packages they are in."""
    modules = {module_name(path): path for path in sources}
    seen: set[str] = set()
    todo = [root for root in ROOTS if root in modules]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        # Its packages (a namespace package, with no __init__.py, is no module here).
        parents = (".".join(parts[:end]) for end in range(1, len(parts)))
        todo.extend(parent for parent in parents if parent in modules)
        path = modules[module]
        # Not those under `if TYPE_CHECKING:`, which never run (and `untyped` takes away).
        found = imported_names(module, path.endswith("__init__.py"), untyped(sources[path]))
        todo.extend(name for name in found if name in modules)
    return seen


def package_of(path: str) -> str:
    """The package a module's relative imports start from: a package's `__init__.py`, the
    package itself; a module, the package it is in ('' for app.py)."""
    name = module_name(path)
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def taken_names(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """{module: the names the other modules of `sources` import from it with `from module
    import name` (relative or not)}: what `unimported` must keep in that module even if
    nothing there uses it."""
    taken: dict[str, set[str]] = {}
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or node.level):
                module = imported_from(node, package_of(path))
                taken.setdefault(module, set()).update(a.name for a in node.names)
    return taken


def _empty_subpackage(path: str, body: bytes) -> bool:
    """A chalicelib sub-package's `__init__.py` with no statement but its docstring
    (chalicelib's own stays: a namespace package would lose to any regular `chalicelib`
    on the path, and a sub-package is looked up within chalicelib's folder alone)."""
    if not (path.startswith(f"{LIBRARY}/") and path.count("/") >= 2):
        return False
    if not path.endswith("/__init__.py"):
        return False
    statements = ast.parse(body.decode()).body
    return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in statements)


def _bytecode(path: str) -> bool:
    """What Python compiled in the checkout (Chalice zips chalicelib as it finds it): none
    of it is used, since the zip's sources are rewritten and match no .pyc."""
    return "__pycache__/" in path or path.endswith(".pyc")


def _ours(path: str) -> bool:
    return path.endswith(".py") and (path == "app.py" or path.startswith(f"{LIBRARY}/"))


def _body(path: str, data: bytes, taken: Mapping[str, set[str]], modules: set[str]) -> bytes:
    """What the zip holds for `path`: our Python shed and lean (Chalice's routing reads
    none of app.py's annotations), unannotated and unimported (`taken`: the names each
    module's importers take from it; `modules`: every module of ours), its imports of
    chalicelib relative, and tight; Chalice's runtime and the console's style minified, its script
    shed; anything else as is."""
    if _ours(path):
        package, kept = package_of(path), taken.get(module_name(path), set())
        small = unimported(untyped(unannotated(lean(shed(data.decode())))), kept, modules, package)
        return tight(relative(small, package, LIBRARY)).encode()
    if path == f"{RUNTIME}/__init__.py":
        # It only re-exports chalice.app's names for `from chalice import ...`, which
        # nothing in the zip says (app.py and chalicelib import `chalice.app`); empty, it
        # still makes `chalice` a regular package (0.3 KiB of the zip).
        return b""
    if path.endswith(".py") and path.startswith(f"{RUNTIME}/"):
        return minified_runtime(data.decode()).encode()
    if path.startswith(f"{LIBRARY}/") and path.endswith(".js"):
        return shed_script(data.decode()).encode()
    if path.startswith(f"{LIBRARY}/") and path.endswith(".css"):
        return str(rcssmin.cssmin(data.decode())).encode()
    return data


def minified_runtime(source: str) -> str:
    """Chalice's runtime (`chalice/app.py`, `chalice/__init__.py`) as python-minifier
    leaves it: no docstrings or annotations (nothing in it reads a `__doc__` or a
    function's `__annotations__`), its local names shortened, its global and attribute
    names (what the app and Lambda's runtime call) as they are. Its lines are not kept: a
    traceback in it points at a line of the zip's file, not of Chalice's."""
    return str(
        python_minifier.minify(
            without_unused(source),
            remove_literal_statements=True,
            rename_locals=True,
            rename_globals=False,
            hoist_literals=False,
        )
    )


def slim(zip_path: Path) -> list[str]:
    """Rewrite the zip at `zip_path` without chalicelib's modules nothing imports, our
    Python shed of comments, docstrings, annotations and the imports only they used, our
    script of its comment lines, our style minified, without chalicelib's sub-packages'
    empty `__init__.py` or any `__pycache__`, each entry readable by all and compressed
    with Zopfli (the same input gives the same bytes: a deploy of unchanged code changes
    nothing). Returns the modules it left out (not the empty package files)."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = [
            (info, archive.read(info))
            for info in archive.infolist()
            if not _bytecode(info.filename)
        ]
    cached = CACHE_DIR / f"{_input_digest(entries)}.zip"
    try:
        earlier: list[str] = json.loads(cached.with_suffix(".json").read_text())
        shutil.copyfile(cached, zip_path)
        os.utime(cached)  # the newest kept are the last used
        return earlier
    except (OSError, ValueError):
        pass  # not slimmed before (or pruned meanwhile by another build)
    sources = {info.filename: data.decode() for info, data in entries if _ours(info.filename)}
    wanted = reachable(sources)
    taken, modules = taken_names(sources), {module_name(path) for path in sources}
    dropped = [
        path
        for path in sources
        if path.startswith(f"{LIBRARY}/") and module_name(path) not in wanted
    ]
    kept = []
    for info, data in entries:
        body = _body(info.filename, data, taken, modules)
        if info.filename not in dropped and not _empty_subpackage(info.filename, body):
            # Readable by all, whatever the checkout's umask: Lambda runs the code as a user
            # of its own (a 0600 app.py fails every cold start), and the same code gives the
            # same bytes on every machine.
            mode = 0o755 if info.is_dir() else 0o644
            info.external_attr = (info.external_attr & ~(0o7777 << 16)) | (mode << 16)
            kept.append((info, body))
    write(zip_path, kept)
    _remember(zip_path, cached, dropped)
    return dropped


def _input_digest(entries: Sequence[tuple[zipfile.ZipInfo, bytes]]) -> str:
    """What decides `slim`'s zip: the entries Chalice wrote (names, times, modes, bodies)
    and how they are rewritten (this module's and shrink.py's code, the Python that parses
    it, python-minifier's, rcssmin's and zopflipy's versions, Zopfli's iterations)."""
    tools = [importlib.metadata.version(name) for name in REWRITERS]
    digest = hashlib.sha256(repr((sys.version, tools, ZOPFLI_ITERATIONS)).encode())
    for module in (__file__, shrink.__file__, chalice_unused.__file__):
        digest.update(Path(module).read_bytes())
    for info, body in entries:
        header = (info.filename, info.date_time, info.external_attr, len(body))
        digest.update(repr(header).encode())
        digest.update(body)
    return digest.hexdigest()


def write(zip_path: Path, entries: Sequence[tuple[zipfile.ZipInfo, bytes]]) -> None:
    """The zip of `entries` at `zip_path`, each compressed with Zopfli."""
    with zopfli.ZipFile(
        zip_path, "w", zipfile.ZIP_DEFLATED, iterations=ZOPFLI_ITERATIONS
    ) as archive:
        for info, body in entries:
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, body)


def _remember(zip_path: Path, cached: Path, dropped: list[str]) -> None:
    """Put a copy of the zip at `cached` and the modules it left out beside it, each whole
    or not at all (builds may run at once), and keep only the CACHED_ZIPS last used. A cache
    that cannot be written is no error."""
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        for target, content in (
            (cached.with_suffix(".json"), json.dumps(dropped).encode()),
            (cached, zip_path.read_bytes()),
        ):
            with tempfile.NamedTemporaryFile(dir=CACHE_DIR, suffix=".part", delete=False) as part:
                part.write(content)
            os.replace(part.name, target)
        zips = sorted(CACHE_DIR.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in zips[CACHED_ZIPS:]:
            old.unlink(missing_ok=True)
        kept = {p.stem for p in zips[:CACHED_ZIPS]}
        for note in CACHE_DIR.glob("*.json"):
            if note.stem not in kept and note.stem != cached.stem:
                note.unlink(missing_ok=True)
    except OSError:
        pass
