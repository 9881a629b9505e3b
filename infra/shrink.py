"""How each file of ours in the Lambda zip is made smaller without changing what runs: every
line keeps its number and every statement its words, so a traceback from Lambda (or an error
in the browser's console) points at the repository's line and shows it, less some spaces.

Our Python ships without its comments and docstrings (`shed`): they were a third of the
zip and nothing reads them in Lambda (no code of ours reads a `__doc__`). A docstring
leaves its lines blank, unless its block needs it (its only statement: `""` then; an
emptied triple-quoted string on every docstring's lines was 0.9 KiB of the zip,
2026-12-06). app.py and
chalicelib's modules also leave out their functions' annotations, and indent one space a
level (`lean`, 6.6 KiB: the zip's
budget again once the modules were regrouped and split; app.py's 0.1 KiB later; the
annotations of local variables' assignments 1.1 KiB more, 2026-12-05); a traceback shows
a line without its indentation. The console's script ships without its comment lines and
its indentation likewise (`shed_script`, 0.3 KiB): a browser runs it, no one reads them
there; an error in the browser's console points at the repository's line. (A minifier,
rjsmin, garbled the text of template literals nested in others; the style is minified:
infra/lambda_zip.py.)

A module whose code is left with no annotation Python evaluates (none in a class or at
module level, none on a function once `lean` is done) ships without its `from __future__
import annotations` line (`unannotated`: the line stays, empty); with 1.2 KiB of the zip
(2026-12-05) with the empty package files `infra/lambda_zip.py` leaves out. An import
whose names only annotations used is left out the same way (`unimported`, 2.2 KiB,
2026-12-05: room for the modules over 250 lines to be split), and so is each name of an
import that only annotations used (0.4 KiB, 2026-12-07: room for aws/ownership.py). Last,
the spaces beside operators and delimiters go (`tight`, 1.4 KiB, 2026-12-06: `a=f(b,c)`):
a traceback's line reads a little denser, its statement is the same (the tests compare the
trees). Before that, chalicelib's modules import each other relatively (`relative`, 0.7
KiB, 2026-12-07: `from ..errors import X` for `from chalicelib.errors import X`).
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from collections.abc import Collection

# What comes before a statement that starts a logical line (None: the file's start).
_STATEMENT_START = (None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _line_starts(lines: list[str]) -> list[int]:
    """Where each of `lines` (kept ends) starts in their text, and where the text ends."""
    return [0, *itertools.accumulate(len(line) for line in lines)]


def _removable_strings(source: str) -> set[tuple[int, int]]:
    """Where each statement that is a lone string literal begins whose block keeps a
    statement without it (every one at a module's top level): left out, not emptied."""
    found: set[tuple[int, int]] = set()
    for node in ast.walk(ast.parse(source)):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if not (isinstance(body, list) and body and isinstance(body[0], ast.stmt)):
                continue
            lone = [s for s in body if _lone_string(s)]
            if isinstance(node, ast.Module) or len(lone) < len(body):
                found.update((s.lineno, s.col_offset) for s in lone)
    return found


def _lone_string(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def shed(source: str) -> str:
    """`source` without its comments and without every statement that is a lone string
    literal (the docstrings; one a block needs, its only statement, emptied), on the same
    lines: the same code, line for line, and nothing else changed
    (tests/unit/test_lambda_zip_shed.py compares the trees, less those strings)."""
    removable = _removable_strings(source)
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
            if (token.start[0], token.start[1]) in removable:
                cuts.append((token.start, token.end, chr(10) * spanned))
            else:
                kept = f'"""{chr(10) * spanned}"""' if spanned else '""'
                cuts.append((token.start, token.end, kept))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            before = token.type
    lines = source.splitlines(keepends=True)
    starts = _line_starts(lines)
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
    starts = _line_starts(lines)

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


def tight(source: str) -> str:
    """`source` without the spaces between two tokens of a line where one of them is an
    operator or a delimiter (`a = f(b, c)` is `a=f(b,c)`, `x if y else -1` is `x if y
    else-1`), unless the other is a soft keyword (`case [a, b]:` is not `case[a,b]:`) or
    the spaces keep a number from a `.` after it (`1 .real`). A string's text, over lines
    or not, stays as written, an f-string's whole (from Python 3.12 tokenize splits it
    into parts: `f"{a = }"` says "a = "). The same statements on the same lines, or else
    `source` as it is: the trees are compared here, at every build, whatever Python
    builds (3.12.1's tokenize misplaced the end of a string over lines)."""
    lines = source.splitlines(keepends=True)
    cuts: dict[int, list[tuple[int, int]]] = {}
    code = [
        t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in _NOT_CODE
    ]
    depth = 0  # within an f-string's (or a t-string's) parts
    for left, right in itertools.pairwise(code):
        depth += tokenize.tok_name[left.type] in _STRING_PARTS_START
        depth -= tokenize.tok_name[left.type] in _STRING_PARTS_END
        if depth or left.end[0] != right.start[0] or left.end[1] == right.start[1]:
            continue
        operator = tokenize.OP in (left.type, right.type)
        word = any(t.string in _SOFT_KEYWORDS for t in (left, right))
        if operator and not word and not (left.type == tokenize.NUMBER and right.string == "."):
            cuts.setdefault(left.end[0], []).append((left.end[1], right.start[1]))
    for row, gaps in cuts.items():
        line = lines[row - 1]
        for begin, end in sorted(gaps, reverse=True):
            line = line[:begin] + line[end:]
        lines[row - 1] = line
    tightened = "".join(lines)
    try:
        same = ast.dump(ast.parse(tightened)) == ast.dump(ast.parse(source))
    except SyntaxError:
        same = False
    return tightened if same and len(lines) == len(source.splitlines()) else source


# Python 3.12's soft keywords (the Lambda runtime's), not those of the Python that builds:
# the same zip whatever Python builds it.
_SOFT_KEYWORDS = frozenset({"_", "case", "match", "type"})
_NOT_CODE = (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
# The tokens that open and close an f-string's (3.12+) or a t-string's (3.14+) parts.
_STRING_PARTS_START = ("FSTRING_START", "TSTRING_START")
_STRING_PARTS_END = ("FSTRING_END", "TSTRING_END")


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


def untyped(source: str) -> str:
    """`source` without its module-level `if TYPE_CHECKING:` blocks (their lines left empty):
    imports for annotations that `lean` and `unannotated` took away, which Python never
    runs (TYPE_CHECKING is False); `unimported` then drops the import of TYPE_CHECKING
    itself. A block with an `else`, or sharing a line with another statement, stays."""
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
            and not node.orelse
            and not lines[node.lineno - 1][: node.col_offset].strip()
        ):
            continue
        for number in range(node.lineno - 1, node.end_lineno or node.lineno):
            lines[number] = "\n"
    return "".join(lines)


def imported_from(node: ast.ImportFrom, package: str) -> str:
    """The module `from ... import` names, a relative one resolved within `package` (that
    of the module the statement is in: a package's `__init__.py`, the package itself)."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    parent = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parent, node.module] if node.module else parent)


def unimported(
    source: str, taken: Collection[str], modules: Collection[str], package: str = ""
) -> str:
    """`source` (lean) with each module-level `from m import a, b` without the names
    nothing uses any more: no word of the rest of the text is one of them (lean took away
    the annotations that were their only use; a name in a string counts as used), no
    other module imports it from this one (`taken`, the names they import from it), and
    it is not a module of `modules` (importing a module runs it; a relative import's
    resolved within `package`). A statement left with no name goes; one left with some is
    written again on its first line (`from m import a`). Either way its other lines stay,
    empty. `from __future__` imports are `unannotated`'s."""
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        span = range(node.lineno - 1, node.end_lineno or node.lineno)
        if (
            lines[span[-1]][node.end_col_offset :].strip()
            or lines[span[0]][: node.col_offset].strip()
        ):
            continue  # another statement shares its first or last line
        rest = "".join(line for number, line in enumerate(lines) if number not in span)
        module = imported_from(node, package)
        used = [
            alias
            for alias in node.names
            if f"{module}.{alias.name}" in modules
            or (alias.asname or alias.name) in taken
            or re.search(rf"\b{re.escape(alias.asname or alias.name)}\b", rest)
        ]
        if len(used) == len(node.names):
            continue
        for number in span:
            lines[number] = "\n"
        if used:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in used)
            written = f"from {'.' * node.level}{node.module or ''} import {names}\n"
            lines[node.lineno - 1] = " " * node.col_offset + written
    return "".join(lines)


def relative(source: str, package: str, top: str) -> str:
    """`source`, a module of `package` (a package's `__init__.py`: of itself), with each
    `from top.x import a` of a module within `top` written as the relative import of the
    same module (in `top.store`: `from .x import a` for `top.store.x`, `from ..x import a`
    for `top.x`): the same modules imported, the same names bound, 0.7 KiB less
    (2026-12-07). Only the words before `import` change, on the same line; `source` as it
    is unless the trees, every import made absolute again, are the same."""
    lines = source.splitlines(keepends=True)
    here = package.split(".")
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ImportFrom) and node.module and not node.level):
            continue
        target = node.module.split(".")
        if target[0] != top or here[0] != top:
            continue
        common = 0  # how many leading names `here` and `target` share
        while common < min(len(here), len(target)) and here[common] == target[common]:
            common += 1
        written = "." * (len(here) - common + 1) + ".".join(target[common:])
        line = lines[node.lineno - 1]
        found = _FROM.match(line, node.col_offset)
        if found is None or found.group(1) != node.module:
            return source
        lines[node.lineno - 1] = line[: found.start(1)] + written + line[found.end(1) :]
    rewritten = "".join(lines)
    try:
        same = _absolute(ast.parse(rewritten), package) == ast.dump(ast.parse(source))
    except SyntaxError:
        same = False
    return rewritten if same and len(lines) == len(source.splitlines()) else source


# The start of a `from x import` statement, the module's name its group.
_FROM = re.compile(r"from\s+([\w.]+)\s")


def _absolute(tree: ast.Module, package: str) -> str:
    """The dump of `tree` with each relative import of a module of `package` written
    absolute (`imported_from`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            node.module, node.level = imported_from(node, package), 0
    return ast.dump(tree)
