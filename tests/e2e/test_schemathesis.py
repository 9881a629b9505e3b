"""schemathesis against the local stack: generated requests to every operation of
openapi.yaml, each answer checked against the document (stateless).

Each operation gets its schema's examples, schemathesis's coverage cases (edge
and invalid values, missing parameters, other methods) and up to
`MAX_EXAMPLES` generated requests, valid and invalid, sent with the demo
user's ID token. Checks: no 5xx, the status code is one the operation
documents, the Content-Type and the body match that response's schema, the
documented headers are there and match theirs, and a request without the
token is refused. Besides random ids, the path's `request_id` is sometimes
that of a real request, so that reads and DELETEs reach records too.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.config import SchemathesisConfig

from devstack.settings import RECONCILER_PERIOD_SECONDS
from e2e.conftest import RunningStack, stack_as_the_sessions
from support.contract import document

pytestmark = pytest.mark.e2e

# Per operation and phase: with the coverage cases, about 600 requests in all, which
# take the local stack well under 20 s.
MAX_EXAMPLES = 100
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.ignored_auth,
]

schema = schemathesis.openapi.from_dict(
    document(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)
# The ids of real requests (`known_requests`), mixed into the generated path parameters.
KNOWN_IDS: list[str] = []
# (method, path template, status) of every answer, for `test_schemathesis_reached_...`.
ANSWERS: Counter[tuple[str, str, int]] = Counter()


@schema.hook
def flatmap_path_parameters(context: Any, parameters: dict[str, Any]) -> Any:
    if not KNOWN_IDS or not parameters or "request_id" not in parameters:
        return st.just(parameters)
    return st.sampled_from([parameters["request_id"], *KNOWN_IDS]).map(
        lambda request_id: {**parameters, "request_id": request_id}
    )


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of this module's own: the requests it makes would make every later
    reconciler run of the session's stack check them for drift. Nothing here waits on its
    reconciler: it runs at `make run`'s period, not the session stack's 2 s."""
    with stack_as_the_sessions(
        tmp_path_factory.mktemp("schemathesis"), reconciler_seconds=RECONCILER_PERIOD_SECONDS
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(local_stack: RunningStack) -> str:
    return local_stack.id_token()


@pytest.fixture(scope="module")
def known_requests(local_stack: RunningStack, token: str) -> Iterator[list[str]]:
    """Two requests of the demo user's, their ids in KNOWN_IDS while this module runs."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for octet in (201, 202):
        response = session.post(
            f"{local_stack.url}/vpcs",
            json={
                "vpc": {"cidr": f"10.{octet}.0.0/16"},
                "subnets": [{"cidr": f"10.{octet}.1.0/24", "az": "us-east-1a"}],
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 202, response.text
        KNOWN_IDS.append(response.json()["request_id"])
    session.close()
    yield list(KNOWN_IDS)
    KNOWN_IDS.clear()


def _answers_as_openapi_yaml_says(method: str, path: str) -> Any:
    """A test of one operation. One test per operation, not one for all: under
    pytest-xdist (`make test`) schemathesis runs only the first operation of a test that
    holds several (pytest 9's subtests)."""

    @schema.include(method=method, path=path).parametrize()
    def test(case: Any, local_stack: RunningStack, token: str, known_requests: list[str]) -> None:
        response = case.call_and_validate(
            base_url=local_stack.url,
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
        )
        ANSWERS[(case.method.upper(), case.path, response.status_code)] += 1

    return test


TESTED = {
    ("POST", "/vpcs"),
    ("GET", "/vpcs"),
    ("GET", "/vpcs/{request_id}"),
    ("DELETE", "/vpcs/{request_id}"),
    ("GET", "/pools"),
    ("GET", "/console"),
    ("GET", "/console/{asset}"),
}
test_post_vpcs_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says("POST", "/vpcs")
test_list_vpcs_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says("GET", "/vpcs")
test_get_vpc_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says(
    "GET", "/vpcs/{request_id}"
)
test_delete_vpc_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says(
    "DELETE", "/vpcs/{request_id}"
)
test_pools_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says("GET", "/pools")
test_console_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says("GET", "/console")
test_console_asset_answers_as_openapi_yaml_says = _answers_as_openapi_yaml_says(
    "GET", "/console/{asset}"
)


def test_every_operation_of_openapi_yaml_has_its_test() -> None:
    methods = {"get", "put", "post", "delete", "patch"}
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method in methods
    }
    assert documented == TESTED


def test_schemathesis_reached_every_operations_success_and_refusals() -> None:
    """The generated requests were not all refused: each operation's success answer, and
    its usual refusals, came back at least once (else the checks above proved little)."""
    if not ANSWERS:
        pytest.skip("the schemathesis test did not run in this session")
    expected = {
        ("POST", "/vpcs", 202),
        ("POST", "/vpcs", 400),
        ("GET", "/vpcs", 200),
        ("GET", "/vpcs", 400),
        ("GET", "/vpcs/{request_id}", 200),
        ("GET", "/vpcs/{request_id}", 404),
        ("DELETE", "/vpcs/{request_id}", 202),
        ("DELETE", "/vpcs/{request_id}", 404),
        ("GET", "/pools", 200),
        ("GET", "/console", 200),
        ("GET", "/console/{asset}", 404),
    }
    missing = expected - set(ANSWERS)
    assert not missing, f"never answered: {sorted(missing)}; answers: {sorted(ANSWERS.items())}"


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PUT", "PATCH"])
def test_a_method_no_route_has_gets_a_json_4xx_not_an_html_5xx(
    local_stack: RunningStack, token: str, method: str
) -> None:
    # schemathesis's first finding: http.server answered TRACE and QUERY with an HTML 501.
    response = requests.request(
        method, f"{local_stack.url}/vpcs", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["Code"]
