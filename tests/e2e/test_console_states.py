"""The web console says only what the record and the API's answers say: its drawing of a
request whose route table drifted, whose gateway is not there, or that was never made;
its delete dialog; its alerts once the failure they show has passed; and its session
when Cognito cannot be reached. Each record is served by the page's route (`_served`),
whatever the table holds; only the sign-in goes to the local stack. (A review found each
of these wrong, in a real browser, before its fix: docs/how-it-works.md.)"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from e2e.console_tab import Console, expect
from e2e.test_console import _looping, _served, _unsigned_token

pytestmark = pytest.mark.e2e


def _public_one(status: str) -> dict[str, Any]:
    """A request of one public subnet with everything made: VPC, subnet, gateway, table."""
    record = _looping(str(uuid.uuid4()), ())
    record["request"]["subnets"][0]["public"] = True
    record.update(
        status=status,
        internet_gateway_id="igw-0pub",
        route_table_id="rtb-0pub",
        error=None,
        teardown=None,
    )
    return record


def _api_error(route: Any, status: int, message: str, retry_after: str | None) -> None:
    """Answer `route` as the API answers a failure: the status, its Retry-After if any,
    and {"Code", "Message"}."""
    code = {403: "ForbiddenError", 409: "ConflictError", 503: "ServiceUnavailable"}[status]
    headers = {"Content-Type": "application/json"}
    if retry_after:
        headers["Retry-After"] = retry_after
    route.fulfill(
        status=status, headers=headers, body=json.dumps({"Code": code, "Message": message})
    )


def _signed_in_due_for_a_refresh(console: Console, cognito: Any) -> dict[str, Any]:
    """Signed in, with an ID token due for refresh, and `cognito` answering the page's calls
    to Cognito. Returns the session as stored before."""
    console.sign_in()
    expect(console.page.locator("tbody tr").first).to_be_visible()
    stored: dict[str, Any] = json.loads(
        console.page.evaluate("sessionStorage.getItem('vpc-console')")
    )
    due = {**stored, "id": _unsigned_token(exp=1, token_use="id")}
    console.page.evaluate("s => sessionStorage.setItem('vpc-console', s)", json.dumps(due))
    endpoint = console.stack.info["aws_endpoint_url"].rstrip("/")
    console.page.route(re.compile(re.escape(endpoint) + r"/?$"), cognito)
    return stored


def _shown(console: Console, record: dict[str, Any]) -> Any:
    _served(console, record)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    return console.page.locator("svg[data-vpc-id]")


ROUTES = "routes to the internet gateway"


def test_a_route_table_that_drifted_marks_the_public_subnets_and_the_gateway(
    console: Console,
) -> None:
    """The reconciler proved the route table lost its route to 0.0.0.0/0 (a `route` item
    on the table's id, docs/api.md "Drift"): the public subnet no longer "routes to the
    internet gateway", and it and the gateway are drawn drifted (nothing was, the block
    still said it routed)."""
    record = _public_one("SUCCEEDED")
    record["drift"] = [
        {"resource_id": "rtb-0pub", "type": "route", "problem": "missing", "detail": "no route"}
    ]
    drawing = _shown(console, record)

    block = drawing.locator("[data-subnet-id]")
    expect(block).to_have_class(re.compile(r"\bdrifted\b"))
    expect(block).not_to_contain_text(ROUTES)
    expect(drawing.locator(".igw")).to_have_class(re.compile(r"\bdrifted\b"))
    console.shot("request-route-drifted")
    # Without the drift, the same record routes, and nothing is marked.
    record["drift"] = []
    console.page.reload()
    expect(drawing.locator("[data-subnet-id]")).to_contain_text(ROUTES)
    expect(drawing.locator(".drifted")).to_have_count(0)


@pytest.mark.parametrize(
    ("status", "teardown"),
    [
        # The teardown deleted the route table and the gateway; an interface keeps the subnet.
        ("DELETE_FAILED", {"deleted": ["rtb-0pub", "igw-0pub"], "remaining": ["subnet-0loop"]}),
        # Still being made: the subnet is there, the gateway and the table not yet.
        ("IN_PROGRESS", None),
    ],
)
def test_a_public_subnet_routes_to_no_gateway_its_record_does_not_name(
    console: Console, status: str, teardown: dict[str, Any] | None
) -> None:
    record = _public_one(status)
    record.update(internet_gateway_id=None, route_table_id=None)
    if teardown:
        record["teardown"] = {"complete": False, "error": None, **teardown}
    drawing = _shown(console, record)

    expect(drawing.locator("[data-subnet-id]")).to_have_attribute("data-subnet-id", "subnet-0loop")
    expect(drawing.locator("[data-subnet-id]")).not_to_contain_text(ROUTES)


@pytest.mark.parametrize("status", ["CANCELLED", "FAILED"])
def test_what_a_request_that_ended_never_made_is_drawn_never_created(
    console: Console, status: str
) -> None:
    """A cancelled request, or one that failed and whose rollback deleted nothing, will
    never make what its record does not name: not "not created yet" (dashed, as still to
    come), and its public subnet routes nowhere."""
    record = _public_one(status)
    record.update(
        vpc_id=None,
        internet_gateway_id=None,
        route_table_id=None,
        subnets=[{**record["subnets"][0], "subnet_id": None}],
        rollback=None,
    )
    drawing = _shown(console, record)

    expect(console.page.locator(".head .badge")).to_have_text(status.lower())
    expect(drawing.locator(".title")).to_contain_text("VPC (never created)")
    expect(drawing.locator("[data-subnet-id]")).to_have_class(re.compile(r"\bgone\b"))
    expect(drawing.locator("[data-subnet-id]")).not_to_contain_text(ROUTES)
    expect(console.page.locator(".legend .l-gone")).to_have_text("never created")
    expect(console.page.locator("main")).not_to_contain_text("not created yet")
    console.shot(f"request-{status.lower()}-never-created")


def test_the_delete_dialog_counts_only_the_subnets_still_there(console: Console) -> None:
    """DELETE_FAILED, the teardown deleted the subnet and left the VPC: the dialog said it
    tears down "its 1 subnet"."""
    record = _looping(str(uuid.uuid4()), ())
    record["subnets"][0]["subnet_id"] = None
    record["teardown"] = {
        "complete": False,
        "error": None,
        "deleted": ["subnet-0loop"],
        "remaining": ["vpc-0loop"],
    }
    _shown(console, record)
    console.page.get_by_role("button", name="Delete").click()

    dialog = console.page.get_by_role("dialog")
    expect(dialog).to_contain_text("This tears down vpc-0loop, its 0 subnets")


def test_a_polls_error_goes_once_a_poll_succeeds(console: Console) -> None:
    """A request being made: one poll answered 503, the next ones 200 with the same record.
    The alert stayed for as long as the status did."""
    record = _public_one("IN_PROGRESS")
    answers: list[int] = []

    def answer(route: Any) -> None:
        answers.append(503 if len(answers) == 1 else 200)
        if answers[-1] == 503:
            _api_error(route, 503, "Try again in a second.", retry_after="1")
        else:
            route.fulfill(json=record)

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")

    expect(console.alert()).to_contain_text("Try again in a second.")
    expect(console.alert()).to_have_count(0)
    assert answers[:3] == [200, 503, 200]
    expect(console.page.locator(".head .badge")).to_have_text("in progress")


def test_cognito_unreachable_at_a_refresh_keeps_the_session_and_says_so(console: Console) -> None:
    """The ID token is due for refresh and Cognito cannot be reached (a blip, a laptop
    waking up): the console said "Your session has expired" and dropped the refresh token,
    still good. It says Cognito cannot be reached, and the session stays."""
    stored = _signed_in_due_for_a_refresh(console, lambda route: route.abort())

    console.page.reload()

    expect(console.alert()).to_contain_text("Cognito cannot be reached")
    kept = json.loads(console.page.evaluate("sessionStorage.getItem('vpc-console')"))
    assert kept["refresh"] == stored["refresh"]
    expect(console.page.locator("main")).not_to_contain_text("expired")


def test_the_create_forms_pools_failing_to_load_says_so(console: Console) -> None:
    """GET /pools failed: the pool list was disabled without a word."""
    console.page.route(
        "**/pools",
        lambda route: _api_error(route, 503, "The table is busy.", retry_after=None),
    )
    console.sign_in()
    console.go("#/new")

    expect(console.page.locator("#vpc-pool")).to_be_disabled()
    expect(console.alert()).to_contain_text("The table is busy.")


def test_a_delete_whose_answer_was_a_503_shows_what_the_record_says_next(
    console: Console,
) -> None:
    """The DELETE landed and its answer was a 503 (a timeout on the way back, say): the
    page kept showing SUCCEEDED, the status it polls no more, until a reload. It reads the
    record again: DELETING, and the 503's alert goes with the status it was about."""
    record = _public_one("SUCCEEDED")
    deleting = {**record, "status": "DELETING"}
    deleted: list[str] = []

    def answer(route: Any) -> None:
        if route.request.method == "DELETE":
            deleted.append(route.request.method)
            _api_error(route, 503, "Try again in a second.", retry_after="1")
        else:
            route.fulfill(json=deleting if deleted else record)

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    expect(console.page.locator(".head .badge")).to_have_text("succeeded")
    console.page.get_by_role("button", name="Delete").click()
    console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(console.page.locator(".head .badge")).to_have_text("deleting")
    expect(console.alert()).to_have_count(0)
    assert deleted == ["DELETE"]


def test_cognito_not_knowing_the_app_client_at_a_refresh_signs_out(console: Console) -> None:
    """A tab left open while the local stack started again (a new user pool): Cognito
    answers the refresh ResourceNotFoundException, a refusal: back to the sign-in form."""
    _signed_in_due_for_a_refresh(
        console,
        lambda route: route.fulfill(
            status=400,
            headers={"Content-Type": "application/x-amz-json-1.1"},
            body='{"__type": "ResourceNotFoundException", "message": "No client x."}',
        ),
    )

    console.page.reload()

    expect(console.page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(console.page.locator("main")).to_contain_text("expired")


def test_a_refused_delete_says_why_after_a_poll_that_failed(console: Console) -> None:
    """A poll failed (its alert on show), then a DELETE is refused (409: the request is
    being made): the page reads the record again, and the DELETE's refusal stays on show
    (the reload took the poll's alert away, and the refusal with it)."""
    record = _public_one("IN_PROGRESS")
    renamed = json.loads(json.dumps(record))  # what the read after the refusal shows
    renamed["request"]["vpc"]["name"] = "read-again"
    gets: list[int] = []

    def answer(route: Any) -> None:
        if route.request.method == "DELETE":
            _api_error(route, 409, "It is being made: DELETE it after.", retry_after="5")
            return
        gets.append(503 if len(gets) == 1 else 200)
        if gets[-1] == 503:
            _api_error(route, 503, "Try again in a minute.", retry_after="60")
        else:
            route.fulfill(json=renamed if len(gets) > 2 else record)

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    expect(console.alert()).to_contain_text("Try again in a minute.")  # no poll for 60 s

    console.page.get_by_role("button", name="Delete").click()
    console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(console.page.locator("h1")).to_have_text("read-again")  # read again, shown
    expect(console.alert()).to_contain_text("DELETE it after.")
    assert gets == [200, 503, 200]


def test_a_refused_delete_says_so_though_a_poll_moved_the_status_meanwhile(
    console: Console,
) -> None:
    """The dialog opened on IN_PROGRESS, a poll showed SUCCEEDED while it was open, and the
    DELETE was refused (403: not the owner). Nothing was deleted, and no alert said so: the
    page took any change of status for the DELETE having landed (a review's find)."""
    record = _public_one("IN_PROGRESS")
    shown = {"record": record}
    deletes: list[str] = []

    def answer(route: Any) -> None:
        if route.request.method == "DELETE":
            deletes.append("DELETE")
            _api_error(route, 403, "Only its owner may delete it.", retry_after=None)
        else:
            route.fulfill(json=shown["record"])

    console.page.route(f"**/vpcs/{record['request_id']}", answer)
    console.sign_in()
    console.go(f"#/requests/{record['request_id']}")
    expect(console.page.locator(".head .badge")).to_have_text("in progress")
    console.page.get_by_role("button", name="Delete").click()
    shown["record"] = {**record, "status": "SUCCEEDED"}  # made while the dialog is open
    expect(console.page.locator(".head .badge")).to_have_text("succeeded")
    console.page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(console.alert()).to_contain_text("Only its owner may delete it.")
    assert deletes == ["DELETE"]
