"""What EC2's "already done" answers to a request's idempotent changes stand for.

Attaching the internet gateway, routing 0.0.0.0/0 to it and associating a public subnet
with the route table answer "already done" (`Resource.AlreadyAssociated`,
`RouteAlreadyExists`, `InvalidParameterValue` for a VPC that has a gateway) when the
change was made before. A read by id says what is in place (`Ec2Calls.change` asks):
True, the change wanted (ours): done; False, someone else's: the request fails; None,
not visible yet (EC2's reads lag): the change is tried again after a pause. What is in
place may also be an earlier attempt's copy of the request's gateway or table (its id
never recorded: a later attempt's look by tag lagged and made another): it carries the
request's tags, so it is moved out of the way (detached, unrouted, disassociated) and
the change is tried again (None); the copy is then an orphan, left to the reconciler.
"""

from __future__ import annotations

import functools

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.routing import RoutingGateway


class AlreadyDone:
    """The confirming reads of one request's changes: True ours, False someone else's,
    None not visible yet (or an earlier attempt's copy, moved: try again)."""

    def __init__(self, request_id: str, routing: RoutingGateway, calls: Ec2Calls) -> None:
        self._request_id = request_id
        self._routing = routing
        self._calls = calls

    def attached(self, gateway: str, vpc_id: str) -> bool | None:
        """Whether `gateway` is attached to the VPC. When the VPC holds an earlier
        attempt's gateway of this request instead (made before a look by tag that lagged
        had this run make `gateway`), that one is detached so that attaching is tried
        again (None); it is then an orphan, left to the reconciler."""
        routing = self._routing
        attached = {v for g in routing.internet_gateways([gateway]) for v in g.vpc_ids}
        if vpc_id in attached:
            return True
        if attached:
            return False
        held = [g for g in routing.gateways_of_vpc(vpc_id) if g.gateway_id != gateway]
        if any(g.request_id != self._request_id for g in held):
            return False
        # The proof that it is this request's own: it carries the request's tags and is
        # attached to the request's VPC (this worker's, IN_PROGRESS under its lease).
        for other in held:
            self._calls.change(
                "DetachInternetGateway",  # pragma: no mutate
                functools.partial(routing.detach_internet_gateway, other.gateway_id, vpc_id),
            )
        return None

    def routed(self, table: str, gateway: str) -> bool | None:
        """Whether the table's 0.0.0.0/0 goes to `gateway`. When it goes to an earlier
        attempt's gateway of this request instead (see `attached`), or the route is dead
        (a blackhole, whatever it went to), it is pointed at `gateway`, and routing is
        tried again (None)."""
        routing = self._routing
        tables = routing.route_tables([table])
        targets = sorted({t.internet_target for t in tables if t.internet_target is not None})
        if gateway in targets:
            return True
        if not targets:
            return None
        if not tables[0].dead:
            if not all(t.startswith("igw-") for t in targets):
                return False  # a NAT gateway, a peering...: someone else's route
            earlier = routing.internet_gateways(targets)
            if any(g.request_id != self._request_id for g in earlier):
                return False
            if len(earlier) < len(targets):
                return None  # the target not listed (yet), the route alive: look again
        # The proof that the route may be replaced: the table is this request's (the record
        # names it, or this run made or adopted it) and so is the gateway it goes to (its
        # tags), or the route is dead (EC2 says blackhole: its target, a gateway, a NAT
        # gateway..., detached or gone), carrying no one's traffic.
        self._calls.change(
            "ReplaceRoute",  # pragma: no mutate
            functools.partial(routing.replace_internet_route, table, gateway),
        )
        return None

    def associated(self, table: str, subnet_id: str) -> bool | None:
        """Whether the subnet is in `table`. In an earlier attempt's table of this request
        (made before a look by tag that lagged had this run make `table`): moved out of it,
        so that associating is tried again (None); that table is then an orphan, left to
        the reconciler."""
        holder = self._routing.table_of_subnet(subnet_id)
        if holder is None:
            return None
        if holder.route_table_id == table:
            return True
        if holder.request_id != self._request_id:
            return False
        # The proof that it is this request's own: it carries the request's tags and holds
        # the request's subnet, so it lies in the request's VPC (this worker's, IN_PROGRESS
        # under its lease). Only that subnet's association is removed.
        for association, held in holder.associations:
            if held == subnet_id:
                self._calls.change(
                    "DisassociateRouteTable",  # pragma: no mutate
                    functools.partial(self._routing.disassociate_route_table, association),
                )
        return None
