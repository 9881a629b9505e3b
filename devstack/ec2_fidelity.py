"""Where moto's EC2 differs from EC2 in a way a teardown meets: applied in the stack's moto
process and in the in-process tests (tests/conftest.py), patching moto's classes at
runtime, never the installed package.

- EC2 removes a subnet's route table associations when the subnet is deleted (an
  association does not exist apart from its subnet); moto kept them, so a route table
  went on routing a subnet that no longer existed, and DeleteRouteTable answered
  DependencyViolation for good. (A `make chaos` seed met it: a teardown whose table
  listing lagged deleted the subnet first, and every later try found the table routing
  "another subnet".)
- EC2 refuses to delete a subnet that holds a network interface (an instance, a load
  balancer) and a VPC with an internet gateway attached (DependencyViolation); moto
  deleted both, so a teardown that cut someone's instance off, or deleted a VPC before
  detaching its gateway, passed its tests.

`apply` applies them all (idempotent).
"""

from __future__ import annotations

import functools
from typing import Any

from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend

_FIXED_MARK = "__vpc_provisioner_fidelity__"


def apply() -> None:
    """Every fix below. Idempotent."""
    subnet_deletion_drops_associations()
    subnet_with_interfaces_is_not_deleted()
    vpc_with_a_gateway_is_not_deleted()


def subnet_deletion_drops_associations() -> None:
    """DeleteSubnet also removes the subnet's route table associations. Idempotent."""
    original = SubnetBackend.delete_subnet
    if getattr(original, _FIXED_MARK, False):
        return

    @functools.wraps(original)
    def delete_subnet(self: Any, subnet_id: str) -> Any:
        subnet = original(self, subnet_id)
        for table in self.route_tables.values():
            gone = [a for a, target in table._associations.items() if target == subnet_id]
            for association_id in gone:
                del table._associations[association_id]
        return subnet

    setattr(delete_subnet, _FIXED_MARK, True)
    SubnetBackend.delete_subnet = delete_subnet  # type: ignore[method-assign]


def subnet_with_interfaces_is_not_deleted() -> None:
    """DeleteSubnet answers DependencyViolation while a network interface is in the
    subnet. Idempotent."""
    original = SubnetBackend.delete_subnet
    if getattr(original, "__interfaces_checked__", False):
        return

    @functools.wraps(original)
    def delete_subnet(self: Any, subnet_id: str) -> Any:
        if any(eni.subnet.id == subnet_id for eni in self.enis.values()):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return original(self, subnet_id)

    delete_subnet.__interfaces_checked__ = True  # type: ignore[attr-defined]
    SubnetBackend.delete_subnet = delete_subnet  # type: ignore[method-assign]


def vpc_with_a_gateway_is_not_deleted() -> None:
    """DeleteVpc answers DependencyViolation while an internet gateway is attached to the
    VPC. Idempotent."""
    original = VPCBackend.delete_vpc
    if getattr(original, _FIXED_MARK, False):
        return

    @functools.wraps(original)
    def delete_vpc(self: Any, vpc_id: str) -> Any:
        attached = [g for g in self.internet_gateways.values() if g.vpc and g.vpc.id == vpc_id]
        if attached:
            raise DependencyViolationError(
                f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
            )
        return original(self, vpc_id)

    setattr(delete_vpc, _FIXED_MARK, True)
    VPCBackend.delete_vpc = delete_vpc  # type: ignore[method-assign]
