"""No error message echoes unbounded client input.

A 400 whose message repeats a megabyte-sized key or CIDR (or 100k unknown
field names) can outgrow Lambda's 6 MB response limit, which API Gateway turns
into a 502. Each test sends something huge and checks that the message stays
small and still names the field to fix.
"""

from __future__ import annotations

import ast
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.api.echo import quote
from chalicelib.api.json_body import parse_json_body
from chalicelib.api.query import parse_limit, query_parameters
from chalicelib.api.validation import check_zones, validate_request
from chalicelib.errors import BadRequest
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec

MAX_MESSAGE = 1_000
MEGA = 1_000_000


def message_of(call: Callable[[], object]) -> str:
    with pytest.raises(BadRequest) as caught:
        call()
    message = caught.value.message
    assert len(message) < MAX_MESSAGE, f"{len(message)} characters: {message[:300]}"
    return message


def body_with(**top: Any) -> dict[str, Any]:
    return {
        "vpc": {"cidr": "10.30.0.0/16"},
        "subnets": [{"cidr": "10.30.1.0/24", "az": "us-east-1a"}],
        **top,
    }


# --- request bodies ------------------------------------------------------------------


def test_a_2mb_body_of_100k_unknown_keys_gets_a_short_message() -> None:
    unknown = {f"unknown{i:06d}": 1 for i in range(100_000)}
    raw = json.dumps(body_with(**unknown)).encode()
    assert len(raw) >= 2_000_000

    message = message_of(lambda: validate_request(parse_json_body(raw)))

    assert message.startswith("The request body has unknown field(s) 'unknown000000', ")
    assert "'unknown000004' and 99995 more; allowed: subnets, vpc." in message
    assert "unknown000005" not in message


@pytest.mark.parametrize("where", ["vpc", "subnets[0]"])
def test_100k_unknown_keys_inside_the_body_get_a_short_message(where: str) -> None:
    body = body_with()
    target = body["vpc"] if where == "vpc" else body["subnets"][0]
    target.update({f"k{i:06d}": 1 for i in range(100_000)})

    message = message_of(lambda: validate_request(body))

    assert message.startswith(f"{where} has unknown field(s) 'k000000', ")
    assert "and 99995 more; allowed:" in message


def test_one_1mb_unknown_key_is_cut() -> None:
    message = message_of(lambda: validate_request(body_with(**{"k" * MEGA: 1})))

    assert message.startswith("The request body has unknown field(s) 'kkk")
    assert f"'{'k' * 100}'… (999900 more characters); allowed: subnets, vpc." in message


def test_a_1mb_duplicate_key_is_cut() -> None:
    key = "d" * MEGA
    raw = json.dumps({key: 1})[:-1] + ", " + json.dumps({key: 2})[1:]

    message = message_of(lambda: parse_json_body(raw))

    assert message.startswith("The request body repeats the key 'ddd")
    assert message.endswith("… (999900 more characters); send each field once.")


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("1" * MEGA, "has no prefix length"),
        ("10.30.0.0/16" + " " * MEGA, "is not an IPv4 CIDR block"),
        ("10.30.0.0/" + "0" * MEGA + "16", "is not an IPv4 CIDR block"),
        ("/" * MEGA, "is not an IPv4 CIDR block"),
    ],
)
@pytest.mark.parametrize("field", ["vpc.cidr", "subnets[0].cidr"])
def test_a_1mb_cidr_is_cut(cidr: str, fragment: str, field: str) -> None:
    body = body_with()
    if field == "vpc.cidr":
        body["vpc"]["cidr"] = cidr
    else:
        body["subnets"][0]["cidr"] = cidr

    message = message_of(lambda: validate_request(body))

    assert message.startswith(f"{field} '")
    assert fragment in message
    assert "more characters)" in message


def test_long_cidrs_never_reach_the_parser() -> None:
    """Each distinct prefix text that parses would stay in ipaddress's cache for good."""
    cache = ipaddress.IPv4Network._netmask_cache  # type: ignore[attr-defined]
    before = len(cache)

    for zeros in range(30, 60):
        with pytest.raises(BadRequest, match="is not an IPv4 CIDR block"):
            validate_request(body_with(vpc={"cidr": "10.30.0.0/" + "0" * zeros + "16"}))

    assert len(cache) == before


def test_a_1mb_name_is_not_echoed() -> None:
    message = message_of(
        lambda: validate_request(body_with(vpc={"cidr": "10.30.0.0/16", "name": "n" * MEGA}))
    )

    assert message == f"vpc.name must be 1 to 128 characters long, got {MEGA}."


@pytest.mark.parametrize("az", ["a" * MEGA, "é" * MEGA, "\x00" * MEGA])
def test_a_1mb_az_is_cut(az: str) -> None:
    body = body_with()
    body["subnets"][0]["az"] = az

    message = message_of(lambda: validate_request(body))

    assert message.startswith("subnets[0].az must be an Availability Zone name such as")
    assert "more characters)." in message


def test_check_zones_cuts_the_az_it_names() -> None:
    request = ProvisioningRequest(
        vpc=VpcSpec("10.30.0.0/16"), subnets=(SubnetSpec("10.30.1.0/24", "z" * MEGA),)
    )

    message = message_of(lambda: check_zones(request, frozenset({"us-east-1a"}), "us-east-1"))

    assert message.startswith("subnets[0].az 'zzz")
    assert "(999900 more characters) is not an Availability Zone of us-east-1" in message
    assert message.endswith("use one of: us-east-1a.")


# --- query parameters ----------------------------------------------------------------


def test_10k_unknown_query_parameters_get_a_short_message() -> None:
    params = {f"p{i:05d}": ["1"] for i in range(10_000)}

    message = message_of(lambda: query_parameters(params, ("limit", "next_token")))

    assert message.startswith("Unknown query parameter(s) 'p00000', ")
    assert message.endswith("'p00004' and 9995 more; allowed: limit, next_token.")


def test_a_1mb_query_parameter_name_is_cut() -> None:
    message = message_of(lambda: query_parameters({"q" * MEGA: ["1"]}, ("limit",)))

    assert message.startswith("Unknown query parameter(s) 'qqq")
    assert message.endswith("(999900 more characters); allowed: limit.")


def test_10k_repeated_query_parameters_get_a_short_message() -> None:
    names = [f"p{i:05d}" for i in range(10_000)]

    message = message_of(lambda: query_parameters({n: ["1", "2"] for n in names}, names))

    assert message == (
        "Give each query parameter once; repeated: "
        "'p00000', 'p00001', 'p00002', 'p00003', 'p00004' and 9995 more."
    )


@pytest.mark.parametrize("value", ["x" * MEGA, "9" * MEGA, "1" * 5_000, "-" + "1" * MEGA])
def test_a_huge_limit_is_a_short_bad_request(value: str) -> None:
    """Also: int() refuses text of more than 4300 digits, which must not become a 500."""
    message = message_of(lambda: parse_limit(value))

    assert message.startswith("limit must be an integer from 1 to 50, got '")
    assert message.endswith("more characters).")


def test_leading_zeros_of_any_length_still_parse() -> None:
    assert parse_limit("0" * MEGA + "7") == 7
    assert parse_limit("0" * MEGA + "50") == 50
    with pytest.raises(BadRequest):
        parse_limit("0" * MEGA + "51")
    with pytest.raises(BadRequest):
        parse_limit("0" * MEGA)


# --- quote ---------------------------------------------------------------------------

# Quotes, backslashes and characters repr escapes (up to ten characters each:
# '\U000e0001'), mixed with anything else, to hit every way of cutting a repr.
tricky_text = st.text(
    st.sampled_from(["a", "'", '"', "\\", "\n", "\x00", "é", "😀", "\ud800", "\U000e0001"])
    | st.characters(exclude_categories=()),
    max_size=400,
)


@example("a" * 2_000_000)
@example("'" * 200 + '"')
@example("'" * 200)
@example("x" * 101)
@given(st.text() | tricky_text)
def test_quote_is_a_bounded_prefix_of_repr(value: str) -> None:
    full = repr(value)
    quoted = quote(value)

    if len(full) - 2 <= 100:
        assert quoted == full
        return
    assert len(quoted) <= 130
    head, _, tail = quoted.rpartition("… (")
    # The head is a whole Python literal: the start of the repr, closed with its quote.
    assert full.startswith(head[:-1])
    assert head[-1] == full[0]
    assert 100 - 9 <= len(head) - 2 <= 100
    shown: str = ast.literal_eval(head)
    assert value.startswith(shown)
    left_out = len(value) - len(shown)
    assert tail == f"{left_out} more character{'' if left_out == 1 else 's'})"


@given(st.text(), st.integers(0, 300))
def test_quote_honours_its_limit(value: str, limit: int) -> None:
    quoted = quote(value, limit)

    assert len(quoted) <= limit + 30
    if quoted != repr(value):
        assert repr(value).startswith(quoted.rpartition("… (")[0][:-1])


def test_quote_cuts_other_objects_by_their_repr() -> None:
    assert quote(12) == "12"
    assert quote(list(range(100_000))).endswith("… (688790 more characters)")
    assert len(quote(list(range(100_000)))) <= 130
