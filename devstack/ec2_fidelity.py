"""Where moto's EC2 differs from EC2 in a way a teardown meets: applied in the stack's moto
process and in the in-process tests (tests/conftest.py), patching moto's classes at
runtime, never the installed package.

- EC2 removes a subnet's route table associations when the subnet is deleted (an
  association does not exist apart from its subnet); moto kept them, so a route table
  went on routing a subnet that no longer existed, and DeleteRouteTable answered
  DependencyViolation for good. (A `make chaos` seed met it: a teardown whose table
  listing lagged deleted the subnet first, and every later try found the table routing
  "another subnet".)
"""

from __future__ import annotations

import functools
from typing import Any

from moto.ec2.models.subnets import SubnetBackend

_FIXED_MARK = "__vpc_provisioner_fidelity__"


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
