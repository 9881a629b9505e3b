"""A request whose Content-Type is not `application/json` is a 415 saying what to send
(openapi.yaml, components/responses/UnsupportedMediaType: "A Content-Type other than
application/json (on any method; leaving the header out is fine)"; docs/api.md).

Chalice's own check was written for Accept headers: it took a header holding "*/*"
anywhere (even inside a parameter) as a wildcard, and a list of types holding
`application/json` as JSON, so these bodies were read as JSON and accepted (202)."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib.api.json_body import declares_json
from integration.conftest import body, post
from support.tokens import auth


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; x=*/*", "*/*", "text/plain, application/json", "text/csv;application/json"],
)
def test_a_post_declared_not_json_is_415(client: Client, content_type: str) -> None:
    response = post(client, body(), headers={"Content-Type": content_type})

    assert response.status_code == 415, (response.status_code, response.body)
    assert "Content-Type: application/json" in response.json_body["Message"]


@pytest.mark.parametrize("content_type", ["*/*", "text/plain, application/json"])
def test_a_get_declaring_something_else_than_json_is_415_too(
    client: Client, content_type: str
) -> None:
    response = client.http.get("/vpcs", headers={**auth(), "Content-Type": content_type})

    assert response.status_code == 415
    assert response.json_body["Message"].startswith("A GET has no body")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;",
    ],
)
def test_json_with_its_parameters_in_any_case_is_accepted(
    client: Client, content_type: str
) -> None:
    assert post(client, body(), headers={"Content-Type": content_type}).status_code == 202


def test_what_declares_json() -> None:
    assert declares_json(None)
    assert declares_json("application/json;charset=utf-8")
    assert not declares_json("")
    assert not declares_json("application/jsonx")
    assert not declares_json("application/json, text/plain")
    assert not declares_json("*/*")
