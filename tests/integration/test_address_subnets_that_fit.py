"""Sized subnets are placed around the explicit ones in the subnets' order, and if they do
not fit that way, largest first: a layout that fits is never refused with a 400 saying the
subnets "do not fit" while they ask for fewer addresses than the VPC has.

VPC 10.0.0.0/24 with an explicit 10.0.0.128/27, then a sized /28 and a sized /25: in
order, the /28 goes to 10.0.0.0/28 and no aligned /25 is left; largest first, the /25 is
10.0.0.0/25 and the /28 10.0.0.160/28. And subnets that fit no block of the VPC's size
are a 400 whatever the pool holds, also when it is full (not a 409 PoolExhausted saying to
delete a network, which would never make the body fit)."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import REGION, post, record
from integration.test_address_pools import pools  # noqa: F401


def test_subnets_that_fit_the_vpc_are_not_refused_for_their_order(
    client: Client,
    pools: Services,  # noqa: F811
) -> None:
    payload = {
        "vpc": {"cidr": "10.0.0.0/24"},
        "subnets": [
            {"cidr": "10.0.0.128/27", "az": f"{REGION}a"},
            {"netmask_length": 28},
            {"netmask_length": 25},
        ],
    }

    response = post(client, payload)

    assert response.status_code == 202, response.body
    subnets = record(client, response.json_body["request_id"])["subnets"]
    assert [s["cidr"] for s in subnets] == ["10.0.0.128/27", "10.0.0.160/28", "10.0.0.0/25"]


def test_subnets_that_fit_by_size_but_not_by_alignment_are_told_why(client: Client) -> None:
    """docs/api.md: 10.0.0.64/26 and 10.0.0.192/28 leave 208 addresses free, yet no /25:
    each /25 of the /24 holds one of them. Saying "the subnets ask for 208" of 256 and
    "ask for smaller subnets" would not tell what is wrong."""
    payload = {
        "vpc": {"cidr": "10.0.0.0/24"},
        "subnets": [{"cidr": "10.0.0.64/26"}, {"cidr": "10.0.0.192/28"}, {"netmask_length": 25}],
    }

    response = post(client, payload)

    assert response.status_code == 400, response.body
    message = response.json_body["Message"]
    assert "starts on a multiple of its size" in message, message
    assert "move an explicit subnet (subnets[].cidr)" in message, message


def test_subnets_that_never_fit_are_a_400_even_when_the_pool_is_full(
    client: Client, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, address_pools=parse_pools('[{"name": "tiny", "cidr": "10.9.0.0/28"}]'))
    never_fits = {
        "vpc": {"netmask_length": 28},
        "subnets": [{"netmask_length": 28}, {"netmask_length": 28}],
    }
    assert post(client, never_fits).status_code == 400  # the pool has room
    fills = {"vpc": {"netmask_length": 28}, "subnets": [{"netmask_length": 28}]}
    assert post(client, fills).status_code == 202  # the pool is full now

    again = post(client, never_fits)

    assert again.status_code == 400, again.body
    assert "subnets do not fit in the VPC's /28" in again.json_body["Message"]
