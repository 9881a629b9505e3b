"""Where a request's addresses come from: the stage's pools, first fit, and what to do
when the table says a block is taken.

A POST either names its VPC's CIDR or asks for a size (`netmask_length`, and a pool).
For a size, the planner reads the pool's held blocks (one Query of index `by_pool`,
kept for a few seconds per process: stale is safe, the POST's transaction decides) and
picks the lowest free aligned block. Subnets are carved inside the VPC's block: the
explicit ones where asked, the sized ones in the lowest free blocks after them; those
without an `az` are spread over the region's zones in name order.

When the transaction is cancelled because the block overlaps a held one
(store/blocks.py), `after_conflict` decides: the holder's request has ended (its block
was not freed yet) → free it, try again; a sized request → the next free block; an
explicit CIDR → 409 CidrConflict naming the holder, or, with CIDR_OVERLAP=allow, the
CIDR is kept without holding it (a shared item, which sized allocations still avoid).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Network

from chalicelib.addresses import (
    VPC_PREFIX_MAX,
    VPC_PREFIX_MIN,
    Pool,
    carve,
    free_addresses,
    free_blocks,
    largest_free,
    lowest_per_region,
    pool_of,
    spread,
)
from chalicelib.api.quoting import quote
from chalicelib.errors import BackendUnavailable, BadRequest, CidrConflict, PoolExhausted, backend
from chalicelib.models import RequestRecord, SubnetState
from chalicelib.request_spec import ProvisioningRequest
from chalicelib.resource_ids import has_ended
from chalicelib.store.api import RequestStore
from chalicelib.store.blocks import HELD, SHARED, Taken

# How long a pool's blocks, as read, serve the next sized POSTs of this process.
_TAKEN_SECONDS = 5.0


@dataclass(frozen=True)
class Plan:
    """A request's addresses: the VPC's block and pool, each subnet's block and zone."""

    cidr: IPv4Network
    pool: str | None
    subnets: tuple[tuple[IPv4Network, str], ...]
    sized: bool
    # Planning read the pool's blocks: the POST has made one AWS call already.
    read_pool: bool = False


class AddressPlanner:
    """Chooses blocks for POSTs and settles their conflicts. Raises BadRequest,
    PoolExhausted, CidrConflict, BackendUnavailable."""

    def __init__(
        self,
        store: RequestStore,
        pools: Sequence[Pool],
        allow_overlap: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pools = tuple(pools)
        self._allow_overlap = allow_overlap
        self._monotonic = monotonic
        self._taken: dict[str, tuple[float, list[Taken]]] = {}
        self._lock = threading.Lock()
        self._random = random.Random()
        # Conflicts seen lately by this process's sized POSTs (halved by each success).
        self._conflicts = 0

    # --- planning ----------------------------------------------------------------

    def plan(self, request: ProvisioningRequest, zones: Sequence[str]) -> Plan:
        """The addresses of a new request (reads the pool's blocks for a sized VPC)."""
        vpc = request.vpc
        if vpc.cidr is not None:
            block = IPv4Network(vpc.cidr)
            found = pool_of(self._pools, block)
            return self._with_subnets(request, block, found.name if found else None, zones, False)
        pool = self._pool_named(vpc.pool)
        assert vpc.netmask_length is not None
        block, read = self._first_fit(pool, vpc.netmask_length)
        return replace(self._with_subnets(request, block, pool.name, zones, True), read_pool=read)

    def _pool_named(self, name: str | None) -> Pool:
        if name is None:
            return self._pools[0]
        for pool in self._pools:
            if pool.name == name:
                return pool
        known = ", ".join(p.name for p in self._pools)
        raise BadRequest(f"vpc.pool {quote(name)} is not a pool of this stage; pools: {known}.")

    def _first_fit(self, pool: Pool, length: int, spread_over: int = 1) -> tuple[IPv4Network, bool]:
        """The lowest free block, and whether the pool was read for it; after conflicts
        (`spread_over` > 1), one of the lowest few at random, so that POSTs racing for the
        same block do not all race again for the next one. Noted as taken at once: this
        process's next POST skips it."""
        blocks, read = self._blocks_read(pool.name)
        taken = [t.block for t in blocks]
        candidates = free_blocks(pool.network, length, taken, spread_over)
        block = self._random.choice(candidates) if candidates else None
        if block is None:
            largest = largest_free(pool.network, taken)
            left = f"the largest free block is a /{largest}" if largest else "nothing is free"
            raise PoolExhausted(
                f"Pool {pool.name!r} ({pool.cidr}) has no free /{length}: {left}. Ask for a "
                "smaller vpc.netmask_length, another vpc.pool, or delete a network you no "
                "longer need."
            )
        self._learn(pool.name, block, "")
        return block, read

    def _with_subnets(
        self,
        request: ProvisioningRequest,
        block: IPv4Network,
        pool: str | None,
        zones: Sequence[str],
        sized: bool,
    ) -> Plan:
        explicit = [IPv4Network(s.cidr) if s.cidr else None for s in request.subnets]
        sizes = [s.netmask_length for s in request.subnets]
        blocks = carve(block, explicit, sizes)
        if blocks is None:
            asked = sum(
                1 << (32 - (s.prefixlen if s else n or 32))
                for s, n in zip(explicit, sizes, strict=True)
            )
            raise BadRequest(
                f"subnets do not fit in the VPC's /{block.prefixlen} ({block.num_addresses} "
                f"addresses; the subnets ask for {asked}): ask for smaller subnets "
                "(subnets[].netmask_length) or a larger VPC."
            )
        chosen = spread(zones, [s.az for s in request.subnets])
        return Plan(block, pool, tuple(zip(blocks, chosen, strict=True)), sized)

    def _blocks(self, pool: str | None, fresh: bool = False) -> list[Taken]:
        return self._blocks_read(pool, fresh)[0]

    def _blocks_read(self, pool: str | None, fresh: bool = False) -> tuple[list[Taken], bool]:
        """The pool's blocks as last read (within _TAKEN_SECONDS), and whether they were
        read now."""
        key = pool or ""
        read = False
        now = self._monotonic()
        with self._lock:
            cached = self._taken.get(key)
        if cached is None or fresh or now - cached[0] > _TAKEN_SECONDS:
            taken = backend(lambda: self._store.taken(pool))
            # Kept from when the answer came: a slow read is not stale on arrival.
            cached = (self._monotonic(), taken)
            read = True
            with self._lock:
                self._taken[key] = cached
        with self._lock:
            return list(cached[1]), read

    def _learn(self, pool: str | None, block: IPv4Network, holder: str) -> None:
        """Note a block this process saw taken (its own pick, or a conflict's)."""
        with self._lock:
            cached = self._taken.get(pool or "")
            if cached is not None:
                cached[1].append(Taken(block, holder))

    def accepted(self, record: RequestRecord) -> None:
        """A request was stored: its block is taken (the next POSTs of this process skip
        it), and there are fewer conflicts lately."""
        self._learn(record.pool, IPv4Network(record.cidr), record.request_id)
        with self._lock:
            self._conflicts //= 2

    # --- GET /pools ----------------------------------------------------------------

    def usage(self) -> list[dict[str, object]]:
        """Each pool's size, use and largest free VPC block (one Query per pool)."""
        items: list[dict[str, object]] = []
        for pool in self._pools:
            taken = self._blocks(pool.name, fresh=True)
            blocks = [t.block for t in taken]
            free = free_addresses(pool.network, blocks)
            largest = largest_free(pool.network, blocks)
            if largest is not None and largest > VPC_PREFIX_MAX:
                largest = None  # what is left is smaller than any VPC
            items.append(
                {
                    "name": pool.name,
                    "cidr": pool.cidr,
                    "total_addresses": pool.network.num_addresses,
                    "allocated_addresses": pool.network.num_addresses - free,
                    "free_addresses": free,
                    "largest_free_netmask_length": (
                        None if largest is None else max(largest, VPC_PREFIX_MIN)
                    ),
                    "allocations": len(taken),
                }
            )
        return items

    # --- conflicts ---------------------------------------------------------------

    def after_conflict(
        self, record: RequestRecord, request: ProvisioningRequest, holder: str | None
    ) -> RequestRecord:
        """The record to try next after the table refused its block. Frees the block of a
        request that has ended; raises CidrConflict for an explicit CIDR held live
        (CIDR_OVERLAP=reject)."""
        block = IPv4Network(record.cidr)
        if holder is None and request.vpc.cidr is None:
            return self._next_block(record, request, block, "")
        if holder is None:
            # Only a smaller block inside an explicit CIDR is known to be held: find whose.
            inside = [t for t in self._blocks(record.pool, fresh=True) if t.block.overlaps(block)]
            holder = next((t.holder for t in inside if not t.shared), None)
            if holder is None:
                raise BackendUnavailable(
                    "The addresses were taken a moment ago; retry with the same Idempotency-Key.",
                    retry_after_seconds=1,
                )
        if not holder.startswith("vpc-"):
            other = backend(lambda: self._store.get(holder))
            if other is not None and has_ended(other):
                backend(lambda: self._store.release_addresses(other))
                return record
        if request.vpc.cidr is None:
            return self._next_block(record, request, block, holder)
        if self._allow_overlap:
            return replace(record, allocation=SHARED)
        if holder.startswith("vpc-"):
            what = f"VPC {holder}, which this service did not make"
        else:
            what = f"request {holder}"
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
        with self._lock:
            cached = self._taken.get(record.pool or "")
            if cached is not None:  # this process's own pick, never stored
                cached[1][:] = [t for t in cached[1] if (t.block, t.holder) != (block, "")]
        pool = self._pool_named(request.vpc.pool)
        assert request.vpc.netmask_length is not None
        taken = [t.block for t in self._blocks(pool.name)]
        choices = lowest_per_region(
            pool.network, request.vpc.netmask_length, taken + busy, 2 ** min(len(busy), 6)
        )
        if not choices:
            return None
        fresh = self._random.choice(choices)
        self._learn(pool.name, fresh, "")
        return _moved(record, request, fresh)

    def _next_block(
        self, record: RequestRecord, request: ProvisioningRequest, block: IPv4Network, holder: str
    ) -> RequestRecord:
        """A sized request's record moved to another free block, `block` noted as taken."""
        self._learn(record.pool, block, holder)
        pool = self._pool_named(request.vpc.pool)
        assert request.vpc.netmask_length is not None
        self._conflicts += 1
        spread_over = min(2 ** min(self._conflicts, 6), 64)
        fresh, _ = self._first_fit(pool, request.vpc.netmask_length, spread_over)
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
