"""Deleting given resources of a request in the order EC2 requires: route table
associations and route tables, internet gateways (detached, then deleted), both in
`aws.routing_teardown`; then subnets, concurrently; then VPCs, each only once nothing
given in it is left.

First the proof that nothing of someone else's lives there: the network interfaces
(this service makes none) in the VPCs given and in the subnets given, wherever they are.
Where there are some (an instance, a load balancer), nothing is deleted: a detached
gateway or a removed association would cut them off before EC2 refused the rest.

What counts as deleted is a delete's answer (`Ec2Calls.delete`), never a listing. Which
resources to give, and whether a request's teardown is complete, is `aws.teardown`'s.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.faults import DeleteFailed, first_few
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.routing_teardown import RoutingTeardown
from chalicelib.aws.tally import Progress, Removal
from chalicelib.errors import PermanentFailure, TransientFailure
from chalicelib.resource_ids import Resources

_DELETE_CONCURRENCY = 10


class DependencyOrder:
    """Deletes given resources in dependency order. Raises LeaseLost (through the calls'
    fence)."""

    def __init__(self, ec2: Ec2Gateway, routing: RoutingGateway, calls: Ec2Calls) -> None:
        self._ec2 = ec2
        self._routing = routing
        self._network = RoutingTeardown(routing, calls)
        self._calls = calls

    def remove(
        self,
        resources: Resources,
        request_id: str | None = None,
        refused: Mapping[str, DeleteFailed] | None = None,
        refusals_hold: bool = True,
    ) -> Removal:
        """Delete these resources in dependency order. A VPC goes only once nothing given
        in it is left; a VPC that still holds someone else's subnet fails with
        DependencyViolation and is reported as remaining (`request_id`: whose they are,
        when known, to tell its own resources from others' in what refuses a VPC).
        `refused`: ids not to delete, remaining with their refusals; with `refusals_hold`
        (they are in the VPCs given: a request's own teardown) those VPCs stay too, else
        (a reconciler's orphans, maybe in another VPC) DeleteVpc's answer decides.

        First the proof that nothing of someone else's lives there: network interfaces
        (this service makes none) in the VPCs given and in the subnets given (a subnet
        need not be in a VPC given). Where there are some (an instance, a load balancer),
        nothing is deleted: a detached gateway or a removed association would cut them
        off before EC2 refused the rest."""
        progress = Progress()
        kept = {i: f for i, f in (refused or {}).items() if i in resources.all}  # given only
        for resource_id, refusal in kept.items():
            progress.record(resource_id, refusal)
        resources = Resources.of([i for i in resources.all if i not in kept])
        try:
            busy = self._calls.read(
                "DescribeNetworkInterfaces",  # pragma: no mutate
                lambda: self._routing.network_interfaces(resources.vpcs, resources.subnets),
            )
            if busy:
                where = ", ".join((*resources.vpcs, *resources.subnets))
                refusal = DeleteFailed(
                    "Teardown",
                    "DependencyViolation",
                    f"{where} holds network interfaces this service did not create "
                    f"({first_few(busy)}): nothing there is deleted until they and what uses "
                    "them are gone",
                    False,
                )
                return _left(resources, progress, refusal)
            self._network.remove_tables(resources.tables, progress, resources.subnets)
            self._network.remove_gateways(resources.gateways, resources.vpcs, progress)
        except (PermanentFailure, TransientFailure) as exc:
            # Their state could not be read: they and what they block remain.
            return _left(
                resources, progress, DeleteFailed("Describe", "LookupFailed", str(exc), True)
            )
        self._concurrently(resources.subnets, self._delete_subnet, progress)
        for vpc_id in resources.vpcs:
            held = [i for i in progress.remaining if refusals_hold or i not in kept]
            if any(not i.startswith("vpc-") for i in held):
                # What failed to go (or was kept) may be in it, and makes DeleteVpc fail: not
                # worth the call. (Another VPC left holds nothing of this one.)
                progress.remaining.append(vpc_id)
                continue
            failure = self._calls.delete(
                "DeleteVpc",  # pragma: no mutate
                functools.partial(self._ec2.delete_vpc, vpc_id),
                functools.partial(self._ec2.vpc_gone, vpc_id),
                vpc_id,
                settling=bool(progress.deleted),
            )
            if failure is not None and failure.code == "DependencyViolation":
                failure = self._what_holds(vpc_id, failure, request_id)
            progress.record(vpc_id, failure)
        return progress.removal()

    def _what_holds(
        self, vpc_id: str, refused: DeleteFailed, request_id: str | None
    ) -> DeleteFailed:
        """DeleteVpc answered DependencyViolation. A subnet, internet gateway or route table
        someone else made there (or another request's) keeps the VPC for good: the refusal
        stands, naming it. Else one of the request's own listed in it (its look by tag
        lagged behind a create; without `request_id`, one of this deployment's) may go
        with the next try: a failure that may clear, never one for lag alone. Else the
        refusal stands as EC2 gave it (something no listing here shows holds it: a
        security group, an endpoint). A listing that fails changes nothing."""
        try:
            subnets = self._calls.read(
                "DescribeSubnets",  # pragma: no mutate
                functools.partial(self._ec2.find_subnets, vpc_id),
            )
            gateways = self._calls.read(
                "DescribeInternetGateways",  # pragma: no mutate
                functools.partial(self._routing.gateways_of_vpc, vpc_id),
            )
            tables = self._calls.read(
                "DescribeRouteTables",  # pragma: no mutate
                functools.partial(self._routing.route_tables_of_vpc, vpc_id),
            )
        except (PermanentFailure, TransientFailure):
            return refused
        held = [(s.subnet_id, s.request_id) for s in subnets.values()]
        held += [(g.gateway_id, g.request_id) for g in gateways]
        held += [(t.route_table_id, t.request_id) for t in tables]

        def ours(owner: str | None) -> bool:
            return owner is not None and (request_id is None or owner == request_id)

        theirs = sorted(i for i, owner in held if not ours(owner))
        if theirs:
            held_by = first_few(theirs)
            return replace(refused, message=f"{refused.message} (it holds {held_by}, not ours)")
        mine = sorted(i for i, _ in held)
        if mine:
            return replace(
                refused,
                message=f"{refused.message} (it holds {first_few(mine)}, ours: tried again)",
                transient=True,
            )
        return refused

    def _concurrently(
        self,
        ids: tuple[str, ...],
        delete: Callable[[str], DeleteFailed | None],
        progress: Progress,
    ) -> None:
        if not ids:
            return
        # The deletions run in the caller's context (its context variables).
        context = contextvars.copy_context()
        workers = min(len(ids), _DELETE_CONCURRENCY)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delete") as pool:
            results = list(pool.map(lambda i: context.copy().run(delete, i), ids))
        for resource_id, failure in zip(ids, results, strict=True):
            progress.record(resource_id, failure)

    def _delete_subnet(self, subnet_id: str) -> DeleteFailed | None:
        return self._calls.delete(
            "DeleteSubnet",  # pragma: no mutate
            functools.partial(self._ec2.delete_subnet, subnet_id),
            functools.partial(self._ec2.subnet_gone, subnet_id),
            subnet_id,
        )


def _left(resources: Resources, progress: Progress, failure: DeleteFailed) -> Removal:
    """The removal with everything of `resources` not deleted yet left, for `failure`."""
    for resource_id in resources.all:
        if resource_id not in progress.deleted:
            progress.record(resource_id, failure)
    return progress.removal()
