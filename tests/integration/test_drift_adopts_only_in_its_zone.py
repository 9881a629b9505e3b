"""A subnet someone makes again at a deleted subnet's CIDR, tagged for the request, but in
another Availability Zone, is not adopted as made again in its place: the drift stays (the
record would otherwise say SUCCEEDED with no drift and name that subnet under the zone the
request asked for, though EC2 has it in another: the console draws it in the wrong column,
a one-subnet-per-zone layout is told all is well). A review found that."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.wiring import Services
from integration.conftest import REGION, Stack, record
from integration.test_drift import drift_of, public_request, reconcile, subnet_made_again


def test_a_subnet_made_again_in_another_az_is_not_the_record_s_subnet_without_drift(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    asked = rec["subnets"][1]["az"]
    stack.ec2.delete_subnet(SubnetId=rec["subnets"][1]["subnet_id"])
    reconcile(services, clock, settings)
    assert drift_of(client, request_id) != []

    elsewhere = f"{REGION}c" if asked != f"{REGION}c" else f"{REGION}a"
    restored = subnet_made_again(stack, request_id, vpc_id, rec["subnets"][1]["cidr"], elsewhere)
    reconcile(services, clock, settings)

    after = record(client, request_id)
    state = after["subnets"][1]
    named_with_wrong_az = state["subnet_id"] == restored and state["az"] != elsewhere
    assert not (named_with_wrong_az and after["drift"] == []), (
        f"the record names {restored} in {state['az']} with no drift; EC2 has it in {elsewhere}"
    )
