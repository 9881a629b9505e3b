"""A browser tab on the local stack's web console, for the console's tests
(tests/e2e/test_console*.py; their fixtures `console` and `screenshots` are
tests/e2e/conftest.py's)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import RunningStack

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: `make venv` (requirements-dev.txt)"
)
expect = sync_api.expect
expect.set_options(timeout=10_000)


@dataclass
class Console:
    """A browser tab on the stack's console."""

    page: Any
    stack: RunningStack
    screenshots: Path

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.stack.url}/console{route}")

    def sign_in(self, user: str = "demo") -> None:
        """Through the sign-in form, as the stack's demo user or its admin."""
        info = self.stack.info
        name, password = (
            (info["username"], info["password"])
            if user == "demo"
            else (info["admin_username"], info["admin_password"])
        )
        self.open()
        self.page.fill('input[name="username"]', name)
        self.page.fill('input[name="password"]', password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def go(self, route: str) -> None:
        """Another view of the signed-in console (a new location hash)."""
        self.page.evaluate("route => { location.hash = route; }", route)

    def alert(self) -> Any:
        return self.page.get_by_role("alert")

    def shot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextlib.contextmanager
def tab(context: Any, stack: RunningStack, screenshots: Path) -> Iterator[Console]:
    """A new tab of `context` on `stack`'s console; fails if the page broke its policy."""
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    yield Console(page, stack, screenshots)
    page.close()
    assert problems == [], "the page broke its policy or threw"
