"""Which free block of a pool a sized VPC gets: the lowest free aligned one (first fit).

Chosen from the pool's held blocks as this process last read them (held_blocks.py), and
noted there as taken at once, so that this process's next POST skips it. After conflicts
the pick is one of the lowest few free blocks at random, and after a busy /16 one of the
lowest few in other /16s (block_conflicts.py says how many): POSTs racing for one block
do not all race again for the next.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from ipaddress import IPv4Network

from chalicelib.addresses import (
    VPC_PREFIX_MAX,
    Pool,
    free_blocks,
    largest_free_block,
    lowest_per_region,
)
from chalicelib.api.echo import quote
from chalicelib.api.held_blocks import HeldBlocks
from chalicelib.errors import BadRequest, PoolExhausted


class FirstFit:
    """Picks free blocks in the stage's pools. Raises BadRequest, PoolExhausted,
    BackendUnavailable."""

    def __init__(self, pools: Sequence[Pool], held: HeldBlocks) -> None:
        self._pools = tuple(pools)
        self._held = held
        self._random = random.Random()

    def pool_named(self, name: str | None) -> Pool:
        """The pool a request names (None: the first pool); BadRequest for another name."""
        if name is None:
            return self._pools[0]
        for pool in self._pools:
            if pool.name == name:
                return pool
        known = ", ".join(p.name for p in self._pools)
        raise BadRequest(f"vpc.pool {quote(name)} is not a pool of this stage; pools: {known}.")

    def block(self, pool: Pool, length: int, spread_over: int = 1) -> tuple[IPv4Network, bool]:
        """The lowest free block, and whether the pool was read for it; after conflicts
        (`spread_over` > 1), one of the lowest few at random, so that POSTs racing for the
        same block do not all race again for the next one. Noted as taken at once: this
        process's next POST skips it."""
        if length < pool.network.prefixlen:
            raise BadRequest(
                f"vpc.netmask_length {length} asks for more than pool {pool.name!r} holds "
                f"({pool.cidr}): ask for /{pool.network.prefixlen} or a longer netmask, or "
                "another vpc.pool."
            )
        for fresh in (False, True):
            blocks, read = self._held.blocks_read(pool.name, fresh)
            taken = [t.block for t in blocks]
            candidates = free_blocks(pool.network, length, taken, spread_over)
            if candidates or read:
                break  # full as last read may be stale: then only a fresh read says
        block = self._random.choice(candidates) if candidates else None
        if block is None:
            raise PoolExhausted(_exhausted(pool, length, largest_free_block(pool.network, taken)))
        self._held.learn(pool.name, block, "")
        return block, read

    def block_elsewhere(
        self, pool: Pool, length: int, avoid: list[IPv4Network], among: int
    ) -> IPv4Network | None:
        """The lowest free block of one of the pool's first `among` /16s with room, at
        random, overlapping none of `avoid`; None when no /16 has room. Noted as taken at
        once, like `block`'s."""
        taken = [t.block for t in self._held.blocks(pool.name)]
        choices = lowest_per_region(pool.network, length, taken + avoid, among)
        if not choices:
            return None
        fresh = self._random.choice(choices)
        self._held.learn(pool.name, fresh, "")
        return fresh


def _exhausted(pool: Pool, length: int, largest: IPv4Network | None) -> str:
    """PoolExhausted's message: what is left of the pool (its largest free block, by name),
    and what to ask for instead."""
    if largest is not None and largest.prefixlen <= VPC_PREFIX_MAX:
        left = f"the largest free block is {largest} (a /{largest.prefixlen})"
        bigger = f"a vpc.netmask_length of {largest.prefixlen} or more"
        instead = f"a smaller block ({bigger}), another vpc.pool"
    else:  # nothing, or only blocks smaller than the smallest VPC
        left = f"no block of a VPC's size (/{VPC_PREFIX_MAX} or larger) is free"
        instead = "another vpc.pool"
    return (
        f"Pool {pool.name!r} ({pool.cidr}) has no free /{length}: {left}. Ask for {instead}, "
        "or delete a network you no longer need."
    )
