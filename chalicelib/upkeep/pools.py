"""The address upkeep: what keeps the pools' blocks true between POSTs. Runs with the
reconciler (its schedule, its policy).

Each run:

0. Backfill, once (first: until it is done, the VPCs of this deployment are left to it).
   Records from before pools get their allocation (held, shared when they overlap,
   released when they have ended), a page at a time; a marker item says where it stands,
   and that it is done once a full pass wrote every record. Records from before the
   reconciler's ledger that a run must come back to (`comes_back`: a FAILED request that
   still names something, an orphan noted and not removed, a request at work) are put on
   it: once EC2 listed nothing of them, no run read them again, and a FAILED record named
   a VPC a person had since removed, its addresses held, for good.
1. Foreign VPCs. A complete `DescribeVpcs` lists the region's VPCs (before the blocks
   are read: a POST in between, its VPC made before the listing, would otherwise be
   one whose block nobody holds): of those this
   deployment did not make (the default VPC, the account's own, other stages'), every
   block, and of ours every block its request does not hold (one someone associated
   with it, an orphan's whose request's block was freed), is held with the VPC id as
   holder, so that an explicit CIDR over one is
   a 409 naming it and sized allocations keep away; one that overlaps a block already
   held is shared (store/block_tree.py): no later hold overlaps it either, unless the
   block is held by the request whose tag the VPC carries (a POST whose block the read
   of the pool's index did not show yet: its own). A foreign block
   is freed only on proof: its VPC, read
   by id, is "not found" or no longer has the block. A listing that failed holds
   nothing new and frees nothing.
2. Ended requests. Blocks whose request has ended (CANCELLED, DELETED, FAILED with
   nothing left) and were not freed when it ended (that write failed) are freed now,
   at the version read: a record that cannot be read, or moved on, keeps its block; so
   does one whose record notes an orphan VPC not removed (`vpc_noted`). One of our VPCs
   that has an ended request's block (a lost answer's duplicate, not removed yet, but
   one its record says a delete answered for) is held with the VPC first (step 1): the
   block is that VPC's then, freed only on proof, as a foreign one's. A listing that
   failed frees nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.addresses import Pool, pool_of
from chalicelib.aws.ec2 import Ec2Gateway
from chalicelib.errors import BackendFailure
from chalicelib.metrics import Metrics, Unit
from chalicelib.models import SHARED, RequestRecord
from chalicelib.resource_ids import gone_for_good, has_ended
from chalicelib.store.blocks import Taken
from chalicelib.store.pools import PoolStore
from chalicelib.upkeep.orphans import comes_back

logger = logging.getLogger(__name__)

# Pages of the listing the backfill looks at per run.
_BACKFILL_PAGES_PER_RUN = 20
# Of a run's errors, how many its WARNING quotes (each bounded: AWS's messages are).
_ERRORS_QUOTED = 3


@dataclass
class PoolReport:
    """What one run did."""

    foreign_held: list[str] = field(default_factory=list)
    foreign_freed: list[str] = field(default_factory=list)
    freed: list[str] = field(default_factory=list)
    backfilled: int = 0
    errors: list[str] = field(default_factory=list)
    # Whether this run's DescribeVpcs listing was complete (the foreign VPCs are as
    # fresh as the run); False: what is held for them is as old as the last one that was.
    foreign_listed: bool = False

    @property
    def acted(self) -> bool:
        return bool(self.foreign_held or self.foreign_freed or self.freed or self.backfilled)


class PoolKeeper:
    """Keeps the pools' blocks true. `run` never raises for AWS failures: it reports them
    and leaves their part for the next run."""

    def __init__(
        self, store: PoolStore, ec2: Ec2Gateway, pools: Sequence[Pool], metrics: Metrics
    ) -> None:
        self._store = store
        self._ec2 = ec2
        self._pools = tuple(pools)
        self._metrics = metrics

    def run(self) -> PoolReport:
        """One run. Writes its metrics (ForeignVpcsUnlisted: 1 when the account's VPCs could
        not be listed, so that an alarm says when what POSTs keep away from grows old;
        AddressUpkeepErrors), and a WARNING naming its errors, if any."""
        report = PoolReport()
        backfilled = self._backfill(report)
        # The VPCs first, then the blocks: a POST accepted between the two, whose VPC was
        # made before the listing, would otherwise be a VPC whose block nobody holds.
        vpcs = self._vpcs(report)
        try:
            taken = [t for pool in (*self._pools, None) for t in self._taken(pool)]
        except BackendFailure as exc:
            report.errors.append(str(exc))
        else:
            ended = self._ended(taken, report)
            if vpcs is not None:
                # An ended request's block that one of our VPCs still has (a lost answer's
                # duplicate, not removed yet) is that VPC's now: held with it, then freed.
                unheld = self._foreign(vpcs, taken, report, backfilled, ended)
                self._free([r for i, r in ended.items() if i not in unheld], report)
        self._metrics.put(
            {"Function": "reconciler"},
            {
                "ForeignVpcsUnlisted": (0 if report.foreign_listed else 1, Unit.COUNT),
                "AddressUpkeepErrors": (len(report.errors), Unit.COUNT),
            },
        )
        if report.errors:
            logger.warning(
                "address upkeep: %d error(s), left for the next run%s: %s",
                len(report.errors),
                ""
                if report.foreign_listed
                else " (the account's VPCs were not listed: "
                "sized blocks keep away from those known at the last listing only)",
                "; ".join(report.errors[:_ERRORS_QUOTED]),
            )
        if report.acted:
            logger.info(
                "address upkeep: %d foreign block(s) held, %d freed; %d ended request(s) "
                "freed; %d record(s) backfilled",
                len(report.foreign_held),
                len(report.foreign_freed),
                len(report.freed),
                report.backfilled,
            )
        return report

    def _taken(self, pool: Pool | None) -> list[Taken]:
        return self._store.taken(pool.name if pool else None)

    # --- 1. foreign VPCs ---------------------------------------------------------------

    def _vpcs(self, report: PoolReport) -> dict[str, tuple[str | None, set[str]]] | None:
        """The region's VPCs, each with the request whose tag it carries (or None) and its
        IPv4 blocks (`Ec2Gateway.region_vpc_blocks`); None when they were not listed."""
        try:
            vpcs = self._ec2.region_vpc_blocks()
        except (ClientError, BotoCoreError) as exc:
            report.errors.append(f"DescribeVpcs: {exc}")
            return None
        report.foreign_listed = True
        return vpcs

    def _foreign(
        self,
        vpcs: dict[str, tuple[str | None, set[str]]],
        taken: list[Taken],
        report: PoolReport,
        backfilled: bool,
        ended: dict[str, RequestRecord],
    ) -> set[str]:
        """Returns the ended requests a VPC of which has their block and could not be held
        (their blocks stay held this run)."""
        held = {(t.holder, str(t.block)): t for t in taken if t.holder.startswith("vpc-")}
        # A block of one of our VPCs is its request's to hold (from its POST until it
        # ends); any other (one someone associated with it, an orphan's whose request
        # ended or freed its block) is held by the VPC, as a foreign VPC's is.
        requests = {
            (t.holder, str(t.block))
            for t in taken
            if not t.holder.startswith("vpc-") and t.holder not in ended
        }
        # Until the backfill is done, one of ours may be a request's whose record has no
        # block yet: left to the backfill (held by its VPC, it would be recorded shared);
        # not an ended one's (it holds a block: the backfill is done with its record).
        listed = {
            vpc_id: {cidr for cidr in blocks if (request_id, cidr) not in requests}
            for vpc_id, (request_id, blocks) in vpcs.items()
            if backfilled or request_id in (None, *ended)
        }
        deleted = self._deleted_since(
            {
                v: str(vpcs[v][0])
                for v, blocks in listed.items()
                if vpcs[v][0] and any((v, c) not in held for c in blocks)
            }
        )
        unheld: set[str] = set()
        for vpc_id, blocks in sorted(listed.items()):
            for cidr in sorted(blocks):
                if (vpc_id, cidr) in held or vpc_id in deleted:
                    continue
                block = IPv4Network(cidr)
                pool = pool_of(self._pools, block)
                owner = vpcs[vpc_id][0]
                mine = None if owner in ended else owner  # shares an ended one's block
                try:
                    if self._store.hold_foreign(block, vpc_id, pool.name if pool else None, mine):
                        report.foreign_held.append(f"{vpc_id} {cidr}")
                        continue
                except BackendFailure as exc:
                    report.errors.append(str(exc))
                unheld.add(str(owner))
        for (vpc_id, cidr), taken_block in sorted(held.items()):
            if vpc_id in vpcs and cidr in vpcs[vpc_id][1]:
                continue
            try:
                still = self._ec2.vpc_blocks(vpc_id)
            except (ClientError, BotoCoreError, BackendFailure) as exc:
                report.errors.append(f"DescribeVpcs {vpc_id}: {exc}")
                continue
            if still is not None and cidr in still:
                continue  # the listing lagged
            try:
                if self._store.free_foreign(taken_block):
                    report.foreign_freed.append(f"{vpc_id} {cidr}")
            except BackendFailure as exc:
                report.errors.append(str(exc))
        return unheld

    def _deleted_since(self, owners: dict[str, str]) -> set[str]:
        """Of our VPCs about to be held (`owners`: each one's request, which no longer holds
        its block), those whose request's record says a delete answered for them: listed
        before a DELETE that ended after the listing, or by a listing that lags behind
        DeleteVpc (held, an explicit POST of the CIDR would meet a 409 naming a gone VPC
        until the next run). A record that cannot be read proves nothing: its VPC is held."""
        try:
            found = self._store.records(set(owners.values())).found if owners else {}
        except BackendFailure:
            return set()
        return {v for v, r in owners.items() if r in found and v in gone_for_good(found[r])}

    # --- 2. ended requests -------------------------------------------------------------

    def _ended(self, taken: list[Taken], report: PoolReport) -> dict[str, RequestRecord]:
        """The requests holding blocks that have ended (as read: one that cannot be read
        is not)."""
        holders = {t.holder for t in taken if not t.holder.startswith("vpc-")}
        try:
            found = self._store.records(holders).found  # (none read: no call)
        except BackendFailure as exc:
            report.errors.append(str(exc))
            return {}
        return {i: r for i, r in found.items() if has_ended(r)}

    def _free(self, ended: list[RequestRecord], report: PoolReport) -> None:
        for record in ended:
            try:
                if self._store.release_addresses(record):
                    report.freed.append(record.request_id)
            except BackendFailure as exc:
                report.errors.append(str(exc))

    # --- 0. backfill -------------------------------------------------------------------

    def _backfill(self, report: PoolReport) -> bool:
        """One run's part of the backfill; True once it is done."""
        try:
            position = self._store.backfill_position()
            if position is True:
                return True
            after = position if isinstance(position, dict) else None
            for _ in range(_BACKFILL_PAGES_PER_RUN):
                page = self._store.backfill_page(after)
                back = [r.request_id for r in page.records if comes_back(r)]
                if back:
                    self._store.add_pending(back)
                for record in page.records:
                    if record.allocation or not record.cidr:
                        continue
                    pool = pool_of(self._pools, IPv4Network(record.cidr))
                    written = self._store.backfill(
                        record, has_ended(record), pool.name if pool else None
                    )
                    if written is None:
                        # Moved on: the pass is not complete; the next one starts over.
                        self._store.note_backfill(None, done=False)
                        return False
                    if written == SHARED:
                        # A POST took its block before this pass (docs/operating.md).
                        logger.warning(
                            "address backfill: request %s (%s) overlaps a block held "
                            "since: recorded shared",
                            record.request_id,
                            record.cidr,
                        )
                    report.backfilled += 1
                after = page.after
                if after is None:
                    self._store.note_backfill(None, done=True)
                    return True
            self._store.note_backfill(after, done=False)
        except BackendFailure as exc:
            report.errors.append(str(exc))
        return False
