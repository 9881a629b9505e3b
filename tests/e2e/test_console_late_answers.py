"""An answer for a view the person has left (the form's GET /pools) is dropped: it does not
take away the alert of the view they are on (docs/console.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from e2e.console_tab import Console, expect

pytestmark = pytest.mark.e2e

UNAVAILABLE = {"Code": "ServiceUnavailable", "Message": "DynamoDB is unavailable."}


def test_a_late_pools_failure_of_the_form_left_behind_does_not_remove_the_lists_alert(
    console: Console,
) -> None:
    """New request (its GET /pools slow), then Requests, whose list the API refuses with a
    503: the list shows its alert and Try again. The form's GET /pools then fails too: its
    showAlert clears every alert on the page (the list's) and fills a slot no longer on
    screen: the list is empty, with no message and no Try again."""
    held: list[Any] = []
    console.sign_in()

    def hold(route: Any) -> None:
        held.append(route)

    console.page.route("**/pools", hold)
    console.page.route(
        "**/vpcs?*",
        lambda route: route.fulfill(status=503, headers={"Retry-After": "2"}, json=UNAVAILABLE),
    )
    console.go("#/new")
    deadline = time.monotonic() + 5
    while not held:
        assert time.monotonic() < deadline, "the form did not ask for the pools"
        console.page.wait_for_timeout(50)
    console.go("#/requests")
    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("DynamoDB is unavailable.")
    expect(alert.get_by_role("button", name="Try again")).to_be_visible()

    held[0].fulfill(
        status=503,
        headers={"Retry-After": "2"},
        body=json.dumps(UNAVAILABLE),
        content_type="application/json",
    )
    console.page.wait_for_timeout(500)

    expect(console.page.locator("h1")).to_have_text("Requests")
    expect(alert).to_contain_text("DynamoDB is unavailable.", timeout=1000)
    expect(alert.get_by_role("button", name="Try again")).to_be_visible(timeout=1000)


def test_a_create_answered_after_the_person_left_the_form_does_not_take_them_back(
    console: Console,
) -> None:
    """Create, then Requests while the POST is on its way: its 202 (the request made) no
    longer moves the tab to the new request's page; the person stays where they went, and
    the list they are on shows the request at its next load."""
    held: list[Any] = []
    console.sign_in()
    console.page.route(
        "**/vpcs",
        lambda route: held.append(route) if route.request.method == "POST" else route.fallback(),
    )
    console.go("#/new")
    console.page.fill('input[name="vpc-cidr"]', "/24")
    console.page.locator('[data-subnet-row] input[name="subnet-cidr"]').fill("/28")
    console.page.get_by_role("button", name="Create").click()
    deadline = time.monotonic() + 5
    while not held:
        assert time.monotonic() < deadline, "the form did not send its POST"
        console.page.wait_for_timeout(50)
    console.go("#/requests")
    expect(console.page.locator("h1")).to_have_text("Requests")

    with console.page.expect_response(lambda r: r.request.method == "POST") as answer:
        held[0].continue_()
    assert answer.value.status == 202
    console.page.wait_for_timeout(500)

    expect(console.page.locator("h1")).to_have_text("Requests")
    assert console.page.url.endswith("#/requests"), console.page.url
