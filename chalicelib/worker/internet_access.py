"""Internet access for a request's public subnets: one internet gateway, attached to the
VPC; one route table with 0.0.0.0/0 to it, associated with the public subnets; and
public IPs mapped on launch in those subnets.

Each piece is made once, like the VPC and the subnets: the gateway and the table
are tagged at creation and looked up by tag before being made again after an
ambiguous failure (neither call takes a client token); attaching, routing,
associating and mapping are idempotent changes, and EC2's "already done" answer
is checked to be ours. The gateway and the table are made while the subnets are
(`subnets`), and the public subnets routed once both sides are done.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Tagging
from chalicelib.aws.faults import Already
from chalicelib.aws.routing import RoutingGateway
from chalicelib.clock import Clock
from chalicelib.errors import LeaseLost, PermanentFailure, TransientFailure, decisive_failure
from chalicelib.models import RequestRecord
from chalicelib.resource_ids import Resources
from chalicelib.worker.already_done import AlreadyDone
from chalicelib.worker.checkpoints import CheckpointWriter

_CONCURRENCY = 10


class InternetAccess:
    """Sets up one request's internet access beside its subnets. `set_up` once."""

    def __init__(
        self,
        record: RequestRecord,
        routing: RoutingGateway,
        calls: Ec2Calls,
        tagging: Tagging,
        checkpoints: CheckpointWriter,
        clock: Clock,
        unclaimed: Callable[[Resources], Resources],
    ) -> None:
        """`unclaimed`: what of these (found by the request's tag) no other request's
        record names; raises TransientFailure if that cannot be read."""
        self._unclaimed = unclaimed
        self._record = record
        self._routing = routing
        self._calls = calls
        self._tagging = tagging
        self._checkpoints = checkpoints
        self._clock = clock
        # Made in this run: EC2 may not show them to every call yet.
        self._fresh: set[str] = set()
        self._already = AlreadyDone(record.request_id, routing, calls)

    def set_up(
        self, vpc_id: str, look_first: bool, vpc_is_fresh: bool, make_subnets: Callable[[], None]
    ) -> None:
        """`prepare` while `make_subnets()` makes the request's subnets; then `connect` the
        public ones. `vpc_is_fresh`: the VPC was made or found in this run (EC2's "not
        found" for it, or IAM not seeing its tags yet, is lag), as for the subnets.

        Raises PermanentFailure, TransientFailure or LeaseLost (the one that decides, of
        both sides' failures).
        """
        context = contextvars.copy_context()
        failures: list[Exception] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="internet") as side:
            gateway = side.submit(context.run, self.prepare, vpc_id, look_first, vpc_is_fresh)
            try:
                make_subnets()
            except (PermanentFailure, TransientFailure, LeaseLost) as exc:
                failures.append(exc)
            try:
                gateway.result()
            except (PermanentFailure, TransientFailure, LeaseLost) as exc:
                failures.append(exc)
        if failures:
            raise decisive_failure(failures)
        record = self._record
        self.connect(
            [
                str(state.subnet_id)
                for state, spec in zip(record.subnets, record.request.subnets, strict=True)
                if spec.public
            ]
        )

    def prepare(self, vpc_id: str, look_first: bool, vpc_is_fresh: bool) -> None:
        """The gateway, attached to `vpc_id`, and the route table with its route to it: the
        gateway and the table at once, then the route.

        `look_first`: an earlier attempt may have made them (look them up by tag).
        Raises PermanentFailure, TransientFailure or LeaseLost.
        """
        self._at_once(
            [functools.partial(self._gateway, vpc_id, look_first, vpc_is_fresh)],
            [functools.partial(self._table, vpc_id, look_first, vpc_is_fresh)],
        )
        routing = self._routing
        gateway, table = self._record.internet_gateway_id, self._record.route_table_id
        assert gateway is not None
        assert table is not None
        self._calls.change(
            "CreateRoute",
            functools.partial(routing.create_internet_route, table, gateway),
            already=(
                Already(
                    "RouteAlreadyExists", functools.partial(self._already.routed, table, gateway)
                ),
            ),
            fresh=table in self._fresh or gateway in self._fresh,
        )

    def connect(self, subnet_ids: list[str]) -> None:
        """Route these subnets through the table and map public IPs in them, all at once.

        Raises PermanentFailure, TransientFailure or LeaseLost (the first of them).
        """
        table = self._record.route_table_id
        assert table is not None
        routing = self._routing
        self._at_once(
            *(
                [
                    functools.partial(
                        self._calls.change,
                        "AssociateRouteTable",
                        functools.partial(routing.associate_route_table, table, subnet_id),
                        already=(
                            Already(
                                "Resource.AlreadyAssociated",
                                functools.partial(self._already.associated, table, subnet_id),
                            ),
                        ),
                    ),
                    functools.partial(
                        self._calls.change,
                        "ModifySubnetAttribute",
                        functools.partial(routing.map_public_ips, subnet_id),
                    ),
                ]
                for subnet_id in subnet_ids
            )
        )

    def _gateway(self, vpc_id: str, look_first: bool, vpc_is_fresh: bool) -> None:
        record, routing = self._record, self._routing
        if record.internet_gateway_id is None:
            record.internet_gateway_id = self._made(
                "CreateInternetGateway",
                lambda: routing.create_internet_gateway(self._tags()),
                # An earlier attempt's gateway, attached nowhere or to this VPC: one attached
                # to another (a duplicate VPC a lagging look made) goes with that VPC; one
                # another record names is that request's (its tag copied).
                lambda: next(
                    iter(
                        self._unclaimed(
                            Resources(
                                gateways=tuple(
                                    g.gateway_id
                                    for g in routing.find_internet_gateways(record.request_id)
                                    if set(g.vpc_ids) <= {vpc_id}
                                )
                            )
                        ).gateways
                    ),
                    None,
                ),
                look_first,
            )
            self._checkpoints.network(internet_gateway_id=record.internet_gateway_id)
        gateway = record.internet_gateway_id
        confirm = functools.partial(self._already.attached, gateway, vpc_id)
        self._calls.change(
            "AttachInternetGateway",
            functools.partial(routing.attach_internet_gateway, gateway, vpc_id),
            already=(
                Already("Resource.AlreadyAssociated", confirm),
                # EC2's answer for a VPC that has a gateway attached already.
                Already("InvalidParameterValue", confirm, "already has an internet gateway"),
            ),
            fresh=gateway in self._fresh,
        )

    def _table(self, vpc_id: str, look_first: bool, vpc_is_fresh: bool) -> None:
        record, routing = self._record, self._routing
        if record.route_table_id is None:
            record.route_table_id = self._made(
                "CreateRouteTable",
                lambda: routing.create_route_table(vpc_id, self._tags()),
                # An earlier attempt's table in this VPC: one in another (a duplicate VPC a
                # lagging look made) goes with that VPC.
                lambda: next(
                    (
                        t.route_table_id
                        for t in routing.find_route_tables(record.request_id)
                        if t.vpc_id == vpc_id
                    ),
                    None,
                ),
                look_first,
                # It names the VPC: EC2 may not see one made moments ago yet.
                parent_is_fresh=vpc_is_fresh,
            )
            self._checkpoints.network(route_table_id=record.route_table_id)

    def _at_once(self, *chains: Sequence[Callable[[], object]]) -> None:
        """Run each chain of calls (in order) beside the others; raise the failure that
        decides, of them all (a permanent one is never hidden by another's retry)."""
        context = contextvars.copy_context()
        workers = min(len(chains), _CONCURRENCY)

        def run(chain: Sequence[Callable[[], object]]) -> None:
            for call in chain:
                call()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="internet") as pool:
            futures = [pool.submit(context.copy().run, run, chain) for chain in chains]
        if failures := [e for f in futures if (e := f.exception())]:
            raise decisive_failure(failures)

    def _made(
        self,
        operation: str,
        create: Callable[[], str],
        find: Callable[[], str | None],
        look_first: bool,
        parent_is_fresh: bool = False,
    ) -> str:
        look = functools.partial(self._calls.read, f"{operation} (look up)", find)
        if look_first:
            found = look()
            if found:
                self._fresh.add(found)
                return str(found)
        made = self._calls.create_once(operation, create, look, parent_is_fresh=parent_is_fresh)
        self._fresh.add(made)
        return made

    def _tags(self) -> dict[str, str]:
        return self._tagging.resource(
            self._record.request_id, self._record.request.vpc.name, self._clock()
        )
