"""Our Python ships without comments and docstrings, and is otherwise the repository's
code on the repository's lines (infra/lambda_zip.py: `shed`)."""

from __future__ import annotations

import ast
from pathlib import Path

import chalice

from infra.lambda_zip import shed
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
AFTER = '''\
"""


"""

import os

VALUE = "not # a comment"
JOINED = (
    "one "
    "two"
)


class Quiet(Exception):
    ""


def run(path: str) -> str:
    ""

    ""
    return f"{path}#{os.sep}"
'''


def test_shed_drops_comments_and_docstrings_and_keeps_every_line_where_it_was() -> None:
    assert shed(BEFORE) == AFTER
    assert shed(AFTER) == AFTER


def _lone_string(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _code(source: str) -> tuple[str, list[tuple[str, int, int]]]:
    """The tree without its lone string statements, and where each statement and
    expression of it begins."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                setattr(node, name, [s for s in body if not _lone_string(s)])
    places = [
        (type(node).__name__, node.lineno, node.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt | ast.expr)
    ]
    return ast.dump(tree), places


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
