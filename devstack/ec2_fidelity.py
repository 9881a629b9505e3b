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
- EC2 attaches one internet gateway to a VPC (a second is refused: InvalidParameterValue,
  "Network vpc-... already has an internet gateway attached"); moto attached a second, so
  a creation whose look for an earlier attempt's gateway lagged ended with two on its VPC
  (a `make chaos` seed: the one its record did not name was left attached, rightly, as
  the VPC lives), where EC2's refusal sends the worker to the earlier gateway.

`apply` applies them all (idempotent).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.ec2.exceptions import DependencyViolationError, EC2ClientError
from moto.ec2.models.internet_gateways import InternetGatewayBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend

# On a patched method: the names of the fixes it carries (functools.wraps copies it on).
_FIXED_MARK = "__vpc_provisioner_fidelity__"

Method = Callable[..., Any]


def apply() -> None:
    """Every fix below. Idempotent."""
    subnet_deletion_drops_associations()
    subnet_with_interfaces_is_not_deleted()
    vpc_with_a_gateway_is_not_deleted()
    vpc_takes_one_gateway()


def _wrap(owner: type, name: str, fix: Callable[[Method], Method]) -> None:
    """`owner.name` replaced by `fix(original)`, once: a method that carries the fix (by
    its name) already is left as it is."""
    original = getattr(owner, name)
    done: frozenset[str] = getattr(original, _FIXED_MARK, frozenset())
    if fix.__name__ in done:
        return
    fixed = functools.wraps(original)(fix(original))
    setattr(fixed, _FIXED_MARK, done | {fix.__name__})
    setattr(owner, name, fixed)


def _refused(kind: str, resource_id: str) -> DependencyViolationError:
    """EC2's refusal of a delete while something depends on the resource."""
    return DependencyViolationError(
        f"The {kind} '{resource_id}' has dependencies and cannot be deleted."
    )


def subnet_deletion_drops_associations() -> None:
    """DeleteSubnet also removes the subnet's route table associations. Idempotent."""

    def drops_associations(original: Method) -> Method:
        def delete_subnet(self: Any, subnet_id: str) -> Any:
            subnet = original(self, subnet_id)
            for table in self.route_tables.values():
                gone = [a for a, target in table._associations.items() if target == subnet_id]
                for association_id in gone:
                    del table._associations[association_id]
            return subnet

        return delete_subnet

    _wrap(SubnetBackend, "delete_subnet", drops_associations)


def subnet_with_interfaces_is_not_deleted() -> None:
    """DeleteSubnet answers DependencyViolation while a network interface is in the
    subnet. Idempotent."""

    def refuses_with_interfaces(original: Method) -> Method:
        def delete_subnet(self: Any, subnet_id: str) -> Any:
            if any(eni.subnet.id == subnet_id for eni in self.enis.values()):
                raise _refused("subnet", subnet_id)
            return original(self, subnet_id)

        return delete_subnet

    _wrap(SubnetBackend, "delete_subnet", refuses_with_interfaces)


def vpc_with_a_gateway_is_not_deleted() -> None:
    """DeleteVpc answers DependencyViolation while an internet gateway is attached to the
    VPC. Idempotent."""

    def refuses_with_a_gateway(original: Method) -> Method:
        def delete_vpc(self: Any, vpc_id: str) -> Any:
            gateways = self.internet_gateways.values()
            if any(g.vpc and g.vpc.id == vpc_id for g in gateways):
                raise _refused("vpc", vpc_id)
            return original(self, vpc_id)

        return delete_vpc

    _wrap(VPCBackend, "delete_vpc", refuses_with_a_gateway)


def vpc_takes_one_gateway() -> None:
    """AttachInternetGateway answers InvalidParameterValue when another gateway is attached
    to the VPC. Idempotent."""

    def refuses_a_second(original: Method) -> Method:
        def attach_internet_gateway(self: Any, internet_gateway_id: str, vpc_id: str) -> Any:
            gateways = self.internet_gateways.values()
            if any(g.vpc and g.vpc.id == vpc_id and g.id != internet_gateway_id for g in gateways):
                raise EC2ClientError(
                    "InvalidParameterValue",
                    f"Network {vpc_id} already has an internet gateway attached",
                )
            return original(self, internet_gateway_id, vpc_id)

        return attach_internet_gateway

    _wrap(InternetGatewayBackend, "attach_internet_gateway", refuses_a_second)
