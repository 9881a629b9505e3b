"""Which resources a record names (`Resources`: their ids, by kind), the record narrowed
to those that remain, and whether the request still holds anything in EC2 or has ended."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from chalicelib.models import RELEASED, RequestRecord, Status


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

    @classmethod
    def of(cls, ids: list[str] | tuple[str, ...]) -> Resources:
        """Ids sorted into their kinds by their prefixes (others ignored)."""

        def kind(prefix: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(i for i in ids if i.startswith(prefix)))

        return cls(kind("vpc-"), kind("subnet-"), kind("igw-"), kind("rtb-"))


def known_resources(record: RequestRecord) -> Resources:
    """The resource ids a record names."""
    return Resources(
        vpcs=(record.vpc_id,) if record.vpc_id else (),
        subnets=tuple(s.subnet_id for s in record.subnets if s.subnet_id),
        gateways=(record.internet_gateway_id,) if record.internet_gateway_id else (),
        tables=(record.route_table_id,) if record.route_table_id else (),
    )


def only_remaining(record: RequestRecord, remaining: set[str]) -> RequestRecord:
    """The record naming only those of its resources that are in `remaining`."""

    def kept(resource_id: str | None) -> str | None:
        return resource_id if resource_id in remaining else None

    return replace(
        record,
        vpc_id=kept(record.vpc_id),
        subnets=[replace(s, subnet_id=kept(s.subnet_id)) for s in record.subnets],
        internet_gateway_id=kept(record.internet_gateway_id),
        route_table_id=kept(record.route_table_id),
    )


def settled(record: RequestRecord, gone: Iterable[str], now: str) -> RequestRecord:
    """The record once each id of `gone` answered a delete: its orphans among them
    removed at `now` (their error cleared), its rollback's `remaining` without them (and
    the rollback's error, once nothing remains). So a DELETED record does not go on
    saying its rollback or the reconciler left something that its teardown deleted."""
    gone = set(gone)
    orphans = [
        replace(o, removed_at=now, error=None, removing=False)
        if o.id in gone and o.removed_at is None
        else o
        for o in record.orphans
    ]
    rollback = record.rollback
    if rollback is not None and gone & set(rollback.remaining):
        remaining = tuple(i for i in rollback.remaining if i not in gone)
        rollback = replace(
            rollback, remaining=remaining, error=rollback.error if remaining else None
        )
    return replace(record, orphans=orphans, rollback=rollback)


def holds_nothing(record: RequestRecord) -> bool:
    """Whether nothing of the request is known to exist in EC2: no ids, a rollback that
    completed (or none), and every orphan removed."""
    return (
        record.vpc_id is None
        and all(subnet.subnet_id is None for subnet in record.subnets)
        and record.internet_gateway_id is None
        and record.route_table_id is None
        and (record.rollback is None or record.rollback.complete)
        and all(orphan.removed_at is not None for orphan in record.orphans)
    )


def has_ended(record: RequestRecord) -> bool:
    """Whether the request no longer counts as live: CANCELLED, DELETED, or FAILED with
    nothing left (a per-user limit counts every other request, and its block stays held).
    FAILED after a lost answer is not, while its block is held: a create may have run
    unseen, and the looks by tag that found nothing may have lagged (the reconciler clears
    `lost_answers` once it is sure; one whose block was freed at FAILED, before 2026-12-06,
    has ended)."""
    if record.status in (Status.CANCELLED, Status.DELETED):
        return True
    return (
        record.status is Status.FAILED
        and holds_nothing(record)
        and (not record.lost_answers or record.allocation == RELEASED)
    )


def vpc_noted(record: RequestRecord) -> bool:
    """Whether the record notes an orphan VPC not removed (yet): a lost answer's duplicate,
    with the request's CIDR. Its addresses stay held until it is gone."""
    return any(not o.removed_at and o.id.startswith("vpc-") for o in record.orphans)


def duplicate_may_hold(record: RequestRecord) -> bool:
    """Whether a VPC of the request's besides those its teardown knows may have its CIDR:
    one a lost answer may have made, or a noted orphan VPC. Then only the worker that
    tears it down (at DELETED) or the address upkeep's listing frees its block."""
    return record.lost_answers or vpc_noted(record)


def said_to_remain(record: RequestRecord, besides: Resources) -> Resources:
    """The ids the record says may still be there, other than those in `besides` (the ids
    it names): what its rollback or an earlier teardown could not delete, and orphans the
    reconciler has not removed (noted with an error, or about to be removed)."""
    reports = [r for r in (record.rollback, record.teardown) if r is not None]
    said = [
        *(i for r in reports for i in r.remaining),
        *(o.id for o in record.orphans if o.removed_at is None),
    ]
    return Resources.of([i for i in said if i not in besides.all])


def unanswered(
    record: RequestRecord, earlier: Collection[str], known: Resources
) -> tuple[Resources, Resources]:
    """Of `known` (the ids the record names) and of what it says may remain besides, those
    no earlier try's delete answered for (`earlier`, in the record's report): gone for
    good, EC2 never reusing an id, so neither tried again nor said to remain again."""
    left = Resources.of([i for i in known.all if i not in earlier])
    said = said_to_remain(record, besides=left).all
    return left, Resources.of([i for i in said if i not in earlier])


def gone_for_good(record: RequestRecord) -> set[str]:
    """What a delete answered for: in a rollback's or a teardown's tries (`answered`), or
    the reconciler's (an orphan noted removed, unless a report says only "not found"
    answered for it, EC2 may have lagged behind its making, or that it remains: a later
    try listed it again)."""
    reports = [r for r in (record.rollback, record.teardown) if r]
    doubted = {i for r in reports for i in (*r.not_found, *r.remaining)}
    removed = {o.id for o in record.orphans if o.removed_at and o.id not in doubted}
    return removed.union(*(r.answered for r in reports))
