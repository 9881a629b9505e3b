"""A block held by one of this deployment's own VPCs (a CIDR someone associated with it, an
orphan's whose request's block was freed) is named in the 409 without saying something
false about it ("which this service did not make"): the VPC, which no request holds."""

from __future__ import annotations

from chalice.test import Client

from chalicelib.wiring import Services
from integration.conftest import Stack, deliver, record
from integration.test_address_pools import accepted, explicit, pools, refused, sized  # noqa: F401


def test_a_409_over_a_block_of_one_of_our_vpcs_does_not_say_we_did_not_make_it(
    client: Client,
    stack: Stack,
    pools: Services,  # noqa: F811
) -> None:
    first = accepted(client, sized(20))
    deliver(client, first["request_id"])
    vpc_id = record(client, first["request_id"])["vpc_id"]
    stack.truth.ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.0.16.0/20")
    pools.pool_keeper.run()

    message = refused(client, explicit("10.0.16.0/24"), 409, "CidrConflict")

    assert vpc_id in message
    assert "did not make" not in message, message
    assert "which no request of this service holds" in message
