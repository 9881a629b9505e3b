"""store.blocks against moto's DynamoDB: transactions alone keep live blocks apart.

Every overlap (the same block, a larger one, a smaller one) cancels the allocating
transaction, concurrent allocations never overlap, and a release lands once.
"""

from __future__ import annotations

import random
import threading
from ipaddress import IPv4Network
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chalicelib.aws.clients import AwsClients
from chalicelib.store.block_tree import (
    BLOCK_PREFIX,
    allocation,
    conflict_of,
    release,
    release_shared,
    shared,
)
from chalicelib.store.items import deserialize
from devstack.resources import create_table

REGION = "us-east-1"
TABLE = "blocks-test"


@pytest.fixture
def ddb(aws: None, aws_clients: tuple[AwsClients, AwsClients]) -> Any:
    """A table of its own in moto (`aws`: nothing else in it), through uninstrumented clients."""
    client = aws_clients[1].dynamodb
    create_table(client, TABLE)
    return client


def allocate(ddb: Any, cidr: str, request_id: str) -> str | None:
    """None when held; else what it ran into ("" when DynamoDB did not say who)."""
    try:
        ddb.transact_write_items(
            TransactItems=allocation(TABLE, IPv4Network(cidr), request_id, "default")
        )
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "TransactionCanceledException"
        return conflict_of(exc.response.get("CancellationReasons") or [])[0] or ""
    return None


def free(ddb: Any, cidr: str, request_id: str) -> bool:
    try:
        ddb.transact_write_items(TransactItems=release(TABLE, IPv4Network(cidr), request_id))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "TransactionCanceledException"
        return False
    return True


def blocks(ddb: Any) -> dict[str, dict[str, Any]]:
    items = ddb.scan(TableName=TABLE)["Items"]
    return {
        str(i["request_id"])[len(BLOCK_PREFIX) :]: i
        for i in map(deserialize, items)
        if str(i["request_id"]).startswith(BLOCK_PREFIX)
    }


def held(ddb: Any) -> dict[IPv4Network, str]:
    return {IPv4Network(c): str(i["holder"]) for c, i in blocks(ddb).items() if "holder" in i}


def assert_counts_match(ddb: Any) -> None:
    """Every block's `descendants` is the number of held blocks strictly inside it."""
    live = held(ddb)
    for cidr, item in blocks(ddb).items():
        inside = sum(1 for b in live if b != IPv4Network(cidr) and b.subnet_of(IPv4Network(cidr)))
        assert int(item.get("descendants", 0)) == inside, cidr


def test_the_same_block_twice_is_refused_naming_its_holder(ddb: Any) -> None:
    assert allocate(ddb, "10.1.0.0/16", "r1") is None
    assert allocate(ddb, "10.1.0.0/16", "r2") == "r1"


def test_a_smaller_block_inside_a_held_one_is_refused_naming_its_holder(ddb: Any) -> None:
    assert allocate(ddb, "10.1.0.0/16", "r1") is None
    assert allocate(ddb, "10.1.200.0/24", "r2") == "r1"
    assert held(ddb) == {IPv4Network("10.1.0.0/16"): "r1"}


def test_a_larger_block_around_a_held_one_is_refused(ddb: Any) -> None:
    assert allocate(ddb, "10.1.200.0/24", "r1") is None
    assert allocate(ddb, "10.1.0.0/16", "r2") == ""  # a count said so: nobody named
    assert allocate(ddb, "10.1.128.0/17", "r3") == ""
    assert allocate(ddb, "10.1.200.0/25", "r4") == "r1"
    assert held(ddb) == {IPv4Network("10.1.200.0/24"): "r1"}
    assert_counts_match(ddb)


def test_disjoint_blocks_are_all_held_and_counted(ddb: Any) -> None:
    for i, cidr in enumerate(["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/23", "10.2.0.0/16"]):
        assert allocate(ddb, cidr, f"r{i}") is None
    assert int(blocks(ddb)["10.1.0.0/16"]["descendants"]) == 3
    assert_counts_match(ddb)


def test_a_released_block_can_be_held_again_and_a_second_release_changes_nothing(
    ddb: Any,
) -> None:
    assert allocate(ddb, "10.1.4.0/24", "r1") is None
    assert free(ddb, "10.1.4.0/24", "r1")
    assert not free(ddb, "10.1.4.0/24", "r1")  # a replay: refused, counts untouched
    assert_counts_match(ddb)
    assert allocate(ddb, "10.1.0.0/16", "r2") is None  # nothing inside any more


def test_only_the_holder_releases(ddb: Any) -> None:
    assert allocate(ddb, "10.1.4.0/24", "r1") is None
    assert not free(ddb, "10.1.4.0/24", "r2")
    assert held(ddb) == {IPv4Network("10.1.4.0/24"): "r1"}
    assert_counts_match(ddb)


def test_concurrent_allocations_and_releases_never_overlap(ddb: Any) -> None:
    """Threads race for random blocks of 10.0.0.0/14 (sizes /16 to /20, so they overlap
    often); then release at random. Seeded; the seed is printed."""
    seed = random.randrange(1 << 30)
    print(f"address blocks seed {seed}")
    won: list[tuple[IPv4Network, str]] = []
    lock = threading.Lock()

    def racer(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        for attempt in range(25):
            prefix = rng.randint(16, 20)
            block = rng.choice(list(IPv4Network("10.0.0.0/14").subnets(new_prefix=prefix)))
            request_id = f"r{number}-{attempt}"
            if allocate(ddb, str(block), request_id) is None:
                with lock:
                    won.append((block, request_id))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    live = held(ddb)
    assert live == dict(won)
    for a in live:
        assert all(a == b or not a.overlaps(b) for b in live), a
    assert_counts_match(ddb)

    rng = random.Random(seed)
    released = rng.sample(won, len(won) // 2)
    for block, request_id in released:
        assert free(ddb, str(block), request_id)
    remaining = dict(set(won) - set(released))
    assert held(ddb) == remaining
    assert_counts_match(ddb)
    # What was freed is free again, unless a remaining block overlaps it.
    for block, _ in released:
        clear = all(not block.overlaps(other) for other in remaining)
        assert (allocate(ddb, str(block), "again") is None) == clear, block
        if clear:
            assert free(ddb, str(block), "again")


def test_no_item_is_written_above_the_largest_vpc_size(ddb: Any) -> None:
    assert allocate(ddb, "10.1.2.0/24", "r1") is None
    assert sorted(IPv4Network(c).prefixlen for c in blocks(ddb)) == list(range(16, 25))


# --- any sequence of holds, shares and frees --------------------------------------------

# A small space, so that random blocks overlap often: /16 to /19 of 10.0.0.0/15.
_SPACE = IPv4Network("10.0.0.0/15")
_BLOCKS = [b for prefix in range(16, 20) for b in _SPACE.subnets(new_prefix=prefix)]


class BlockTreeMachine(RuleBasedStateMachine):
    """Random holds, shares and frees against moto's DynamoDB, next to a model of what
    is held and shared: a hold lands exactly when it overlaps nothing held or shared, a
    free exactly when its holder holds the block (once), and after every step no two
    held blocks overlap and every count is the number of held and shared blocks below."""

    def __init__(self) -> None:
        super().__init__()
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        for item in self.ddb.scan(TableName=TABLE)["Items"]:
            self.ddb.delete_item(TableName=TABLE, Key={"request_id": item["request_id"]})
        self.held: dict[str, IPv4Network] = {}
        self.shared: dict[str, IPv4Network] = {}
        self.number = 0

    def _holder(self) -> str:
        self.number += 1
        return f"r{self.number}"

    @rule(block=st.sampled_from(_BLOCKS))
    def hold(self, block: IPv4Network) -> None:
        holder = self._holder()
        live = [*self.held.values(), *self.shared.values()]
        free = not any(block.overlaps(other) for other in live)
        landed = allocate(self.ddb, str(block), holder) is None
        assert landed == free, (block, self.held, self.shared)
        if landed:
            self.held[holder] = block

    @rule(block=st.sampled_from(_BLOCKS))
    def share(self, block: IPv4Network) -> None:
        holder = self._holder()
        self.ddb.transact_write_items(TransactItems=shared(TABLE, block, holder, "default"))
        self.shared[holder] = block

    @precondition(lambda self: self.held)
    @rule(data=st.data(), twice=st.booleans())
    def free_held(self, data: st.DataObject, twice: bool) -> None:
        holder = data.draw(st.sampled_from(sorted(self.held)))
        block = self.held.pop(holder)
        assert free(self.ddb, str(block), holder)
        if twice:  # a replay after a lost answer: refused, nothing counted again
            assert not free(self.ddb, str(block), holder)

    @precondition(lambda self: self.shared)
    @rule(data=st.data())
    def free_shared(self, data: st.DataObject) -> None:
        holder = data.draw(st.sampled_from(sorted(self.shared)))
        block = self.shared.pop(holder)
        self.ddb.transact_write_items(TransactItems=release_shared(TABLE, block, holder))

    @rule(block=st.sampled_from(_BLOCKS), holder=st.sampled_from(["r1", "r2", "nobody"]))
    def free_what_is_not_held(self, block: IPv4Network, holder: str) -> None:
        if self.held.get(holder) != block:
            assert not free(self.ddb, str(block), holder)

    @invariant()
    def matches_the_model(self) -> None:
        assert held(self.ddb) == {block: holder for holder, block in self.held.items()}
        items = blocks(self.ddb)
        marked = [*self.held.values(), *self.shared.values()]
        for cidr, item in items.items():
            block = IPv4Network(cidr)
            inside = sum(1 for b in marked if b != block and b.subnet_of(block))
            assert int(item.get("descendants", 0)) == inside, cidr
            sharers = sum(1 for b in self.shared.values() if b == block)
            assert int(item.get("sharers", 0)) == sharers, cidr


def test_any_sequence_of_holds_shares_and_frees_keeps_the_tree_true(ddb: Any) -> None:
    run_state_machine_as_test(
        BlockTreeMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
