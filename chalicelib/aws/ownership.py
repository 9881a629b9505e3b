"""Whose a resource is, asked before a teardown (`aws.teardown`) deletes it. Neither a tag
nor a record alone is proof (docs/how-it-works.md "Convergence never destroys and never
lies"):

- `unclaimed`: what a look by a request's tag finds that its record does not name is
  deleted only once a complete read of the other records that may hold resources
  (`claims`) shows that none of them names it: a tag someone copied or changed must not
  cost another request its live network.
- `untagged` (and `kept`, for DELETE's teardown): what a record names that a look by tag
  does not list is read by id; one listed without the request's `RequestId` or this
  deployment's tag (a person removed or changed them) is left where it is, named, with
  a refusal saying to tag it again. IAM's delete conditions refuse it in AWS anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, Ec2Gateway
from chalicelib.aws.faults import DeleteFailed
from chalicelib.aws.routing import RoutingGateway
from chalicelib.aws.tally import left_alone
from chalicelib.errors import BackendFailure, PermanentFailure, TransientFailure
from chalicelib.resource_ids import Resources

logger = logging.getLogger(__name__)

# What another request's record names: resource id -> that request's id.
Claims = Callable[[], Mapping[str, str]]


class Ownership:
    """The checks on whose a resource is, for one deployment's teardowns."""

    def __init__(
        self,
        ec2: Ec2Gateway,
        routing: RoutingGateway,
        calls: Ec2Calls,
        claims: Claims | None = None,
    ) -> None:
        """`claims` reads what the records that may hold resources name (raises
        BackendFailure); without it, nothing found by tag alone is deleted (`unclaimed`)."""
        self._ec2 = ec2
        self._routing = routing
        self._calls = calls
        self._claims = claims

    def untagged(
        self, request_id: str, ids: Resources, listed: Resources
    ) -> dict[str, DeleteFailed]:
        """What of `ids` (a record's, named or said to remain; a reconciler's orphans) is
        not to be deleted, each with its refusal: of those a look by tag did not list
        (`listed`), each one a listing shows without the request's `RequestId` or without
        this deployment's tag. A read that fails proves nothing: none of them is deleted
        this try (a failure that may clear). One not listed at all (gone, or EC2 lags) is
        deleted by id: the answer decides."""
        unseen = Resources.of([i for i in ids.all if i not in listed.all])
        if not unseen.all:
            return {}
        try:
            owners = self._calls.read("Describe", lambda: self._owners(unseen))
        except (PermanentFailure, TransientFailure) as exc:
            failed = DeleteFailed("Describe", "LookupFailed", f"tags unread: {exc}", True)
            return dict.fromkeys(unseen.all, failed)
        return {
            i: DeleteFailed(
                "Teardown",  # pragma: no mutate
                "NotTagged",
                f"{i} lost its tag RequestId={request_id} or {DEPLOYMENT_TAG}: tag it again",
                # Made moments ago, a listing may not show its tags yet: a later try decides.
                self._calls.fresh(i),
            )
            for i, owner in owners.items()
            if i in unseen.all and owner != request_id
        }

    def kept(
        self, request_id: str, ids: Resources, listed: Resources, checked: bool
    ) -> dict[str, DeleteFailed]:
        """With `checked` (DELETE's teardown), what of the request's `ids` stays: the ones
        `untagged` refuses, and with a refused VPC all of them (they are in it: its
        gateway stays attached to it, its subnets in it), with that VPC's refusal."""
        if not checked:
            return {}
        refused = self.untagged(request_id, ids, listed)
        vpc = next((refused[v] for v in ids.vpcs if v in refused), None)
        return refused | {i: vpc for i in ids.all if i not in refused} if vpc else refused

    def _owners(self, ids: Resources) -> dict[str, str | None]:
        """Of `ids`, those EC2 lists, each with the request whose tags it carries."""
        owners = self._ec2.owners(list(ids.vpcs), list(ids.subnets))
        owners.update(
            (g.gateway_id, g.request_id)
            for g in self._routing.internet_gateways(list(ids.gateways))
        )
        owners.update(
            (t.route_table_id, t.request_id) for t in self._routing.route_tables(list(ids.tables))
        )
        return owners

    def unclaimed(
        self, request_id: str, found: Resources, known: Resources
    ) -> tuple[Resources, dict[str, DeleteFailed]]:
        """`found` (by `request_id`'s tag) less what may be another request's: what `known`
        (its record) does not name goes only once `claims` proved no other record names it.
        The rest, by id, is returned as failures, never to be deleted: named by another
        request, or not provably by none (the read failed, or there is no reader)."""
        extra = [i for i in found.all if i not in known.all]
        if not extra:
            return found, {}
        if self._claims is None:
            return left_alone(found, extra, "no reader of the other requests' records")
        try:
            claims = self._claims()
        except BackendFailure as exc:
            return left_alone(found, extra, str(exc))
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
