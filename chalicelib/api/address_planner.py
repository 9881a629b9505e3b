"""Where a request's addresses come from: the stage's pools, first fit, and what to do
when the table says a block is taken; and each pool's use, for GET /pools.

A POST either names its VPC's CIDR or asks for a size (`netmask_length`, and a pool).
For a size, the planner reads the pool's held blocks (one Query of index `by_pool`,
kept for a few seconds per process: held_blocks.py) and picks the lowest free aligned
block (first_fit.py). Subnets are carved inside the VPC's block: the explicit ones
where asked, the sized ones in the lowest free blocks after them; those without an `az`
are spread over the region's zones in name order. A block the table refuses is settled
by block_conflicts.py, which `AddressPlanner` hands `after_conflict` and `after_busy`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from ipaddress import IPv4Network

from chalicelib.addresses import (
    VPC_PREFIX_MAX,
    VPC_PREFIX_MIN,
    Pool,
    carve,
    free_addresses,
    largest_free,
    pool_of,
    spread,
)
from chalicelib.api.block_conflicts import BlockConflicts
from chalicelib.api.first_fit import FirstFit
from chalicelib.api.held_blocks import HeldBlocks
from chalicelib.errors import BadRequest
from chalicelib.models import RequestRecord
from chalicelib.request_spec import ProvisioningRequest
from chalicelib.store.admission import BlockTaken
from chalicelib.store.api import RequestStore


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
        self._pools = tuple(pools)
        self._held = HeldBlocks(store, monotonic, self._pools)
        self._first_fit = FirstFit(self._pools, self._held)
        self._conflicts = BlockConflicts(store, self._held, self._first_fit, allow_overlap)

    # --- planning ----------------------------------------------------------------

    def plan(self, request: ProvisioningRequest, zones: Sequence[str]) -> Plan:
        """The addresses of a new request (reads the pool's blocks for a sized VPC)."""
        vpc = request.vpc
        if vpc.cidr is not None:
            block = IPv4Network(vpc.cidr)
            found = pool_of(self._pools, block)
            return self._with_subnets(request, block, found.name if found else None, zones, False)
        pool = self._first_fit.pool_named(vpc.pool)
        assert vpc.netmask_length is not None
        # Whether sized subnets fit does not depend on where the block lies: said before the
        # pool is read, so that a full pool (409) or a failed read (503) never hides a body
        # that no block could take (400).
        anywhere = IPv4Network((0, vpc.netmask_length))
        _carved(
            anywhere, [None] * len(request.subnets), [s.netmask_length for s in request.subnets]
        )
        block, read = self._first_fit.block(pool, vpc.netmask_length)
        try:
            plan = self._with_subnets(request, block, pool.name, zones, True)
        except BadRequest:
            self._held.forget_pick(pool.name, block)
            raise
        return replace(plan, read_pool=read)

    def _with_subnets(
        self,
        request: ProvisioningRequest,
        block: IPv4Network,
        pool: str | None,
        zones: Sequence[str],
        sized: bool,
    ) -> Plan:
        explicit = [IPv4Network(s.cidr) if s.cidr else None for s in request.subnets]
        blocks = _carved(block, explicit, [s.netmask_length for s in request.subnets])
        chosen = spread(zones, [s.az for s in request.subnets])
        return Plan(block, pool, tuple(zip(blocks, chosen, strict=True)), sized)

    def unused(self, record: RequestRecord) -> None:
        """A sized request was not stored (refused, a replay, a failure): the block this
        process picked for it is free again for its next POSTs."""
        if record.request.vpc.cidr is None:
            self._held.forget_pick(record.pool, IPv4Network(record.cidr))

    def accepted(self, record: RequestRecord) -> None:
        """A request was stored: its block is taken (the next POSTs of this process skip
        it), and there are fewer conflicts lately."""
        self._held.learn(record.pool, IPv4Network(record.cidr), record.request_id)
        self._conflicts.accepted()

    # --- GET /pools ----------------------------------------------------------------

    def usage(self) -> list[dict[str, object]]:
        """Each pool's size, use and largest free VPC block (one Query per pool, side by side,
        so the GET waits for one; and per pool sharing a /16 with it: held_blocks.py)."""
        items: list[dict[str, object]] = []
        context = contextvars.copy_context()  # each read's log lines name the invocation
        with ThreadPoolExecutor(len(self._pools), thread_name_prefix="pool") as reads:
            pools_taken = list(
                reads.map(
                    lambda p: context.copy().run(self._held.blocks, p.name, True), self._pools
                )
            )
        for pool, taken in zip(self._pools, pools_taken, strict=True):
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
                    # Not a block filed under it that a narrowed pool no longer covers.
                    "allocations": sum(t.block.overlaps(pool.network) for t in taken),
                }
            )
        return items

    # --- conflicts: block_conflicts.py -------------------------------------------------

    def after_conflict(
        self, record: RequestRecord, request: ProvisioningRequest, taken: BlockTaken
    ) -> RequestRecord:
        """The record to try next after the table refused its block (`taken`: by whom, and
        which block, if the table said): BlockConflicts.after_conflict."""
        return self._conflicts.after_conflict(record, request, taken.holder, taken.block)

    def after_busy(
        self, record: RequestRecord, request: ProvisioningRequest, busy: list[IPv4Network]
    ) -> RequestRecord | None:
        """A sized request's record moved to another /16 after its own was busy (None:
        every /16 with room was busy): BlockConflicts.after_busy."""
        return self._conflicts.after_busy(record, request, busy)


def _carved(
    block: IPv4Network, explicit: Sequence[IPv4Network | None], sizes: Sequence[int | None]
) -> list[IPv4Network]:
    """The subnets' blocks in `block` (`carve`). Raises BadRequest when they do not fit."""
    blocks = carve(block, explicit, sizes)
    if blocks is None:
        asked = sum(
            1 << (32 - (s.prefixlen if s else n or 32))
            for s, n in zip(explicit, sizes, strict=True)
        )
        if asked > block.num_addresses:
            raise BadRequest(
                f"subnets do not fit in the VPC's /{block.prefixlen} ({block.num_addresses} "
                f"addresses; the subnets ask for {asked}): ask for smaller subnets "
                "(subnets[].netmask_length) or a larger VPC."
            )
        raise BadRequest(
            f"subnets do not fit in the VPC's /{block.prefixlen}: they ask for {asked} of its "
            f"{block.num_addresses} addresses, but a /N subnet starts on a multiple of its "
            "size, and the explicit subnets leave no such place free for every sized one: "
            "move an explicit subnet (subnets[].cidr), ask for smaller subnets, or a larger VPC."
        )
    return blocks
