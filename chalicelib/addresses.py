"""Address arithmetic for the address pools: no I/O, no AWS, only IPv4 blocks.

What the API needs to answer a sized request and what `GET /pools` reports:

- `parse_pools`: the stage's `ADDRESS_POOLS` (a JSON list of `{"name", "cidr"}`),
  refused when two pools overlap or one holds addresses no VPC can have;
- `lowest_free`: the lowest block of a prefix length inside a range, aligned, that
  overlaps nothing taken (first fit);
- `largest_free`: the shortest prefix length still free in a range (what a full
  pool's 409 names);
- `carve`: the subnets of a VPC, explicit ones where they were asked for, sized ones
  in the lowest free blocks after them;
- `spread`: Availability Zones for subnets that named none, in name order, round robin;
- `ancestors`: the blocks that contain a block, down to a prefix length (the
  allocation items of the store condition on them).

Blocks that overlap each other may be given as taken (explicit CIDRs under
`CIDR_OVERLAP=allow`): they are merged first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Any

_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_POOLS = '[{"name": "default", "cidr": "10.0.0.0/8"}]'
VPC_PREFIX_MIN, VPC_PREFIX_MAX = 16, 28  # EC2's VPC sizes: /16 (largest) to /28
# Ranges EC2 refuses for a VPC (or that can never be routed inside one): an explicit CIDR
# in one is a 400 (api/validation.py), and a pool may not hold one (its blocks would be
# handed out, accepted, and then FAILED by EC2).
UNUSABLE_RANGES = tuple(
    IPv4Network(r)
    for r in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)


@dataclass(frozen=True)
class Pool:
    name: str
    network: IPv4Network

    @property
    def cidr(self) -> str:
        return str(self.network)


def parse_pools(text: str | None) -> tuple[Pool, ...]:
    """The pools of `ADDRESS_POOLS`. Raises ValueError saying what to fix."""
    try:
        raw: Any = json.loads(text or DEFAULT_POOLS)
    except ValueError as exc:
        raise ValueError(f"ADDRESS_POOLS is not JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise ValueError('ADDRESS_POOLS must be a non-empty JSON list of {"name", "cidr"}')
    pools: list[Pool] = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"name", "cidr"}:
            raise ValueError('each pool in ADDRESS_POOLS is {"name": ..., "cidr": ...}')
        name, cidr = entry["name"], entry["cidr"]
        if not isinstance(name, str) or not _POOL_NAME.fullmatch(name):
            raise ValueError(
                "a pool's name is 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        try:
            network = IPv4Network(cidr, strict=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"pool {name!r}: {cidr!r} is not an IPv4 CIDR block") from exc
        if network.prefixlen > VPC_PREFIX_MAX:
            raise ValueError(f"pool {name!r} is smaller than the smallest VPC (/28)")
        for unusable in UNUSABLE_RANGES:
            if network.overlaps(unusable):
                raise ValueError(
                    f"pool {name!r} overlaps {unusable}, which a VPC cannot use: "
                    "leave it out of the pool"
                )
        for other in pools:
            if other.name == name:
                raise ValueError(f"two pools are named {name!r}")
            if other.network.overlaps(network):
                raise ValueError(f"pools {other.name!r} and {name!r} overlap")
        pools.append(Pool(name, network))
    return tuple(pools)


def merged(blocks: Iterable[IPv4Network]) -> list[tuple[int, int]]:
    """Taken blocks as sorted, disjoint, inclusive address ranges."""
    ranges: list[tuple[int, int]] = []
    for block in sorted(blocks, key=lambda b: (int(b.network_address), -b.num_addresses)):
        start, end = int(block.network_address), int(block.broadcast_address)
        if ranges and start <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    return ranges


def free_ranges(within: IPv4Network, taken: Iterable[IPv4Network]) -> list[tuple[int, int]]:
    """What is left of `within` once `taken` is removed, as inclusive address ranges."""
    low, high = int(within.network_address), int(within.broadcast_address)
    free: list[tuple[int, int]] = []
    cursor = low
    for start, end in merged(b for b in taken if b.overlaps(within)):
        if start > cursor:
            free.append((cursor, min(start - 1, high)))
        cursor = max(cursor, end + 1)
        if cursor > high:
            break
    if cursor <= high:
        free.append((cursor, high))
    return free


def lowest_free(
    within: IPv4Network, prefixlen: int, taken: Iterable[IPv4Network]
) -> IPv4Network | None:
    """The lowest aligned block of `prefixlen` inside `within` that overlaps nothing taken."""
    if prefixlen < within.prefixlen:
        return None
    size = 1 << (32 - prefixlen)
    for start, end in free_ranges(within, taken):
        aligned = -(-start // size) * size  # the first multiple of size at or after start
        if aligned + size - 1 <= end:
            return IPv4Network((aligned, prefixlen))
    return None


def free_blocks(
    within: IPv4Network, prefixlen: int, taken: Iterable[IPv4Network], limit: int
) -> list[IPv4Network]:
    """The first `limit` free aligned blocks of `prefixlen` inside `within`, lowest first."""
    if prefixlen < within.prefixlen:
        return []
    size = 1 << (32 - prefixlen)
    found: list[IPv4Network] = []
    for start, end in free_ranges(within, taken):
        aligned = -(-start // size) * size
        while aligned + size - 1 <= end and len(found) < limit:
            found.append(IPv4Network((aligned, prefixlen)))
            aligned += size
        if len(found) >= limit:
            break
    return found


def lowest_per_region(
    within: IPv4Network, prefixlen: int, taken: Iterable[IPv4Network], limit: int
) -> list[IPv4Network]:
    """The lowest free aligned block of `prefixlen` in each of the first `limit` /16s
    (the blocks whose count a VPC's allocation writes: store/blocks.py) of `within` that
    have one, lowest first."""
    if prefixlen < max(within.prefixlen, VPC_PREFIX_MIN):
        return []
    size, region = 1 << (32 - prefixlen), 1 << (32 - VPC_PREFIX_MIN)
    found: list[IPv4Network] = []
    unvisited = 0  # where the next /16 without a found block starts
    for start, end in free_ranges(within, taken):
        aligned = -(-max(start, unvisited) // size) * size
        while aligned + size - 1 <= end and len(found) < limit:
            found.append(IPv4Network((aligned, prefixlen)))
            aligned = unvisited = (aligned // region + 1) * region
        if len(found) >= limit:
            break
    return found


def largest_free_block(within: IPv4Network, taken: Iterable[IPv4Network]) -> IPv4Network | None:
    """The largest free aligned block in `within` (the lowest of those of its size); None
    when full."""
    best: IPv4Network | None = None
    for start, end in free_ranges(within, taken):
        for block in summarize_address_range(IPv4Address(start), IPv4Address(end)):
            if best is None or block.prefixlen < best.prefixlen:
                best = block
    return best


def largest_free(within: IPv4Network, taken: Iterable[IPv4Network]) -> int | None:
    """The shortest prefix length of a free aligned block in `within`; None when full."""
    block = largest_free_block(within, taken)
    return None if block is None else block.prefixlen


def free_addresses(within: IPv4Network, taken: Iterable[IPv4Network]) -> int:
    return sum(end - start + 1 for start, end in free_ranges(within, taken))


def carve(
    vpc: IPv4Network, explicit: Sequence[IPv4Network | None], sizes: Sequence[int | None]
) -> list[IPv4Network] | None:
    """Every subnet's block: `explicit[i]` where given, else the lowest free block of
    `sizes[i]` after the explicit ones, in the subnets' order; if they do not fit that way,
    the largest first (a small block placed first can break the room a larger one needs).
    None when they do not fit either way."""
    if any(given is None and size is None for given, size in zip(explicit, sizes, strict=True)):
        raise ValueError("a subnet needs a cidr or a netmask_length")
    placed = {i: block for i, block in enumerate(explicit) if block is not None}
    sized = [i for i in range(len(explicit)) if i not in placed]
    for order in (sized, sorted(sized, key=lambda i: sizes[i] or 0)):
        chosen = dict(placed)
        for i in order:
            block = lowest_free(vpc, sizes[i] or 0, list(chosen.values()))
            if block is None:
                break
            chosen[i] = block
        else:
            return [chosen[i] for i in range(len(explicit))]
    return None


def spread(zones: Sequence[str], wanted: Sequence[str | None]) -> list[str]:
    """A zone for every subnet: its own, or the region's in name order, round robin over
    the subnets that named none."""
    ordered = sorted(zones)
    if not ordered and any(z is None for z in wanted):
        raise ValueError("no Availability Zone to spread subnets over")
    result: list[str] = []
    turn = 0
    for zone in wanted:
        if zone is not None:
            result.append(zone)
            continue
        result.append(ordered[turn % len(ordered)])
        turn += 1
    return result


def ancestors(block: IPv4Network, shortest: int = VPC_PREFIX_MIN) -> list[IPv4Network]:
    """The blocks that contain `block`, from prefix length `shortest` to its parent."""
    return [block.supernet(new_prefix=p) for p in range(shortest, block.prefixlen)]


def pool_of(pools: Sequence[Pool], block: IPv4Network) -> Pool | None:
    """The pool `block` is counted in: the first that overlaps it (the one that contains
    it, unless pools are smaller than a VPC), None when it is outside every pool."""
    return next((pool for pool in pools if block.overlaps(pool.network)), None)
