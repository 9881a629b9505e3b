"""What a POST does when the table refuses its block: it overlaps a held one, or another
transaction is writing its /16's count.

When the transaction is cancelled because the block overlaps a held one
(store/block_tree.py), `after_conflict` decides: the holder's request has ended (its block
was not freed yet) → free it, try again; a sized request → the next free block; an
explicit CIDR → 409 CidrConflict naming the holder, or, with CIDR_OVERLAP=allow, the
CIDR is kept without holding it (a shared item, which sized allocations still avoid).
When it is cancelled because another POST writes the same /16's count, `after_busy`
moves a sized request to another /16.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from ipaddress import IPv4Network

from chalicelib.addresses import VPC_PREFIX_MIN, carve
from chalicelib.api.first_fit import FirstFit
from chalicelib.api.held_blocks import HeldBlocks
from chalicelib.errors import BackendUnavailable, CidrConflict, backend
from chalicelib.models import HELD, SHARED, RequestRecord, SubnetState
from chalicelib.request_spec import ProvisioningRequest
from chalicelib.resource_ids import duplicate_may_hold, has_ended
from chalicelib.store.api import RequestStore


class BlockConflicts:
    """Settles the conflicts of POSTs' blocks. Raises CidrConflict, PoolExhausted,
    BackendUnavailable."""

    def __init__(
        self, store: RequestStore, held: HeldBlocks, first_fit: FirstFit, allow_overlap: bool
    ) -> None:
        self._store = store
        self._held = held
        self._first_fit = first_fit
        self._allow_overlap = allow_overlap
        self._lock = threading.Lock()
        # Conflicts seen lately by this process's sized POSTs (halved by each success).
        self._conflicts = 0

    def accepted(self) -> None:
        """A request was stored: there are fewer conflicts lately."""
        with self._lock:
            self._conflicts //= 2

    def after_conflict(
        self,
        record: RequestRecord,
        request: ProvisioningRequest,
        holder: str | None,
        holders_block: IPv4Network | None = None,
    ) -> RequestRecord:
        """The record to try next after the table refused its block (held by `holder`, as
        `holders_block`, the block itself or one around it, when the table said). Frees the
        block of a request that has ended; raises CidrConflict for an explicit CIDR held
        live (CIDR_OVERLAP=reject)."""
        block = IPv4Network(record.cidr)
        if holder is None and request.vpc.cidr is None:
            # A count refused it: a block inside is held, or one around or inside it is
            # shared, which the pool as this process last read it may not show yet.
            self._held.blocks(record.pool, fresh=True)
            return self._next_block(record, request, block, "")
        if holder is None:
            # Only a count refused it: a smaller block inside an explicit CIDR is held, or
            # an overlapping one shared. Find whose (a held one's first).
            inside = sorted(self._held.overlapping(block), key=lambda t: t.shared)
            holder = next((t.holder for t in inside), None)
            if holder is None and not self._allow_overlap:
                # Filed under a pool that no longer covers it (removed, or narrowed). None
                # held, one shared, proven (""): a VPC this service did not make, whose name
                # no key gives. Nothing now (None): freed meanwhile, or unread: a retry.
                holder = backend(lambda: self._store.holder_within(block))
            if holder is None and self._allow_overlap:
                # Whoever holds it (the index lags behind the table), the overlap is allowed.
                return replace(record, allocation=SHARED)
            if holder is None:
                raise BackendUnavailable(
                    "The addresses were taken a moment ago; retry with the same Idempotency-Key.",
                    retry_after_seconds=1,
                )
        if holder and not holder.startswith("vpc-"):
            other = backend(lambda: self._store.get(holder))
            if other and has_ended(other) and not duplicate_may_hold(other):
                # Tried again either way: a failure (another POST freeing it at the same
                # moment: TransactionConflict) meets the block again, or frees it then.
                # (Not one whose creation lost an answer: a duplicate VPC of it may be
                # there, which only the address upkeep's listing shows.)
                self._store.release_or_leave(other)
                return record
        if request.vpc.cidr is None:
            if holders_block is not None:  # all of it is taken, not only the block tried
                self._held.learn(record.pool, holders_block, holder)
            return self._next_block(record, request, block, holder)
        if self._allow_overlap:
            return replace(record, allocation=SHARED)
        if holder.startswith("vpc-"):
            # One it did not make, or one of its own no request holds any more.
            what = f"VPC {holder}, which no request of this service holds"
        else:
            what = f"request {holder}" if holder else "addresses a VPC already has"
        raise CidrConflict(
            f"vpc.cidr {block} overlaps {what}. Ask for a size instead "
            f'("vpc": {{"netmask_length": {block.prefixlen}}}) and the service picks a free '
            "block, or choose another CIDR."
        )

    def after_busy(
        self, record: RequestRecord, request: ProvisioningRequest, busy: list[IPv4Network]
    ) -> RequestRecord | None:
        """A sized request's record after its transaction met another one writing its
        /16's count (DynamoDB's TransactionConflict): moved to the lowest free block of
        another /16, one of the pool's lowest few with room (twice as many after each
        move) at random, so that simultaneous POSTs spread over the pool's /16s instead
        of taking turns on one count. `busy`, the /16s this POST found busy so far, gains
        this one. None when every /16 with room was busy (the caller waits and tries the
        same block again)."""
        block = IPv4Network(record.cidr)
        busy.append(block.supernet(new_prefix=VPC_PREFIX_MIN))
        self._held.forget_pick(record.pool, block)
        pool = self._first_fit.pool_named(request.vpc.pool)
        assert request.vpc.netmask_length is not None
        fresh = self._first_fit.block_elsewhere(
            pool, request.vpc.netmask_length, busy, 2 ** min(len(busy), 6)
        )
        if fresh is None:
            return None
        return _moved(record, request, fresh)

    def _next_block(
        self, record: RequestRecord, request: ProvisioningRequest, block: IPv4Network, holder: str
    ) -> RequestRecord:
        """A sized request's record moved to another free block, `block` noted as taken."""
        self._held.learn(record.pool, block, holder)
        pool = self._first_fit.pool_named(request.vpc.pool)
        assert request.vpc.netmask_length is not None
        self._conflicts += 1
        spread_over = min(2 ** min(self._conflicts, 6), 64)
        fresh, _ = self._first_fit.block(pool, request.vpc.netmask_length, spread_over)
        return _moved(record, request, fresh)


def _moved(
    record: RequestRecord, request: ProvisioningRequest, block: IPv4Network
) -> RequestRecord:
    """The record with its VPC (and its subnets, carved again) in `block`."""
    explicit = [None for _ in request.subnets]
    sizes = [s.netmask_length for s in request.subnets]
    blocks = carve(block, explicit, sizes)
    assert blocks is not None  # they fit in a block of the same size
    subnets = [
        SubnetState(cidr=str(b), az=state.az, name=state.name)
        for b, state in zip(blocks, record.subnets, strict=True)
    ]
    return replace(record, cidr=str(block), subnets=subnets, allocation=HELD)
