"""Our Python ships without comments and docstrings (chalicelib's also without its
functions' annotations, indented one space a level), and the console's script without its
comment lines, and both are otherwise the repository's code on the repository's lines
(infra/shrink.py: `shed`, `lean`, `shed_script`)."""

from __future__ import annotations

import ast
from pathlib import Path

import chalice

from infra.shrink import (
    lean,
    relative,
    shed,
    shed_script,
    tight,
    unannotated,
    unimported,
    untyped,
)
from infra.stage import PROJECT_DIR

BEFORE = '''\
"""A module.

Its docstring spans lines.
"""

import os  # why: a comment after code

VALUE = "not # a comment"  # but this is
JOINED = (
    "one "  # implicit concatenation stays
    "two"
)


class Quiet(Exception):
    """Only a docstring."""


def run(path: str) -> str:
    \'\'\'A docstring in single quotes.\'\'\'
    # a comment on its own line
    "a lone string mid-body"
    return f"{path}#{os.sep}"
'''
AFTER = """\





import os

VALUE = "not # a comment"
JOINED = (
    "one "
    "two"
)


class Quiet(Exception):
    ""


def run(path: str) -> str:



    return f"{path}#{os.sep}"
"""


def test_shed_drops_comments_and_docstrings_and_keeps_every_line_where_it_was() -> None:
    """A lone string a block needs (its only statement) stays, emptied."""
    assert shed(BEFORE) == AFTER
    assert shed(AFTER) == AFTER
    compile(AFTER, "shed", "exec")


LEAN_BEFORE = '''\
from dataclasses import dataclass


@dataclass
class Point:
    x: int = 0


def run(
    path: str,
    *names: "str",
    limit: int | None = None,
    **rest: object,
) -> dict[str, int]:
    text = """kept
        as it is"""
    sizes: dict[str, int] = {path: len(text)}
    (kept): int = 1
    spans: dict[
        str, int
    ] = {}

    class Local:
        field: int = 0

    if path:
        return sizes
    return {}


async def tuple_of(a: int) -> tuple[
    int, int
]:
    return (a, a)
'''
LEAN_AFTER = '''\
from dataclasses import dataclass


@dataclass
class Point:
 x: int = 0


def run(
 path,
 *names,
 limit = None,
 **rest,
):
 text = """kept
        as it is"""
 sizes = {path: len(text)}
 (kept): int = 1
 spans: dict[
  str, int
 ] = {}

 class Local:
  field: int = 0

 if path:
  return sizes
 return {}


async def tuple_of(a) -> tuple[
 int, int
]:
 return (a, a)
'''


def test_lean_drops_the_functions_annotations_and_three_of_each_four_indenting_spaces() -> None:
    """A class's annotations stay (dataclasses read them), a function's local variables'
    go; a string's lines stay as written; an annotation over several lines, of a return
    or a local, stays (it could not parse without), and so does a parenthesized target's."""
    assert lean(LEAN_BEFORE) == LEAN_AFTER
    assert lean(LEAN_AFTER) == LEAN_AFTER
    compile(LEAN_AFTER, "lean", "exec")


def _lone_string(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _code(source: str, lean: bool = False) -> tuple[str, list[tuple[str, int, int]]]:
    """The tree without its lone string statements, and where each statement and
    expression of it begins. `lean`: without its functions' annotations (those `lean`
    leaves out), and where each begins by line only (`lean` moves them left)."""
    tree = ast.parse(source)
    if lean:
        _without_function_annotations(tree)
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                setattr(node, name, [s for s in body if not _lone_string(s)])
    places = [
        (type(node).__name__, node.lineno, 0 if lean else node.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt | ast.expr)
    ]
    return ast.dump(tree), places


def _without_function_annotations(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            for argument in [*every, arguments.vararg, arguments.kwarg]:
                if argument is not None:
                    argument.annotation = None
            node.returns = None
            node.body = [_LocalAssignments().visit(s) for s in node.body]


class _LocalAssignments(ast.NodeTransformer):
    """A function's own `x: T = v` (on one line, its target not parenthesized) as `x = v`,
    what `lean` makes of it; a class's and a nested function's are left alone (the walk
    reaches a nested function on its own)."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        parenthesized = isinstance(node.target, ast.Name) and not node.simple
        one_line = node.annotation.end_lineno == node.target.end_lineno
        if node.value is None or parenthesized or not one_line:
            return node
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)


def test_every_shipped_module_shed_is_the_same_code_on_the_same_lines() -> None:
    """What Lambda runs is what the repository says, and a traceback's line number
    points at the repository's line: the same statements at the same places, no
    comment left."""
    runtime = Path(chalice.__file__).parent
    paths = [
        PROJECT_DIR / "app.py",
        *sorted((PROJECT_DIR / "chalicelib").rglob("*.py")),
        runtime / "app.py",
        runtime / "__init__.py",
    ]
    for path in paths:
        source = path.read_text()
        shed_source = shed(source)
        assert _code(shed_source) == _code(source), path
        assert len(shed_source.splitlines()) == len(source.splitlines()), path
        assert not [line for line in shed_source.splitlines() if line.lstrip().startswith("#")]
        assert len(shed_source) <= len(source), path
        if path.is_relative_to(PROJECT_DIR / "chalicelib") or path.is_relative_to(runtime):
            lean_source = lean(shed_source)
            assert _code(lean_source, lean=True) == _code(source, lean=True), path
            assert len(lean_source.splitlines()) == len(source.splitlines()), path
        if not path.is_relative_to(runtime):  # ours: tight too (the runtime is minified)
            tight_source = tight(lean(shed_source))
            assert _code(tight_source, lean=True) == _code(source, lean=True), path
            assert len(tight_source.splitlines()) == len(source.splitlines()), path


TIGHT_BEFORE = """\
x = f(a, b) + 1 .real - ( 2 )
y = [i for i in range(3) if i > 1 and not i]
z = "a = b, c" if x else - 1
s = f"{a + b} é = {c}"
match x:
    case [a, b] if a == b:
        pass
d = {"é": 1, 'k' : (2 , 3)}
t = \"\"\"a = b,
  c = d\"\"\"
g = lambda q: q @ q  # a comment, as it was
"""

TIGHT_AFTER = """\
x=f(a,b)+1 .real-(2)
y=[i for i in range(3)if i>1 and not i]
z="a = b, c" if x else-1
s=f"{a + b} é = {c}"
match x:
    case [a,b]if a==b:
        pass
d={"é":1,'k':(2,3)}
t=\"\"\"a = b,
  c = d\"\"\"
g=lambda q:q@q  # a comment, as it was
"""


def test_tight_drops_the_spaces_beside_operators_and_keeps_keywords_strings_and_lines() -> None:
    assert tight(TIGHT_BEFORE) == TIGHT_AFTER
    assert tight(TIGHT_AFTER) == TIGHT_AFTER
    assert _code(TIGHT_AFTER, lean=True) == _code(TIGHT_BEFORE, lean=True)


SCRIPT = """\
// The console (a comment line).
'use strict';
  // an indented comment, with a `backtick`
const SVGNS = 'http://www.w3.org/2000/svg'; // a comment after code stays
function f() {
    const text = `a template literal
  // that spans lines: this one is text, indented as written
${SVGNS}`;
    return text;
}
// and after it, a comment again
"""


def test_shed_script_empties_the_comment_lines_and_unindents_the_code_only() -> None:
    assert shed_script(SCRIPT).splitlines() == [
        "",
        "'use strict';",
        "",
        "const SVGNS = 'http://www.w3.org/2000/svg'; // a comment after code stays",
        "function f() {",
        "const text = `a template literal",
        "  // that spans lines: this one is text, indented as written",
        "${SVGNS}`;",
        "return text;",
        "}",
        "",
    ]


def test_the_consoles_script_shed_is_the_same_script_on_the_same_lines() -> None:
    """What a browser runs is the repository's script, line for line, bar its comment lines
    and indentation."""
    script = (PROJECT_DIR / "chalicelib" / "console" / "static" / "app.js").read_text()
    shed_lines = shed_script(script).splitlines()

    assert len(shed_lines) == len(script.splitlines())
    for line, shipped in zip(script.splitlines(), shed_lines, strict=True):
        comment = line.lstrip().startswith("//")
        assert shipped in (("",) if comment else (line, line.lstrip(" "))), line
    assert len(shed_script(script)) < len(script)


def test_unannotated_drops_the_future_import_only_where_no_annotation_is_evaluated() -> None:
    """A module whose annotations are all gone (lean) or local ships without its
    `from __future__ import annotations` (the line left empty); one with a dataclass's
    fields, a module-level annotation, a class's inside a function, or a function
    annotation lean kept (a return over several lines) keeps it."""
    bare = (
        "from __future__ import annotations\n\nimport os\n\n\ndef f(a):\n x: int = 1\n return x\n"
    )
    assert unannotated(bare) == bare.replace("from __future__ import annotations\n", "\n")
    assert ast.dump(ast.parse(unannotated(bare))) != ast.dump(ast.parse(bare))
    for evaluated in (
        "from __future__ import annotations\n\n\nclass A:\n x: int\n",
        "from __future__ import annotations\n\nX: int = 1\n",
        "from __future__ import annotations\n\n\ndef f():\n class B:\n  y: Later\n return B\n",
        "from __future__ import annotations\n\n\ndef f() -> dict[\n str, int\n]:\n return {}\n",
    ):
        assert unannotated(evaluated) == evaluated, evaluated
    assert unannotated("import os\n") == "import os\n"


def test_every_shipped_module_that_loses_its_future_import_still_imports() -> None:
    """Each chalicelib module `unannotated` changes, as the zip holds it, still compiles
    (tests/deploy/test_lambda_zip.py imports every module of the built zip from the zip
    alone, and runs the pure unit tests against it)."""
    changed = 0
    for path in sorted((PROJECT_DIR / "chalicelib").rglob("*.py")):
        shipped = lean(shed(path.read_text()))
        if unannotated(shipped) != shipped:
            changed += 1
            compile(unannotated(shipped), str(path), "exec")
    assert changed > 10  # most modules with no dataclass lose the line


LEAN = """\
from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    cast,
)

from chalicelib.aws import ec2
from chalicelib.models import Record
from chalicelib.config import Other, Settings


def load(table, settings):
    return cast(int, "Settings")
"""


def test_unimported_leaves_out_the_imported_names_nothing_uses_once_lean() -> None:
    """A name only annotations used goes, and its import with it once it has no name left
    (its lines left empty); a name still used (`cast`; `Settings` in a string), one another
    module takes from this one (`Record`), and a module (importing it runs it) stay. An
    import that keeps some of its names is written again on its first line."""
    kept = unimported(LEAN, {"Record"}, {"chalicelib.aws.ec2"}).splitlines()

    assert kept == [
        *LEAN.splitlines()[:2],
        "",
        "from typing import cast",
        "",
        "",
        "",
        "",
        "from chalicelib.aws import ec2",
        "from chalicelib.models import Record",
        "from chalicelib.config import Settings",
        *LEAN.splitlines()[11:],
    ]
    gone = unimported(LEAN, set(), set()).splitlines()
    assert gone[8:10] == ["", ""]  # ec2 and Record: nothing here uses them
    assert gone[10] == "from chalicelib.config import Settings"
    assert len(gone) == len(LEAN.splitlines())
    assert unimported("from __future__ import annotations\n", set(), set()) == (
        "from __future__ import annotations\n"
    )
    # Its alias is what the module uses; a statement sharing its line with another stays.
    assert unimported("from m import a as b, c\nb()\n", set(), set()) == (
        "from m import a as b\nb()\n"
    )
    assert unimported("from m import a, c; a()\n", set(), set()) == "from m import a, c; a()\n"
    assert unimported("x = 1; from m import c\nx\n", set(), set()) == "x = 1; from m import c\nx\n"
    # A relative import keeps its dots.
    assert unimported("from ..m import a, c\na()\n", set(), set(), "p.q") == (
        "from ..m import a\na()\n"
    )


def test_every_shipped_module_unimported_still_compiles_and_loses_something() -> None:
    """The imports `unimported` leaves out of the real modules are those only annotations
    used (tests/deploy/test_lambda_zip.py imports every module of the built zip and runs
    the pure unit tests against it)."""
    changed = 0
    for path in sorted((PROJECT_DIR / "chalicelib").rglob("*.py")):
        shipped = unannotated(lean(shed(path.read_text())))
        leaner = unimported(shipped, set(), set())
        if leaner != shipped:
            changed += 1
            compile(leaner, str(path), "exec")
            assert len(leaner.splitlines()) == len(shipped.splitlines()), path
    assert changed > 20


RELATIVE_BEFORE = """\
import os
from chalicelib.store.quota import (a,
 b)
from chalicelib import logs
from chalicelib.errors import c
from chalicelib.store import table
from boto3 import d
def f():
 from chalicelib.aws.ec2 import e
"""
RELATIVE_AFTER = """\
import os
from .quota import (a,
 b)
from .. import logs
from ..errors import c
from . import table
from boto3 import d
def f():
 from ..aws.ec2 import e
"""


def test_relative_writes_each_import_of_chalicelib_from_where_the_module_is() -> None:
    assert relative(RELATIVE_BEFORE, "chalicelib.store", "chalicelib") == RELATIVE_AFTER
    # A package's __init__.py is in its own package; app.py is in none: left as it is.
    assert relative("from chalicelib.api.auth import x\n", "chalicelib.api", "chalicelib") == (
        "from .auth import x\n"
    )
    assert relative("from chalicelib.api import x\n", "", "chalicelib") == (
        "from chalicelib.api import x\n"
    )


def test_every_shipped_module_made_relative_imports_the_same_names_of_the_same_modules() -> None:
    changed = 0
    for path in sorted((PROJECT_DIR / "chalicelib").rglob("*.py")):
        source = path.read_text()
        name = ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts)
        package = (
            name.removesuffix(".__init__")
            if path.name == "__init__.py"
            else name.rpartition(".")[0]
        )
        rewritten = relative(source, package, "chalicelib")
        changed += rewritten != source
        assert len(rewritten.splitlines()) == len(source.splitlines()), path
        assert "from chalicelib" not in rewritten, path
    assert changed > 40


UNTYPED_BEFORE = """\
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.worker.handler import Provisioner
    from chalicelib.store.api import RequestStore
if TYPE_CHECKING:
    import os
else:
    import sys
x = 1
"""


def test_untyped_empties_the_type_checking_blocks_only_and_keeps_every_line() -> None:
    """Imports Python never runs (TYPE_CHECKING is False), for annotations lean took away;
    one with an else stays. Then nothing uses TYPE_CHECKING: unimported drops it."""
    out = untyped(UNTYPED_BEFORE)

    assert out.splitlines() == [
        "from typing import TYPE_CHECKING",
        "",
        "",
        "",
        "",
        "if TYPE_CHECKING:",
        "    import os",
        "else:",
        "    import sys",
        "x = 1",
    ]
    assert "TYPE_CHECKING" not in unimported(
        untyped(
            UNTYPED_BEFORE.replace("else:\n    import sys\n", "").replace(
                "if TYPE_CHECKING:\n    import os\n", ""
            )
        ),
        set(),
        set(),
    )


def test_every_shipped_module_untyped_still_compiles_with_its_lines() -> None:
    for path in [PROJECT_DIR / "app.py", *sorted((PROJECT_DIR / "chalicelib").rglob("*.py"))]:
        source = lean(shed(path.read_text()))
        out = untyped(source)
        compile(out, str(path), "exec")
        assert len(out.splitlines()) == len(source.splitlines()), path
        assert "if TYPE_CHECKING:" not in out, path
