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
        ({**BASE, "MAX_LIVE_REQUESTS_PER_USER": "-1"}, "MAX_LIVE_REQUESTS_PER_USER"),
        ({**BASE, "MAX_LIVE_REQUESTS_PER_USER": "many"}, "MAX_LIVE_REQUESTS_PER_USER"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        load_settings(env)


def test_the_page_token_key_is_the_secret_else_random_never_derived_from_config() -> None:
    """Nothing public (a table's name) gives the listing tokens' key away: without a
    configured secret each process draws its own."""
    assert load_settings({**BASE, "PAGE_TOKEN_SECRET": "s"}).page_token_key == b"s"
    first, second = load_settings(BASE).page_token_key, load_settings(BASE).page_token_key
    assert first != second
    assert len(first) == 32
    assert b"t" not in (first, second)


def test_the_worker_and_reconciler_settings_have_safe_defaults() -> None:
    settings = load_settings(BASE)

    assert settings.deployment == "t"  # the deployment tag names the table
    assert settings.reconcile_grace_seconds == 900
    assert settings.reconcile_grace_seconds > 300  # the worker's Lambda timeout
    assert (settings.retry_delay_base_seconds, settings.retry_delay_cap_seconds) == (10, 900)
    assert settings.store_write_attempts == 3
    assert load_settings({**BASE, "DLQ_URL": "https://d"}).dlq_url == "https://d"
    assert load_settings({**BASE, "RETRY_DELAY_BASE_SECONDS": "0"}).retry_delay_base_seconds == 0


def test_a_deployed_stage_limits_live_requests_per_user_unless_told_otherwise() -> None:
    assert load_settings(BASE).max_live_requests_per_user == 20
    assert (
        load_settings({**BASE, "MAX_LIVE_REQUESTS_PER_USER": "3"}).max_live_requests_per_user == 3
    )
    assert (
        load_settings({**BASE, "MAX_LIVE_REQUESTS_PER_USER": "0"}).max_live_requests_per_user == 0
    )


def test_the_stages_say_20_deployed_and_0_locally_and_make_run_honours_the_environment() -> None:
    from devstack.settings import local_environment, stage_environment  # noqa: PLC0415

    assert stage_environment("dev")["MAX_LIVE_REQUESTS_PER_USER"] == "20"
    assert stage_environment("prod")["MAX_LIVE_REQUESTS_PER_USER"] == "20"
    assert local_environment({})["MAX_LIVE_REQUESTS_PER_USER"] == "0"
    assert (
        local_environment({"MAX_LIVE_REQUESTS_PER_USER": "5"})["MAX_LIVE_REQUESTS_PER_USER"] == "5"
    )
    assert (
        local_environment({"MAX_LIVE_REQUESTS_PER_USER": " "})["MAX_LIVE_REQUESTS_PER_USER"] == "0"
    )


def test_pools_default_to_one_10_8_pool_refusing_overlaps_and_are_read_from_the_stage() -> None:
    settings = load_settings(BASE)
    assert [(p.name, p.cidr) for p in settings.address_pools] == [("default", "10.0.0.0/8")]
    assert settings.allow_overlap is False
    pools = '[{"name": "a", "cidr": "10.0.0.0/16"}, {"name": "b", "cidr": "10.1.0.0/16"}]'
    told = load_settings({**BASE, "ADDRESS_POOLS": pools, "CIDR_OVERLAP": "allow"})
    assert [p.name for p in told.address_pools] == ["a", "b"]
    assert told.allow_overlap is True


OVERLAPPING_POOLS = '[{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "10.1.0.0/16"}]'


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ADDRESS_POOLS": "[{"}, "ADDRESS_POOLS is not JSON"),
        ({"ADDRESS_POOLS": "[]"}, "non-empty JSON list"),
        (
            {"ADDRESS_POOLS": OVERLAPPING_POOLS},
            "pools 'a' and 'b' overlap",
        ),
        ({"ADDRESS_POOLS": '[{"name": "~x", "cidr": "10.0.0.0/8"}]'}, "a pool's name is"),
        ({"CIDR_OVERLAP": "maybe"}, "CIDR_OVERLAP must be reject or allow"),
    ],
)
def test_a_bad_pool_setting_is_a_configuration_error_naming_it(
    env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, **env})
    assert fragment in str(caught.value)


def test_make_run_honours_address_pools_and_cidr_overlap() -> None:
    from devstack.settings import local_environment  # noqa: PLC0415

    pools = '[{"name": "lab", "cidr": "192.168.0.0/16"}]'
    env = local_environment({"ADDRESS_POOLS": pools, "CIDR_OVERLAP": "allow"})
    assert (env["ADDRESS_POOLS"], env["CIDR_OVERLAP"]) == (pools, "allow")


def test_locally_drift_shows_within_30_seconds_of_a_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change behind the service's back is seen by the next reconciler run; a request
    that has just succeeded is first checked once it settled. Both together stay within
    the contract's 30 s on the local stack, and DEVSTACK_RECONCILER_SECONDS (the
    end-to-end tests') may only shorten the period."""
    from devstack.settings import (  # noqa: PLC0415
        RECONCILER_PERIOD_SECONDS,
        local_environment,
        reconciler_period,
    )

    monkeypatch.delenv("DEVSTACK_RECONCILER_SECONDS", raising=False)
    settle = load_settings({**BASE, **local_environment({})}).drift_settle_seconds
    assert reconciler_period() == RECONCILER_PERIOD_SECONDS
    assert settle + RECONCILER_PERIOD_SECONDS <= 30
    monkeypatch.setenv("DEVSTACK_RECONCILER_SECONDS", "600")
    assert reconciler_period() == RECONCILER_PERIOD_SECONDS
