"""GET /vpcs's filters: `status` (one of the statuses) or `created_by=me`, never both."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.query import LIST_PARAMETERS, ListFilter, parse_list_filter, query_parameters
from chalicelib.errors import BadRequest
from chalicelib.models import Status


def test_no_filter_lists_everything() -> None:
    assert parse_list_filter(None, None) == ListFilter()


@pytest.mark.parametrize("status", list(Status))
def test_every_status_is_a_filter(status: Status) -> None:
    assert parse_list_filter(status.value, None) == ListFilter(status=status)


def test_created_by_me_is_the_callers_own_listing() -> None:
    assert parse_list_filter(None, "me") == ListFilter(mine=True)


@pytest.mark.parametrize("status", ["succeeded", "Succeeded", " SUCCEEDED", "", "ALL", "*"])
def test_an_unknown_status_names_every_valid_one(status: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_list_filter(status, None)

    message = caught.value.message
    assert message.startswith(f"status {status!r} is not a status")
    for valid in Status:
        assert valid.value in message


@pytest.mark.parametrize("created_by", ["ME", "you", "", "user-1", "me "])
def test_created_by_accepts_only_me(created_by: str) -> None:
    with pytest.raises(BadRequest, match="accepts only 'me'"):
        parse_list_filter(None, created_by)


def test_both_filters_at_once_say_to_use_one() -> None:
    with pytest.raises(BadRequest, match="not both: use one"):
        parse_list_filter("SUCCEEDED", "me")


@given(st.text(max_size=5000), st.text(max_size=5000))
def test_a_refused_filter_message_stays_short(status: str, created_by: str) -> None:
    for args in ((status, None), (None, created_by)):
        try:
            parse_list_filter(*args)
        except BadRequest as exc:
            assert len(exc.message) < 400


def test_the_listing_takes_the_filters_as_query_parameters() -> None:
    params = query_parameters({"status": ["FAILED"], "limit": ["5"]}, LIST_PARAMETERS)

    assert params == {"status": "FAILED", "limit": "5"}
    with pytest.raises(BadRequest, match="created_by, drift, limit, next_token, status"):
        query_parameters({"owner": ["me"]}, LIST_PARAMETERS)
