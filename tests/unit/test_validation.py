"""Every validation rule of docs/api.md, and property tests of what an accepted
body guarantees."""

from __future__ import annotations

import contextlib
import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.idempotency_key import validate_idempotency_key
from chalicelib.api.json_body import parse_json_body
from chalicelib.api.query import parse_limit, query_parameters
from chalicelib.api.validation import check_zones, validate_request
from chalicelib.errors import BadRequest
from chalicelib.models import is_request_id
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec

ZONES = frozenset({"us-east-1a", "us-east-1b"})


def valid(**vpc: Any) -> dict[str, Any]:
    return {
        "vpc": {"cidr": "10.30.0.0/16", **vpc},
        "subnets": [
            {"cidr": "10.30.1.0/24", "az": "us-east-1a", "name": "apps-a"},
            {"cidr": "10.30.2.0/24", "az": "us-east-1b"},
        ],
    }


def rejects(body: Any, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_request(body)
    assert fragment in caught.value.message


def test_the_spec_example_is_accepted_as_given() -> None:
    request = validate_request(valid(name="apps"))

    assert request == ProvisioningRequest(
        vpc=VpcSpec("10.30.0.0/16", "apps"),
        subnets=(
            SubnetSpec("10.30.1.0/24", "us-east-1a", "apps-a"),
            SubnetSpec("10.30.2.0/24", "us-east-1b"),
        ),
    )
    assert request.to_json() == valid(name="apps")


@pytest.mark.parametrize("body", [None, [], "x", 1, True])
def test_the_body_must_be_an_object(body: Any) -> None:
    rejects(body, "must be a JSON object")


def test_unknown_fields_are_rejected_at_every_level() -> None:
    rejects({**valid(), "tags": {}}, "unknown field(s) 'tags'")
    rejects(valid(region="x"), "vpc has unknown field(s) 'region'")
    body = valid()
    body["subnets"][1]["ipv6"] = True
    rejects(body, "subnets[1] has unknown field(s) 'ipv6'")


def test_missing_fields_are_named() -> None:
    rejects({"vpc": {"cidr": "10.0.0.0/16"}}, "missing the required field(s) subnets")
    rejects({"vpc": {}, "subnets": []}, "vpc needs a cidr (such as '10.0.0.0/16') or a netmask")


@pytest.mark.parametrize(
    ("vpc", "said"),
    [
        (
            {"cidr": "10.30.0.0/16"},
            "subnets[0] needs a cidr (such as '10.30.0.0/24') or a netmask_length (such as 24) "
            "for the service to choose the block.",
        ),
        (
            {"cidr": "10.30.0.0/26"},
            "subnets[0] needs a cidr (such as '10.30.0.0/26') or a netmask_length (such as 26) ",
        ),
        (
            {"netmask_length": 20},
            "subnets[0] needs a netmask_length (such as 24) for the service to choose the block.",
        ),
    ],
)
def test_a_subnet_with_neither_cidr_nor_netmask_length_gets_subnet_sized_examples(
    vpc: dict[str, Any], said: str
) -> None:
    """A subnet's examples, not a VPC's: a /24 inside vpc.cidr (the VPC's own size when it
    is smaller); under a sized VPC only a netmask_length, which is all it may have."""
    rejects({"vpc": vpc, "subnets": [{"az": "us-east-1a"}]}, said)


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        (None, "must be a string"),
        (167772160, "must be a string"),
        ("10.30.0.0", "no prefix length"),
        ("10.0.0.0/8", "prefix /8"),
        ("10.30.0.0/29", "prefix /29"),
        ("10.30.0.1/16", "did you mean '10.30.0.0/16'"),
        ("10.30.0.0/255.255.0.0", "canonical form"),
        ("10.030.0.0/16", "not an IPv4 CIDR"),
        ("fd00::/48", "not an IPv4 CIDR"),
        ("10.30.0.0/16 ", "not an IPv4 CIDR"),
        ("127.0.0.0/16", "cannot use"),
        ("169.254.0.0/16", "cannot use"),
        ("224.0.0.0/16", "cannot use"),
        ("0.0.0.0/16", "cannot use"),
    ],
)
def test_vpc_cidr_must_be_canonical_ipv4_with_prefix_16_to_28(cidr: Any, fragment: str) -> None:
    rejects(valid(cidr=cidr), fragment)


@pytest.mark.parametrize("prefix", [16, 20, 28])
def test_prefixes_16_to_28_are_accepted(prefix: int) -> None:
    cidr = f"10.30.0.0/{prefix}"
    body = {"vpc": {"cidr": cidr}, "subnets": [{"cidr": cidr, "az": "us-east-1a"}]}

    assert validate_request(body).subnets[0].cidr == cidr


def test_subnets_must_be_inside_the_vpc() -> None:
    body = valid()
    body["subnets"][1]["cidr"] = "10.31.2.0/24"
    rejects(body, "subnets[1].cidr 10.31.2.0/24 is not inside vpc.cidr 10.30.0.0/16")


def test_a_subnet_larger_than_the_vpc_is_not_inside_it() -> None:
    body = {"vpc": {"cidr": "10.30.0.0/24"}, "subnets": [{"cidr": "10.30.0.0/16", "az": "a"}]}
    rejects(body, "not inside")


def test_overlapping_subnets_name_both() -> None:
    body = valid()
    body["subnets"].append({"cidr": "10.30.2.128/25", "az": "us-east-1a"})
    rejects(body, "subnets[2].cidr 10.30.2.128/25 overlaps subnets[1].cidr 10.30.2.0/24")


def test_identical_subnets_overlap() -> None:
    body = valid()
    body["subnets"][1]["cidr"] = "10.30.1.0/24"
    rejects(body, "overlaps subnets[0]")


@pytest.mark.parametrize("count", [0, 51])
def test_one_to_fifty_subnets(count: int) -> None:
    body = {
        "vpc": {"cidr": "10.30.0.0/16"},
        "subnets": [{"cidr": f"10.30.{i}.0/24", "az": "us-east-1a"} for i in range(count)],
    }
    rejects(body, "1 to 50 subnets")


def test_fifty_subnets_are_accepted() -> None:
    body = {
        "vpc": {"cidr": "10.30.0.0/16"},
        "subnets": [{"cidr": f"10.30.{i}.0/24", "az": "us-east-1a"} for i in range(50)],
    }
    assert len(validate_request(body).subnets) == 50


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "1 to 128 characters"),
        ("x" * 129, "1 to 128 characters"),
        (5, "must be a string"),
        ("a<b", "'<' (U+003C)"),
        ("tab\there", "'\\t'"),
        ("new\nline", "'\\n'"),
        ("\ud800", "cannot hold"),
        ('quote"', "cannot hold"),
    ],
)
def test_names_must_be_valid_tag_values(name: Any, fragment: str) -> None:
    rejects(valid(name=name), fragment)
    body = valid()
    body["subnets"][0]["name"] = name
    rejects(body, "subnets[0].name")


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "x" * 128,
        "apps_a.b:c/d=e+f-g@h",
        "Ünïcødé 名前 ١٢٣",
        "Zu\u0308rich",  # decomposed: a u and its combining diaeresis
        "नमस्ते",  # Devanagari: vowel signs and a virama are combining marks
        "தமிழ்",
    ],
)
def test_valid_tag_values_are_accepted(name: str) -> None:
    assert validate_request(valid(name=name)).vpc.name == name


@pytest.mark.parametrize("az", [None, 1, "", "x" * 65])
def test_az_must_be_a_zone_name(az: Any) -> None:
    body = valid()
    body["subnets"][0]["az"] = az
    rejects(body, "subnets[0].az")


@pytest.mark.parametrize(
    ("pool", "got"),
    [(None, "null"), ("", "''"), (5, "a number"), (True, "a boolean"), ([], "an array")],
)
def test_a_pool_must_be_a_pool_s_name(pool: Any, got: str) -> None:
    """Like every other field, a null `pool` is a 400 (it was taken for no pool: a body
    the contract refuses, accepted); what came is said plainly (an empty name is '')."""
    body = {"vpc": {"netmask_length": 20, "pool": pool}, "subnets": [{"netmask_length": 24}]}
    rejects(body, f"vpc.pool must be the name of a pool (GET /pools lists them), got {got}.")


def test_zones_are_checked_against_the_region() -> None:
    request = validate_request(valid())
    check_zones(request, ZONES, "us-east-1")

    with pytest.raises(BadRequest) as caught:
        check_zones(request, frozenset({"us-east-1a"}), "us-east-1")

    assert "subnets[1].az 'us-east-1b' is not an Availability Zone of us-east-1" in str(
        caught.value
    )
    assert "us-east-1a" in str(caught.value)


# --- JSON parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"  ", "empty"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"a": NaN}', "NaN"),
        # Python's int() refuses more than 4,300 digits with a plain ValueError (a 500).
        (b'{"a": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"a": -' + b"9" * 4301 + b"}", "4301 digits"),  # the sign is no digit
        (b'{"a": ' + b"1" * 21 + b"}", "no field takes more than 20"),
        (b'{"a": 1, "a": 2}', "repeats the key 'a'"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_unparseable_bodies_are_rejected(raw: bytes | None, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_body(raw)
    assert fragment in caught.value.message


def test_a_raw_control_character_is_said_once_with_where_it_is() -> None:
    """json's message ends "... at": the 400 says the position once, not "at at"."""
    with pytest.raises(BadRequest) as caught:
        parse_json_body(b'{"a": "x\ty"}')
    assert caught.value.message == (
        "The request body is not valid JSON: Invalid control character at line 1 column 9."
    )


def test_a_leading_byte_order_mark_is_ignored() -> None:
    """Windows tools (PowerShell 5.1's Out-File, Notepad) write one; RFC 8259 8.1 lets a
    parser ignore it (json's own error, "decode using utf-8-sig", was advice to us)."""
    assert parse_json_body(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert parse_json_body('\ufeff{"a": 1}') == {"a": 1}


def test_a_body_parses_from_bytes_and_str() -> None:
    assert parse_json_body(b'{"a": [1]}') == {"a": [1]}
    assert parse_json_body(b'{"a": -' + b"9" * 20 + b"}") == {"a": -int("9" * 20)}
    assert parse_json_body('{"a": [1]}') == {"a": [1]}


# --- headers and query parameters ----------------------------------------------------


@pytest.mark.parametrize("key", ["a", "x" * 255, "req-2026-11-28/1 ~!"])
def test_idempotency_keys_of_printable_ascii_are_accepted(key: str) -> None:
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize("key", [None, "", "x" * 256, "a\tb", "a\x7fb", "é"])
def test_other_idempotency_keys_are_rejected(key: str | None) -> None:
    with pytest.raises(BadRequest):
        validate_idempotency_key(key)


@pytest.mark.parametrize(("raw", "limit"), [(None, 20), ("1", 1), ("50", 50), ("07", 7)])
def test_limit_parses(raw: str | None, limit: int) -> None:
    assert parse_limit(raw) == limit


@pytest.mark.parametrize("raw", ["0", "51", "-1", "", "1e1", " 5", "٥", "²"])
def test_limit_rejects_anything_else(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_limit(raw)


def test_query_parameters_reject_unknown_and_repeated_names() -> None:
    assert query_parameters({"limit": ["5"]}, ("limit",)) == {"limit": "5"}
    with pytest.raises(BadRequest, match="limt"):
        query_parameters({"limt": ["5"]}, ("limit",))
    with pytest.raises(BadRequest, match="repeated: 'limit'"):
        query_parameters({"limit": ["5", "6"]}, ("limit",))


def test_request_ids_are_canonical_uuids() -> None:
    assert is_request_id("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert not is_request_id("0F8FAD5B-D9CB-469F-A165-70867728950E")
    assert not is_request_id("0f8fad5bd9cb469fa16570867728950e")
    assert not is_request_id("lock#sub#key")


# --- properties ----------------------------------------------------------------------


@st.composite
def networks(draw: st.DrawFn, min_prefix: int = 16, max_prefix: int = 28) -> str:
    prefix = draw(st.integers(min_prefix, max_prefix))
    base = draw(st.integers(0, 2**32 - 1)) >> (32 - prefix) << (32 - prefix)
    return str(ipaddress.IPv4Network((base, prefix)))


@st.composite
def candidate_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies near the valid set: subnets drawn inside and around a VPC range."""
    vpc = ipaddress.IPv4Network(draw(networks(min_prefix=16, max_prefix=24)))
    subnets = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            prefix = draw(st.integers(vpc.prefixlen, 28))
            offset = draw(st.integers(0, 2 ** (prefix - vpc.prefixlen) - 1))
            net = (
                list(vpc.subnets(new_prefix=prefix))[offset] if prefix - vpc.prefixlen < 12 else vpc
            )
            cidr = str(net)
        else:
            cidr = draw(networks())
        subnets.append({"cidr": cidr, "az": "us-east-1a"})
    return {"vpc": {"cidr": str(vpc)}, "subnets": subnets}


@settings(max_examples=300, deadline=None)
@given(candidate_bodies())
def test_any_accepted_body_has_disjoint_subnets_inside_the_vpc(body: dict[str, Any]) -> None:
    try:
        request = validate_request(body)
    except BadRequest:
        return
    vpc = ipaddress.IPv4Network(request.vpc.cidr)
    nets = [ipaddress.IPv4Network(s.cidr) for s in request.subnets]
    for i, net in enumerate(nets):
        assert net.subnet_of(vpc)
        assert 16 <= net.prefixlen <= 28
        for other in nets[i + 1 :]:
            assert not net.overlaps(other)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_value_is_either_accepted_or_a_bad_request(value: Any) -> None:
    """No input makes validation raise anything but BadRequest."""
    for candidate in (
        value,
        {"vpc": value, "subnets": value},
        {"vpc": {"cidr": value}, "subnets": [value]},
    ):
        with contextlib.suppress(BadRequest):
            validate_request(candidate)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_a_bad_request(raw: bytes) -> None:
    with contextlib.suppress(BadRequest):
        parse_json_body(raw)


@given(candidate_bodies())
def test_the_fingerprint_ignores_key_order(body: dict[str, Any]) -> None:
    try:
        request = validate_request(body)
    except BadRequest:
        return
    reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))
    assert validate_request(reordered).fingerprint() == request.fingerprint()


def test_a_subnet_may_be_public_and_false_is_the_same_body_as_absent() -> None:
    body = valid()
    body["subnets"][0]["public"] = True
    request = validate_request(body)
    assert [s.public for s in request.subnets] == [True, False]
    assert request.has_public_subnets
    assert request.to_json()["subnets"][0]["public"] is True
    assert "public" not in request.to_json()["subnets"][1]

    explicit = valid()
    explicit["subnets"][1]["public"] = False
    assert validate_request(explicit).fingerprint() == validate_request(valid()).fingerprint()


@pytest.mark.parametrize("value", ["true", 1, None, []])
def test_public_must_be_a_boolean(value: Any) -> None:
    body = valid()
    body["subnets"][0]["public"] = value
    rejects(body, "subnets[0].public must be true or false")
