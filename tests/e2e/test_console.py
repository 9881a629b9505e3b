"""The web console (GET /console) in a real headless Chromium, against the local stack.

Each test uses the console as a person would: signs in through its form, clicks, reads
what the page shows, and holds that against the API's answers and EC2. One browser for
the session and one context in it (`browser_context`, tests/e2e/conftest.py), a tab of
its own per test (its own sessionStorage, where the console keeps its session). A test
fails if the page breaks its Content-Security-Policy or throws.
Screenshots of the main views go to CONSOLE_SCREENSHOTS (default: a `console-screenshots`
folder in the session's temporary directory).

Each test's VPC CIDRs are its own (10.225-10.244), so that no two tests' networks collide.
The limit of live requests (a 429) is seen on a stack of its own, where a user may have one.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.clock import iso_timestamp
from chalicelib.models import (
    HISTORY_LIMIT,
    DeletionReport,
    ErrorInfo,
    RequestRecord,
    Status,
    StatusChange,
    SubnetState,
    changed,
)
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec
from e2e.conftest import RunningStack, start_stack, stop_stack
from e2e.console_tab import Console, expect, tab
from e2e.test_lifecycle import wait_status
from e2e.test_local_stack import submit, vpcs_of, wait_for
from infra import lambda_zip
from infra.stage import PROJECT_DIR
from support.contract import contract_hook

pytestmark = pytest.mark.e2e

# Provisioning locally takes a second or two; a deletion about as long.
SETTLED_MS = 20_000


def admin_session(stack: RunningStack) -> requests.Session:
    token = stack.client("cognito-idp").initiate_auth(
        ClientId=stack.info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={
            "USERNAME": stack.info["admin_username"],
            "PASSWORD": stack.info["admin_password"],
        },
    )["AuthenticationResult"]["IdToken"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.hooks["response"].append(contract_hook)
    return session


def network(second_octet: int, *subnets: tuple[str, str, bool], name: str = "") -> dict[str, Any]:
    """A body with VPC 10.<octet>.0.0/16 and a subnet 10.<octet>.<third>.0/<size> per
    (third octet and size as "third/size", zone letter, public)."""
    return {
        "vpc": {"cidr": f"10.{second_octet}.0.0/16", "name": name or f"console-{second_octet}"},
        "subnets": [
            {
                "cidr": f"10.{second_octet}.{where}",
                "az": f"us-east-1{zone}",
                "name": f"net-{i}",
                **({"public": True} if public else {}),
            }
            for i, (where, zone, public) in enumerate(subnets)
        ],
    }


def focused(console: Console) -> str:
    """The element with the keyboard focus: its tag, then its name or else its text."""
    return str(
        console.page.evaluate(
            "() => { const a = document.activeElement;"
            " return a.tagName + ' ' + (a.getAttribute('name') || a.textContent.trim()); }"
        )
    )


# --- the page itself, over HTTP ---------------------------------------------------------


def test_the_page_needs_no_token_and_allows_only_its_own_files_and_cognito(
    local_stack: RunningStack,
) -> None:
    page = requests.get(f"{local_stack.url}/console", hooks={"response": contract_hook})

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": f"'self' {local_stack.info['aws_endpoint_url']}",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = page.text
    # Nothing inline: every script is a file, no style attribute, no event handler attribute.
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert re.findall(r"\s(?:style|on[a-z]+)=", html) == []
    assert f'data-client-id="{local_stack.info["user_pool_client_id"]}"' in html
    files = re.findall(r'(?:src|href)="(/console/[^"]+)"', html)
    assert {f.split("?")[0] for f in files} == {
        "/console/app.js",
        "/console/app.css",
        "/console/icon.svg",
    }
    for file in files:
        answer = requests.get(f"{local_stack.url}{file}", hooks={"response": contract_hook})
        assert answer.status_code == 200, file
        assert answer.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]
        assert "immutable" in answer.headers["Cache-Control"]
    missing = requests.get(f"{local_stack.url}/console/secrets.txt")
    assert missing.status_code == 404
    assert missing.json()["Code"] == "NotFoundError"


def test_the_api_still_needs_a_token_and_answers_no_other_origin(local_stack: RunningStack) -> None:
    answer = requests.get(
        f"{local_stack.url}/vpcs", headers={"Origin": "https://elsewhere.example"}
    )

    assert answer.status_code == 401
    assert "Access-Control-Allow-Origin" not in answer.headers


# --- signing in and out -----------------------------------------------------------------


def test_a_person_signs_in_sees_the_requests_and_signs_out(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(
        console.stack, api, network(230, ("1.0/24", "a", True), ("2.0/24", "b", False))
    )
    wait_for(console.stack, api, request_id)

    console.sign_in()

    row = console.page.locator(f'tr[data-request-id="{request_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("10.230.0.0/16")
    expect(row).to_contain_text(console.stack.info["username"])
    # Its age (a few seconds: just made) and its drift (checked, none found).
    expect(row.locator("td[data-age]")).to_have_text(re.compile(r"^\d+ (s|min)$"))
    expect(row.locator("td").last).to_have_text("none")
    console.shot("requests")
    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.locator('input[name="password"]')).to_be_visible()
    assert console.page.evaluate("sessionStorage.getItem('vpc-console')") is None


def test_a_wrong_password_is_refused_with_cognitos_message(console: Console) -> None:
    console.open()
    console.page.fill('input[name="username"]', console.stack.info["username"])
    console.page.fill('input[name="password"]', "not-the-password")
    console.page.get_by_role("button", name="Sign in").click()

    expect(console.alert()).to_contain_text("Incorrect username or password")
    expect(console.page.get_by_role("button", name="Sign out")).to_be_hidden()


def _unsigned_token(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'made-up'})}.{part(claims)}.c2lnbmF0dXJl"


def test_an_expired_or_refused_token_is_refreshed_and_a_dead_session_leads_to_sign_in(
    console: Console,
) -> None:
    console.sign_in()
    expect(console.page.locator("tbody tr").first).to_be_visible()
    stored = json.loads(console.page.evaluate("sessionStorage.getItem('vpc-console')"))

    def reopen_with(id_token: str, refresh_token: str) -> None:
        session = {**stored, "id": id_token, "refresh": refresh_token}
        console.page.evaluate("s => sessionStorage.setItem('vpc-console', s)", json.dumps(session))
        console.page.reload()

    # Expired by its own claims: refreshed before any API call.
    reopen_with(_unsigned_token(exp=1, token_use="id"), stored["refresh"])
    expect(console.page.locator("tbody tr").first).to_be_visible()
    expect(console.page.locator("table")).not_to_contain_text("Loading")
    # Unexpired but refused by the API (a forged signature): refreshed after the 401.
    reopen_with(_unsigned_token(exp=int(time.time()) + 3600, token_use="id"), stored["refresh"])
    expect(console.page.locator("tbody tr").first).to_be_visible()
    expect(console.page.locator("table")).not_to_contain_text("Loading")
    renewed = json.loads(console.page.evaluate("sessionStorage.getItem('vpc-console')"))
    # A token of the user pool's again, not the made-up one.
    assert "made-up" not in base64.urlsafe_b64decode(renewed["id"].split(".")[0] + "==").decode()
    # Expired, and the refresh token refused: back to the sign-in form, saying why.
    reopen_with(_unsigned_token(exp=1, token_use="id"), "not-a-refresh-token")
    expect(console.page.locator('input[name="username"]')).to_be_visible()
    expect(console.alert()).to_contain_text("Your session has expired: sign in again.")
    console.shot("session-expired")


def test_a_sign_out_while_a_token_refresh_is_on_its_way_stays_signed_out(
    console: Console,
) -> None:
    """The refresh's late answer does not put the tokens back: the tab holds none, and
    the brand link (a new route) shows the sign-in form, not the requests."""
    console.sign_in()
    expect(console.page.locator("tbody tr").first).to_be_visible()
    stored = json.loads(console.page.evaluate("sessionStorage.getItem('vpc-console')"))
    # Expired by its claims: the list's first call refreshes it, and that refresh is held.
    expired = {**stored, "id": _unsigned_token(exp=1, token_use="id")}
    console.page.evaluate("s => sessionStorage.setItem('vpc-console', s)", json.dumps(expired))
    held: list[Any] = []

    def hold_refreshes(route: Any) -> None:
        if "REFRESH_TOKEN_AUTH" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    endpoint = console.stack.info["aws_endpoint_url"].rstrip("/")
    console.page.route(re.compile(re.escape(endpoint) + r"/?$"), hold_refreshes)
    console.page.reload()
    deadline = time.monotonic() + 5
    while not held:
        assert time.monotonic() < deadline, "the console did not refresh its expired token"
        console.page.wait_for_timeout(50)

    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.locator('input[name="username"]')).to_be_visible()
    held[0].continue_()
    # The refresh's answer arrives and is read (Cognito answers locally within this).
    console.page.wait_for_timeout(1500)

    assert console.page.evaluate("sessionStorage.getItem('vpc-console')") is None
    console.page.locator("a.brand").click()
    console.page.wait_for_timeout(500)
    expect(console.page.locator('input[name="username"]')).to_be_visible()
    expect(console.page.get_by_role("button", name="Sign out")).to_be_hidden()
    # Signed in again, the console works with the new session's tokens.
    console.sign_in()
    expect(console.page.locator("tbody tr").first).to_be_visible()


def test_after_sign_out_the_user_name_field_has_the_focus(console: Console) -> None:
    console.sign_in()
    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.locator('input[name="username"]')).to_be_visible()

    assert focused(console) == "INPUT username"


def test_signing_out_forgets_the_lists_filter_and_page_so_the_next_person_gets_no_400(
    console: Console, api: requests.Session
) -> None:
    """The next person to sign in in the tab starts on the first page, unfiltered. Kept,
    the last person's *Mine* page 2 was asked for with their next_token, and the API's
    400 ("next_token is not valid") was all the next person saw."""
    _own_requests(console, api)
    console.sign_in()
    console.page.get_by_label("Requests per page").select_option("10")
    console.page.get_by_role("button", name="Mine").click()
    expect(console.page.locator("tr[data-request-id]")).to_have_count(10)
    console.page.get_by_role("button", name="Older →").click()
    expect(console.page.get_by_text("Page 2")).to_be_visible()

    console.page.get_by_role("button", name="Sign out").click()
    console.page.fill('input[name="username"]', console.stack.info["admin_username"])
    console.page.fill('input[name="password"]', console.stack.info["admin_password"])
    console.page.get_by_role("button", name="Sign in").click()

    expect(console.page.get_by_text("Page 1")).to_be_visible()
    expect(console.page.locator("tr[data-request-id]").first).to_be_visible()
    expect(console.alert()).to_have_count(0)
    expect(console.page.get_by_role("button", name="Mine")).to_have_attribute(
        "aria-pressed", "false"
    )


# --- the list ---------------------------------------------------------------------------


def test_the_filters_show_what_the_apis_filtered_listings_hold(
    console: Console, api: requests.Session
) -> None:
    admin = admin_session(console.stack)
    theirs = submit(console.stack, admin, network(236, ("1.0/24", "a", False)))
    mine = submit(console.stack, api, network(237, ("1.0/24", "a", False)))
    wait_for(console.stack, api, theirs)
    wait_for(console.stack, api, mine)
    console.sign_in()
    expect(console.page.locator(f'tr[data-request-id="{theirs}"]')).to_be_visible()

    console.page.get_by_role("button", name="Mine").click()

    expect(console.page.locator(f'tr[data-request-id="{mine}"]')).to_be_visible()
    expect(console.page.locator(f'tr[data-request-id="{theirs}"]')).to_have_count(0)
    expected = api.get(f"{console.stack.url}/vpcs", params={"created_by": "me"}).json()
    shown = console.page.locator("tr[data-request-id]")
    expect(shown).to_have_count(len(expected["items"]))
    assert shown.evaluate_all("rows => rows.map(r => r.dataset.requestId)") == [
        item["request_id"] for item in expected["items"]
    ]

    console.page.get_by_label("Status").select_option("SUCCEEDED")

    expect(console.page.get_by_role("button", name="Mine")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(console.page.locator(f'tr[data-request-id="{theirs}"]')).to_be_visible()
    statuses = shown.evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses
    assert set(statuses) == {"SUCCEEDED"}


def test_unfinished_requests_refresh_in_the_list_by_themselves(
    console: Console, api: requests.Session
) -> None:
    console.stack.add_fault(
        service="ec2", operation="CreateSubnet", when="slow", seconds=4, contains="10.228."
    )
    try:
        request_id = submit(console.stack, api, network(228, ("1.0/24", "a", False)))
        console.sign_in()
        row = console.page.locator(f'tr[data-request-id="{request_id}"]')
        expect(row).to_be_visible()
        assert row.get_attribute("data-status") in {"QUEUED", "IN_PROGRESS"}
    finally:
        console.stack.clear_faults()

    expect(row).to_have_attribute("data-status", "SUCCEEDED", timeout=SETTLED_MS)
    expect(row).to_contain_text("succeeded")


def _own_requests(console: Console, api: requests.Session, count: int = 11) -> None:
    """The demo user holds at least `count` requests (up to 16), enough for a second page
    of 10 in every listing and in *Mine*: those missing are made in 10.235.<16 i>.0/20,
    each CIDR once (several tests ask)."""
    listed = api.get(f"{console.stack.url}/vpcs", params={"limit": "50", "created_by": "me"})
    mine = listed.json()["items"]
    held = {item["cidr"] for item in mine}
    free = [f"10.235.{16 * i}.0/20" for i in range(16) if f"10.235.{16 * i}.0/20" not in held]
    for cidr in free[: max(0, count - len(mine))]:
        submit(
            console.stack,
            api,
            {
                "vpc": {"cidr": cidr, "name": f"page-{cidr.split('.')[2]}"},
                "subnets": [{"cidr": cidr.replace("/20", "/24"), "az": "us-east-1a"}],
            },
        )


def test_paging_follows_next_token_forward_and_back(
    console: Console, api: requests.Session
) -> None:
    _own_requests(console, api)
    first = api.get(f"{console.stack.url}/vpcs", params={"limit": 10}).json()
    second = api.get(
        f"{console.stack.url}/vpcs", params={"limit": 10, "next_token": first["next_token"]}
    ).json()
    console.sign_in()

    console.page.get_by_label("Requests per page").select_option("10")
    rows = console.page.locator("tr[data-request-id]")
    expect(rows).to_have_count(10)
    ids = "rows => rows.map(r => r.dataset.requestId)"
    assert rows.evaluate_all(ids) == [r["request_id"] for r in first["items"]]
    console.page.get_by_role("button", name="Older →").click()
    expect(console.page.get_by_text("Page 2")).to_be_visible()
    expect(rows).to_have_count(len(second["items"]))
    assert rows.evaluate_all(ids) == [r["request_id"] for r in second["items"]]
    console.page.get_by_role("button", name="← Newer").click()
    expect(console.page.get_by_text("Page 1")).to_be_visible()
    expect(rows.first).to_have_attribute("data-request-id", first["items"][0]["request_id"])


def test_arrowing_through_the_status_filter_keeps_the_focus_on_it(console: Console) -> None:
    console.sign_in()
    console.page.locator('select[name="status"]').focus()
    console.page.keyboard.press("ArrowDown")

    expect(console.page.locator('select[name="status"]')).to_have_value("QUEUED")
    assert focused(console) == "SELECT status"


def test_enter_on_the_mine_toggle_keeps_the_focus_on_it(console: Console) -> None:
    console.sign_in()
    console.page.get_by_role("button", name="Mine").focus()
    console.page.keyboard.press("Enter")

    expect(console.page.get_by_role("button", name="Mine")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert focused(console) == "BUTTON Mine"


def test_a_pager_button_disabled_on_the_page_it_opens_hands_the_focus_to_the_other(
    console: Console, api: requests.Session
) -> None:
    """Enter on "← Newer" opens page 1, where it is disabled: the focus went to the
    page's body (a keyboard user started again from the top), now to "Older →"."""
    _own_requests(console, api)
    console.sign_in()
    console.page.get_by_label("Requests per page").select_option("10")
    console.page.get_by_role("button", name="Older →").click()
    expect(console.page.get_by_text("Page 2")).to_be_visible()

    console.page.get_by_role("button", name="← Newer").focus()
    console.page.keyboard.press("Enter")

    expect(console.page.get_by_text("Page 1")).to_be_visible()
    expect(console.page.get_by_role("button", name="← Newer")).to_be_disabled()
    assert focused(console) == "BUTTON Older →"


def test_the_lists_refresh_asks_nothing_before_a_503s_retry_after(console: Console) -> None:
    """An unfinished row is read again every 2 s; once a read is refused with a 503 and
    Retry-After: 30, none is asked for in the next 7 s (it was, every 2 s)."""
    record = _looping(str(uuid.uuid4()), ())
    record.update(status="IN_PROGRESS", error=None, teardown=None)
    asked: list[float] = []

    def refuse(route: Any) -> None:
        asked.append(time.monotonic())
        route.fulfill(
            status=503,
            headers={"Content-Type": "application/json", "Retry-After": "30"},
            body='{"Code": "ServiceUnavailable", "Message": "DynamoDB is unavailable."}',
        )

    console.page.route("**/vpcs?*", lambda route: route.fulfill(json={"items": [record]}))
    console.page.route(f"**/vpcs/{record['request_id']}", refuse)
    console.sign_in()
    expect(console.page.locator(f'tr[data-request-id="{record["request_id"]}"]')).to_be_visible()
    deadline = time.monotonic() + 5
    while not asked and time.monotonic() < deadline:
        console.page.wait_for_timeout(100)
    assert len(asked) == 1, "the unfinished row was not read again"
    refused_at = asked[0]

    console.page.wait_for_timeout(7000)

    assert [round(t - refused_at, 1) for t in asked if t > refused_at] == []


def test_after_a_503_the_list_loads_again_by_try_again_or_the_requests_link(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(console.stack, api, network(243, ("1.0/24", "a", False)))
    wait_for(console.stack, api, request_id)
    console.sign_in()
    console.go("#/requests")
    row = console.page.locator(f'tr[data-request-id="{request_id}"]')
    expect(row).to_be_visible()
    unavailable = {"left": 0}

    def answer(route: Any) -> None:
        if unavailable["left"]:
            unavailable["left"] -= 1
            route.fulfill(
                status=503,
                headers={"Content-Type": "application/json", "Retry-After": "1"},
                body='{"Code": "ServiceUnavailable", "Message": "DynamoDB is unavailable."}',
            )
        else:
            route.continue_()

    console.page.route("**/vpcs?*", answer)

    unavailable["left"] = 1
    console.page.get_by_role("button", name="Mine").click()
    expect(console.alert()).to_contain_text("DynamoDB is unavailable. Try again in 1 s.")
    expect(row).to_have_count(0)
    console.shot("requests-after-503")
    console.alert().get_by_role("button", name="Try again").click()
    expect(row).to_be_visible()
    expect(console.alert()).to_have_count(0)

    # The bar's "Requests" link, the hash the page is on, loads the list again too.
    unavailable["left"] = 1
    console.page.get_by_role("button", name="Mine").click()
    expect(console.alert()).to_contain_text("DynamoDB is unavailable.")
    expect(row).to_have_count(0)
    console.page.locator('nav a[data-nav="requests"]').click()
    expect(row).to_be_visible()


# --- one request -------------------------------------------------------------------------


# Subnets of one VPC in three zones: 4,096, 256 and 64 addresses in the first, 1,024 and
# 16 in the second, 256 in the third (third octet and size, zone, public).
DRAWN = (
    ("0.0/20", "a", True),
    ("16.0/24", "a", False),
    ("17.0/26", "a", True),
    ("32.0/22", "b", False),
    ("36.0/28", "b", False),
    ("64.0/24", "c", True),
)
# The least height of a block, in the drawing's units (docs/console.md).
MIN_BLOCK_UNITS = 4
# The drawing's texts and subnet blocks (getBBox, in the drawing's units) and the size its
# letters are shown at, in CSS pixels.
LAYOUT_JS = """svg => {
  const box = (n) => { const b = n.getBBox(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
  const shown = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const texts = [...svg.querySelectorAll('text')];
  return {
    frame: {x: 0, y: 0, w: svg.viewBox.baseVal.width, h: svg.viewBox.baseVal.height},
    fontPx: texts.map((t) => parseFloat(getComputedStyle(t).fontSize) * shown),
    texts: texts.map((t) => ({...box(t), text: t.textContent, below: t.classList.contains('below'),
      block: t.parentNode.getAttribute('data-subnet-id')})),
    blocks: [...svg.querySelectorAll('[data-subnet-id] > rect')].map((r) => (
      {...box(r), id: r.parentNode.getAttribute('data-subnet-id')})),
  };
}"""


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def within(a: dict[str, Any], b: dict[str, Any], *, across_only: bool = False) -> bool:
    """`a` lies inside `b` (only from left to right if `across_only`)."""
    sideways = b["x"] <= a["x"] and a["x"] + a["w"] <= b["x"] + b["w"]
    return sideways and (across_only or (b["y"] <= a["y"] and a["y"] + a["h"] <= b["y"] + b["h"]))


def assert_laid_out(layout: dict[str, Any]) -> None:
    """Every text of the drawing (LAYOUT_JS) lies inside it and overlaps no other text and
    no other subnet's block; a block's own labels lie inside it, or beneath it in its
    column (`below`)."""
    texts = layout["texts"]
    for n, text in enumerate(texts):
        assert within(text, layout["frame"]), (text["text"], "out of the drawing")
        for other in texts[n + 1 :]:
            assert not overlap(text, other), (text["text"], other["text"])
        for block in layout["blocks"]:
            if block["id"] != text["block"]:
                assert not overlap(text, block), (text["text"], block["id"])
            elif text["below"]:
                assert not overlap(text, block), (text["text"], "its own block")
                assert within(text, block, across_only=True), (text["text"], "out of its column")
            else:
                assert within(text, block), (text["text"], "spills out of its block")


def test_a_request_is_drawn_one_column_per_zone_one_block_per_subnet(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(
        console.stack,
        api,
        network(231, *DRAWN),
    )
    record = wait_for(console.stack, api, request_id)
    assert record["status"] == "SUCCEEDED"
    console.sign_in()

    console.page.locator(f'tr[data-request-id="{request_id}"] a').click()

    drawing = console.page.locator(f'svg[data-vpc-id="{record["vpc_id"]}"]')
    expect(drawing).to_be_visible()
    blocks = drawing.locator("[data-subnet-id]")
    expect(blocks).to_have_count(6)
    assert sorted(blocks.evaluate_all("bs => bs.map(b => b.dataset.subnetId)")) == sorted(
        s["subnet_id"] for s in record["subnets"]
    )
    by_cidr = {s["cidr"]: s["subnet_id"] for s in record["subnets"]}
    public = drawing.locator("[data-subnet-id].public")
    assert sorted(public.evaluate_all("bs => bs.map(b => b.dataset.subnetId)")) == sorted(
        by_cidr[f"10.231.{where}"] for where in ("0.0/20", "17.0/26", "64.0/24")
    )
    expect(
        drawing.locator(f'[data-internet-gateway-id="{record["internet_gateway_id"]}"]')
    ).to_be_visible()
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        expect(drawing.locator("text.az", has_text=zone)).to_have_count(1)

    # Each block's rectangle in the drawing's own units (getBBox: its geometry, no stroke).
    rects = {
        cidr: drawing.locator(f'[data-subnet-id="{subnet_id}"] > rect').evaluate(
            "r => { const b = r.getBBox(); return {x: b.x, y: b.y, w: b.width, h: b.height}; }"
        )
        for cidr, subnet_id in by_cidr.items()
    }
    size = {cidr: 2 ** (32 - int(cidr.split("/")[1])) for cidr in by_cidr}
    assert rects["10.231.0.0/20"]["x"] == rects["10.231.16.0/24"]["x"]  # a column per zone
    assert rects["10.231.0.0/20"]["x"] != rects["10.231.32.0/22"]["x"]
    assert len({round(r["w"], 3) for r in rects.values()}) == 1  # one width for every column
    # The areas are in the ratio of the address counts, on one scale for the whole drawing
    # (within 10%), except for a block whose height on that scale is under the minimum: it
    # is drawn MIN_BLOCK_UNITS tall instead (docs/console.md).
    per_address = rects["10.231.0.0/20"]["h"] / size["10.231.0.0/20"]
    at_minimum = {c for c in rects if size[c] * per_address < MIN_BLOCK_UNITS}
    # Three subnets in the first column, its 4,416 addresses 300 units tall: the /28 would
    # be 1.1 units, under the minimum; the /26 4.3, just over it.
    assert at_minimum == {"10.231.36.0/28"}
    for cidr in at_minimum:
        assert rects[cidr]["h"] == pytest.approx(MIN_BLOCK_UNITS), cidr
    scaled = sorted(set(rects) - at_minimum)
    for one in scaled:
        for other in scaled:
            drawn = (rects[one]["w"] * rects[one]["h"]) / (rects[other]["w"] * rects[other]["h"])
            assert drawn == pytest.approx(size[one] / size[other], rel=0.10), (one, other)

    # Every block says its name, CIDR and id (inside it, or beneath it when it is too thin),
    # in letters a person can read, and no text overlaps another or another subnet's block.
    for i, (where, _, _) in enumerate(DRAWN):
        cidr = f"10.231.{where}"
        said = drawing.locator(f'[data-subnet-id="{by_cidr[cidr]}"] > text').all_text_contents()
        assert said[:3] == [f"net-{i}", f"{cidr}  ·  {size[cidr]:,} addresses", by_cidr[cidr]]
    layout = drawing.evaluate(LAYOUT_JS)
    assert min(layout["fontPx"]) >= 10, "text too small to read"
    assert_laid_out(layout)
    # The record's history, each status with its time: this tab never saw the request
    # IN_PROGRESS, so a timeline inferred from the lifecycle would have no time for it.
    history = record["history"]
    assert [c["status"] for c in history] == ["QUEUED", "IN_PROGRESS", "SUCCEEDED"]
    assert _timeline(console) == [(c["status"], _shown(console, c["at"])) for c in history]
    expect(console.page.locator("dl")).to_contain_text(record["vpc_id"])
    console.shot("request")
    drawing.screenshot(path=str(console.screenshots / "request-drawing.png"))


# Six subnets over five zones, named as people name them (third octet and size, zone,
# public): five columns, each only just wide enough for a subnet id, and names longer
# than any column.
FIVE_ZONES = (
    ("64.0/22", "a", False),
    ("68.0/24", "a", True),
    ("69.0/26", "b", False),
    ("69.64/28", "c", False),
    ("69.80/28", "d", False),
    ("69.96/28", "e", False),
)
FIVE_ZONE_NAMES = (
    "payments-private-application-tier",
    "payments-public-ingress-load-balancers",
    "db-b",
    "tiny-c",
    "tiny-d",
    "tiny-e",
)
# A window of a laptop's width, and a narrow one (the page's own layout changes at 860).
WINDOWS = (1280, 800)


@pytest.fixture(scope="module")
def five_zones(local_stack: RunningStack, token: str) -> dict[str, Any]:
    """The five-zone request, provisioned: its record."""
    body = network(226, *FIVE_ZONES, name="payments-platform-production-eu-west-customer-facing")
    for subnet, name in zip(body["subnets"], FIVE_ZONE_NAMES, strict=True):
        subnet["name"] = name
    with requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {token}"
        api.hooks["response"].append(contract_hook)
        record = wait_for(local_stack, api, submit(local_stack, api, body))
    assert record["status"] == "SUCCEEDED"
    return record


def _drawn_at(console: Console, width: int, record: dict[str, Any]) -> Any:
    """The request's drawing in a window `width` CSS px wide, once drawn."""
    console.page.set_viewport_size({"width": width, "height": 860})
    console.go(f"#/requests/{record['request_id']}")
    drawing = console.page.locator(f'svg[data-vpc-id="{record["vpc_id"]}"]')
    expect(drawing.locator("[data-subnet-id^='subnet-']")).to_have_count(len(record["subnets"]))
    return drawing


def test_the_drawings_letters_are_10_css_px_or_more_in_an_800_or_1280_px_window(
    console: Console, five_zones: dict[str, Any]
) -> None:
    console.sign_in()
    for width in WINDOWS:
        drawing = _drawn_at(console, width, five_zones)

        smallest = min(drawing.evaluate(LAYOUT_JS)["fontPx"])

        assert smallest >= 10, (width, smallest)
        console.shot(f"drawing-five-zones-{width}")


def test_no_subnet_id_or_number_in_the_drawing_is_cut_only_names_are(
    console: Console, five_zones: dict[str, Any]
) -> None:
    console.sign_in()
    for width in WINDOWS:
        drawing = _drawn_at(console, width, five_zones)

        for subnet, name in zip(five_zones["subnets"], FIVE_ZONE_NAMES, strict=True):
            block = drawing.locator(f'[data-subnet-id="{subnet["subnet_id"]}"]')
            said = block.locator("text").all_text_contents()
            count = f"{2 ** (32 - int(subnet['cidr'].split('/')[1])):,}"
            # The name whole, or its start and "…"; the count whole, "addresses" dropped
            # first where the column is short of room; the id whole.
            assert said[0] == name or (said[0].endswith("…") and name.startswith(said[0][:-1]))
            assert said[1] in (
                f"{subnet['cidr']}  ·  {count} addresses",
                f"{subnet['cidr']} · {count}",
            )
            assert said[2] == subnet["subnet_id"], (width, said)
        title = drawing.locator("text.title").text_content()
        assert title.startswith(f"{five_zones['vpc_id']}  ·  {five_zones['cidr']}  ·  payments")
        assert drawing.locator("text.az").all_text_contents() == [
            f"us-east-1{zone}" for zone in "abcde"
        ]


def test_no_text_in_the_drawing_overflows_its_block_in_an_800_or_1280_px_window(
    console: Console, five_zones: dict[str, Any]
) -> None:
    console.sign_in()
    for width in WINDOWS:
        drawing = _drawn_at(console, width, five_zones)

        assert_laid_out(drawing.evaluate(LAYOUT_JS))


def _timeline(console: Console) -> list[tuple[str, str]]:
    """The request page's timeline: each step's status ("gap" for the mark of a cut
    history) and the time it shows."""
    steps = console.page.locator(".timeline li")
    expect(steps.first).to_be_visible()
    return [
        (status, when)
        for status, when in steps.evaluate_all(
            "ls => ls.map(l => [l.dataset.status || l.className, "
            "(l.querySelector('.when') || l).textContent])"
        )
    ]


def _shown(console: Console, at: str) -> str:
    """A record's time as the page shows it (in the browser's locale)."""
    return str(console.page.evaluate("at => new Date(at).toLocaleString()", at))


def _served(console: Console, record: dict[str, Any]) -> None:
    """Answer the page's GET of `record`'s request with `record` (the API's shape: a
    RequestRecord's `to_api`), whatever the table holds."""
    console.page.route(f"**/vpcs/{record['request_id']}", lambda route: route.fulfill(json=record))


def _looping(request_id: str, history: tuple[StatusChange, ...]) -> dict[str, Any]:
    """A request whose teardown someone else's dependency keeps failing, with `history`."""
    return RequestRecord(
        request_id=request_id,
        status=Status.DELETE_FAILED,
        created_by="sub-1",
        created_by_username="demo",
        created_at=iso_timestamp(START),
        updated_at=history[-1].at if history else iso_timestamp(START + 3600),
        request=ProvisioningRequest(
            VpcSpec("10.99.0.0/16", "looping"), (SubnetSpec("10.99.1.0/24", "us-east-1a"),)
        ),
        cidr="10.99.0.0/16",
        vpc_id="vpc-0loop",
        subnets=[SubnetState("10.99.1.0/24", "us-east-1a", None, "subnet-0loop")],
        error=ErrorInfo("DependencyViolation", "the VPC has dependencies"),
        teardown=DeletionReport((), ("vpc-0loop",)),
        attempts=13,
        history=history,
    ).to_api()


START = 1_795_000_000


def test_a_history_cut_to_its_bound_shows_its_gap_and_one_never_kept_the_inferred_steps(
    console: Console,
) -> None:
    """Past HISTORY_LIMIT a record keeps its first status and the latest: the page shows
    them, with their times, and "…" where the others were. A record from before histories
    (`[]`) gets the steps the lifecycle implies, timed where the record or this tab knows."""
    history: tuple[StatusChange, ...] = ()
    moves = ["QUEUED", "IN_PROGRESS", "SUCCEEDED", *["DELETING", "DELETE_FAILED"] * 12]
    for minute, status in enumerate(moves):
        history = changed(history, Status(status), iso_timestamp(START + 60 * minute))
    assert len(moves) > len(history) == HISTORY_LIMIT
    cut, old = _looping(str(uuid.uuid4()), history), _looping(str(uuid.uuid4()), ())
    _served(console, cut)
    _served(console, old)
    console.sign_in()

    console.go(f"#/requests/{cut['request_id']}")

    expect(console.page.locator(".timeline li.now")).to_have_attribute("data-at", history[-1].at)
    first, *latest = [(c.status.value, _shown(console, c.at)) for c in history]
    assert _timeline(console) == [first, ("gap", "…"), *latest]
    console.shot("history")

    console.go(f"#/requests/{old['request_id']}")

    expect(console.page.locator(".timeline li.now")).to_have_attribute("data-at", old["updated_at"])
    assert _timeline(console) == [
        ("QUEUED", _shown(console, old["created_at"])),
        ("IN_PROGRESS", "time not recorded"),
        ("SUCCEEDED", "time not recorded"),
        ("DELETING", "time not recorded"),
        ("DELETE_FAILED", _shown(console, old["updated_at"])),
    ]


def test_deleting_asks_first_then_tears_the_vpc_down(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(
        console.stack, api, network(232, ("1.0/24", "a", True), ("2.0/24", "b", False))
    )
    record = wait_for(console.stack, api, request_id)
    console.sign_in()
    console.go(f"#/requests/{request_id}")
    expect(console.page.locator(f'svg[data-vpc-id="{record["vpc_id"]}"]')).to_be_visible()

    console.page.get_by_role("button", name="Delete").click()
    dialog = console.page.get_by_role("dialog")
    expect(dialog).to_contain_text(record["vpc_id"])
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)
    assert api.get(f"{console.stack.url}/vpcs/{request_id}").json()["status"] == "SUCCEEDED"
    console.page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()

    expect(console.page.locator(".head .badge")).to_have_text("deleted", timeout=SETTLED_MS)
    expect(console.page.get_by_role("button", name="Delete")).to_be_hidden()
    assert api.get(f"{console.stack.url}/vpcs/{request_id}").json()["status"] == "DELETED"
    assert vpcs_of(console.stack, request_id) == []


def test_only_its_creator_or_an_admin_may_delete_a_request_as_the_api_says(
    console: Console, api: requests.Session
) -> None:
    admin = admin_session(console.stack)
    theirs = submit(console.stack, admin, network(227, ("1.0/24", "a", False)))
    wait_for(console.stack, api, theirs)
    console.sign_in()
    console.go(f"#/requests/{theirs}")

    console.page.get_by_role("button", name="Delete").click()
    console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    refused = api.delete(f"{console.stack.url}/vpcs/{theirs}")
    assert refused.status_code == 403
    expect(console.alert()).to_contain_text("403 ForbiddenError")
    expect(console.alert()).to_contain_text(refused.json()["Message"])
    console.page.get_by_role("button", name="Sign out").click()
    console.sign_in("admin")
    expect(console.page.locator("#who")).to_contain_text("admin")
    console.go(f"#/requests/{theirs}")
    console.page.get_by_role("button", name="Delete").click()
    console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(console.page.locator(".head .badge")).to_have_text("deleted", timeout=SETTLED_MS)


def test_a_delete_while_it_is_provisioned_shows_the_apis_409_and_the_page_follows_it(
    console: Console, api: requests.Session
) -> None:
    console.stack.add_fault(
        service="ec2", operation="CreateSubnet", when="slow", seconds=6, contains="10.233."
    )
    try:
        request_id = submit(console.stack, api, network(233, ("1.0/24", "a", False)))
        wait_status(console.stack, api, request_id, {"IN_PROGRESS"})
        console.sign_in()
        console.go(f"#/requests/{request_id}")
        expect(console.page.locator(".head .badge")).to_have_text("in progress")

        console.page.get_by_role("button", name="Delete").click()
        console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()

        expect(console.alert()).to_contain_text("409 ConflictError")
        refused = api.delete(f"{console.stack.url}/vpcs/{request_id}")
        assert refused.status_code == 409
        expect(console.alert()).to_contain_text(refused.json()["Message"])
        console.shot("delete-409")
    finally:
        console.stack.clear_faults()
    # Live: the page follows the request to its end without a reload.
    expect(console.page.locator(".head .badge")).to_have_text("succeeded", timeout=SETTLED_MS)
    expect(console.page.locator("svg[data-vpc-id] [data-subnet-id^='subnet-']")).to_have_count(1)


LONG_NAME = "x" * 128  # the longest name the API accepts, without a space to break at


def test_a_128_letter_name_keeps_the_list_and_the_requests_page_in_the_window(
    console: Console, api: requests.Session
) -> None:
    """The name wraps, in a window 1,280 or 800 pixels wide: the list's table stays within
    its card, the row's status and age in sight (the age on one line), and the request's
    page (its heading, the Delete button) within the window."""
    body = network(241, ("1.0/24", "a", False), name=LONG_NAME)
    request_id = submit(console.stack, api, body)
    wait_for(console.stack, api, request_id)
    console.sign_in()
    row = console.page.locator(f'tr[data-request-id="{request_id}"]')
    problems: list[str] = []

    for width in (1280, 800):
        console.page.set_viewport_size({"width": width, "height": 860})
        console.go("#/requests")
        expect(row).to_be_visible()
        if not console.page.evaluate(
            "() => { const s = document.querySelector('.scroll');"
            " return s.scrollWidth <= s.clientWidth; }"
        ):
            problems.append(f"{width}: the list's table is wider than its card")
        badge = row.locator(".badge").bounding_box()
        if badge["x"] + badge["width"] > width:
            problems.append(f"{width}: the status is off-screen at x={badge['x']:.0f}")
        age_lines = row.locator("td[data-age]").evaluate(
            "td => { const r = document.createRange(); r.selectNodeContents(td);"
            " return r.getClientRects().length; }"
        )
        if age_lines != 1:
            problems.append(f"{width}: the age takes {age_lines} lines")
        console.shot(f"requests-long-name-{width}")
        console.go(f"#/requests/{request_id}")
        delete = console.page.get_by_role("button", name="Delete")
        expect(delete).to_be_visible()
        button = delete.bounding_box()
        if not console.page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth"
        ):
            problems.append(f"{width}: the request's page scrolls sideways")
        if button["x"] + button["width"] > width:
            problems.append(f"{width}: Delete is off-screen at x={button['x']:.0f}")
        console.shot(f"request-long-name-{width}")
    assert api.delete(f"{console.stack.url}/vpcs/{request_id}").status_code == 202

    assert problems == []


def test_a_request_that_does_not_exist_shows_the_apis_404_and_no_empty_cards(
    console: Console,
) -> None:
    """The page of an id the API does not know holds its 404 alone: no empty cards for
    the drawing, the record and the timeline."""
    console.sign_in()
    unknown = str(uuid.uuid4())

    console.go(f"#/requests/{unknown}")

    expect(console.alert()).to_contain_text("404 NotFoundError")
    expect(console.alert()).to_contain_text(unknown)
    expect(console.page.locator("main .card:visible")).to_have_count(0)
    expect(console.page.get_by_role("button", name="Delete")).to_be_hidden()
    console.shot("request-not-found")


def test_the_delete_confirmation_opens_on_keep_it_so_enter_twice_deletes_nothing(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(console.stack, api, network(242, ("1.0/24", "a", False)))
    record = wait_for(console.stack, api, request_id)
    console.sign_in()
    console.go(f"#/requests/{request_id}")
    expect(console.page.locator(f'svg[data-vpc-id="{record["vpc_id"]}"]')).to_be_visible()

    console.page.get_by_role("button", name="Delete").focus()
    console.page.keyboard.press("Enter")
    expect(console.page.get_by_role("dialog")).to_be_visible()
    assert focused(console) == "BUTTON Keep it"
    console.page.keyboard.press("Enter")  # the same key again, as in a double press

    expect(console.page.get_by_role("dialog")).to_have_count(0)
    console.page.wait_for_timeout(1500)
    assert api.get(f"{console.stack.url}/vpcs/{request_id}").json()["status"] == "SUCCEEDED"


def test_a_mangled_request_link_says_no_such_request_instead_of_a_blank_page(
    console: Console,
) -> None:
    """An id that is not valid percent-encoding (a link cut short) threw a URIError."""
    console.sign_in()
    console.page.goto("about:blank")
    console.open("#/requests/%E0%A4%A")

    expect(console.alert()).to_contain_text("No such request: %E0%A4%A")
    console.shot("request-mangled-link")


@pytest.mark.parametrize("link", ["#/requests/.", "#/requests/..", "#/requests/%2E%2E"])
def test_a_dot_segment_request_link_says_no_such_request_and_asks_the_api_nothing(
    console: Console, link: str
) -> None:
    """An id "." or ".." is a path's dot segment, which the browser resolves: `/vpcs/.`
    was fetched as `/vpcs/` (the listing, drawn as if it were a record: "unnamed", a
    TypeError's words in the alert) and `/vpcs/..` as `/` (a 403 "No route")."""
    console.sign_in()
    asked: list[str] = []
    console.page.on("request", lambda r: asked.append(r.url))

    console.go(link)

    expect(console.alert()).to_contain_text("No such request")
    expect(console.page.locator("main .card:visible")).to_have_count(0)
    assert [
        u for u in asked if u.rstrip("/") in (console.stack.url, f"{console.stack.url}/vpcs")
    ] == []


@pytest.mark.parametrize(
    ("retry_after", "said"),
    [("30", "Slow down. Try again in 30 s."), (None, "Slow down.")],
    ids=["Retry-After 30", "none (API Gateway's throttle): 10 s"],
)
def test_a_request_page_asks_nothing_before_a_429s_retry_after(
    console: Console, retry_after: str | None, said: str
) -> None:
    """An unfinished request's page reads it again every 2 s; refused with a 429 and
    Retry-After: 30, it said "Try again in 30 s." and asked again 2 s later, and every
    2 s after: now nothing is asked for in the next 4.5 s. Without a Retry-After (API
    Gateway's own throttle sends none) it waits 10 s, as a review found it did not."""
    record = _unfinished(1)[0]
    asked: list[float] = []
    headers = {"Content-Type": "application/json"}
    if retry_after:
        headers["Retry-After"] = retry_after

    def answer(route: Any) -> None:
        asked.append(time.monotonic())
        if len(asked) == 1:
            route.fulfill(json=record)
        else:
            route.fulfill(
                status=429,
                headers=headers,
                body='{"Code": "TooManyRequestsError", "Message": "Slow down."}',
            )

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    expect(console.alert()).to_contain_text(said)
    refused_at = asked[-1]

    console.page.wait_for_timeout(4500)

    assert [round(t - refused_at, 1) for t in asked if t > refused_at] == []


def _vpc_row(console: Console) -> Any:
    """The record card's VPC line."""
    return console.page.locator("dl dt:text-is('VPC') + dd")


def test_a_deleted_requests_page_says_its_vpc_subnets_and_gateway_were_deleted(
    console: Console, api: requests.Session
) -> None:
    """Torn down, the record names no id (openapi: "while it exists"). The page said
    "VPC (not created yet)", each subnet "not created yet" (dashed, as one still to
    come), the gateway "(not yet)" and the record's VPC "not yet", beside a teardown
    report naming those very resources deleted."""
    request_id = submit(console.stack, api, network(244, ("0.0/24", "a", True)))
    wait_for(console.stack, api, request_id)
    assert api.delete(f"{console.stack.url}/vpcs/{request_id}").status_code == 202
    console.sign_in()
    console.go(f"#/requests/{request_id}")
    expect(console.page.locator(".head .badge")).to_have_text("deleted", timeout=SETTLED_MS)
    drawing = console.page.locator("svg[data-vpc-id]")

    expect(drawing.locator(".title")).to_contain_text("VPC (deleted)")
    expect(drawing.locator(".igw")).to_contain_text("Internet gateway (deleted)")
    block = drawing.locator("[data-subnet-id]")
    expect(block).to_have_count(1)
    expect(block).to_have_class(re.compile(r"\bgone\b"))
    expect(block).to_contain_text("deleted")
    expect(block).not_to_contain_text("routes to the internet gateway")  # nothing does now
    expect(console.page.locator(".legend")).to_contain_text("deleted")
    expect(_vpc_row(console)).to_have_text("deleted")
    expect(console.page.locator("main")).not_to_contain_text("not created yet")
    expect(console.page.locator("main")).not_to_contain_text("not yet")
    console.shot("request-deleted")


@pytest.mark.parametrize(
    ("status", "rollback", "said", "mark"),
    [
        (
            "FAILED",
            DeletionReport(("rtb-0rb", "igw-0rb", "subnet-0rb", "vpc-0rb"), ()),
            "deleted",
            "gone",
        ),
        ("IN_PROGRESS", None, "not created yet", "pending"),
    ],
)
def test_a_vpc_its_record_does_not_name_is_deleted_after_a_rollback_not_created_yet_before(
    console: Console, status: str, rollback: DeletionReport | None, said: str, mark: str
) -> None:
    """A FAILED request whose rollback deleted its resources names none of them, as one
    still being made names none yet: the first is drawn deleted, the second still to come."""
    record = _looping(str(uuid.uuid4()), ())
    record["request"]["subnets"][0]["public"] = True
    record.update(
        status=status,
        vpc_id=None,
        subnets=[{**record["subnets"][0], "subnet_id": None}],
        internet_gateway_id=None,
        rollback=rollback.to_api() if rollback else None,
        teardown=None,
        error=None,
    )
    _served(console, record)
    console.sign_in()

    console.go(f"#/requests/{record['request_id']}")

    drawing = console.page.locator("svg[data-vpc-id]")
    expect(drawing.locator(".title")).to_contain_text(f"VPC ({said})")
    expect(drawing.locator(".igw")).to_contain_text(f"Internet gateway ({said})")
    expect(drawing.locator("[data-subnet-id]")).to_have_class(re.compile(rf"\b{mark}\b"))
    expect(drawing.locator("[data-subnet-id]")).to_contain_text(said)
    expect(console.page.locator(f".legend .l-{mark}")).to_have_text(said)
    expect(_vpc_row(console)).to_have_text(said)


# --- create -----------------------------------------------------------------------------


def _fill_subnet(
    console: Console, row: int, cidr: str, zone: str = "", public: bool = False
) -> None:
    line = console.page.locator("[data-subnet-row]").nth(row)
    line.locator('input[name="subnet-cidr"]').fill(cidr)
    line.locator('input[name="subnet-az"]').fill(zone)
    if public:
        line.locator('input[name="subnet-public"]').check()


def _create(console: Console, vpc: str, subnet: str, zone: str = "") -> Any:
    """Fill a new request's form (a VPC and one subnet, each a CIDR or a /size), press
    Create; the form's alert (a locator)."""
    console.go("#/new")
    console.page.fill('input[name="vpc-cidr"]', vpc)
    _fill_subnet(console, 0, subnet, zone)
    console.page.get_by_role("button", name="Create").click()
    return console.page.locator("form [role=alert]")


def test_in_an_800_px_window_a_subnet_rows_checkbox_and_remove_button_keep_their_size(
    console: Console,
) -> None:
    """Narrow, the row's five fields take two columns: the checkbox and its 'public' stay
    as they are in a wide window, the remove button (✕) at the end of their line."""
    console.sign_in()
    console.go("#/new")
    row = console.page.locator("[data-subnet-row]")
    parts = {
        "checkbox": row.locator('input[name="subnet-public"]'),
        "checkbox and 'public'": row.locator("label.check"),
        "remove button": row.get_by_role("button", name="Remove this subnet"),
    }
    expect(parts["remove button"]).to_be_visible()
    wide = {part: where.bounding_box() for part, where in parts.items()}

    console.page.set_viewport_size({"width": 800, "height": 860})

    narrow = {part: where.bounding_box() for part, where in parts.items()}
    for part in parts:
        size = (round(narrow[part]["width"]), round(narrow[part]["height"]))
        assert size == (round(wide[part]["width"]), round(wide[part]["height"])), part
    zone = row.locator('input[name="subnet-az"]').bounding_box()
    field = row.locator('input[name="subnet-cidr"]').bounding_box()
    remove, check = narrow["remove button"], narrow["checkbox and 'public'"]
    assert remove["y"] == pytest.approx(zone["y"], abs=1), "the ✕ beside the zone's field"
    assert remove["x"] + remove["width"] == pytest.approx(field["x"] + field["width"], abs=1)
    assert check["x"] == pytest.approx(field["x"], abs=1), "'public' under the CIDR field"
    console.shot("form-800")


def test_the_form_creates_a_request_and_its_page_follows_it_to_the_end(
    console: Console, api: requests.Session
) -> None:
    console.sign_in()
    console.page.get_by_role("link", name="New request").first.click()
    console.page.fill('input[name="vpc-name"]', "from-the-form")
    console.page.fill('input[name="vpc-cidr"]', "10.234.0.0/16")
    _fill_subnet(console, 0, "10.234.1.0/24", "us-east-1a", public=True)
    console.page.get_by_role("button", name="+ Add a subnet").click()
    _fill_subnet(console, 1, "10.234.2.0/24", "us-east-1b")

    console.page.get_by_role("button", name="Create").click()

    expect(console.page).to_have_url(re.compile(r"/console#/requests/[0-9a-f-]{36}$"))
    request_id = console.page.url.rsplit("/", 1)[1]
    expect(console.page.locator(".head .badge")).to_have_text("succeeded", timeout=SETTLED_MS)
    expect(console.page.locator("svg[data-vpc-id] [data-subnet-id^='subnet-']")).to_have_count(2)
    record = api.get(f"{console.stack.url}/vpcs/{request_id}").json()
    assert record["request"] == {
        "vpc": {"cidr": "10.234.0.0/16", "name": "from-the-form"},
        "subnets": [
            {"cidr": "10.234.1.0/24", "az": "us-east-1a", "public": True},
            {"cidr": "10.234.2.0/24", "az": "us-east-1b"},
        ],
    }


def test_the_apis_400_shows_beside_the_form_on_the_field_it_names(
    console: Console, api: requests.Session
) -> None:
    body = {
        "vpc": {"cidr": "10.238.0.0/16"},
        "subnets": [{"cidr": "10.99.0.0/24", "az": "us-east-1a"}],
    }
    refused = api.post(
        f"{console.stack.url}/vpcs", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert refused.status_code == 400
    console.sign_in()

    alert = _create(console, "10.238.0.0/16", "10.99.0.0/24", "us-east-1a")

    expect(alert).to_contain_text(refused.json()["Message"])
    expect(console.page.locator('input[name="subnet-cidr"]')).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(console.page).to_have_url(re.compile(r"#/new$"))
    console.shot("create-400")


def test_a_cidr_another_request_holds_shows_the_apis_409_on_the_vpc_field(
    console: Console, api: requests.Session
) -> None:
    holder = submit(console.stack, api, network(239, ("1.0/24", "a", False)))
    console.sign_in()

    alert = _create(console, "10.239.128.0/17", "10.239.130.0/24", "us-east-1a")

    expect(alert).to_contain_text("409 CidrConflict")
    expect(alert).to_contain_text(holder)
    expect(console.page.locator('input[name="vpc-cidr"]')).to_have_attribute("aria-invalid", "true")


def test_a_409s_advice_reads_in_the_forms_terms_not_the_bodys(
    console: Console, api: requests.Session
) -> None:
    """The API's CidrConflict says what to send ('Ask for a size instead ("vpc":
    {"netmask_length": 16})'); beside the form it says what to write, and where."""
    holder = submit(console.stack, api, network(225, ("1.0/24", "a", False)))
    console.sign_in()
    for width in WINDOWS:
        console.page.set_viewport_size({"width": width, "height": 860})
        console.go("#/requests")

        alert = _create(console, "10.225.0.0/16", "10.225.9.0/24", "us-east-1a")

        expect(alert).to_contain_text("409 CidrConflict")
        expect(alert).to_contain_text(
            f"VPC CIDR 10.225.0.0/16 overlaps request {holder}. Ask for a size "
            "instead (write /16 as the VPC’s CIDR or size) and the service picks a free block, "
            "or choose another CIDR."
        )
        for words in ("netmask_length", '"vpc"', "vpc.cidr"):
            expect(alert).not_to_contain_text(words)
        console.shot(f"create-409-{width}")


def test_a_user_at_the_limit_of_live_requests_sees_the_apis_429_above_the_form(
    browser_context: Any, screenshots: Path, tmp_path: Path
) -> None:
    stack = start_stack(tmp_path, {"MAX_LIVE_REQUESTS_PER_USER": "1"})
    try:
        with tab(browser_context, stack, screenshots) as console:
            console.sign_in()
            _create(console, "/20", "/24")
            expect(console.page).to_have_url(re.compile(r"#/requests/[0-9a-f-]{36}$"))
            refused = requests.post(
                f"{stack.url}/vpcs",
                json={"vpc": {"netmask_length": 20}, "subnets": [{"netmask_length": 24}]},
                headers={
                    "Authorization": f"Bearer {stack.id_token()}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
                timeout=10,
            )
            assert refused.status_code == 429, refused.text

            alert = _create(console, "/20", "/24")

            expect(alert).to_contain_text("429 QuotaExceeded")
            expect(alert).to_contain_text(refused.json()["Message"])
            # No field is wrong: the alert stands above the form, the form is kept.
            expect(console.page.locator("form [aria-invalid]")).to_have_count(0)
            expect(console.page).to_have_url(re.compile(r"#/new$"))
            expect(console.page.get_by_role("button", name="Create")).to_be_enabled()
            console.shot("create-429")
    finally:
        assert stop_stack(stack) == 0, stack.log()


def test_a_request_by_size_gets_its_cidrs_from_the_pool(
    console: Console, api: requests.Session
) -> None:
    console.sign_in()
    console.go("#/new")
    console.page.fill('input[name="vpc-cidr"]', "/20")
    _fill_subnet(console, 0, "/24")
    console.page.get_by_role("button", name="+ Add a subnet").click()
    _fill_subnet(console, 1, "/26")

    console.page.get_by_role("button", name="Create").click()

    expect(console.page).to_have_url(re.compile(r"/console#/requests/[0-9a-f-]{36}$"))
    request_id = console.page.url.rsplit("/", 1)[1]
    expect(console.page.locator(".head .badge")).to_have_text("succeeded", timeout=SETTLED_MS)
    record = api.get(f"{console.stack.url}/vpcs/{request_id}").json()
    assert record["cidr"].endswith("/20")
    assert [s["cidr"].split("/")[1] for s in record["subnets"]] == ["24", "26"]
    blocks = console.page.locator("svg[data-vpc-id] [data-subnet-id^='subnet-']")
    expect(blocks).to_have_count(2)
    expect(console.page.locator("dl")).to_contain_text(record["cidr"])
    # Its block goes back to the pool: later tests' explicit CIDRs must not meet it.
    assert api.delete(f"{console.stack.url}/vpcs/{request_id}").status_code == 202
    wait_status(console.stack, api, request_id, {"DELETED"})


# --- pools and drift -------------------------------------------------------------------


def test_each_pool_shows_its_utilization_and_largest_free_block(
    console: Console, api: requests.Session
) -> None:
    pools = api.get(f"{console.stack.url}/pools").json()["items"]
    console.sign_in()

    console.page.get_by_role("link", name="Pools").click()

    rows = console.page.locator("[data-pool]")
    expect(rows).to_have_count(len(pools))
    # Other tests' requests (and the upkeep holding VPCs they make by hand) move the pools
    # while the page loads: what it shows is what the API said before or after.
    after = {p["name"]: p for p in api.get(f"{console.stack.url}/pools").json()["items"]}
    for pool in pools:
        row = console.page.locator(f'[data-pool="{pool["name"]}"]')
        shares = {
            f"{100 * p['allocated_addresses'] / p['total_addresses']:.2f}"
            for p in (pool, after[pool["name"]])
        }
        assert row.get_by_role("meter").get_attribute("aria-valuenow") in shares
        expect(row).to_contain_text(pool["cidr"])
        largest = pool["largest_free_netmask_length"]
        expect(row).to_contain_text(f"Largest free block: /{largest}" if largest else "none")
    console.shot("pools")


def test_an_error_api_gateway_answers_itself_shows_its_lower_case_message(
    console: Console,
) -> None:
    """Deployed, API Gateway answers a timeout (504), a throttle (429), a 413 or a 403
    itself, with {"message": ...}: not the app's `Message`. Cut at 300 characters."""
    console.sign_in()
    message = "Endpoint request timed out" + " and on" * 100
    console.page.route(
        "**/pools",
        lambda route: route.fulfill(
            status=504,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"message": message}),
        ),
    )
    console.go("#/pools")

    expect(console.alert()).to_contain_text(message[:300])
    assert message[:301] not in console.alert().inner_text()


def test_a_drifted_request_is_listed_under_drifted_and_its_block_marked(
    console: Console, api: requests.Session
) -> None:
    request_id = submit(
        console.stack, api, network(229, ("1.0/24", "a", False), ("2.0/24", "b", False))
    )
    record = wait_for(console.stack, api, request_id)
    gone = record["subnets"][1]["subnet_id"]
    console.stack.client("ec2").delete_subnet(SubnetId=gone)
    deadline = time.monotonic() + 45
    while not api.get(f"{console.stack.url}/vpcs/{request_id}").json().get("drift"):
        assert time.monotonic() < deadline, "no drift recorded"
        time.sleep(0.5)
    console.sign_in()

    console.page.get_by_role("button", name="Drifted").click()

    row = console.page.locator(f'tr[data-request-id="{request_id}"]')
    expect(row).to_contain_text("⚠")
    row.locator("a").click()
    expect(console.page.locator(f'svg [data-subnet-id="{gone}"].drifted')).to_be_visible()
    expect(console.page.locator(".driftbox")).to_contain_text(gone)
    console.shot("drift")
    assert api.delete(f"{console.stack.url}/vpcs/{request_id}").status_code == 202


def _pools_line(page: Any) -> str:
    """The last line of the default pool's row, once the pools view has it."""
    line = page.locator('[data-pool="default"] .note').last
    expect(line).to_contain_text("Largest free block")
    return str(line.inner_text())


def test_the_script_the_lambda_zip_ships_writes_the_pools_lines_as_the_repositorys_does(
    console: Console,
) -> None:
    """The script the Lambda zip holds (infra/lambda_zip.py: shed of its comment lines and
    indentation), served in place of the repository's, writes the pools view's "Largest
    free block: /NN · N allocations" exactly as the repository's script does: the spaces
    of a template literal nested in another one included."""
    source = PROJECT_DIR / "chalicelib" / "console" / "static" / "app.js"
    shipped = lambda_zip._body(
        "chalicelib/console/static/app.js", source.read_bytes(), {}, set()
    ).decode()
    assert shipped != source.read_text()  # the zip's own script, not the repository's
    console.sign_in()
    console.go("#/pools")
    stored = console.page.evaluate("sessionStorage.getItem('vpc-console')")
    # A second tab, served the zip's script, signed in with the first one's tokens.
    zipped = console.page.context.new_page()
    zipped.route(
        re.compile(r".*/console/app\.js(\?.*)?$"),
        lambda route: route.fulfill(
            status=200, body=shipped, content_type="text/javascript; charset=utf-8"
        ),
    )
    zipped.goto(f"{console.stack.url}/console#/pools")
    zipped.evaluate("s => sessionStorage.setItem('vpc-console', s)", stored)

    # The pools may change between two readings (a teardown ending): the zip's line is
    # read between two of the repository's that agree.
    for _ in range(5):
        console.page.reload()
        ours = _pools_line(console.page)
        zipped.reload()
        theirs = _pools_line(zipped)
        console.page.reload()
        if _pools_line(console.page) == ours:
            break
    zipped.close()
    assert re.fullmatch(
        r"Largest free block: (/\d+|none: the pool is full) · \d+ allocations?", ours
    )
    assert theirs == ours


# --- what a review found (2026-12-07) ----------------------------------------------

# API Gateway's own throttle answer, as the deployed stage's gateway response THROTTLED
# sends it (infra/gateway_responses.py): the app's shape, and no Retry-After header.
GATEWAY_THROTTLE = '{"Code": "TooManyRequestsError", "Message": "Too Many Requests"}'


def _unfinished(count: int) -> list[dict[str, Any]]:
    records = []
    for _ in range(count):
        record = _looping(str(uuid.uuid4()), ())
        record.update(status="IN_PROGRESS", error=None, teardown=None)
        records.append(record)
    return records


def test_the_lists_refresh_waits_10_s_after_a_429_without_retry_after(
    console: Console,
) -> None:
    """Deployed, the stage's throttle (20 requests/s, burst 40, shared by every caller)
    answers 429 with no Retry-After. The list's refresh reads up to 5 unfinished rows
    every 2 s (2.5 calls/s a tab, for as long as requests are stuck); refused, it goes on
    asking at the same rate, keeping the shared throttle tripped for every other caller.
    After such a 429 it should slow down (its own default wait)."""
    records = _unfinished(5)
    reads: list[float] = []
    refused: list[float] = []

    def throttle(route: Any) -> None:
        now = time.monotonic()
        reads.append(now)
        refused.append(now)
        route.fulfill(
            status=429, headers={"Content-Type": "application/json"}, body=GATEWAY_THROTTLE
        )

    console.page.route("**/vpcs?*", lambda route: route.fulfill(json={"items": records}))
    for record in records:
        console.page.route(f"**/vpcs/{record['request_id']}", throttle)
    console.sign_in()
    expect(console.page.locator("tr[data-request-id]")).to_have_count(5)
    deadline = time.monotonic() + 5
    while not refused and time.monotonic() < deadline:
        console.page.wait_for_timeout(100)
    assert refused, "the unfinished rows were not read again"
    first = refused[0]

    console.page.wait_for_timeout(4500)

    later = [round(t - first, 1) for t in reads if t > first + 0.5]
    # Polling on every 2 s would read each row twice more by now; waiting, none.
    assert len(later) <= 5, f"{len(later)} reads in the 4.5 s after a throttle: {later}"


def test_a_pool_not_full_never_reads_100_percent_allocated(console: Console) -> None:
    """GET /pools says 99.6% of a /16 is held and a /24 is still free; the page reads
    "100% allocated" (toFixed(0) from 10% up), beside "Largest free block: /24", and the
    bar is not marked full: the text says the pool is full while the API says it is not."""
    pool = {
        "name": "default",
        "cidr": "10.0.0.0/16",
        "total_addresses": 65536,
        "allocated_addresses": 65280,
        "free_addresses": 256,
        "largest_free_netmask_length": 24,
        "allocations": 255,
    }
    console.page.route("**/pools", lambda route: route.fulfill(json={"items": [pool]}))
    console.sign_in()
    console.go("#/pools")

    row = console.page.locator('[data-pool="default"]')
    expect(row).to_contain_text("Largest free block: /24")
    assert "100% allocated" not in row.inner_text()
    assert "99% allocated" in row.inner_text()
    console.shot("pools-nearly-full")


def test_an_asset_asked_for_by_another_version_is_not_cached_for_a_year(
    console: Console,
) -> None:
    """The page names its script by its content hash (`app.js?v=<hash>`) and the asset
    is answered `public, max-age=31536000, immutable` whatever `v` says: during a deploy
    (old and new function code both serving for a moment) a page naming the new hash can
    get the old script, which the browser then keeps for a year under the new URL."""
    stack: RunningStack = console.stack
    page = requests.get(f"{stack.url}/console", timeout=10).text
    current = page.split("app.js?v=")[1].split('"')[0]
    other = "0" * len(current) if current != "0" * len(current) else "1" * len(current)

    answer = requests.get(f"{stack.url}/console/app.js", params={"v": other}, timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-cache", answer.headers
    named = requests.get(f"{stack.url}/console/app.js", params={"v": current}, timeout=10)
    assert "immutable" in named.headers["Cache-Control"], named.headers


def test_a_user_asked_to_set_up_mfa_is_told_how_not_sent_to_vpcctl_login(
    console: Console,
) -> None:
    """A stage with USER_POOL_MFA=ON: a user without an authenticator app gets Cognito's
    MFA_SETUP. The console says to "set it up with `vpcctl login`", but vpcctl login
    refuses MFA_SETUP as well (cli/vpcctl/auth.py: "set one up first (aws cognito-idp
    associate-software-token, then verify-software-token)"), so the person is sent in a
    circle. The console should name what does set it up (docs/deploy.md)."""
    endpoint = console.stack.info["aws_endpoint_url"].rstrip("/")

    def cognito(route: Any) -> None:
        target = route.request.headers.get("x-amz-target", "")
        if route.request.method == "POST" and target.endswith(".InitiateAuth"):
            route.fulfill(
                status=200,
                headers={
                    "Content-Type": "application/x-amz-json-1.1",
                    "Access-Control-Allow-Origin": "*",
                },
                body='{"ChallengeName": "MFA_SETUP", "Session": "s", "ChallengeParameters": {}}',
            )
        else:
            route.continue_()

    console.page.route(f"{endpoint}/", cognito)
    console.open()
    console.page.fill('input[name="username"]', "alice")
    console.page.fill('input[name="password"]', "Choose-a-Strong-Passw0rd!")
    console.page.get_by_role("button", name="Sign in").click()

    expect(console.alert()).to_contain_text("MFA_SETUP")
    text = console.alert().inner_text()
    assert "vpcctl login" not in text, text
    assert "associate-software-token" in text, text
