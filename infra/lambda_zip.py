"""What the Lambda zip holds: app.py, Chalice's runtime, and of chalicelib/ every file
but the Python modules no function can import.

Chalice zips all of chalicelib/. A module that app.py cannot reach through imports,
directly or not (every import statement counts, those inside functions too: the
services wiring.py imports when first used, and those under TYPE_CHECKING), is never
read in Lambda and left out (`slim` returns their names; today every module of
chalicelib is imported by some function). The day something imports one, it is in the
zip again.
Files that are not Python modules are all kept (a function may read them). chalicelib
imports by name only (no importlib), which tests/deploy/test_cloudformation.py holds,
with an import of every module of the zip from the zip alone.

Our Python, and Chalice's runtime, ship without their comments and docstrings (`shed`):
they were a third of the zip and nothing reads them in Lambda (no code of ours, nor
Chalice's `app.py`, reads a `__doc__`). Every line keeps its number and every statement
its text, so a traceback from Lambda points at the line of the repository's source and
shows it as written. app.py and chalicelib's modules also leave out their functions'
annotations, and indent one space a level (`lean`, 6.6 KiB: the zip's budget again once
the modules were regrouped and split; app.py's 0.1 KiB later; the annotations of local
variables' assignments 1.1 KiB more, 2026-12-05); a traceback shows a line
without its indentation. The console's script ships without its comment lines and its
indentation likewise (`shed_script`, 0.3 KiB): a browser runs it, no one reads them
there, and an error in its console names the repository's line.

A module whose code is left with no annotation Python evaluates (none in a class or at
module level, none on a function once `lean` is done) ships without its `from __future__
import annotations` line (`unannotated`: the line stays, empty), and a sub-package of
chalicelib whose `__init__.py` holds nothing but its (emptied) docstring ships without
that file: Python imports the folder as a namespace package within chalicelib's path.
Both were 1.2 KiB of the zip, once its budget was met again (2026-12-05).

`infra/chalice_cli.py` applies this to every zip Chalice builds there (`make package`,
`make chalice-deploy`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import zipfile
from collections.abc import Mapping
from pathlib import Path

LIBRARY = "chalicelib"
# Chalice's own runtime, which Chalice puts in every zip.
RUNTIME = "chalice"
ROOTS = ("app",)
# zlib's best: about 0.3 KiB less than Chalice's default, and no slower to unpack.
COMPRESS_LEVEL = 9


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
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
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
        found = imported_names(module, path.endswith("__init__.py"), sources[path])
        todo.extend(name for name in found if name in modules)
    return seen


# What comes before a statement that starts a logical line (None: the file's start).
_STATEMENT_START = (None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def shed(source: str) -> str:
    """`source` without its comments and with every statement that is a lone string
    literal (the docstrings) emptied, on the same lines: the same code, line for line,
    and nothing else changed (tests/unit/test_lambda_zip_shed.py compares the trees)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    cuts: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    before: int | None = None
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if token.type == tokenize.COMMENT:
            cuts.append((token.start, token.end, ""))
        elif (
            token.type == tokenize.STRING
            and before in _STATEMENT_START
            and following is not None
            and following.type == tokenize.NEWLINE
        ):
            spanned = token.end[0] - token.start[0]
            cuts.append((token.start, token.end, f'"""{chr(10) * spanned}"""' if spanned else '""'))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            before = token.type
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for (row, col), (end_row, end_col), text in reversed(cuts):
        begin, end = starts[row - 1] + col, starts[end_row - 1] + end_col
        source = source[:begin] + text + source[end:]
    return "".join(line.rstrip() + "\n" for line in source.splitlines())


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    """Every parameter of a function, `*args` and `**kwargs` included."""
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    return every + [a for a in (arguments.vararg, arguments.kwarg) if a is not None]


def _annotated_locals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AnnAssign]:
    """The annotated assignments of `function`'s own scope: not of a class defined in it (a
    class's are its fields) nor of a function defined in it (that one's own)."""
    found: list[ast.AnnAssign] = []
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.AnnAssign):
            found.append(node)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(ast.iter_child_nodes(node))
    return found


def lean(source: str) -> str:
    """`source` (shed) with its functions' parameter and return annotations left out, and
    those of their local variables' assignments (`x: T = v` is `x = v`: Python never
    evaluates a local's annotation), and each four spaces of a line's indentation made
    one: on the same lines again, the same statements (tests/unit/test_lambda_zip_shed.py
    compares the trees less those annotations). With `from __future__ import annotations`
    nothing evaluates them, and no code of ours reads a function's `__annotations__`
    (dataclasses read the class's, which stay); a traceback shows a line without its
    indentation anyway. A return annotation
    over several lines stays (the lines between `)` and `:` would no longer parse), and so
    does every line inside a string that spans lines."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(row: int, col: int) -> int:
        return starts[row - 1] + len(lines[row - 1].encode()[:col].decode())

    cuts: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for argument in _parameters(node):
            annotation = argument.annotation
            if annotation is not None:
                begin = offset(argument.lineno, argument.col_offset) + len(argument.arg)
                last = annotation.end_lineno or annotation.lineno
                cuts.append((begin, offset(last, annotation.end_col_offset or 0)))
        returns = node.returns
        if returns is not None and returns.lineno == returns.end_lineno:
            begin = source.rfind("->", 0, offset(returns.lineno, returns.col_offset))
            while source[begin - 1] == " ":
                begin -= 1
            cuts.append((begin, offset(returns.lineno, returns.end_col_offset or 0)))
        for assignment in _annotated_locals(node):
            target, annotation = assignment.target, assignment.annotation
            if assignment.value is None or annotation.end_lineno != target.end_lineno:
                continue
            begin = offset(target.end_lineno or target.lineno, target.end_col_offset or 0)
            start = offset(annotation.lineno, annotation.col_offset)
            if re.fullmatch(r"\s*:\s*", source[begin:start]):  # not `(x): T = v`
                end = offset(annotation.end_lineno or 0, annotation.end_col_offset or 0)
                cuts.append((begin, end))  # `x: T = v` -> `x = v`
    for begin, end in sorted(cuts, reverse=True):
        source = source[:begin] + "\n" * source.count("\n", begin, end) + source[end:]
    kept: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            kept.update(range(token.start[0] + 1, token.end[0] + 1))
    leaner = []
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        indent = len(line) - len(line.lstrip(" "))
        leaner.append(line if number in kept else " " * (indent // 4 + indent % 4) + line[indent:])
    return "".join(leaner)


def shed_script(source: str) -> str:
    """`source` (JavaScript) with each line that is only a `//` comment left empty, and
    every other line without its indentation, on the same lines. A line inside a template
    literal (after an odd number of backticks) is text, and stays as it is; a comment
    after code stays (`//` may be in a string there)."""
    lines = source.splitlines(keepends=True)
    template = False
    for number, line in enumerate(lines):
        if template:
            pass
        elif line.lstrip().startswith("//"):
            lines[number] = "\n"
            continue
        else:
            lines[number] = line.lstrip(" ")
        template ^= (line.count("`") - line.count("\\`")) % 2 == 1
    return "".join(lines)


_FUTURE = "from __future__ import annotations\n"


def unannotated(source: str) -> str:
    """`source` (lean) without its `from __future__ import annotations` (the line left
    empty) when nothing in it is an annotation Python would evaluate: none at module or
    class level (a dataclass's fields are), none on a function. Otherwise as it is."""
    if _FUTURE not in source or _evaluates_annotations(ast.parse(source)):
        return source
    return source.replace(_FUTURE, "\n", 1)


def _evaluates_annotations(tree: ast.Module) -> bool:
    """Whether running the module evaluates an annotation: a function's (its parameters'
    or its return's), or a variable's at module or class level (a local variable's never
    is), wherever that class is defined."""

    def visit(node: ast.AST, local: bool) -> bool:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            parameters = _parameters(node)
            if node.returns is not None or any(a.annotation is not None for a in parameters):
                return True
            return any(visit(child, True) for child in node.body)
        if isinstance(node, ast.ClassDef):
            return any(visit(child, False) for child in node.body)
        if isinstance(node, ast.AnnAssign) and not local:
            return True
        return any(visit(child, local) for child in ast.iter_child_nodes(node))

    return visit(tree, False)


def _empty_subpackage(path: str, body: bytes) -> bool:
    """A chalicelib sub-package's `__init__.py` with no statement but its docstring."""
    if not (path.startswith(f"{LIBRARY}/") and path.count("/") >= 2):
        return False
    if not path.endswith("/__init__.py"):
        return False
    statements = ast.parse(body.decode()).body
    return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in statements)


def _ours(path: str) -> bool:
    return path.endswith(".py") and (path == "app.py" or path.startswith(f"{LIBRARY}/"))


def _body(path: str, data: bytes) -> bytes:
    """What the zip holds for `path`: our Python and Chalice's runtime shed (about 5 of
    `chalice/app.py`'s 19 KiB compressed were its docstrings and comments; nothing in it
    reads a `__doc__`) and lean (1.3 KiB of the runtime's 14.5: nothing in it reads an
    `__annotations__`; Chalice's routing reads none of app.py's), ours also unannotated,
    the console's script shed, anything else as is."""
    if _ours(path):
        return unannotated(lean(shed(data.decode()))).encode()
    if path.endswith(".py") and path.startswith(f"{RUNTIME}/"):
        return lean(shed(data.decode())).encode()
    if path.endswith(".js") and path.startswith(f"{LIBRARY}/"):
        return shed_script(data.decode()).encode()
    return data


def slim(zip_path: Path) -> list[str]:
    """Rewrite the zip at `zip_path` without chalicelib's modules nothing imports, our
    Python shed of comments and docstrings and our script of its comment lines, and
    without chalicelib's sub-packages' empty `__init__.py`, each entry compressed at
    COMPRESS_LEVEL (the same input gives the same bytes: a deploy of unchanged code
    changes nothing). Returns the modules it left out (not the empty package files)."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    sources = {info.filename: data.decode() for info, data in entries if _ours(info.filename)}
    wanted = reachable(sources)
    dropped = [
        path
        for path in sources
        if path.startswith(f"{LIBRARY}/") and module_name(path) not in wanted
    ]
    with zipfile.ZipFile(zip_path, "w") as archive:
        for info, data in entries:
            body = _body(info.filename, data)
            if info.filename in dropped or _empty_subpackage(info.filename, body):
                continue
            archive.writestr(info, body, zipfile.ZIP_DEFLATED, COMPRESS_LEVEL)
    return dropped
