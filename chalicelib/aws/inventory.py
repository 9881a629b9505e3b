"""What the reconciler sees of this deployment's networks in EC2, and how it looks closer.

One sweep per reconciler run: four paginated listings, the VPCs, subnets and internet
gateways carrying this deployment's tag and a `RequestId` (filtered by EC2), and every
route table (filtered here: the tables that are not ours, a VPC's main one or someone's,
tell whether a private subnet is routed to the internet). When nothing has changed,
their pages are the run's whole EC2 cost, however many requests there are. Each
resource comes back `Seen`: its tags and its VPC, and what the drift check compares (a
gateway's attachments, a route table's routes and subnet associations).

A listing that does not show a resource proves nothing: EC2's reads lag, and a
resource whose tags someone stripped falls out of a tag filter. So the drift check
looks closer at what the sweep missed: `described` reads resources by id through an
id filter (pages again, whatever their tags; a filter never fails for an id that is
gone, so it shows only what exists), and `one` asks for one id by id, the only read
whose "not found" proves a resource gone. An empty answer to either is no answer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.described import GONE, Gone, Kind, Seen, seen_of
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG, every, ours
from chalicelib.aws.faults import error_code

# Values in one Describe filter (EC2 takes up to 200 per filter).
_FILTER_VALUES = 200


@dataclass(frozen=True)
class _Api:
    """How EC2 lists one kind: the operation, its paginator, the answer's list, the id
    field, the filter by id and the by-id parameter with its "not found" code."""

    operation: str
    method: str
    items: str
    id_filter: str
    ids_parameter: str
    not_found: str


_APIS = {
    Kind.VPC: _Api(
        "DescribeVpcs",
        "describe_vpcs",
        "Vpcs",
        "vpc-id",
        "VpcIds",
        "InvalidVpcID.NotFound",
    ),
    Kind.SUBNET: _Api(
        "DescribeSubnets",
        "describe_subnets",
        "Subnets",
        "subnet-id",
        "SubnetIds",
        "InvalidSubnetID.NotFound",
    ),
    Kind.INTERNET_GATEWAY: _Api(
        "DescribeInternetGateways",
        "describe_internet_gateways",
        "InternetGateways",
        "internet-gateway-id",
        "InternetGatewayIds",
        "InvalidInternetGatewayID.NotFound",
    ),
    Kind.ROUTE_TABLE: _Api(
        "DescribeRouteTables",
        "describe_route_tables",
        "RouteTables",
        "route-table-id",
        "RouteTableIds",
        "InvalidRouteTableID.NotFound",
    ),
}


@dataclass(frozen=True)
class Sweep:
    """One run's listings: every resource carrying this deployment's tags, by id; and
    every route table listed, ours or not, by VPC."""

    seen: dict[str, Seen]
    tables: dict[str, tuple[Seen, ...]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Seen]:
        return iter(self.seen.values())

    def get(self, resource_id: str) -> Seen | None:
        return self.seen.get(resource_id)


class Inventory:
    """Reads of this deployment's networks (read-only; errors through `calls`)."""

    def __init__(self, client: Any, deployment: str) -> None:
        self._ec2 = client
        self._deployment = deployment

    def sweep(self, calls: Ec2Calls) -> Sweep:
        """Everything tagged with this deployment and a request id, and every route table:
        four listings, each every page. Raises PermanentFailure / TransientFailure when one
        cannot be read."""
        seen: dict[str, Seen] = {}
        tables: dict[str, list[Seen]] = {}
        for kind, api in _APIS.items():
            every_table = kind is Kind.ROUTE_TABLE
            filters = None if every_table else ours(self._deployment, None)
            listing = functools.partial(self._listed, api, filters)
            for item in calls.read(api.operation, listing):
                found = seen_of(kind, item)
                if every_table:
                    tables.setdefault(found.vpc_id, []).append(found)
                if not every_table or self._ours(found):
                    seen[found.resource_id] = found
        return Sweep(seen, {vpc: tuple(listed) for vpc, listed in tables.items()})

    def described(self, calls: Ec2Calls, kind: Kind, ids: list[str]) -> dict[str, Seen]:
        """Those of `ids` (of one kind) that an id-filtered listing shows, whatever their
        tags: one call per 200 ids (and page). What it does not show may exist all the
        same (EC2's lag). Raises PermanentFailure / TransientFailure."""
        wanted = set(ids)
        listed = self._filtered(calls, kind, _APIS[kind].id_filter, wanted)
        return {seen.resource_id: seen for seen in listed if seen.resource_id in wanted}

    def tables_in(self, calls: Ec2Calls, values: list[str], by: str = "vpc-id") -> list[Seen]:
        """The route tables, ours or not, a listing filtered `by` shows in those VPCs (what
        the sweep's listing of every table did not show), or associated with those subnets
        (`association.subnet-id`). Raises like `described`."""
        wanted = set(values)
        listed = self._filtered(calls, Kind.ROUTE_TABLE, by, wanted)
        return [t for t in listed if t.vpc_id in wanted or wanted & set(t.associations)]

    def _filtered(self, calls: Ec2Calls, kind: Kind, name: str, values: set[str]) -> list[Seen]:
        """What a listing of `kind` filtered by `name` shows: one call per 200 values (and page)."""
        api = _APIS[kind]
        unique = sorted(values)
        found: list[Seen] = []
        for start in range(0, len(unique), _FILTER_VALUES):
            chunk = [{"Name": name, "Values": unique[start : start + _FILTER_VALUES]}]
            items = calls.read(api.operation, functools.partial(self._listed, api, chunk))
            found += [seen_of(kind, item) for item in items]
        return found

    def one(self, calls: Ec2Calls, kind: Kind, resource_id: str) -> Seen | Gone | None:
        """One resource by id: as it is, GONE when EC2 answers "not found" for that very id,
        or None when the answer lists nothing (EC2's lag: no answer). Raises
        PermanentFailure / TransientFailure when the read fails."""
        api = _APIS[kind]

        def read() -> Seen | Gone | None:
            try:
                answer = getattr(self._ec2, api.method)(**{api.ids_parameter: [resource_id]})
            except ClientError as exc:
                if error_code(exc) == api.not_found:
                    return GONE
                raise
            for item in answer.get(api.items) or []:
                seen = seen_of(kind, item)
                if seen.resource_id == resource_id:
                    return seen
            return None

        return calls.read(f"{api.operation} (by id)", read)

    def _ours(self, seen: Seen) -> bool:
        """What the filters of the other listings ask EC2 for (`ec2.ours`)."""
        return seen.tag(DEPLOYMENT_TAG) == self._deployment and seen.tag(REQUEST_ID_TAG) is not None

    def _listed(self, api: _Api, filters: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return every(self._ec2, api.method, api.items, filters)
