"""The live refresh (every 2 s while a request is unfinished, docs/console.md) leaves what
the person is doing on the page as it was: an opened disclosure, a selection, the keyboard's
focus. The record unchanged, nothing is drawn again; a row whose record changed is replaced
with its link keeping the focus."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from e2e.console_tab import Console, expect
from e2e.test_console import _looping, focused

pytestmark = pytest.mark.e2e


def _in_progress() -> dict[str, Any]:
    record = _looping(str(uuid.uuid4()), ())
    record.update(status="IN_PROGRESS", error=None, teardown=None)
    return record


def _reads(console: Console, record: dict[str, Any]) -> list[int]:
    """Serve `record` for its GET, counting the reads."""
    asked: list[int] = []

    def answer(route: Any) -> None:
        asked.append(1)
        route.fulfill(json=record)

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    return asked


def _listed_unfinished(console: Console) -> tuple[dict[str, Any], list[int]]:
    """Signed in, the list holding one unfinished request: its record, and its reads."""
    record = _in_progress()
    asked = _reads(console, record)
    console.page.route("**/vpcs?*", lambda route: route.fulfill(json={"items": [record]}))
    console.sign_in()
    return record, asked


def test_the_raw_record_once_opened_stays_open_while_the_request_refreshes(
    console: Console,
) -> None:
    """Opening "The record as the API returns it" on an unfinished request: the next poll
    (2 s later, the record unchanged) closes it again, so it cannot be read."""
    record = _in_progress()
    asked = _reads(console, record)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    details = console.page.locator("details").filter(has_text="The record as the API returns it")
    expect(details).to_be_visible()
    console.page.get_by_text("The record as the API returns it").click()
    assert details.evaluate("d => d.open")
    before = len(asked)

    console.page.wait_for_timeout(2600)

    assert len(asked) > before, "the unfinished request was not read again"
    assert details.evaluate("d => d.open"), "the poll closed the raw record the person opened"


def test_the_keyboard_focus_on_an_unfinished_rows_link_survives_the_lists_refresh(
    console: Console,
) -> None:
    """Tabbing to an unfinished request's link in the list: the row is replaced at every
    refresh (even when nothing changed), and the focus falls to <body>: Enter opens nothing."""
    record, asked = _listed_unfinished(console)
    link = console.page.locator(f'tr[data-request-id="{record["request_id"]}"] a')
    expect(link).to_be_visible()
    link.focus()
    assert focused(console) == "A looping"

    console.page.wait_for_timeout(2600)

    assert asked, "the unfinished row was not read again"
    assert focused(console) == "A looping"


def test_a_selection_in_an_unchanged_unfinished_row_survives_the_lists_refresh(
    console: Console,
) -> None:
    """Selecting an unfinished row's short id (to copy it): the row was replaced at every
    refresh, its record unchanged, and the selection went with it."""
    record, asked = _listed_unfinished(console)
    short = console.page.locator(f'tr[data-request-id="{record["request_id"]}"] .name .note')
    expect(short).to_be_visible()
    short.evaluate("n => getSelection().selectAllChildren(n)")
    before = len(asked)

    console.page.wait_for_timeout(2600)

    assert len(asked) > before, "the unfinished row was not read again"
    assert console.page.evaluate("() => getSelection().toString()") == record["request_id"][:8]


def test_the_focus_stays_on_the_link_of_a_row_whose_record_changed(console: Console) -> None:
    """The row's request moves on (IN_PROGRESS to ROLLING_BACK): its row is drawn again, and
    the keyboard stays on the new row's link."""
    record = _in_progress()
    moved = {**record, "status": "ROLLING_BACK"}
    console.page.route(f"**/vpcs/{record['request_id']}", lambda route: route.fulfill(json=moved))
    console.page.route("**/vpcs?*", lambda route: route.fulfill(json={"items": [record]}))
    console.sign_in()
    link = console.page.locator(f'tr[data-request-id="{record["request_id"]}"] a')
    expect(link).to_be_visible()
    link.focus()

    expect(console.page.locator("tr[data-status=ROLLING_BACK]")).to_be_visible(timeout=5000)
    assert focused(console) == "A looping"
