"""Deleting what a request made, in dependency order. Idempotent and crash-safe.

Used by the worker's rollback, by DELETE's teardown and by the reconciler. It
only ever deletes resources it was given by id or found by the request's tags
within this deployment; IAM's delete conditions (the deployment tag) back that
up. The order is what EC2 requires: route table associations, then route
tables (their routes go with them), internet gateways (detached, then
deleted), subnets, VPCs. A resource that is already gone counts as deleted,
so running it again, or twice at once, converges on the same result.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .calls import DeleteFailed, Ec2Calls
from .ec2 import Ec2Gateway
from .errors import PermanentFailure, TransientFailure
from .routing import RoutingGateway

logger = logging.getLogger(__name__)

_DELETE_CONCURRENCY = 10


@dataclass(frozen=True)
class Resources:
    """Ids of a request's resources, by kind (duplicates ignored)."""

    vpcs: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()

    def __add__(self, other: Resources) -> Resources:
        def merged(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*a, *b)))

        return Resources(
            merged(self.vpcs, other.vpcs),
            merged(self.subnets, other.subnets),
            merged(self.gateways, other.gateways),
            merged(self.tables, other.tables),
        )

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.tables, *self.gateways, *self.subnets, *self.vpcs)


@dataclass(frozen=True)
class Removal:
    """What a teardown deleted (or found gone), what is still there, and why."""

    deleted: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    failures: tuple[DeleteFailed, ...] = ()
    # A lookup that failed: nothing can be called complete.
    lookup_error: str | None = None
    transient: bool = False

    @property
    def errors(self) -> tuple[str, ...]:
        found = tuple(str(f) for f in self.failures)
        return (*found, f"lookup failed: {self.lookup_error}") if self.lookup_error else found

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.errors


@dataclass
class _Progress:
    deleted: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    failures: list[DeleteFailed] = field(default_factory=list)

    def record(self, resource_id: str, failure: DeleteFailed | None) -> None:
        if failure is None:
            self.deleted.append(resource_id)
        else:
            self.remaining.append(resource_id)
            self.failures.append(failure)


class Teardown:
    """Deletes resources of one deployment. Raises LeaseLost (through the calls' fence)."""

    def __init__(self, ec2: Ec2Gateway, routing: RoutingGateway, calls: Ec2Calls) -> None:
        self._ec2 = ec2
        self._routing = routing
        self._calls = calls

    def request(self, request_id: str, known: Resources, network: bool = False) -> Removal:
        """Delete everything of `request_id`: the ids `known` and whatever carries its tags.

        `network`: look up internet gateways and route tables too (a request
        with public subnets). The lookup by tag finds what lost answers made;
        EC2's reads may lag, so what it misses is the reconciler's to find later.
        """
        try:
            found = self._look_up(request_id, network)
        except (PermanentFailure, TransientFailure) as exc:
            # Without the lookup nothing can be called complete: delete what is
            # known, and say the rest is unknown.
            removal = self.remove(known)
            return Removal(
                deleted=removal.deleted,
                remaining=removal.remaining,
                failures=removal.failures,
                lookup_error=str(exc),
                transient=isinstance(exc, TransientFailure) or removal.transient,
            )
        return self.remove(known + found)

    def _look_up(self, request_id: str, network: bool) -> Resources:
        """The request's resources by tag: the lookups at once, one call per kind."""
        lookups: list[tuple[str, Callable[[], list[str]]]] = [
            ("DescribeVpcs", lambda: self._ec2.find_vpcs(request_id)),
            (
                "DescribeSubnets",
                lambda: [s.resource_id for s in self._ec2.find_request_subnets(request_id)],
            ),
        ]
        if network:
            lookups += [
                (
                    "DescribeInternetGateways",
                    lambda: [
                        g.gateway_id for g in self._routing.find_internet_gateways(request_id)
                    ],
                ),
                (
                    "DescribeRouteTables",
                    lambda: [t.route_table_id for t in self._routing.find_route_tables(request_id)],
                ),
            ]
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=len(lookups), thread_name_prefix="lookup") as pool:
            futures = [
                pool.submit(context.copy().run, self._calls.read, name, call)
                for name, call in lookups
            ]
        found = [tuple(f.result()) for f in futures]
        return Resources(*found)

    def remove(self, resources: Resources) -> Removal:
        """Delete these resources in dependency order. A VPC goes only once nothing given
        in it is left; a VPC that still holds someone else's subnet or interface fails
        with DependencyViolation and is reported as remaining."""
        progress = _Progress()
        try:
            self._remove_tables(resources.tables, progress)
            self._remove_gateways(resources.gateways, progress)
        except (PermanentFailure, TransientFailure) as exc:
            # Their state could not be read: they and what they block remain.
            failure = DeleteFailed("Describe", "LookupFailed", str(exc), True)
            for resource_id in resources.all:
                if resource_id not in progress.deleted:
                    progress.record(resource_id, failure)
            return _removal(progress)
        self._concurrently(resources.subnets, self._delete_subnet, progress)
        for vpc_id in resources.vpcs:
            if progress.failures:
                # What is still in it makes DeleteVpc fail: not worth the call.
                progress.remaining.append(vpc_id)
                continue
            progress.record(
                vpc_id,
                self._calls.delete(
                    "DeleteVpc",
                    functools.partial(self._ec2.delete_vpc, vpc_id),
                    functools.partial(self._ec2.vpc_exists, vpc_id),
                ),
            )
        return _removal(progress)

    def _remove_tables(self, table_ids: tuple[str, ...], progress: _Progress) -> None:
        if not table_ids:
            return
        tables = self._calls.read(
            "DescribeRouteTables", lambda: self._routing.route_tables(list(table_ids))
        )
        present = {t.route_table_id: t for t in tables}
        for table_id in table_ids:
            table = present.get(table_id)
            failure = None
            for association_id, _ in table.associations if table else ():
                failure = failure or self._calls.delete(
                    "DisassociateRouteTable",
                    functools.partial(self._routing.disassociate_route_table, association_id),
                    functools.partial(self._routing.route_table_exists, table_id),
                )
            if failure is None and table is not None:
                failure = self._calls.delete(
                    "DeleteRouteTable",
                    functools.partial(self._routing.delete_route_table, table_id),
                    functools.partial(self._routing.route_table_exists, table_id),
                )
            progress.record(table_id, failure)

    def _remove_gateways(self, gateway_ids: tuple[str, ...], progress: _Progress) -> None:
        if not gateway_ids:
            return
        gateways = self._calls.read(
            "DescribeInternetGateways",
            lambda: self._routing.internet_gateways(list(gateway_ids)),
        )
        present = {g.gateway_id: g for g in gateways}
        for gateway_id in gateway_ids:
            gateway = present.get(gateway_id)
            exists = functools.partial(self._routing.internet_gateway_exists, gateway_id)
            failure = None
            for vpc_id in gateway.vpc_ids if gateway else ():
                failure = failure or self._calls.delete(
                    "DetachInternetGateway",
                    functools.partial(self._routing.detach_internet_gateway, gateway_id, vpc_id),
                    exists,
                )
            if failure is None and gateway is not None:
                failure = self._calls.delete(
                    "DeleteInternetGateway",
                    functools.partial(self._routing.delete_internet_gateway, gateway_id),
                    exists,
                )
            progress.record(gateway_id, failure)

    def _concurrently(
        self,
        ids: tuple[str, ...],
        delete: Callable[[str], DeleteFailed | None],
        progress: _Progress,
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
            "DeleteSubnet",
            functools.partial(self._ec2.delete_subnet, subnet_id),
            functools.partial(self._ec2.subnet_exists, subnet_id),
        )


def _removal(progress: _Progress) -> Removal:
    if progress.failures:
        logger.warning("teardown incomplete: %s", "; ".join(map(str, progress.failures)))
    return Removal(
        deleted=tuple(progress.deleted),
        remaining=tuple(progress.remaining),
        failures=tuple(progress.failures),
        transient=any(f.transient for f in progress.failures),
    )
