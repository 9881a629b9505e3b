"""Deleting a request's route tables and internet gateways: the first steps of a teardown
(`aws.teardown`), before its subnets and VPC.

A route table goes after its associations (as listed), an internet gateway after it is
detached from the VPCs it is listed attached to. What the listing does not show (EC2's
reads lag) is deleted all the same: the answers decide (`Ec2Calls.delete`), never the
listing.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.faults import DeleteFailed, first_few
from chalicelib.aws.routing import RouteTable, RoutingGateway
from chalicelib.aws.tally import Progress, held


class RoutingTeardown:
    """Deletes route tables and internet gateways, recording each answer in a `Progress`.
    Raises PermanentFailure / TransientFailure when they cannot be listed, and LeaseLost
    (through the calls' fence)."""

    def __init__(self, routing: RoutingGateway, calls: Ec2Calls) -> None:
        self._routing = routing
        self._calls = calls

    def remove_tables(
        self, table_ids: tuple[str, ...], progress: Progress, subnets: tuple[str, ...]
    ) -> None:
        """Each table's associations (as listed), then the table. A table the listing does
        not show is deleted all the same: its answer says whether it is gone; if it is
        DependencyViolation (associations the listing hid), the table is listed again
        after a pause and removed as that listing shows it.

        Only associations of `subnets` (those the teardown deletes) are removed: a table
        that routes any other subnet (someone's, whose instances would lose their routes)
        is left as it is, a failure that may clear (they move their subnet), unless each is
        one of the request's `remaining` already (kept: untagged, or its tags unread): the
        table stays with it, for the same reason."""
        if not table_ids:
            return
        listed = self._list_tables(table_ids)
        hidden: list[str] = []
        for table_id in table_ids:
            failure = self._remove_table(
                table_id, listed.get(table_id), subnets, progress.remaining
            )
            if held(failure) and table_id not in listed:
                hidden.append(table_id)
                continue
            progress.record(table_id, failure)
        if hidden:
            self._calls.pause()
            relisted = self._list_tables(tuple(hidden))
            for table_id in hidden:
                progress.record(
                    table_id,
                    self._remove_table(
                        table_id, relisted.get(table_id), subnets, progress.remaining
                    ),
                )

    def _list_tables(self, table_ids: tuple[str, ...]) -> dict[str, RouteTable]:
        tables = self._calls.read(
            "DescribeRouteTables", lambda: self._routing.route_tables(list(table_ids))
        )
        return {t.route_table_id: t for t in tables}

    def _remove_table(
        self,
        table_id: str,
        table: RouteTable | None,
        subnets: tuple[str, ...],
        kept: list[str],
    ) -> DeleteFailed | None:
        if table and table.main:
            # EC2 refuses it (DependencyViolation, as for an association it lists): for good.
            return DeleteFailed(
                "DeleteRouteTable",  # pragma: no mutate
                "MainRouteTable",
                f"{table_id} is its VPC's main route table: make another one main",
                False,
            )
        associations = table.associations if table else ()
        others = [s for _, s in associations if s not in subnets]
        if others:
            # Each one the request's, kept (its refusal says why: untagged, for good, or
            # its tags unread, which may clear): so is the table, with it.
            stays = set(kept).issuperset(others)
            return DeleteFailed(
                "DisassociateRouteTable",  # pragma: no mutate
                "RoutesAnotherSubnet",
                f"{table_id} routes {first_few(others)}"
                + (
                    ""
                    if stays
                    else ", which is not deleted with it: left as it is (move that subnet "
                    "to another route table)"
                ),
                not stays,
            )
        gone = functools.partial(self._routing.route_table_gone, table_id)
        for association_id, _ in associations:
            failure = self._calls.delete(
                "DisassociateRouteTable",  # pragma: no mutate
                functools.partial(self._routing.disassociate_route_table, association_id),
                gone,
                table_id,
            )
            if failure:
                return failure
        failure = self._calls.delete(
            "DeleteRouteTable",  # pragma: no mutate
            functools.partial(self._routing.delete_route_table, table_id),
            gone,
            table_id,
        )
        if held(failure):
            # Only an association holds a table, and every one listed went: the listings
            # missed one (EC2's reads lag). It may clear: a later try lists it.
            return replace(failure, transient=True)
        return failure

    def remove_gateways(
        self, gateway_ids: tuple[str, ...], vpc_ids: tuple[str, ...], progress: Progress
    ) -> None:
        """Each gateway detached from the VPCs it is listed attached to, then deleted. One
        the listing does not show, or shows attached nowhere (EC2's reads lag), is detached
        from the request's own VPCs (`vpc_ids`: "not attached" is an answer too), then
        deleted: the answers decide. One listed attached to a VPC not among `vpc_ids` is
        left as it is, a failure that may clear."""
        if not gateway_ids:
            return
        gateways = self._calls.read(
            "DescribeInternetGateways",  # pragma: no mutate
            lambda: self._routing.internet_gateways(list(gateway_ids)),
        )
        listed = {g.gateway_id: g for g in gateways}
        for gateway_id in gateway_ids:
            gateway = listed.get(gateway_id)
            elsewhere = [v for v in gateway.vpc_ids if v not in vpc_ids] if gateway else []
            if elsewhere:
                progress.record(gateway_id, _attached_elsewhere(gateway_id, elsewhere[0]))
                continue
            gone = functools.partial(self._routing.internet_gateway_gone, gateway_id)
            failure = None
            for vpc_id in gateway.vpc_ids if gateway and gateway.vpc_ids else vpc_ids:
                failure = failure or self._calls.delete(
                    "DetachInternetGateway",  # pragma: no mutate
                    functools.partial(self._routing.detach_internet_gateway, gateway_id, vpc_id),
                    gone,
                    gateway_id,
                )
            if failure is None:
                failure = self._calls.delete(
                    "DeleteInternetGateway",  # pragma: no mutate
                    functools.partial(self._routing.delete_internet_gateway, gateway_id),
                    gone,
                    gateway_id,
                )
                if held(failure):
                    # Only an attachment holds a gateway, and every one it was listed with
                    # (or the request's own) went: one the listing missed may clear.
                    failure = replace(failure, transient=True)
            progress.record(gateway_id, failure)


def _attached_elsewhere(gateway_id: str, vpc_id: str) -> DeleteFailed:
    """A gateway attached to a VPC not deleted with it: detaching it would cut that VPC's
    instances off the internet (a gateway no record names, left in a live VPC)."""
    return DeleteFailed(
        "DetachInternetGateway",  # pragma: no mutate
        "AttachedElsewhere",
        f"{gateway_id} is attached to {vpc_id}, which is not being deleted with it: left as "
        "it is (detach it from that VPC first, if nothing there uses it)",
        True,
    )
