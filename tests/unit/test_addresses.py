"""chalicelib.addresses: first fit, alignment, exhaustion, release, carving, zones, pools."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.addresses import (
    ancestors,
    carve,
    free_addresses,
    largest_free,
    largest_free_block,
    lowest_free,
    lowest_per_region,
    parse_pools,
    spread,
)


def net(text: str) -> IPv4Network:
    return IPv4Network(text)


POOL = net("10.0.0.0/8")

# --- first fit -----------------------------------------------------------------------


def test_the_first_allocation_is_the_pool_s_lowest_block() -> None:
    assert lowest_free(POOL, 16, []) == net("10.0.0.0/16")
    assert lowest_free(POOL, 24, []) == net("10.0.0.0/24")


def test_a_block_is_aligned_to_its_size_after_a_smaller_one() -> None:
    """A /24 taken at the start pushes a /16 to the next /16 boundary, not to .1.0."""
    assert lowest_free(POOL, 16, [net("10.0.0.0/24")]) == net("10.1.0.0/16")
    assert lowest_free(POOL, 24, [net("10.0.0.0/24")]) == net("10.0.1.0/24")


def test_a_hole_is_reused_when_the_size_fits() -> None:
    taken = [net("10.0.0.0/24"), net("10.0.2.0/24")]
    assert lowest_free(POOL, 24, taken) == net("10.0.1.0/24")
    assert lowest_free(POOL, 23, taken) == net("10.0.4.0/23")


def test_overlapping_taken_blocks_are_merged() -> None:
    """Explicit CIDRs under CIDR_OVERLAP=allow may overlap each other."""
    taken = [net("10.0.0.0/16"), net("10.0.1.0/24"), net("10.0.0.0/17")]
    assert lowest_free(POOL, 16, taken) == net("10.1.0.0/16")


def test_blocks_outside_the_range_do_not_count() -> None:
    assert lowest_free(net("10.1.0.0/16"), 24, [net("10.0.0.0/16")]) == net("10.1.0.0/24")


def test_a_full_range_has_no_block_and_no_largest_free() -> None:
    pool = net("10.0.0.0/15")
    taken = [net("10.0.0.0/16"), net("10.1.0.0/16")]
    assert lowest_free(pool, 28, taken) is None
    assert largest_free(pool, taken) is None
    assert free_addresses(pool, taken) == 0


def test_a_block_larger_than_the_range_never_fits() -> None:
    assert lowest_free(net("10.0.0.0/16"), 15, []) is None


def test_the_largest_free_block_is_the_shortest_aligned_prefix() -> None:
    pool = net("10.0.0.0/14")
    assert largest_free(pool, []) == 14
    assert largest_free(pool, [net("10.0.0.0/16")]) == 15  # 10.2.0.0/15 is free
    assert largest_free(pool, [net("10.2.0.0/16"), net("10.0.0.0/16")]) == 16
    # Free 10.1.0.0 - 10.3.255.255 is not one aligned /15: a /16 and a /15.
    assert largest_free(pool, [net("10.0.0.0/16")]) == 15


def test_releasing_a_block_makes_it_the_lowest_free_again() -> None:
    taken = [net("10.0.0.0/16"), net("10.1.0.0/16")]
    taken.remove(net("10.0.0.0/16"))
    assert lowest_free(POOL, 16, taken) == net("10.0.0.0/16")


# --- properties ----------------------------------------------------------------------

_SMALL_POOL = net("10.0.0.0/20")  # 4096 addresses: exhaustion is reachable


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(min_value=20, max_value=28), st.integers(0, 50)),
        max_size=60,
    )
)
def test_random_allocate_and_free_never_overlap_and_space_adds_up(
    steps: list[tuple[bool, int, int]],
) -> None:
    """Allocations never overlap each other or leave the pool; allocated + free = total;
    a refusal happens only when no aligned block of that size is free."""
    taken: list[IPv4Network] = []
    for allocate, prefixlen, pick in steps:
        if allocate or not taken:
            block = lowest_free(_SMALL_POOL, prefixlen, taken)
            if block is None:
                assert largest_free(_SMALL_POOL, taken) is None or (
                    largest_free(_SMALL_POOL, taken) > prefixlen  # type: ignore[operator]
                )
                continue
            assert block.subnet_of(_SMALL_POOL)
            assert block.prefixlen == prefixlen
            assert all(not block.overlaps(t) for t in taken)
            # First fit: no lower aligned block of this size was free.
            lower = [b for b in _SMALL_POOL.subnets(new_prefix=prefixlen) if b < block]
            assert all(any(b.overlaps(t) for t in taken) for b in lower)
            taken.append(block)
        else:
            taken.pop(pick % len(taken))
        used = sum(t.num_addresses for t in taken)
        assert used + free_addresses(_SMALL_POOL, taken) == _SMALL_POOL.num_addresses


# --- subnets and zones -----------------------------------------------------------------


def test_sized_subnets_come_after_the_explicit_ones_lowest_first() -> None:
    vpc = net("10.5.0.0/16")
    chosen = carve(vpc, [None, net("10.5.0.0/24"), None], [24, None, 20])
    assert chosen == [net("10.5.1.0/24"), net("10.5.0.0/24"), net("10.5.16.0/20")]


def test_subnets_that_do_not_fit_the_vpc_are_refused() -> None:
    assert carve(net("10.5.0.0/24"), [None, None], [25, 24]) is None


def test_subnets_that_fit_only_largest_first_are_placed_largest_first() -> None:
    """Around 10.0.0.128/27, a /28 placed first at 10.0.0.0 leaves no aligned /25: the /25
    goes first, at 10.0.0.0, and the /28 after the explicit block."""
    chosen = carve(net("10.0.0.0/24"), [net("10.0.0.128/27"), None, None], [None, 28, 25])
    assert chosen == [net("10.0.0.128/27"), net("10.0.0.160/28"), net("10.0.0.0/25")]


def test_sized_subnets_that_fit_in_their_order_keep_it() -> None:
    chosen = carve(net("10.0.0.0/24"), [None, None], [28, 25])
    assert chosen == [net("10.0.0.0/28"), net("10.0.0.128/25")]


@given(
    st.lists(st.integers(min_value=17, max_value=28), min_size=1, max_size=12),
)
def test_sized_subnets_fit_whenever_their_addresses_do(lengths: list[int]) -> None:
    """Aligned power-of-two blocks, largest first, always fit when their sum does."""
    vpc = net("10.0.0.0/16")
    chosen = carve(vpc, [None] * len(lengths), lengths)
    fits = sum(2 ** (32 - n) for n in lengths) <= vpc.num_addresses
    assert (chosen is not None) == fits
    if chosen is not None:
        assert [b.prefixlen for b in chosen] == lengths
        assert all(a.subnet_of(vpc) for a in chosen)
        assert not any(a.overlaps(b) for i, a in enumerate(chosen) for b in chosen[i + 1 :])


def test_zones_are_spread_in_name_order_over_the_subnets_that_named_none() -> None:
    zones = ["us-east-1c", "us-east-1a", "us-east-1b"]
    wanted = [None, "us-east-1c", None, None, None]
    assert spread(zones, wanted) == [
        "us-east-1a",
        "us-east-1c",
        "us-east-1b",
        "us-east-1c",
        "us-east-1a",
    ]


def test_ancestors_run_from_the_largest_vpc_size_to_the_parent() -> None:
    assert ancestors(net("10.1.0.0/19")) == [
        net("10.1.0.0/16"),
        net("10.1.0.0/17"),
        net("10.1.0.0/18"),
    ]
    assert ancestors(net("10.1.0.0/16")) == []


# --- one block per /16 (a sized POST that met a busy /16's count) -----------------------


def test_each_16_with_room_gives_its_lowest_free_block_lowest_first() -> None:
    taken = [net("10.0.0.0/24"), net("10.1.0.0/16"), net("10.2.0.0/24")]
    assert lowest_per_region(net("10.0.0.0/12"), 24, taken, 4) == [
        net("10.0.1.0/24"),
        net("10.2.1.0/24"),
        net("10.3.0.0/24"),
        net("10.4.0.0/24"),
    ]


def test_a_16_split_by_taken_blocks_still_gives_one_block() -> None:
    taken = [net("10.0.0.0/26"), net("10.0.0.128/26")]
    assert lowest_per_region(net("10.0.0.0/8"), 26, taken, 2) == [
        net("10.0.0.64/26"),
        net("10.1.0.0/26"),
    ]


def test_a_pool_smaller_than_a_16_is_one_region() -> None:
    assert lowest_per_region(net("10.0.0.0/20"), 24, [], 3) == [net("10.0.0.0/24")]
    assert lowest_per_region(net("10.0.0.0/20"), 16, [], 3) == []


@given(
    taken=st.lists(
        st.tuples(st.integers(0, 2**20 - 1), st.integers(16, 28)).map(
            lambda t: IPv4Network((int(POOL.network_address) + (t[0] << 8), t[1]), strict=False)
        ),
        max_size=30,
    ),
    prefixlen=st.integers(16, 28),
    limit=st.integers(1, 8),
)
@settings(max_examples=200, deadline=None)
def test_per_16_blocks_are_free_distinct_and_each_its_16s_lowest(
    taken: list[IPv4Network], prefixlen: int, limit: int
) -> None:
    found = lowest_per_region(POOL, prefixlen, taken, limit)
    regions = [b.supernet(new_prefix=16) for b in found]
    assert len(set(regions)) == len(found) <= limit
    assert regions == sorted(regions)
    for block, region in zip(found, regions, strict=True):
        assert not any(block.overlaps(t) for t in taken)
        assert lowest_free(region, prefixlen, taken) == block
    if found:  # no /16 with room was passed over
        skipped = [r for r in POOL.subnets(new_prefix=16) if r < regions[-1] and r not in regions]
        assert all(lowest_free(r, prefixlen, taken) is None for r in skipped)


# --- pools -------------------------------------------------------------------------------


def test_the_default_is_one_pool_of_ten_slash_eight() -> None:
    [pool] = parse_pools(None)
    assert (pool.name, pool.cidr) == ("default", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "non-empty"),
        ('[{"name": "a"}]', '{"name": ..., "cidr": ...}'),
        ('[{"name": "a", "cidr": "10.0.0.1/8"}]', "not an IPv4 CIDR"),
        ('[{"name": "a", "cidr": "10.0.0.0/29"}]', "smaller than the smallest VPC"),
        (
            '[{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "10.1.0.0/16"}]',
            "overlap",
        ),
        (
            '[{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "a", "cidr": "172.16.0.0/12"}]',
            "two pools",
        ),
        # Its first fit would be 0.0.0.0/16, which EC2 refuses: requests accepted to fail.
        ('[{"name": "all", "cidr": "0.0.0.0/0"}]', "'all' overlaps 0.0.0.0/8, which a VPC"),
        ('[{"name": "lo", "cidr": "127.0.0.0/16"}]', "'lo' overlaps 127.0.0.0/8, which a VPC"),
    ],
)
def test_pools_that_cannot_work_are_refused_with_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pools(text)


def test_the_largest_free_block_is_named_the_lowest_of_its_size() -> None:
    """PoolExhausted names the block itself: the lowest of the largest free ones."""
    pool = net("10.0.0.0/16")
    taken = [net("10.0.0.0/17"), net("10.0.128.0/18")]
    assert largest_free_block(pool, taken) == net("10.0.192.0/18")
    assert largest_free_block(pool, [net("10.0.64.0/18")]) == net("10.0.128.0/17")
    assert largest_free_block(pool, [pool]) is None
