"""After an error the keyboard's focus is where the person can act on it (the field the
API named, the alert, the password or the second step's answer) and a screen reader is
told which field is in error; a request's one-word name is not cut in a phone-wide window."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from e2e.console_tab import Console, expect
from e2e.test_console import _looping, _served, focused

pytestmark = pytest.mark.e2e


def _refusing_posts(console: Console, *messages: str) -> None:
    """Answer the page's POST /vpcs with a 400 per message, in turn."""
    left = list(messages)

    def post(route: Any) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        route.fulfill(status=400, json={"Code": "BadRequestError", "Message": left.pop(0)})

    console.page.route("**/vpcs", post)


def _create_from_the_keyboard(console: Console, message: str) -> None:
    """Fill the form, Tab to Create and press Enter; the POST is answered 400 `message`."""
    _refusing_posts(console, message)
    console.go("#/new")
    console.page.fill('input[name="vpc-cidr"]', "10.40.0.0/16")
    console.page.fill('input[name="subnet-cidr"]', "10.40.1.0/24")
    console.page.get_by_role("button", name="Create").focus()
    console.page.keyboard.press("Enter")


def test_a_400_sent_from_the_keyboard_puts_the_focus_on_the_field_it_names(
    console: Console,
) -> None:
    """Tab to Create, press Enter: the button is disabled while the POST is out, so the
    focus falls to <body>; after the 400 it is nowhere near the field the API named."""
    console.sign_in()
    _create_from_the_keyboard(console, "vpc.name must be at most 128 characters.")

    expect(console.page.locator("form [role=alert]")).to_contain_text("vpc.name")
    expect(console.page.locator('input[name="vpc-name"]')).to_have_attribute("aria-invalid", "true")
    assert focused(console) == "INPUT vpc-name"


def test_a_400_naming_no_field_puts_the_focus_on_its_alert(console: Console) -> None:
    """A 400 about no field of the form: the keyboard goes to the alert that says it, not
    to <body>."""
    console.sign_in()
    _create_from_the_keyboard(console, "The body has an unknown field: extra.")

    expect(console.page.locator("form [role=alert]")).to_contain_text("unknown field")
    assert console.page.evaluate("() => document.activeElement.getAttribute('role')") == "alert"


def test_a_field_no_longer_in_error_is_no_longer_described_by_the_error(
    console: Console,
) -> None:
    """A first 400 names vpc.name, a second subnets[0].cidr: the name field loses
    aria-invalid but keeps aria-describedby="create-error", so a screen reader reads the
    subnet's error as the name field's description."""
    console.sign_in()
    _refusing_posts(
        console,
        "vpc.name must be at most 128 characters.",
        "subnets[0].cidr 10.9.0.0/24 is not inside vpc.cidr 10.40.0.0/16.",
    )
    console.go("#/new")
    console.page.fill('input[name="vpc-cidr"]', "10.40.0.0/16")
    console.page.fill('input[name="subnet-cidr"]', "10.9.0.0/24")
    create = console.page.get_by_role("button", name="Create")
    create.click()
    expect(console.page.locator("form [role=alert]")).to_contain_text("vpc.name")
    create.click()
    expect(console.page.locator("form [role=alert]")).to_contain_text("subnets[0].cidr")

    described = console.page.evaluate(
        "[...document.querySelectorAll('[aria-describedby=\"create-error\"]')].map(n => n.name)"
    )
    assert described == ["subnet-cidr"]


def test_a_wrong_password_sent_from_the_keyboards_button_keeps_the_focus_in_the_form(
    console: Console,
) -> None:
    """Tab to Sign in, press Enter with a wrong password: the button is disabled while
    Cognito answers and the focus falls to <body>."""
    console.open()
    console.page.fill('input[name="username"]', console.stack.info["username"])
    console.page.fill('input[name="password"]', "not-the-password")
    console.page.get_by_role("button", name="Sign in").focus()
    console.page.keyboard.press("Enter")

    expect(console.alert()).to_contain_text("Incorrect username or password")
    assert focused(console) in {"INPUT password", "BUTTON Sign in", "INPUT username"}


def test_a_refused_second_sign_in_step_keeps_the_focus_on_its_answer(console: Console) -> None:
    """Cognito asks for an authenticator's code, then refuses the one typed (Continue
    pressed from the keyboard): the focus is on the code's field, selected, to type again."""
    console.open()
    cognito = console.page.evaluate("() => document.body.dataset.cognitoUrl")

    def answer(route: Any) -> None:
        target = route.request.headers.get("x-amz-target", "")
        if target.endswith(".InitiateAuth"):
            route.fulfill(
                status=200,
                content_type="application/x-amz-json-1.1",
                body=json.dumps(
                    {
                        "ChallengeName": "SOFTWARE_TOKEN_MFA",
                        "Session": "s",
                        "ChallengeParameters": {},
                    }
                ),
            )
        else:
            route.fulfill(
                status=400,
                content_type="application/x-amz-json-1.1",
                body=json.dumps(
                    {"__type": "CodeMismatchException", "message": "Invalid code received for user"}
                ),
            )

    console.page.route(f"{cognito}/", answer)
    console.page.fill('input[name="username"]', "demo")
    console.page.fill('input[name="password"]', "whatever")
    console.page.keyboard.press("Enter")
    code = console.page.locator('input[name="software_token_mfa_code"]')
    expect(code).to_be_focused()
    code.fill("123456")
    console.page.get_by_role("button", name="Continue").focus()
    console.page.keyboard.press("Enter")

    expect(console.alert()).to_contain_text("Invalid code received for user")
    assert focused(console) == "INPUT software_token_mfa_code"
    assert console.page.evaluate("() => getSelection().toString()") == "123456"


def test_a_one_word_name_is_not_broken_mid_word_in_a_375_px_window(console: Console) -> None:
    """At 375 px the heading shares its line with the status badge and Delete, shrinks to
    ~140 px, and "infrastructure" (14 letters) is cut as "infrastruct / ure"
    (overflow-wrap: anywhere) although .head may wrap its badge and button below."""
    record = _looping(str(uuid.uuid4()), ())
    record["request"]["vpc"]["name"] = "infrastructure"
    _served(console, record)
    console.sign_in()
    console.page.set_viewport_size({"width": 375, "height": 800})
    console.go(f"#/requests/{record['request_id']}")
    title = console.page.locator(".head h1")
    expect(title).to_have_text("infrastructure")

    lines = title.evaluate(
        "h => { const r = document.createRange(); r.selectNodeContents(h);"
        " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
    )
    console.shot("heading-375")
    assert lines == 1, f"the 14-letter name takes {lines} lines"
