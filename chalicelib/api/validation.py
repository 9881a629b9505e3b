"""The rules of a POST /vpcs body's fields (the body as `json_body` parsed it).

Pure functions (no AWS): each raises `BadRequest` with a message that names the field
and says what to fix; what it shows of a value a client sent is `echo`'s (bounded).
Availability Zones are checked separately (`check_zones`): the valid set comes from EC2.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Collection
from typing import Any

from chalicelib.addresses import UNUSABLE_RANGES
from chalicelib.api.echo import quote, quote_names, type_name
from chalicelib.errors import BadRequest
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec

MIN_PREFIX = 16
MAX_PREFIX = 28
MAX_SUBNETS = 50
MAX_NAME_LENGTH = 128
# The longest text that can be an IPv4 CIDR block in any form IPv4Network
# accepts ("255.255.255.255/255.255.255.255"). Longer text is refused before
# parsing: besides being pointless to parse, every distinct prefix string that
# parses (e.g. "/" followed by thousands of zeros and "16") is kept forever in
# ipaddress's netmask cache, so unbounded input would grow a warm Lambda's memory.
_MAX_CIDR_LENGTH = 31

# Characters every AWS service accepts in a tag value: letters, numbers,
# spaces and `_ . : / = + - @`.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _require_object(
    value: Any, where: str, required: set[str], optional: set[str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON object, got {type_name(value)}.")
    unknown = set(value) - required - optional
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise BadRequest(
            f"{where} has unknown field(s) {quote_names(unknown)}; allowed: {allowed}."
        )
    missing = sorted(required - set(value))
    if missing:
        raise BadRequest(f"{where} is missing the required field(s) {', '.join(missing)}.")
    return value


def _cidr(value: Any, field: str) -> ipaddress.IPv4Network:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string such as '10.0.0.0/16', got {type_name(value)}.")
    if "/" not in value:
        raise BadRequest(
            f"{field} {quote(value)} has no prefix length; "
            "write a CIDR block such as '10.0.0.0/16'."
        )
    if len(value) > _MAX_CIDR_LENGTH:
        raise BadRequest(f"{field} {quote(value)} is not an IPv4 CIDR block such as '10.0.0.0/16'.")
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            try:
                fixed = ipaddress.IPv4Network(value, strict=False)
            except ValueError:
                fixed = None
            if fixed is not None:
                raise BadRequest(
                    f"{field} {quote(value)} has host bits set; did you mean '{fixed}'?"
                ) from None
        raise BadRequest(
            f"{field} {quote(value)} is not an IPv4 CIDR block such as '10.0.0.0/16'."
        ) from None
    if str(network) != value:
        raise BadRequest(
            f"{field} {quote(value)} is not in canonical form; write it as '{network}'."
        )
    if not MIN_PREFIX <= network.prefixlen <= MAX_PREFIX:
        raise BadRequest(
            f"{field} {quote(value)} has prefix /{network.prefixlen}; "
            f"the prefix must be between /{MIN_PREFIX} and /{MAX_PREFIX}."
        )
    # Rejecting these here gives the caller a 400 instead of a FAILED request later.
    for unusable in UNUSABLE_RANGES:
        if network.overlaps(unusable):
            raise BadRequest(f"{field} {quote(value)} lies in {unusable}, which a VPC cannot use.")
    return network


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string, got {type_name(value)}.")
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise BadRequest(
            f"{field} must be 1 to {MAX_NAME_LENGTH} characters long, got {len(value)}."
        )
    for char in value:
        if not _tag_character(char):
            raise BadRequest(
                f"{field} contains {quote(char)} (U+{ord(char):04X}), which a tag value cannot "
                "hold; use letters, "
                "numbers, spaces and _ . : / = + - @."
            )
    return value


def _tag_character(char: str) -> bool:
    if char in _TAG_PUNCTUATION:
        return True
    category = unicodedata.category(char)
    # Letters with their combining marks (a decomposed ü, Devanagari's vowel signs), as EC2
    # reads "letters".
    return category[0] in "LMN" or category == "Zs"


def _zone(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string such as 'us-east-1a', got {type_name(value)}.")
    if not value or len(value) > 64:
        raise BadRequest(
            f"{field} must be an Availability Zone name such as 'us-east-1a', got {quote(value)}."
        )
    return value


def validate_request(body: Any) -> ProvisioningRequest:
    """Check a parsed POST /vpcs body against every rule of docs/api.md but the
    AZ check and the pools' (which need EC2 and the stage: api/address_planner.py).

    Guarantees of the result: the VPC has either a canonical `cidr` or a
    `netmask_length`, prefixes /16../28; 1..50 subnets, each with either a `cidr`
    (only with a VPC `cidr`: inside it, no two overlapping) or a `netmask_length` no
    shorter than the VPC's; names valid tag values. Raises BadRequest naming the
    first offending field.
    """
    top = _require_object(body, "The request body", {"vpc", "subnets"}, set())
    vpc_obj = _require_object(top["vpc"], "vpc", set(), {"cidr", "netmask_length", "pool", "name"})
    vpc_net: ipaddress.IPv4Network | None = None
    vpc_length: int | None = None
    name = _name(vpc_obj["name"], "vpc.name") if "name" in vpc_obj else None
    _one_of(vpc_obj, "vpc")
    if "cidr" in vpc_obj:
        vpc_net = _cidr(vpc_obj["cidr"], "vpc.cidr")
        if "pool" in vpc_obj:
            raise BadRequest(
                "vpc.pool goes with vpc.netmask_length (the service picks the block); "
                "an explicit vpc.cidr needs no pool."
            )
        vpc = VpcSpec(cidr=str(vpc_net), name=name)
    else:
        vpc_length = _length(vpc_obj["netmask_length"], "vpc.netmask_length", MIN_PREFIX)
        pool = _pool(vpc_obj["pool"], "vpc.pool") if "pool" in vpc_obj else None
        vpc = VpcSpec(cidr=None, name=name, netmask_length=vpc_length, pool=pool)
    vpc_prefix = vpc_net.prefixlen if vpc_net is not None else vpc_length
    assert vpc_prefix is not None

    subnets_value = top["subnets"]
    if not isinstance(subnets_value, list):
        raise BadRequest(f"subnets must be an array, got {type_name(subnets_value)}.")
    if not 1 <= len(subnets_value) <= MAX_SUBNETS:
        raise BadRequest(f"subnets must hold 1 to {MAX_SUBNETS} subnets, got {len(subnets_value)}.")

    subnets: list[SubnetSpec] = []
    networks: list[tuple[int, ipaddress.IPv4Network]] = []
    # A subnet's examples: a /24 (or the VPC's size, if smaller), at the start of vpc.cidr.
    size = max(24, vpc_prefix)
    example = str(ipaddress.IPv4Network((vpc_net.network_address, size))) if vpc_net else None
    for index, item in enumerate(subnets_value):
        where = f"subnets[{index}]"
        obj = _require_object(
            item, where, set(), {"cidr", "netmask_length", "az", "name", "public"}
        )
        _one_of(obj, where, example, size)
        net: ipaddress.IPv4Network | None = None
        length: int | None = None
        if "cidr" in obj:
            net = _cidr(obj["cidr"], f"{where}.cidr")
            if vpc_net is None:
                raise BadRequest(
                    f"{where}.cidr needs an explicit vpc.cidr; with vpc.netmask_length, "
                    f"give {where}.netmask_length instead."
                )
            if not net.subnet_of(vpc_net):
                raise BadRequest(f"{where}.cidr {net} is not inside vpc.cidr {vpc_net}.")
            for other_index, other in networks:
                if net.overlaps(other):
                    raise BadRequest(
                        f"{where}.cidr {net} overlaps subnets[{other_index}].cidr {other}."
                    )
            networks.append((index, net))
        else:
            length = _length(obj["netmask_length"], f"{where}.netmask_length", vpc_prefix)
        subnets.append(
            SubnetSpec(
                cidr=str(net) if net is not None else None,
                az=_zone(obj["az"], f"{where}.az") if "az" in obj else None,
                name=_name(obj["name"], f"{where}.name") if "name" in obj else None,
                public=_flag(obj.get("public", False), f"{where}.public"),
                netmask_length=length,
            )
        )
    return ProvisioningRequest(vpc=vpc, subnets=tuple(subnets))


def _one_of(
    obj: dict[str, Any], where: str, cidr: str | None = "10.0.0.0/16", length: int = 16
) -> None:
    """Either a cidr or a netmask_length; `cidr` and `length` are the examples of the
    refusal (no `cidr`: the VPC's is sized, so a netmask_length it must be)."""
    if "cidr" in obj and "netmask_length" in obj:
        raise BadRequest(
            f"{where} has both cidr and netmask_length; give a cidr, or a netmask_length "
            "for the service to choose the block."
        )
    if "cidr" not in obj and "netmask_length" not in obj:
        either = f"a cidr (such as '{cidr}') or " if cidr else ""
        raise BadRequest(
            f"{where} needs {either}a netmask_length (such as {length}) for the service to "
            "choose the block."
        )


def _length(value: Any, field: str, shortest: int) -> int:
    """A prefix length from `shortest` to /28 (an integer, not a boolean or a float)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(
            f"{field} must be an integer from {shortest} to {MAX_PREFIX}, got {type_name(value)}."
        )
    if not shortest <= value <= MAX_PREFIX:
        why = "a subnet is no larger than its VPC" if field.startswith("subnets") else "EC2"
        raise BadRequest(
            f"{field} must be from {shortest} to {MAX_PREFIX} ({why}), got {quote(value)}."
        )
    return value


def _pool(value: Any, field: str) -> str:
    """A pool's name: a non-empty string (null is no default, as for every other field; which
    names the stage has is the planner's check)."""
    if not isinstance(value, str) or not value:
        got = quote(value) if isinstance(value, str) else type_name(value)
        raise BadRequest(f"{field} must be the name of a pool (GET /pools lists them), got {got}.")
    return value


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{field} must be true or false, got {type_name(value)}.")
    return value


def check_zones(request: ProvisioningRequest, zones: Collection[str], region: str) -> None:
    """Raise BadRequest unless every subnet's AZ is one of `zones` (the region's AZ names)."""
    for index, subnet in enumerate(request.subnets):
        if subnet.az is not None and subnet.az not in zones:
            known = ", ".join(sorted(zones))
            raise BadRequest(
                f"subnets[{index}].az {quote(subnet.az)} is not an Availability Zone of {region}; "
                f"use one of: {known}."
            )
