"""End to end, as a newcomer meets the local stack: answers that say what to do."""

from __future__ import annotations

import pytest
import requests

from e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/vpcs", {"GET", "POST"}), ("POST", "/vpcs/abc", {"GET", "DELETE"})],
)
def test_a_405_carries_an_allow_header(
    local_stack: RunningStack, token: str, method: str, path: str, allowed: set[str]
) -> None:
    answer = requests.request(
        method, f"{local_stack.url}{path}", headers={"Authorization": token}, timeout=10
    )

    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        ("Bearer not-a-jwt", "make token"),
        ("Bearer a.b.c", "make token"),
    ],
)
def test_a_401_says_how_to_get_a_token(
    local_stack: RunningStack, authorization: str, says: str
) -> None:
    answer = requests.get(
        f"{local_stack.url}/vpcs", headers={"Authorization": authorization}, timeout=10
    )

    assert answer.status_code == 401
    message = answer.json()["Message"]
    assert says in message
    assert "vpcctl login" in message
    # A line, and the STATE= of this stack's own state folder, which it names whole.
    assert len(message) <= 100 + len(f" STATE={local_stack.state_dir}")


@pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", None])
def test_a_401_of_a_stack_with_its_own_state_names_that_state_in_make_token(
    local_stack: RunningStack, authorization: str | None
) -> None:
    """The session stack has a state folder of its own, as `make run STATE=.local-2` has:
    a bare `make token` reads .local/ and gets the default stack's token (or "stack.json not
    found"), which this stack refuses again, saying the same."""
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(f"{local_stack.url}/vpcs", headers=headers, timeout=10)

    assert answer.status_code == 401
    message = answer.json()["Message"]
    assert f"make token STATE={local_stack.state_dir}" in message, message


def test_a_post_without_json_content_type_says_what_to_send(
    local_stack: RunningStack, token: str
) -> None:
    """curl -d sends application/x-www-form-urlencoded unless told otherwise."""
    answer = requests.post(
        f"{local_stack.url}/vpcs",
        data='{"vpc": {"cidr": "10.9.0.0/16"}, "subnets": []}',
        headers={
            "Authorization": token,
            "Idempotency-Key": "k-415",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    )

    assert answer.status_code == 415
    assert "Content-Type: application/json" in answer.json()["Message"]
