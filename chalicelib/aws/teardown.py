"""Deleting what a request made. Idempotent and crash-safe.

Used by the worker's rollback, by DELETE's teardown and by the reconciler. It
only ever deletes resources it was given by id or found by the request's tags
within this deployment; IAM's delete conditions (the deployment tag) back that
up. The deletes go in the order EC2 requires, after the check that nobody's
network interface lives where they go (`aws.dependency_order`).

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
answered a delete, and no lookup failed. Neither a tag nor a record alone is proof of
whose a resource is (`aws.ownership`): what a lookup finds that the request's record
does not name goes only once no other record names it, and DELETE's teardown
(`tags_checked`) leaves what its record names but no longer carries its tags.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.dependency_order import DependencyOrder
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.aws.ownership import Claims, Ownership
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.tally import Removal, merged, unlooked, with_claimed
from chalicelib.errors import PermanentFailure, TransientFailure
from chalicelib.resource_ids import Resources

logger = logging.getLogger(__name__)

# Looks by tag after the deletes, each followed by deleting what it still found.
_VERIFY_ROUNDS = 2


class Teardown:
    """Deletes resources of one deployment. Raises LeaseLost (through the calls' fence)."""

    def __init__(
        self,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        calls: Ec2Calls,
        claims: Claims | None = None,
    ) -> None:
        """`claims`: as `Ownership`'s (without it, nothing found by tag alone is deleted)."""
        self._ec2 = ec2
        self._routing = routing
        self._order = DependencyOrder(ec2, routing, calls)
        # Delete these resources (a request's, if given) in EC2's dependency order, but for
        # those refused: left, with their refusals (`DependencyOrder.remove`).
        self.remove = self._order.remove
        self._calls = calls
        # Whose a resource is: what its tags say, whether another record names it.
        self.ownership = Ownership(ec2, routing, calls, claims)

    @property
    def uncertain(self) -> bool:
        """Whether something may exist that no answer showed (`Ec2Calls.uncertain`)."""
        return self._calls.uncertain

    def request(
        self,
        request_id: str,
        known: Resources,
        *,
        network: bool,
        recorded: Resources | None = None,
        tags_checked: bool = False,
        gone: Collection[str] = (),
    ) -> Removal:
        """Delete everything of `request_id`: the ids `known`, those `recorded`, and whatever
        carries its tags.

        `recorded`: ids the request's record says may still be there besides the ones it
        names (what an earlier teardown, rollback or reconciler run found and could not
        delete). A look by tag may not list them now (EC2's reads lag), so they are taken
        as found whatever the look says: deleted by id, after the same check as anything a
        tag alone ties to the request, and the teardown is complete only once a delete
        answered for each.

        Then look again by tag: what is listed and was never tried (a lookup that lagged
        behind a create, or a zombie's late create) is deleted too, together with what
        it blocked (a VPC refused with DependencyViolation), for up to _VERIFY_ROUNDS
        rounds. Complete only when a look after the last deletes finds nothing that did
        not answer a delete (an id whose delete answered "not found" and that a look still
        lists counts as not deleted: tried again, by id); after a lost answer
        (`Ec2Calls.uncertain`: something may exist that no record names, and the looks of
        its creation may have lagged), only when two looks in a row, a pause apart, do. If
        new ones keep appearing, the removal is incomplete and transient (`unconfirmed`): a
        later try, never a failure, settles it.

        `network`: look up internet gateways and route tables too (a request
        with public subnets). `tags_checked` (DELETE's teardown): what the look does not
        list of `known` is left alone if it is listed without the request's tags
        (`untagged`). `gone`: what an earlier try's delete answered for (not a "not found":
        that may have lagged behind its making, and a look that lists the id again has it
        tried again). Gone for good: never sent a delete again, whatever a look lists
        (that look lags).

        The removal's `not_found`: of what it deleted, what only "not found" answered for
        (`Ec2Calls.found_not_found`), which `tally.with_earlier` carries across tries.
        """
        removal = self._request(
            request_id, known, network, recorded or Resources(), tags_checked, gone
        )
        not_found = self._calls.found_not_found(removal.deleted)
        return replace(removal, not_found=tuple(i for i in removal.deleted if i in not_found))

    def _request(
        self,
        request_id: str,
        known: Resources,
        network: bool,
        recorded: Resources,
        tags_checked: bool,
        gone: Collection[str],
    ) -> Removal:
        """`request`, but for its `not_found`."""
        try:
            found = self._look_up(request_id, network)
        except (PermanentFailure, TransientFailure) as exc:
            # Without the lookup nothing can be called complete: delete what is
            # known (and recorded, once no other record names it), and say the rest is
            # unknown.
            mine, left = self.ownership.unclaimed(request_id, recorded, known)
            untagged = self.ownership.kept(request_id, known + mine, Resources(), tags_checked)
            removal = self.remove(known + mine, request_id, untagged)
            return with_claimed(unlooked(removal, exc), left)
        # What the record names or says remains and the look did not list: its tags are read.
        untagged = self.ownership.kept(request_id, known + recorded, found, tags_checked)
        # A listing that misses what the record says remains proves nothing: its ids count
        # as found.
        # What an earlier delete answered for is gone, whatever a lagging look lists: never
        # sent again (AWS may answer a delete of what is gone UnauthorizedOperation).
        found = Resources.of([i for i in (found + recorded).all if i not in gone])
        tried = set((known + found).all) | set(gone)
        # What an earlier try deleted is the request's own, whoever else can be read.
        own = known + Resources.of(list(gone))
        found, left = self.ownership.unclaimed(request_id, found, own)
        removal = self.remove(known + found, request_id, untagged)
        # Looks in a row that must find nothing new (a look that lags finds nothing).
        wanted = 2 if self._calls.uncertain else 1
        clean = rounds = 0
        listed: tuple[str, ...] = ()  # what the last look after the deletes listed
        while rounds < _VERIFY_ROUNDS:
            if clean:
                self._calls.pause()
            try:
                after = self._look_up(request_id, network)
            except (PermanentFailure, TransientFailure) as exc:
                return with_claimed(unlooked(self._doubting(removal, listed, gone), exc), left)
            listed = after.all
            # Listed again after its delete answered only "not found": EC2 may not have
            # seen it yet (made moments ago, by the job before this one). Not proven gone.
            doubted = self._calls.found_not_found(after.all).difference(gone)
            new = Resources.of([i for i in after.all if i not in tried or i in doubted])
            if not new.all:
                clean += 1
                if clean == wanted:
                    return with_claimed(removal, left)
                continue
            clean, rounds = 0, rounds + 1
            logger.warning("request %s: found after its teardown: %s", request_id, new.all)
            tried.update(new.all)
            new, more = self.ownership.unclaimed(request_id, new, own)
            left.update(more)
            removal = merged(
                removal,
                self.remove(new + Resources.of(removal.remaining), request_id, untagged),
            )
        removal = self._doubting(removal, new.all, gone)
        return with_claimed(replace(removal, unconfirmed=new.all, transient=True), left)

    def _doubting(
        self, removal: Removal, listed: tuple[str, ...], gone: Collection[str]
    ) -> Removal:
        """`removal` with what a look `listed` after its delete answered only "not found"
        counted as remaining, never as deleted; but not what an earlier try's delete
        answered for (`gone`: that look lags)."""
        doubted = self._calls.found_not_found(listed).difference(gone)
        return replace(
            removal,
            deleted=tuple(i for i in removal.deleted if i not in doubted),
            remaining=(*removal.remaining, *sorted(doubted - set(removal.remaining))),
        )

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
