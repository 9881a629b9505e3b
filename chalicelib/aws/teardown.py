"""Deleting what a request made, in dependency order. Idempotent and crash-safe.

Used by the worker's rollback, by DELETE's teardown and by the reconciler. It
only ever deletes resources it was given by id or found by the request's tags
within this deployment; IAM's delete conditions (the deployment tag) back that
up. The order is what EC2 requires: route table associations, then route
tables (their routes go with them), internet gateways (detached, then
deleted), subnets, VPCs.

What counts as deleted is decided by answers only (docs/how-it-works.md "Convergence never
destroys and never lies"): a delete call that answered, or answered "not found"
for that very id. A Describe that does not list a resource proves nothing (EC2's
reads lag): the delete is sent anyway, and its answer decides. After
UnauthorizedOperation (a tag-conditioned delete of something that may be gone)
only a by-id read answering "not found" counts. So running it again, or twice
at once, converges on the same result, and nothing is ever recorded deleted
that was not.

A request's teardown (`request`) looks its resources up by tag before and again
after deleting: "complete" means the second look found nothing that had not
answered a delete, and no lookup failed. A tag alone is not proof: what a lookup
finds that the request's record does not name is deleted only once a complete
read of the SUCCEEDED records (`claims`) shows that none of them names it (a tag
someone copied or changed must not cost another request its live network).
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from chalicelib.aws.calls import DeleteFailed, Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.routing import RouteTable, RoutingGateway
from chalicelib.errors import BackendFailure, PermanentFailure, TransientFailure
from chalicelib.resource_ids import Resources

logger = logging.getLogger(__name__)

_DELETE_CONCURRENCY = 10
# Looks by tag after the deletes, each followed by deleting what it still found.
_VERIFY_ROUNDS = 2
# What another request's record names: resource id -> that request's id.
Claims = Callable[[], Mapping[str, str]]


@dataclass(frozen=True)
class Removal:
    """What a teardown deleted (or found gone), what is still there, and why."""

    deleted: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    failures: tuple[DeleteFailed, ...] = ()
    # A lookup that failed: nothing can be called complete.
    lookup_error: str | None = None
    transient: bool = False
    # Found by tag after the last round of deletes, never tried: a lagging listing (or
    # a late create) leaves the teardown incomplete, but it has not failed.
    unconfirmed: tuple[str, ...] = ()
    # Found by tag but named by another request's record (or not provably by none): never
    # deleted, never this request's (not in `remaining`); the teardown is incomplete.
    claimed: tuple[DeleteFailed, ...] = ()

    @property
    def refusals(self) -> tuple[DeleteFailed, ...]:
        """Deletes that failed, then what was left alone as maybe another request's."""
        return (*self.failures, *self.claimed)

    @property
    def errors(self) -> tuple[str, ...]:
        found = tuple(str(f) for f in self.refusals)
        if self.unconfirmed:
            found = (*found, f"found after the deletes: {', '.join(self.unconfirmed)}")
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

    def __init__(
        self,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        calls: Ec2Calls,
        claims: Claims | None = None,
    ) -> None:
        """`claims` reads what the SUCCEEDED records name (raises BackendFailure); without
        it, nothing found by tag alone is deleted (see `unclaimed`)."""
        self._ec2 = ec2
        self._routing = routing
        self._calls = calls
        self._claims = claims

    def request(self, request_id: str, known: Resources, network: bool = False) -> Removal:
        """Delete everything of `request_id`: the ids `known` and whatever carries its tags.

        Then look again by tag: what is listed and was never tried (a lookup that lagged
        behind a create, or a zombie's late create) is deleted too, together with what
        it blocked (a VPC refused with DependencyViolation), for up to _VERIFY_ROUNDS
        rounds. Complete only when a look after the last deletes finds nothing that did
        not answer a delete. If new ones keep appearing, the removal is incomplete and
        transient (`unconfirmed`): a later try, never a failure, settles it.

        `network`: look up internet gateways and route tables too (a request
        with public subnets).
        """
        try:
            found = self._look_up(request_id, network)
        except (PermanentFailure, TransientFailure) as exc:
            # Without the lookup nothing can be called complete: delete what is
            # known, and say the rest is unknown.
            return _unlooked(self.remove(known), exc)
        tried = set((known + found).all)
        found, left = self.unclaimed(request_id, found, known)
        claimed = tuple(left.values())
        removal = self.remove(known + found)
        for _ in range(_VERIFY_ROUNDS):
            try:
                after = self._look_up(request_id, network)
            except (PermanentFailure, TransientFailure) as exc:
                return _claimed(_unlooked(removal, exc), claimed)
            new = Resources.of([i for i in after.all if i not in tried])
            if not new.all:
                return _claimed(removal, claimed)
            logger.warning("request %s: found after its teardown: %s", request_id, new.all)
            tried.update(new.all)
            new, more = self.unclaimed(request_id, new, known)
            claimed += tuple(more.values())
            removal = _merged(removal, self.remove(new + Resources.of(removal.remaining)))
        return _claimed(replace(removal, unconfirmed=new.all, transient=True), claimed)

    def unclaimed(
        self, request_id: str, found: Resources, known: Resources
    ) -> tuple[Resources, dict[str, DeleteFailed]]:
        """`found` (by `request_id`'s tag) less what may be another request's: what `known`
        (its record) does not name goes only once `claims` proved no SUCCEEDED record names
        it. The rest, by id, is returned as failures, never to be deleted: named by another
        request, or not provably by none (the read failed, or there is no reader)."""
        extra = [i for i in found.all if i not in known.all]
        if not extra:
            return found, {}
        if self._claims is None:
            return _left_alone(found, extra, "no reader of the SUCCEEDED records")
        try:
            claims = self._claims()
        except BackendFailure as exc:
            return _left_alone(found, extra, str(exc))
        mine = [i for i in extra if claims.get(i, request_id) == request_id]
        others = {
            i: DeleteFailed(
                "Teardown",
                "NamedByAnotherRequest",
                f"{i} carries request {request_id}'s tag, but request {claims[i]}'s record "
                "names it: not deleted (correct its RequestId tag, then DELETE again)",
                False,
            )
            for i in extra
            if i not in mine
        }
        if others:
            logger.error("request %s: %s", request_id, "; ".join(map(str, others.values())))
        return Resources.of([i for i in found.all if i not in extra or i in mine]), others

    def _look_up(self, request_id: str, network: bool) -> Resources:
        """The request's resources by tag: the lookups at once, one call per kind."""
        lookups: list[tuple[str, Callable[[], list[str]]]] = [
            ("DescribeVpcs", lambda: self._ec2.find_vpcs(request_id)),
            (
                "DescribeSubnets",  # pragma: no mutate
                lambda: [s.resource_id for s in self._ec2.find_request_subnets(request_id)],
            ),
        ]
        if network:
            lookups += [
                (
                    "DescribeInternetGateways",  # pragma: no mutate
                    lambda: [
                        g.gateway_id for g in self._routing.find_internet_gateways(request_id)
                    ],
                ),
                (
                    "DescribeRouteTables",  # pragma: no mutate
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
            self._remove_gateways(resources.gateways, resources.vpcs, progress)
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
                    "DeleteVpc",  # pragma: no mutate
                    functools.partial(self._ec2.delete_vpc, vpc_id),
                    functools.partial(self._ec2.vpc_gone, vpc_id),
                ),
            )
        return _removal(progress)

    def _remove_tables(self, table_ids: tuple[str, ...], progress: _Progress) -> None:
        """Each table's associations (as listed), then the table. A table the listing does
        not show is deleted all the same: its answer says whether it is gone; if it is
        DependencyViolation (associations the listing hid), the table is listed again
        after a pause and removed as that listing shows it."""
        if not table_ids:
            return
        listed = self._list_tables(table_ids)
        hidden: list[str] = []
        for table_id in table_ids:
            failure = self._remove_table(table_id, listed.get(table_id))
            if _held(failure) and table_id not in listed:
                hidden.append(table_id)
                continue
            progress.record(table_id, failure)
        if hidden:
            self._calls.pause()
            relisted = self._list_tables(tuple(hidden))
            for table_id in hidden:
                progress.record(table_id, self._remove_table(table_id, relisted.get(table_id)))

    def _list_tables(self, table_ids: tuple[str, ...]) -> dict[str, RouteTable]:
        tables = self._calls.read(
            "DescribeRouteTables", lambda: self._routing.route_tables(list(table_ids))
        )
        return {t.route_table_id: t for t in tables}

    def _remove_table(self, table_id: str, table: RouteTable | None) -> DeleteFailed | None:
        gone = functools.partial(self._routing.route_table_gone, table_id)
        for association_id, _ in table.associations if table else ():
            failure = self._calls.delete(
                "DisassociateRouteTable",  # pragma: no mutate
                functools.partial(self._routing.disassociate_route_table, association_id),
                gone,
            )
            if failure:
                return failure
        return self._calls.delete(
            "DeleteRouteTable",  # pragma: no mutate
            functools.partial(self._routing.delete_route_table, table_id),
            gone,
        )

    def _remove_gateways(
        self, gateway_ids: tuple[str, ...], vpc_ids: tuple[str, ...], progress: _Progress
    ) -> None:
        """Each gateway detached from the VPCs it is listed attached to, then deleted. One
        the listing does not show is detached from the request's own VPCs (`vpc_ids`: "not
        attached" is an answer too), then deleted: the answers decide."""
        if not gateway_ids:
            return
        gateways = self._calls.read(
            "DescribeInternetGateways",  # pragma: no mutate
            lambda: self._routing.internet_gateways(list(gateway_ids)),
        )
        listed = {g.gateway_id: g for g in gateways}
        for gateway_id in gateway_ids:
            gateway = listed.get(gateway_id)
            gone = functools.partial(self._routing.internet_gateway_gone, gateway_id)
            failure = None
            for vpc_id in gateway.vpc_ids if gateway else vpc_ids:
                failure = failure or self._calls.delete(
                    "DetachInternetGateway",  # pragma: no mutate
                    functools.partial(self._routing.detach_internet_gateway, gateway_id, vpc_id),
                    gone,
                )
            if failure is None:
                failure = self._calls.delete(
                    "DeleteInternetGateway",  # pragma: no mutate
                    functools.partial(self._routing.delete_internet_gateway, gateway_id),
                    gone,
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
            "DeleteSubnet",  # pragma: no mutate
            functools.partial(self._ec2.delete_subnet, subnet_id),
            functools.partial(self._ec2.subnet_gone, subnet_id),
        )


def _held(failure: DeleteFailed | None) -> bool:
    return failure is not None and failure.code == "DependencyViolation"


def _unlooked(removal: Removal, exc: PermanentFailure | TransientFailure) -> Removal:
    """`removal`, incomplete because a lookup by tag failed."""
    return replace(
        removal,
        lookup_error=str(exc),
        transient=isinstance(exc, TransientFailure) or removal.transient,
    )


def _left_alone(
    found: Resources, extra: list[str], reason: str
) -> tuple[Resources, dict[str, DeleteFailed]]:
    """`found` less `extra`, whose owners could not be read: each a failure that may clear."""
    message = f"found by tag, not named by the record; who else names it is unknown ({reason})"
    return Resources.of([i for i in found.all if i not in extra]), {
        i: DeleteFailed("Teardown", "OwnerUnknown", f"{i}: {message}", True) for i in extra
    }


def _claimed(removal: Removal, claimed: tuple[DeleteFailed, ...]) -> Removal:
    """`removal` with what it left alone as maybe another request's (`unclaimed`)."""
    transient = removal.transient or any(c.transient for c in claimed)
    return replace(removal, claimed=claimed, transient=transient)


def _merged(first: Removal, second: Removal) -> Removal:
    """Two rounds of one teardown as one (the second retried all the first had left)."""
    return Removal(
        deleted=tuple(dict.fromkeys((*first.deleted, *second.deleted))),
        remaining=second.remaining,
        failures=second.failures,
        transient=second.transient,
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
