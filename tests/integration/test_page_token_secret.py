"""The listing tokens' key read from its SSM parameter (`chalice deploy` with `make backing`).

`make backing` writes `PAGE_TOKEN_SECRET_SSM_PARAMETER` instead of the key
itself; the API reads the SecureString on its first listing, never before.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.api.pagination import PageTokenCodec
from chalicelib.config import Settings, load_settings
from chalicelib.errors import BadRequest
from chalicelib.store.listing import ALL_REQUESTS
from chalicelib.wiring import Services
from integration.conftest import REGION, Stack, submit
from support.tokens import auth

PARAMETER = "/vpc-provisioner/test/page-token-secret"
KEY = "k" * 64


@pytest.fixture
def ssm(stack: Stack) -> Any:
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name=PARAMETER, Value=KEY, Type="SecureString")
    return client


@pytest.fixture
def referenced(settings: Settings, services: Services, reconfigure: Any, ssm: Any) -> Settings:
    """The app wired as `chalice deploy` runs it: the key by reference only (installed
    after, so instead of, the default `services`)."""
    changed = {"page_token_secret": b"never-used", "page_token_secret_parameter": PARAMETER}
    reconfigure(settings, **changed)
    return settings


def test_the_api_signs_listing_tokens_with_the_parameters_key(
    referenced: Settings, client: Client
) -> None:
    for _ in range(2):
        submit(client)

    page = client.http.get("/vpcs?limit=1", headers=auth()).json_body

    attributes = ALL_REQUESTS.key_attributes
    assert PageTokenCodec(KEY.encode()).decode(page["next_token"], "all", attributes)
    with pytest.raises(BadRequest):
        PageTokenCodec(b"never-used").decode(page["next_token"], "all", attributes)
    second = client.http.get(f"/vpcs?limit=1&next_token={page['next_token']}", headers=auth())
    assert second.status_code == 200


def test_the_key_is_read_on_the_first_listing_not_before(
    referenced: Settings, client: Client, ssm: Any
) -> None:
    submit(client)
    ssm.delete_parameter(Name=PARAMETER)  # a listing would now fail: nothing read it yet
    submit(client)

    answer = client.http.get("/vpcs?limit=1", headers=auth())

    assert answer.status_code == 503, answer.body
    assert answer.json_body["Code"] == "ServiceUnavailable"
    assert "ssm:GetParameter" in answer.json_body["Message"]


def test_the_key_itself_wins_over_the_reference() -> None:
    base = {"TABLE_NAME": "t", "AWS_REGION": "us-east-1"}
    reference = {"PAGE_TOKEN_SECRET_SSM_PARAMETER": PARAMETER}

    assert load_settings({**base, **reference}).page_token_secret_parameter == PARAMETER
    both = load_settings({**base, **reference, "PAGE_TOKEN_SECRET": KEY})
    assert both.page_token_secret_parameter == ""
    assert both.page_token_key == KEY.encode()
