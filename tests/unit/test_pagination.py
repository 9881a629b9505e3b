"""Listing tokens: opaque, URL-safe, and any change to one is a 400."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.pagination import PageTokenCodec
from chalicelib.errors import BadRequest

ATTRS = ("request_id", "list_pk", "created_sort")
POSITION = {
    "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "list_pk": "VPC_REQUEST",
    "created_sort": "2026-11-28T20:17:26.123456Z",
}
codec = PageTokenCodec(b"k" * 32)


def test_a_token_round_trips() -> None:
    token = codec.encode(POSITION, "all")

    assert codec.decode(token, "all", ATTRS) == POSITION


def test_tokens_are_url_safe() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", codec.encode(POSITION, "all"))


def test_a_token_is_bound_to_its_listing() -> None:
    token = codec.encode(POSITION, "status=FAILED")

    with pytest.raises(BadRequest):
        codec.decode(token, "all", ATTRS)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = PageTokenCodec(b"other").encode(POSITION, "all")

    with pytest.raises(BadRequest):
        codec.decode(token, "all", ATTRS)


def test_a_re_encoded_payload_without_the_key_is_refused() -> None:
    token = codec.encode(POSITION, "all")
    _payload, signature = token.split(".")
    forged = json.dumps({"v": 1, "s": "all", "k": {**POSITION, "request_id": "x"}}).encode()

    bad = base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + signature

    with pytest.raises(BadRequest):
        codec.decode(bad, "all", ATTRS)


def test_a_signed_token_of_the_wrong_shape_is_refused() -> None:
    for position in ({"request_id": "x"}, {**POSITION, "extra": "y"}, {**POSITION, "list_pk": ""}):
        with pytest.raises(BadRequest):
            codec.decode(codec.encode(position, "all"), "all", ATTRS)


@given(st.text(max_size=300))
def test_any_string_decodes_or_is_a_bad_request(token: str) -> None:
    try:
        codec.decode(token, "all", ATTRS)
    except BadRequest as exc:
        assert "next_token" in exc.message


@given(st.integers(0, 200), st.integers(1, 255))
def test_flipping_any_byte_of_a_token_is_detected(index: int, flip: int) -> None:
    token = codec.encode(POSITION, "all")
    index %= len(token)
    changed = token[:index] + chr((ord(token[index]) + flip) % 128) + token[index + 1 :]
    if changed == token:
        return
    try:
        decoded = codec.decode(changed, "all", ATTRS)
    except BadRequest:
        return
    # base64 ignores some changes (e.g. padding bits): then the decoded value is unchanged.
    assert decoded == POSITION


LISTING = {"list_pk": "VPC_REQUEST"}


def test_a_token_of_the_listing_partition_is_accepted() -> None:
    token = codec.encode(POSITION, "all")

    assert codec.decode(token, "all", ATTRS, fixed=LISTING) == POSITION


@pytest.mark.parametrize("partition", ["IDEMPOTENCY_LOCK", "", "vpc_request", "VPC_REQUEST "])
def test_a_signed_token_of_another_partition_is_refused(partition: str) -> None:
    """Signed with the right key, for the right listing, but positioned outside its partition."""
    token = codec.encode({**POSITION, "list_pk": partition}, "all")

    with pytest.raises(BadRequest, match="next_token is not valid"):
        codec.decode(token, "all", ATTRS, fixed=LISTING)


def test_without_fixed_the_partition_is_not_checked() -> None:
    position = {**POSITION, "list_pk": "IDEMPOTENCY_LOCK"}

    assert codec.decode(codec.encode(position, "all"), "all", ATTRS) == position


def test_a_fixed_attribute_the_position_lacks_refuses_the_token() -> None:
    token = codec.encode(POSITION, "all")

    with pytest.raises(BadRequest):
        codec.decode(token, "all", ATTRS, fixed={"status": "FAILED"})
