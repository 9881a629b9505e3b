"""An explicit CIDR inside a *shared* block (a foreign VPC's, kept shared because it
overlaps a live allocation) that is filed under another pool's index (or straddles a pool
smaller than a /16) is refused by the shared block's mark on an ancestor item, which names
no holder. The POST then looks for whose block it met: it must read the indexes where a
block *around* the CIDR may be filed too, or it answers 503 "retry" to every retry for as
long as the foreign VPC lives. The contract: a 409 CidrConflict naming the VPC."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from integration.conftest import REGION, Stack, post


def _explicit(cidr: str, subnet: str) -> dict[str, Any]:
    return {"vpc": {"cidr": cidr}, "subnets": [{"cidr": subnet, "az": f"{REGION}a"}]}


def test_an_explicit_cidr_inside_a_foreign_vpc_shared_under_another_pool_is_a_409(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    small = '[{"name": "dev", "cidr": "10.1.0.0/20"}, {"name": "test", "cidr": "10.1.16.0/20"}]'
    services = reconfigure(settings, address_pools=parse_pools(small), allow_overlap=False)
    ours = post(client, _explicit("10.1.0.0/24", "10.1.0.0/24"))
    assert ours.status_code == 202, ours.body
    # Someone makes a VPC over our live block and beyond it (it spans both pools).
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.1.0.0/19")["Vpc"]["VpcId"]
    report = services.pool_keeper.run()
    assert f"{theirs} 10.1.0.0/19" in report.foreign_held  # kept as shared (it overlaps ours)

    # A CIDR of pool "test" inside their VPC: it overlaps their VPC, so it is refused...
    answers = [post(client, _explicit("10.1.16.0/24", "10.1.16.0/24")) for _ in range(3)]

    # ... with a 409 naming their VPC, not a 503 to every retry.
    assert [a.status_code for a in answers] == [409, 409, 409], [a.body for a in answers]
    assert theirs in answers[0].json_body["Message"]


def test_an_explicit_cidr_outside_every_pool_inside_a_shared_foreign_vpc_is_a_409(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The same with one pool smaller than a /16: the foreign VPC straddles its edge."""
    small = '[{"name": "dev", "cidr": "10.1.0.0/20"}]'
    services = reconfigure(settings, address_pools=parse_pools(small), allow_overlap=False)
    assert post(client, _explicit("10.1.0.0/24", "10.1.0.0/24")).status_code == 202
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.1.0.0/19")["Vpc"]["VpcId"]
    services.pool_keeper.run()

    answer = post(client, _explicit("10.1.16.0/24", "10.1.16.0/24"))

    assert answer.status_code == 409, answer.body
    assert theirs in answer.json_body["Message"]
