"""No client input gets a 5xx: random bodies, headers and query strings through the real app."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.models import Status
from integration.conftest import TABLE, Stack
from support.tokens import auth

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {
        "vpc": st.fixed_dictionaries(
            {"cidr": st.sampled_from(["10.0.0.0/16", "10.0.0.0/8", "x", "10.0.0.1/16"])},
            optional={"name": st.text(max_size=140)},
        ),
        "subnets": st.lists(
            st.fixed_dictionaries(
                {
                    "cidr": st.sampled_from(["10.0.1.0/24", "10.0.1.0/25", "10.1.0.0/24", ""]),
                    "az": st.sampled_from(["us-east-1a", "eu-west-1a", "", "us-east-1z"]),
                },
                optional={"name": st.text(max_size=10), "public": st.booleans()},
            ),
            max_size=3,
        ),
    }
)


def _post(client: Client, body: bytes, key: str) -> Any:
    headers = {**auth(), "Content-Type": "application/json", "Idempotency-Key": key}
    return client.http.post("/vpcs", headers=headers, body=body)


@FUZZ
@given(
    json_values | near_valid,
    st.text(min_size=1, max_size=12, alphabet=st.characters(min_codepoint=32, max_codepoint=126)),
)
def test_any_json_body_is_accepted_or_refused_with_a_4xx(
    client: Client, body: Any, key: str
) -> None:
    response = _post(client, json.dumps(body).encode(), key)

    assert response.status_code in (202, 400, 422), response.body
    if response.status_code != 202:
        assert response.json_body["Message"]


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_with_a_4xx(client: Client, body: bytes) -> None:
    response = _post(client, body, "bytes")

    assert 400 <= response.status_code < 500, response.body


@FUZZ
@given(st.text(max_size=40), st.text(max_size=60))
def test_any_query_string_is_served_or_refused_with_a_4xx(
    client: Client, limit: str, token: str
) -> None:
    query = urllib.parse.urlencode({"limit": limit, "next_token": token})

    response = client.http.get(f"/vpcs?{query}", headers=auth())

    assert response.status_code in (200, 400), response.body


@FUZZ
# "." and ".." are no segment a client sends (RFC 3986 5.2.4 removes them: curl, browsers
# and requests send /vpcs/.. as /); openapi.yaml's paths cannot match them either, and
# vpcctl refuses them unsent (exit 4).
@given(st.text(min_size=1, max_size=60).filter(lambda text: text not in (".", "..")))
def test_any_request_id_is_found_or_404(client: Client, request_id: str) -> None:
    path = urllib.parse.quote(request_id, safe="")

    response = client.http.get(f"/vpcs/{path}", headers=auth())

    assert response.status_code in (404, 403), response.body


@FUZZ
@given(
    st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["SUCCEEDED", "QUEUED"])),
    st.one_of(st.none(), st.text(max_size=10), st.just("me")),
    st.one_of(st.none(), st.text(max_size=60)),
)
def test_any_filtered_query_string_is_served_or_refused_with_a_4xx(
    client: Client, status: str | None, created_by: str | None, token: str | None
) -> None:
    params = {"status": status, "created_by": created_by, "next_token": token}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})

    response = client.http.get(f"/vpcs?{query}", headers=auth())

    assert response.status_code in (200, 400), response.body
    if response.status_code == 400:
        assert len(response.json_body["Message"]) < 500


@FUZZ
@given(st.text(min_size=1, max_size=60), st.sampled_from([None, ["admins"], "[admins devs]"]))
def test_any_delete_is_answered_or_refused_with_a_4xx(
    client: Client, request_id: str, groups: Any
) -> None:
    path = urllib.parse.quote(request_id, safe="")
    claims = {"cognito:groups": groups} if groups is not None else {}

    response = client.http.request("DELETE", f"/vpcs/{path}", headers=auth(**claims))

    assert response.status_code in (404, 403), response.body


@FUZZ
@given(
    st.sampled_from(list(Status)),
    st.sampled_from(["user-1", "user-2"]),
    st.sampled_from([None, ["admins"], ["devs"], ["[admins]"], "admins"]),
    st.sampled_from([None, "vpc-1"]),
)
def test_a_delete_of_any_request_in_any_state_by_anyone_is_never_a_5xx(
    client: Client, stack: Stack, status: Status, sub: str, groups: Any, vpc: str | None
) -> None:
    payload = {
        "vpc": {"cidr": "10.0.0.0/16"},
        "subnets": [{"cidr": "10.0.1.0/24", "az": "us-east-1a"}],
    }
    request_id = _post(client, json.dumps(payload).encode(), str(uuid.uuid4())).json_body[
        "request_id"
    ]
    stack.truth.dynamodb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :s, vpc_id = :v",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": status.value},
            ":v": {"S": vpc} if vpc else {"NULL": True},
        },
    )
    claims = {"cognito:groups": groups} if groups is not None else {}

    response = client.http.request(
        "DELETE", f"/vpcs/{request_id}", headers=auth(sub=sub, username=sub, **claims)
    )

    assert response.status_code in (202, 403, 409), response.body
    if sub == "user-2" and groups != ["admins"]:
        assert response.status_code == 403
