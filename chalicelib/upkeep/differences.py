"""What differs between a SUCCEEDED record and what EC2 showed of it. Pure: no AWS calls.

The drift check (`upkeep.drift`) gathers, for each resource a record names, an
observation: the resource as a read showed it (`Seen`), `GONE` (a read by its id
answered "not found"), or None (nothing could tell: the sweep missed it and a closer
look failed or lagged). `compare` turns them into drift items:

- vpc, subnet, internet_gateway, route_table: `missing` when GONE; `changed` when its
  RequestId or deployment tag no longer names this request and deployment (the
  orphan sweep, DELETE's lookups and IAM's delete conditions all go by those tags),
  or a gateway is no longer attached to the request's VPC, or a VPC has an IPv4 block
  besides the request's, or a public subnet no longer maps public IPv4 addresses on
  launch (MapPublicIpOnLaunch, which the worker turns on), or the route table was made
  the VPC's main one: one item per resource and kind, its problems joined;
- route: the route table's 0.0.0.0/0 route to the request's gateway is `missing`, or
  `changed` (another target, or a blackhole);
- association: a public subnet is no longer associated with the route table (`missing`),
  or another subnet is (`changed`: the request's private subnet, or one it does not name,
  now routed by the request's table; a DELETE leaves a table that routes a subnet it
  does not delete, and waits); or a private subnet is routed to an internet gateway by
  another table (`changed`: one associated with it, or the VPC's main table, which routes
  every subnet not associated with another). Which tables a VPC has comes from the run's
  listing of every route table; what each holds (its associations, whether it is the
  main one, its routes), from `look`.

A route table that is gone takes its route and associations with it: only the table
is reported. Everything else is read and reported on its own (a VPC that is gone has
no subnets left either: each is reported missing).

What depends on a resource nobody could read is *unknown*: `compare` names those items'
keys, and `merged` keeps the record's own items for them as they were. A read that
could not tell never produces drift, and never clears it.

`adopt` is the one change to what a record names: when a subnet, gateway or route
table it names is gone and the sweep shows exactly one resource in its place (the
same kind, carrying this request's and this deployment's tags, in the request's VPC
(a gateway: attached to it; a subnet: with the same CIDR block, which EC2 keeps unique
in a VPC, and zone), that resource is what the request now has: someone restored it.
What the record then says of it is proven as of any other resource it names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace

from chalicelib.aws.described import Gone, Kind, Seen
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.findings import DriftItem, DriftProblem, DriftType
from chalicelib.models import RequestRecord, SubnetState

Observation = Seen | Gone | None
Look = Callable[[str], Observation]

# The order items are listed in: the network from the outside in.
_ORDER = {kind: rank for rank, kind in enumerate(DriftType)}
# Characters of a tag value quoted in a detail (tags hold up to 256).
_QUOTED = 40


@dataclass(frozen=True)
class Comparison:
    """The drift one check proved, and the keys of the items it could not decide."""

    items: tuple[DriftItem, ...]
    unknown: frozenset[tuple[str, str]]


def expected(record: RequestRecord) -> list[tuple[Kind, str]]:
    """The resources a SUCCEEDED record names, by kind."""
    named: list[tuple[Kind, str]] = []
    if record.vpc_id:
        named.append((Kind.VPC, record.vpc_id))
    named += [(Kind.SUBNET, s.subnet_id) for s in record.subnets if s.subnet_id]
    if record.internet_gateway_id:
        named.append((Kind.INTERNET_GATEWAY, record.internet_gateway_id))
    if record.route_table_id:
        named.append((Kind.ROUTE_TABLE, record.route_table_id))
    return named


def public_subnet_ids(record: RequestRecord) -> list[str]:
    """The ids of the record's public subnets (those routed through its route table)."""
    return [
        str(state.subnet_id)
        for state, spec in zip(record.subnets, record.request.subnets, strict=False)
        if spec.public and state.subnet_id
    ]


def private_subnet_ids(record: RequestRecord) -> list[str]:
    """The ids of the record's private subnets."""
    public = set(public_subnet_ids(record))
    return [str(s.subnet_id) for s in record.subnets if s.subnet_id and s.subnet_id not in public]


def route_tables(record: RequestRecord, listed: Iterable[str]) -> set[str]:
    """The ids of the route tables of the record's VPC: those `listed`, and always the
    request's own (a listing may lag behind it)."""
    return {*listed, *([record.route_table_id] if record.route_table_id else [])}


def routing_table(subnet_id: str, tables: Iterable[str], look: Look) -> Seen | None:
    """Which of the VPC's route tables (`tables`, as `look` shows them) routes the subnet:
    the one associated with it, else the VPC's main one; None when that is not one table."""
    shown = [t for t in map(look, tables) if isinstance(t, Seen)]
    associated = [t for t in shown if subnet_id in t.associations]
    candidates = associated or [t for t in shown if t.main]
    return candidates[0] if len(candidates) == 1 else None


def compare(
    record: RequestRecord, look: Look, tables: Collection[str], deployment: str
) -> Comparison:
    """How EC2, as `look` shows each named resource and the VPC's route tables (`tables`,
    their ids; the request's own is always one), differs from `record`."""
    items: list[DriftItem] = []
    unknown: set[tuple[str, str]] = set()
    cidrs = {s.subnet_id: s.cidr for s in record.subnets if s.subnet_id}
    public = set(public_subnet_ids(record))
    for kind, resource_id in expected(record):
        seen = look(resource_id)
        kind_type = DriftType(kind.value)
        if seen is None:
            unknown.add((resource_id, kind_type.value))
            if kind is Kind.ROUTE_TABLE:
                unknown.add((resource_id, DriftType.ROUTE.value))
                unknown.update((s, DriftType.ASSOCIATION.value) for s in public_subnet_ids(record))
                # Recorded associations of other subnets (only the table shows those).
                unknown.update(i.key for i in record.drift if i.type is DriftType.ASSOCIATION)
            continue
        if isinstance(seen, Gone):
            what = f"the {_NAMES[kind]}"
            if kind is Kind.SUBNET:
                what += f" ({cidrs.get(resource_id, '?')})"
            items.append(
                DriftItem(kind_type, resource_id, DriftProblem.MISSING, f"{what} no longer exists")
            )
            continue
        problems = _tag_problems(seen, record.request_id, deployment)
        if kind is Kind.INTERNET_GATEWAY:
            problems += _attachment_problems(seen, record.vpc_id)
        if kind is Kind.VPC:
            problems += _block_problems(seen, record.cidr or record.request.vpc.cidr)
        if resource_id in public and not seen.public_ips:
            problems.append(
                "public, but MapPublicIpOnLaunch is off: its instances get no public IPv4"
            )
        if kind is Kind.ROUTE_TABLE and seen.main:
            problems.append("made the VPC's main route table")
        if problems:
            items.append(
                DriftItem(kind_type, resource_id, DriftProblem.CHANGED, "; ".join(problems))
            )
        if kind is Kind.ROUTE_TABLE:
            items += _route_items(seen, record, look)
    for subnet_id in private_subnet_ids(record):
        exposed = _exposure(record, subnet_id, look, tables)
        if exposed is None:
            unknown.add((subnet_id, DriftType.ASSOCIATION.value))
        elif exposed:
            items.append(DriftItem(DriftType.ASSOCIATION, subnet_id, DriftProblem.CHANGED, exposed))
    return Comparison(tuple(ordered(items)), frozenset(unknown))


def merged(recorded: list[DriftItem], comparison: Comparison) -> list[DriftItem]:
    """The record's drift after a check: what it proved, and the recorded items it could
    not decide, kept as they were."""
    proven = {item.key for item in comparison.items}
    kept = [i for i in recorded if i.key in comparison.unknown and i.key not in proven]
    return ordered([*comparison.items, *kept])


def unconfirmed(comparison: Comparison, items: Collection[DriftItem]) -> Comparison:
    """`comparison` with `items` taken back: what they are about is unknown instead."""
    return Comparison(
        tuple(i for i in comparison.items if i not in items),
        comparison.unknown | {i.key for i in items},
    )


def ordered(items: Iterable[DriftItem]) -> list[DriftItem]:
    """Drift items in the order they are listed: by type (VPC first), then id."""
    return sorted(items, key=lambda i: (_ORDER[i.type], i.resource_id))


def adopt(
    record: RequestRecord,
    look: Look,
    sweep: Iterable[Seen],
    deployment: str,
    taken: Collection[str] = (),
) -> RequestRecord:
    """The record naming, in place of each subnet, gateway or route table of its that is
    gone, the one resource the sweep shows in its place (see the module's docstring);
    unchanged where there is none, or more than one. `taken`: ids other records name.
    Never one of the record's orphans, but one not removed that is live now (a gateway
    attached, a table routing subnets: made again in place): its note goes."""
    named = {resource_id for _, resource_id in expected(record)}
    noted = {o.id: o for o in record.orphans}
    mine = [
        s
        for s in sweep
        if s.request_id == record.request_id
        and s.tag(DEPLOYMENT_TAG) == deployment
        and s.resource_id not in named
        and s.resource_id not in taken
        and (
            (o := noted.get(s.resource_id)) is None
            or (not o.removed_at and bool(s.attachments or s.associations))
        )
    ]

    def sole(kind: Kind, fits: Callable[[Seen], bool]) -> str | None:
        found = [s.resource_id for s in mine if s.kind is kind and fits(s)]
        return found[0] if len(found) == 1 else None

    def gone(resource_id: str | None) -> bool:
        return resource_id is not None and isinstance(look(resource_id), Gone)

    def in_place_of(state: SubnetState) -> SubnetState:
        if not gone(state.subnet_id):
            return state
        new = sole(
            Kind.SUBNET, lambda s: (s.vpc_id, s.cidr, s.az) == (record.vpc_id, state.cidr, state.az)
        )
        return replace(state, subnet_id=new or state.subnet_id)

    subnets = [in_place_of(state) for state in record.subnets]
    gateway, table = record.internet_gateway_id, record.route_table_id
    if gone(gateway):
        gateway = sole(Kind.INTERNET_GATEWAY, lambda s: s.vpc_id == record.vpc_id) or gateway
    if gone(table):
        table = sole(Kind.ROUTE_TABLE, lambda s: s.vpc_id == record.vpc_id) or table
    now = {gateway, table, *(s.subnet_id for s in subnets)}
    return replace(
        record,
        subnets=subnets,
        internet_gateway_id=gateway,
        route_table_id=table,
        orphans=[o for o in record.orphans if o.id not in now],
    )


_NAMES = {
    Kind.VPC: "VPC",
    Kind.SUBNET: "subnet",
    Kind.INTERNET_GATEWAY: "internet gateway",
    Kind.ROUTE_TABLE: "route table",
}


def _quoted(value: str) -> str:
    """A tag value for a detail: bounded, quoted."""
    return repr(value if len(value) <= _QUOTED else value[:_QUOTED] + "...")


def _tag_problems(seen: Seen, request_id: str, deployment: str) -> list[str]:
    problems = []
    for key, want in ((REQUEST_ID_TAG, request_id), (DEPLOYMENT_TAG, deployment)):
        value = seen.tag(key)
        if value is None:
            problems.append(f"tag {key} was removed")
        elif value != want:
            problems.append(f"tag {key} is {_quoted(value)}, not {want!r}")
    return problems


def _attachment_problems(gateway: Seen, vpc_id: str | None) -> list[str]:
    if vpc_id is None or vpc_id in gateway.attachments:
        return []
    if gateway.attachments:
        return [f"attached to {', '.join(gateway.attachments)}, not {vpc_id}"]
    return [f"no longer attached to {vpc_id}"]


def _block_problems(vpc: Seen, cidr: str | None) -> list[str]:
    """Blocks associated with the VPC besides the request's (its subnets may then lie
    outside the request's block, and its addresses outside the pools' accounting)."""
    added = [b for b in vpc.blocks if b != cidr]
    if not cidr or not added:
        return []
    return [f"IPv4 block {', '.join(added)} was associated besides {cidr}"]


def _exposure(
    record: RequestRecord, subnet_id: str, look: Look, tables: Collection[str]
) -> str | None:
    """What routes the private subnet to the internet, unless it is the request's own
    table associated with it (`_route_items` reports that): "" when nothing does (or the
    subnet is gone), None when no read can tell."""
    subnet = look(subnet_id)
    if isinstance(subnet, Gone):
        return ""
    table = routing_table(subnet_id, route_tables(record, tables), look)
    if subnet is None or table is None:
        return None
    associated = subnet_id in table.associations
    if not table.to_internet or (associated and table.resource_id == record.route_table_id):
        return ""
    how = "associated with it" if associated else "the VPC's main route table"
    return f"private, but {table.resource_id} ({how}) routes it to {', '.join(table.to_internet)}"


def _route_items(table: Seen, record: RequestRecord, look: Look) -> list[DriftItem]:
    """The table's default route and subnet associations, against the record: every public
    subnet associated, no other subnet."""
    items = []
    gateway = record.internet_gateway_id
    route = table.internet_route
    table_id = table.resource_id
    if gateway is not None:
        problem: tuple[DriftProblem, str] | None = None
        if route is None:
            problem = (DriftProblem.MISSING, f"no route to 0.0.0.0/0 via {gateway}")
        elif route.target != gateway:
            problem = (
                DriftProblem.CHANGED,
                f"0.0.0.0/0 goes to {route.target or 'no target'}, not {gateway}",
            )
        elif route.state == "blackhole":
            problem = (DriftProblem.CHANGED, f"0.0.0.0/0 to {gateway} is a blackhole")
        if problem is not None:
            items.append(DriftItem(DriftType.ROUTE, table_id, *problem))
    for subnet_id in public_subnet_ids(record):
        if subnet_id in table.associations or isinstance(look(subnet_id), Gone):
            continue
        items.append(
            DriftItem(
                DriftType.ASSOCIATION,
                subnet_id,
                DriftProblem.MISSING,
                f"no longer associated with {table_id}",
            )
        )
    public = set(public_subnet_ids(record))
    private = set(private_subnet_ids(record))
    for subnet_id in table.associations:
        if subnet_id in public or isinstance(look(subnet_id), Gone):
            continue
        whose = "though private" if subnet_id in private else "though not the request's"
        items.append(
            DriftItem(
                DriftType.ASSOCIATION,
                subnet_id,
                DriftProblem.CHANGED,
                f"associated with {table_id}, {whose}",
            )
        )
    return items
