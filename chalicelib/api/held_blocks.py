"""Each pool's held blocks as this process last read them: a cache of a few seconds.

Sized POSTs plan with the blocks of their pool's index (`by_pool`, one Query through
store/blocks.py), read at most every `_TAKEN_SECONDS` per process: stale is safe, the
POST's transaction decides. What the process sees taken in the meantime (its own picks,
the blocks of accepted requests and of conflicts) is added at once, so that its next
POSTs skip it; GET /pools and conflicts read afresh.

A block is in one pool's index (the first it overlaps: addresses.pool_of), yet a block
over two pools smaller than a /16 overlaps both: a pool's blocks are read with those of
every pool that shares a /16 with it (none, for pools of a /16 or more), or its POSTs
would try block after block that the table refuses, and GET /pools would call it free.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network

from chalicelib.addresses import VPC_PREFIX_MIN, Pool
from chalicelib.errors import backend
from chalicelib.store.api import RequestStore
from chalicelib.store.blocks import Taken

# How long a pool's blocks, as read, serve the next sized POSTs of this process.
_TAKEN_SECONDS = 5.0


class HeldBlocks:
    """The blocks held in each pool (None: outside every pool), as last read. Raises
    BackendUnavailable when a read fails."""

    def __init__(
        self,
        store: RequestStore,
        monotonic: Callable[[], float] = time.monotonic,
        pools: Sequence[Pool] = (),
    ) -> None:
        self._store = store
        self._monotonic = monotonic
        self._pools = {pool.name: pool for pool in pools}
        self._neighbours = {pool.name: _neighbours(pool, pools) for pool in pools}
        self._taken: dict[str, tuple[float, list[Taken]]] = {}
        self._lock = threading.Lock()

    def blocks(self, pool: str | None, fresh: bool = False) -> list[Taken]:
        return self.blocks_read(pool, fresh)[0]

    def blocks_read(self, pool: str | None, fresh: bool = False) -> tuple[list[Taken], bool]:
        """The pool's blocks as last read (within _TAKEN_SECONDS), and whether they were
        read now."""
        key = pool or ""
        read = False
        now = self._monotonic()
        with self._lock:
            cached = self._taken.get(key)
        if cached is None or fresh or now - cached[0] > _TAKEN_SECONDS:
            taken = backend(lambda: self._read(pool))
            # Kept from when the answer came: a slow read is not stale on arrival.
            cached = (self._monotonic(), taken)
            read = True
            with self._lock:
                self._taken[key] = cached
        with self._lock:
            return list(cached[1]), read

    def _read(self, pool: str | None) -> list[Taken]:
        """The pool's blocks, with those of the pools sharing a /16 with it that overlap it."""
        taken = self._store.taken(pool)
        neighbours = self._neighbours.get(pool or "", ())
        if neighbours:
            network = self._pools[str(pool)].network
            for neighbour in neighbours:
                taken += [t for t in self._store.taken(neighbour) if t.block.overlaps(network)]
        return taken

    def overlapping(self, block: IPv4Network) -> list[Taken]:
        """Every held block that overlaps `block`, read afresh (a conflict's, to find whose
        are the blocks inside it or around it): a block is in the index of the first pool
        it overlaps, or of none. One that overlaps `block` is inside it or holds it, and no
        block is larger than a /16 (a VPC's largest): all of them lie in `block`'s /16, so
        they are in the indexes of the pools that /16 overlaps (a shared foreign VPC around
        `block` may be filed under another pool than `block`'s) and of the blocks outside
        every pool."""
        region = (
            block
            if block.prefixlen <= VPC_PREFIX_MIN
            else block.supernet(new_prefix=VPC_PREFIX_MIN)
        )
        pools = [name for name, pool in self._pools.items() if pool.network.overlaps(region)]
        found: list[Taken] = []
        for pool in (*pools, None):
            taken = backend(functools.partial(self._store.taken, pool))
            found += [t for t in taken if t.block.overlaps(block)]
        return found

    def learn(self, pool: str | None, block: IPv4Network, holder: str) -> None:
        """Note a block this process saw taken (its own pick, or a conflict's)."""
        with self._lock:
            cached = self._taken.get(pool or "")
            if cached is not None:
                cached[1].append(Taken(block, holder))

    def forget_pick(self, pool: str | None, block: IPv4Network) -> None:
        """Take back this process's own pick of `block` (noted by `learn` with no holder),
        which was never stored."""
        with self._lock:
            cached = self._taken.get(pool or "")
            if cached is not None:  # this process's own pick, never stored
                cached[1][:] = [t for t in cached[1] if (t.block, t.holder) != (block, "")]


def _neighbours(pool: Pool, pools: Sequence[Pool]) -> tuple[str, ...]:
    """The other pools that share a /16 with `pool` (so a block in the index of one of them
    may overlap it): only pools smaller than a /16 have any."""
    if pool.network.prefixlen <= VPC_PREFIX_MIN:
        return ()
    region = pool.network.supernet(new_prefix=VPC_PREFIX_MIN)
    return tuple(p.name for p in pools if p != pool and p.network.overlaps(region))
