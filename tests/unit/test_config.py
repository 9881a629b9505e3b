"""Settings come from the environment; a bad one names the variable."""

from __future__ import annotations

import pytest

from chalicelib.config import ConfigurationError, load_settings

BASE = {"TABLE_NAME": "t", "AWS_REGION": "eu-west-1", "QUEUE_URL": "https://q"}


def test_defaults() -> None:
    settings = load_settings(BASE)

    assert settings.table_name == "t"
    assert settings.region == "eu-west-1"
    assert settings.project_tag == "demo"
    assert settings.idempotency_ttl_seconds == 86400


def test_overrides() -> None:
    settings = load_settings(
        {**BASE, "PROJECT_TAG": "platform", "IDEMPOTENCY_TTL_SECONDS": "60", "LEASE_SECONDS": "1.5"}
    )

    assert settings.project_tag == "platform"
    assert settings.idempotency_ttl_seconds == 60
    assert settings.lease_seconds == 1.5


def test_the_region_falls_back_to_aws_default_region() -> None:
    env = {"TABLE_NAME": "t", "AWS_DEFAULT_REGION": "us-west-2"}
    assert load_settings(env).region == "us-west-2"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"AWS_REGION": "x"}, "TABLE_NAME"),
        ({"TABLE_NAME": "t"}, "AWS_REGION"),
        ({**BASE, "IDEMPOTENCY_TTL_SECONDS": "day"}, "IDEMPOTENCY_TTL_SECONDS"),
        ({**BASE, "MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT"),
        ({**BASE, "LEASE_SECONDS": "-1"}, "LEASE_SECONDS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        load_settings(env)


def test_page_tokens_are_keyed_per_table_unless_a_secret_is_set() -> None:
    assert (
        load_settings(BASE).page_token_key
        != load_settings({**BASE, "TABLE_NAME": "u"}).page_token_key
    )
    assert load_settings({**BASE, "PAGE_TOKEN_SECRET": "s"}).page_token_key == b"s"
