"""Address pools through the app (moto): sized allocation, overlap refusal, release when a
request ends (exactly once, even with lost answers), foreign VPCs, the backfill,
GET /pools, and concurrent POSTs. Every stage here refuses overlaps (CIDR_OVERLAP=reject,
the default), unless a test says otherwise."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from ipaddress import IPv4Network
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.api import held_blocks
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import PermanentFailure
from chalicelib.models import Caller, Operation, RequestRecord, Status
from chalicelib.request_spec import ProvisioningRequest, VpcSpec
from chalicelib.store.admission import IdempotencyLock, KeyBusy
from chalicelib.store.api import RequestStore
from chalicelib.store.block_tree import allocation, release_shared, shared
from chalicelib.store.layout import POOL_INDEX
from chalicelib.store.schema import ATTRIBUTES, INDEXES, KEY_SCHEMA
from chalicelib.wiring import Services
from devstack.resources import add_missing_indexes, create_table
from devstack.worker import scheduled_event
from integration.conftest import REGION, TABLE, Stack, body, deliver, post, record
from support.tokens import auth

POOLS = '[{"name": "main", "cidr": "10.0.0.0/16"}, {"name": "edge", "cidr": "10.1.0.0/16"}]'


@pytest.fixture
def pools(services: Services, settings: Settings, reconfigure: Any) -> Services:
    """Two /16 pools, overlaps refused."""
    built: Services = reconfigure(settings, address_pools=parse_pools(POOLS), allow_overlap=False)
    return built


def sized(vpc: int = 20, *subnets: int, **extra: Any) -> dict[str, Any]:
    return {
        "vpc": {"netmask_length": vpc, **extra},
        "subnets": [{"netmask_length": s} for s in subnets or (24,)],
    }


def accepted(client: Client, payload: Any, key: str | None = None) -> dict[str, Any]:
    response = post(client, payload, key=key)
    assert response.status_code == 202, response.body
    return dict(response.json_body)


def refused(client: Client, payload: Any, status: int, code: str) -> str:
    response = post(client, payload)
    assert response.status_code == status, response.body
    assert response.json_body["Code"] == code, response.body
    return str(response.json_body["Message"])


def items(stack: Stack, prefix: str) -> dict[str, dict[str, Any]]:
    found = stack.truth.dynamodb.scan(TableName=TABLE)["Items"]
    return {i["request_id"]["S"]: i for i in found if i["request_id"]["S"].startswith(prefix)}


def held(stack: Stack) -> dict[str, dict[str, Any]]:
    """The held blocks' items (a freed block's item stays, without a holder, for its
    counts)."""
    return {key: item for key, item in items(stack, "block#").items() if "holder" in item}


def descendants(stack: Stack, cidr: str) -> int:
    item = items(stack, f"block#{cidr}").get(f"block#{cidr}", {})
    return int(item.get("descendants", {}).get("N", "0"))


def pool_usage(client: Client) -> dict[str, dict[str, Any]]:
    response = client.http.get("/pools", headers=auth())
    assert response.status_code == 200, response.body
    return {p["name"]: p for p in response.json_body["items"]}


# --- sized allocation ---------------------------------------------------------------


def test_a_sized_request_gets_the_lowest_free_block_and_its_subnets_are_carved_and_spread(
    client: Client, pools: Services
) -> None:
    payload = {
        "vpc": {"netmask_length": 20, "name": "apps"},
        "subnets": [{"netmask_length": 24}, {"netmask_length": 22}, {"netmask_length": 24}],
    }

    answer = accepted(client, payload)

    assert answer["cidr"] == "10.0.0.0/20"
    rec = record(client, answer["request_id"])
    assert rec["cidr"] == "10.0.0.0/20"
    assert rec["pool"] == "main"
    assert rec["request"] == payload  # what was sent, not what was chosen
    # Lowest free first, each aligned: the /22 cannot start at .1.0.
    assert [(s["cidr"], s["az"]) for s in rec["subnets"]] == [
        ("10.0.0.0/24", f"{REGION}a"),
        ("10.0.4.0/22", f"{REGION}b"),
        ("10.0.1.0/24", f"{REGION}c"),
    ]
    assert accepted(client, sized(20))["cidr"] == "10.0.16.0/20"
    assert accepted(client, sized(16, pool="edge"))["cidr"] == "10.1.0.0/16"


def test_explicit_subnets_come_first_and_sized_ones_fill_around_them(
    client: Client, pools: Services
) -> None:
    payload = {
        "vpc": {"cidr": "10.0.64.0/20"},
        "subnets": [
            {"netmask_length": 24, "az": f"{REGION}b"},
            {"cidr": "10.0.64.0/24", "az": f"{REGION}a"},
        ],
    }

    rec = record(client, accepted(client, payload)["request_id"])

    assert [s["cidr"] for s in rec["subnets"]] == ["10.0.65.0/24", "10.0.64.0/24"]


def test_a_replay_answers_the_same_addresses(client: Client, pools: Services) -> None:
    first = accepted(client, sized(20), key="same")
    accepted(client, sized(20))

    again = post(client, sized(20), key="same")

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["cidr"] == first["cidr"] == "10.0.0.0/20"


def test_a_replay_of_the_request_holding_a_pools_last_block_is_its_answer_not_a_409(
    client: Client, pools: Services
) -> None:
    """Planning a replay finds the pool full (its own request holds it): the key decides."""
    first = accepted(client, sized(16, pool="edge"), key="whole-edge")

    again = post(client, sized(16, pool="edge"), key="whole-edge")

    assert again.status_code == 202, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json_body["request_id"] == first["request_id"]
    reused = post(client, sized(16, 24, 24, pool="edge"), key="whole-edge")
    assert reused.status_code == 422, reused.body
    assert "different request body" in reused.json_body["Message"]
    assert refused(client, sized(16, pool="edge"), 409, "PoolExhausted")


def test_a_replay_after_its_pool_left_the_stage_is_its_answer_not_a_400(
    client: Client, pools: Services, settings: Settings, reconfigure: Any
) -> None:
    """The stage was deployed again without the pool a request named: a retry of that
    accepted POST with its key is still its answer (the key decides, as for any replay);
    a new request naming the pool is a 400."""
    first = accepted(client, sized(20, pool="edge"), key="edge-then-gone")
    reconfigure(settings, address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]'))

    again = post(client, sized(20, pool="edge"), key="edge-then-gone")

    assert again.status_code == 202, again.body
    assert again.json_body["request_id"] == first["request_id"]
    message = refused(client, sized(20, pool="edge"), 400, "BadRequestError")
    assert "not a pool of this stage" in message


def test_a_block_freed_moments_ago_is_found_though_the_pool_was_read_full(
    client: Client, pools: Services
) -> None:
    """The pool as this process last read it (a few seconds) said full: read it again
    before answering 409."""
    request_id = accepted(client, sized(16, pool="edge"))["request_id"]
    refused(client, sized(16, pool="edge"), 409, "PoolExhausted")

    cancelled = client.http.delete(f"/vpcs/{request_id}", headers=auth())

    assert cancelled.json_body["status"] == "CANCELLED"
    assert accepted(client, sized(16, pool="edge"))["cidr"] == "10.1.0.0/16"


@pytest.mark.parametrize(
    "spoiler",
    [
        pytest.param(lambda client: post(client, sized(24, 24, 24)), id="a 400"),
        pytest.param(lambda client: post(client, sized(24, 26, 26), key="kept"), id="a key reused"),
        pytest.param(lambda client: post(client, sized(24), key="kept"), id="a replay"),
    ],
)
def test_a_block_picked_for_a_post_that_stored_nothing_is_free_for_the_next(
    client: Client, pools: Services, spoiler: Callable[[Client], Any]
) -> None:
    """The pick is noted at once (this process's next POSTs skip it) and taken back when
    the POST stores nothing: else the lowest free block looks taken (or the pool full) to
    everyone in this process for seconds after each refused POST."""
    assert accepted(client, sized(24), key="kept")["cidr"] == "10.0.0.0/24"

    assert spoiler(client).status_code in (202, 400, 422)

    assert accepted(client, sized(24))["cidr"] == "10.0.1.0/24"
    assert accepted(client, sized(24))["cidr"] == "10.0.2.0/24"


def test_a_block_another_process_took_around_the_pick_is_skipped_whole(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Another API process took a /16 after this one read the pool: this process's next
    sized /24 is refused by that /16's item, which names it, and the POST skips the whole
    /16 (not one /24 of it at a time, which would use up its tries and answer 503 while
    14 /16s are free)."""
    reconfigure(settings, address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/12"}]'))
    assert accepted(client, sized(16))["cidr"] == "10.0.0.0/16"
    theirs = IPv4Network("10.1.0.0/16")
    other = "11111111-2222-4333-8444-555555555555"
    stack.truth.dynamodb.transact_write_items(
        TransactItems=allocation(TABLE, theirs, other, "main")
    )

    mine = IPv4Network(accepted(client, sized(24))["cidr"])

    assert not mine.overlaps(theirs)


def test_a_provisioned_sized_request_makes_the_vpc_and_subnets_it_records(
    client: Client, stack: Stack, pools: Services
) -> None:
    request_id = accepted(client, sized(24, 26, 26))["request_id"]

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "SUCCEEDED"
    [vpc] = stack.vpcs(request_id)
    assert vpc["CidrBlock"] == rec["cidr"] == "10.0.0.0/24"
    made = {(s["CidrBlock"], s["AvailabilityZone"]) for s in stack.subnets(vpc["VpcId"])}
    assert made == {(s["cidr"], s["az"]) for s in rec["subnets"]}


# --- refusals -------------------------------------------------------------------------


def test_an_explicit_cidr_over_a_live_request_is_409_naming_it(
    client: Client, pools: Services
) -> None:
    holder = accepted(client, body("10.0.0.0/16"))["request_id"]

    inside = refused(client, body("10.0.0.0/16"), 409, "CidrConflict")
    # A smaller block inside a held one, and a larger one around a held one.
    smaller = {"vpc": {"cidr": "10.0.128.0/17"}, "subnets": [{"cidr": "10.0.128.0/24"}]}
    assert holder in refused(client, smaller, 409, "CidrConflict")
    accepted(client, {"vpc": {"cidr": "10.1.4.0/22"}, "subnets": [{"cidr": "10.1.4.0/24"}]})
    larger = refused(client, body("10.1.0.0/16"), 409, "CidrConflict")

    assert holder in inside
    assert "netmask_length" in inside
    assert "overlaps request" in larger


def test_sized_requests_never_overlap_explicit_ones(client: Client, pools: Services) -> None:
    accepted(client, {"vpc": {"cidr": "10.0.0.0/20"}, "subnets": [{"cidr": "10.0.0.0/24"}]})
    accepted(client, {"vpc": {"cidr": "10.0.32.0/19"}, "subnets": [{"cidr": "10.0.32.0/24"}]})

    got = [IPv4Network(accepted(client, sized(19))["cidr"]) for _ in range(3)]

    assert got == [IPv4Network(c) for c in ("10.0.64.0/19", "10.0.96.0/19", "10.0.128.0/19")]


def test_a_full_pool_is_409_naming_the_largest_free_block(client: Client, pools: Services) -> None:
    accepted(client, sized(17, 24, pool="edge"))
    accepted(client, sized(18, 24, pool="edge"))

    message = refused(client, sized(17, 24, pool="edge"), 409, "PoolExhausted")

    assert "no free /17" in message
    assert "largest free block is 10.1.192.0/18 (a /18)" in message
    # What fits is a longer netmask: "a smaller vpc.netmask_length" read the wrong way round.
    assert "Ask for a smaller block (a vpc.netmask_length of 18 or more)" in message
    accepted(client, sized(18, 24, pool="edge"))
    last = refused(client, sized(28, 28, pool="edge"), 409, "PoolExhausted")
    assert "no block of a VPC's size (/28 or larger) is free. Ask for another vpc.pool" in last


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (sized(15), "vpc.netmask_length must be from 16 to 28"),
        (sized(29), "vpc.netmask_length must be from 16 to 28"),
        (sized(True), "vpc.netmask_length must be an integer"),
        ({"vpc": {"netmask_length": "20"}, "subnets": [{"netmask_length": 24}]}, "an integer"),
        ({"vpc": {"netmask_length": 20.0}, "subnets": [{"netmask_length": 24}]}, "an integer"),
        (
            {
                "vpc": {"cidr": "10.9.0.0/16", "netmask_length": 16},
                "subnets": [{"cidr": "10.9.0.0/24"}],
            },
            "vpc has both cidr and netmask_length",
        ),
        ({"vpc": {"name": "x"}, "subnets": [{"netmask_length": 24}]}, "vpc needs a cidr"),
        (sized(20, pool="nope"), "vpc.pool 'nope' is not a pool of this stage; pools: main, edge"),
        (sized(20, 19), "subnets[0].netmask_length must be from 20 to 28"),
        (sized(24, 25, 25, 25), "subnets do not fit in the VPC's /24"),
        (
            {"vpc": {"netmask_length": 20}, "subnets": [{"cidr": "10.0.0.0/24"}]},
            "subnets[0].cidr needs an explicit vpc.cidr",
        ),
        (
            {"vpc": {"cidr": "10.9.0.0/16", "pool": "main"}, "subnets": [{"cidr": "10.9.0.0/24"}]},
            "vpc.pool goes with vpc.netmask_length",
        ),
    ],
)
def test_bad_sizes_are_400_naming_the_field(
    client: Client, pools: Services, payload: dict[str, Any], fragment: str
) -> None:
    assert fragment in refused(client, payload, 400, "BadRequestError")


# --- release --------------------------------------------------------------------------


def test_a_cancelled_request_frees_its_block_at_once(
    client: Client, stack: Stack, pools: Services
) -> None:
    request_id = accepted(client, body("10.0.0.0/16"))["request_id"]

    cancelled = client.http.delete(f"/vpcs/{request_id}", headers=auth())

    assert cancelled.json_body["status"] == "CANCELLED"
    assert "block#10.0.0.0/16" not in held(stack)
    assert accepted(client, body("10.0.0.0/16"))["cidr"] == "10.0.0.0/16"


def test_a_deleted_request_frees_its_block_and_its_ancestors_counts(
    client: Client, stack: Stack, pools: Services
) -> None:
    request_id = accepted(client, sized(24))["request_id"]
    deliver(client, request_id)
    assert descendants(stack, "10.0.0.0/16") == 1

    client.http.delete(f"/vpcs/{request_id}", headers=auth())
    deliver(client, request_id, operation=Operation.DELETE)

    assert record(client, request_id)["status"] == "DELETED"
    assert "block#10.0.0.0/24" not in held(stack)
    assert descendants(stack, "10.0.0.0/16") == descendants(stack, "10.0.0.0/17") == 0
    # This process read the pool a moment ago (its POSTs keep it a few seconds); GET
    # /pools reads it afresh, and the next sized POST takes the freed block again.
    assert pool_usage(client)["main"]["allocations"] == 0
    assert accepted(client, sized(24))["cidr"] == "10.0.0.0/24"


def test_a_failed_request_with_nothing_left_frees_its_block(
    client: Client, stack: Stack, pools: Services
) -> None:
    request_id = accepted(client, sized(24))["request_id"]
    stack.faults.fail("ec2", "CreateSubnet", "SubnetLimitExceeded", times=-1)

    deliver(client, request_id)

    rec = record(client, request_id)
    assert rec["status"] == "FAILED"
    assert rec["rollback"]["complete"]
    assert "block#10.0.0.0/24" not in held(stack)


def test_a_block_whose_freeing_failed_is_freed_by_the_next_post_that_needs_it(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The release after CANCELLED fails: the request has ended, its block is still held.
    The next POST of that CIDR frees it (on the record it reads) and is accepted."""
    request_id = accepted(client, body("10.0.0.0/16"))["request_id"]
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500, times=5)
    client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert "block#10.0.0.0/16" in held(stack)
    stack.faults.clear()

    again = accepted(client, body("10.0.0.0/16"))

    assert items(stack, "block#")["block#10.0.0.0/16"]["holder"]["S"] == again["request_id"]


def test_a_release_whose_answer_is_lost_frees_the_block_exactly_once(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The release landed, its answer was lost, and it is tried again (the upkeep): the
    record says released, so the counts are taken down once, not twice."""
    first = accepted(client, sized(24))["request_id"]
    accepted(client, sized(24))  # 10.0.1.0/24: keeps the /16's count at 1 after the release
    stack.faults.fail(
        "dynamodb", "TransactWriteItems", "InternalServerError", status=500, when="after", times=5
    )
    client.http.delete(f"/vpcs/{first}", headers=auth())
    stack.faults.clear()

    pools.pool_keeper.run()
    pools.pool_keeper.run()

    assert "block#10.0.0.0/24" not in held(stack)
    assert descendants(stack, "10.0.0.0/16") == 1
    assert record(client, first)["status"] == "CANCELLED"


def test_the_upkeep_frees_blocks_of_ended_requests_and_never_of_live_or_unreadable_ones(
    client: Client, stack: Stack, pools: Services
) -> None:
    live = accepted(client, sized(24))["request_id"]
    ended = accepted(client, sized(24))["request_id"]
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500, times=5)
    client.http.delete(f"/vpcs/{ended}", headers=auth())
    stack.faults.clear()
    # A throttled read proves nothing: both keys come back unprocessed, nothing is freed.
    stack.faults.unprocessed(times=-1)
    assert pools.pool_keeper.run().freed == []
    stack.faults.clear()

    report = pools.pool_keeper.run()

    assert report.freed == [ended]
    holders = {i["holder"]["S"] for i in held(stack).values()}
    assert live in holders
    assert ended not in holders


def test_the_upkeep_frees_blocks_even_when_the_reconcilers_ec2_sweep_fails(
    client: Client, stack: Stack, pools: Services
) -> None:
    """The address upkeep needs no sweep of EC2: a run whose listing of subnets keeps
    failing (the orphan removal and the drift check give up) still frees the block of a
    request that ended, instead of leaving it held for as long as EC2 fails."""
    ended = accepted(client, body("10.0.0.0/16"))["request_id"]
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500, times=5)
    client.http.delete(f"/vpcs/{ended}", headers=auth())
    stack.faults.clear()
    stack.faults.fail("ec2", "DescribeSubnets", "UnauthorizedOperation", times=-1)

    with pytest.raises(PermanentFailure):  # the run still fails: it is an error to see
        client.lambda_.invoke("reconciler", scheduled_event())

    assert "block#10.0.0.0/16" not in held(stack)


# --- foreign VPCs ---------------------------------------------------------------------


def test_a_vpc_this_deployment_did_not_make_is_held_and_named_in_the_409(
    client: Client, stack: Stack, pools: Services
) -> None:
    default = stack.truth.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    default_id = default["Vpcs"][0]["VpcId"]
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.0.0.0/18")["Vpc"]["VpcId"]

    report = pools.pool_keeper.run()

    assert f"{default_id} 172.31.0.0/16" in report.foreign_held
    explicit = {"vpc": {"cidr": "172.31.0.0/16"}, "subnets": [{"cidr": "172.31.0.0/24"}]}
    assert default_id in refused(client, explicit, 409, "CidrConflict")
    assert theirs in refused(client, body("10.0.0.0/16"), 409, "CidrConflict")
    assert accepted(client, sized(18))["cidr"] == "10.0.64.0/18"  # sized: around it
    assert pool_usage(client)["main"]["allocations"] == 2


def test_a_foreign_block_is_freed_only_once_its_vpc_is_proven_gone(
    client: Client, stack: Stack, pools: Services
) -> None:
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.0.0.0/18")["Vpc"]["VpcId"]
    pools.pool_keeper.run()
    stack.truth.ec2.delete_vpc(VpcId=theirs)
    # The listing no longer shows it, but the by-id read fails: no proof, kept.
    stack.faults.fail("ec2", "DescribeVpcs", "RequestLimitExceeded", match={"VpcIds": [theirs]})
    assert pools.pool_keeper.run().foreign_freed == []
    assert "block#10.0.0.0/18" in held(stack)
    # A listing that fails holds nothing new and frees nothing.
    stack.faults.fail("ec2", "DescribeVpcs", "RequestLimitExceeded", times=-1)
    assert pools.pool_keeper.run().foreign_freed == []
    stack.faults.clear()

    report = pools.pool_keeper.run()

    assert report.foreign_freed == [f"{theirs} 10.0.0.0/18"]
    assert accepted(client, sized(18))["cidr"] == "10.0.0.0/18"


def explicit(cidr: str) -> dict[str, Any]:
    """A POST body with VPC `cidr` and one subnet, its first /24 (or itself, if smaller)."""
    network = IPv4Network(cidr)
    subnet = next(network.subnets(new_prefix=max(24, network.prefixlen)))
    return {"vpc": {"cidr": cidr}, "subnets": [{"cidr": str(subnet), "az": f"{REGION}a"}]}


def test_a_vpc_they_made_over_a_live_allocation_is_shared_and_nothing_later_overlaps_it(
    client: Client, stack: Stack, pools: Services
) -> None:
    """Someone made a VPC over the range of a live request of ours (a /20 around our /24):
    it cannot be held while ours is, so it is shared. A sized POST, whose process read the
    pool before, is refused inside it by the table and goes around it; an explicit CIDR
    inside it is a 409 naming it; once it is proven gone, its range is free again."""
    assert accepted(client, sized(24))["cidr"] == "10.0.0.0/24"
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.0.0.0/20")["Vpc"]["VpcId"]
    their_block = IPv4Network("10.0.0.0/20")

    report = pools.pool_keeper.run()

    assert f"{theirs} 10.0.0.0/20" in report.foreign_held
    assert f"shared#{theirs}#10.0.0.0/20" in items(stack, "shared#")
    # (after a refusal the POST takes one of the lowest few free blocks)
    assert not IPv4Network(accepted(client, sized(24))["cidr"]).overlaps(their_block)
    assert theirs in refused(client, explicit("10.0.8.0/21"), 409, "CidrConflict")
    refused(client, explicit("10.0.0.0/19"), 409, "CidrConflict")  # around both
    assert pools.pool_keeper.run().foreign_held == []  # kept as it is, not shared twice

    stack.truth.ec2.delete_vpc(VpcId=theirs)
    assert pools.pool_keeper.run().foreign_freed == [f"{theirs} 10.0.0.0/20"]
    assert items(stack, "shared#") == {}
    assert accepted(client, explicit("10.0.8.0/21"))["cidr"] == "10.0.8.0/21"


def test_a_block_someone_adds_to_one_of_our_vpcs_is_held_and_never_handed_out_again(
    client: Client, stack: Stack, pools: Services
) -> None:
    """Someone associates a second CIDR block with a VPC we made (a change behind our
    back). Before: the upkeep left every VPC carrying this deployment's tag out of its
    look, so that block was held by nothing and the next sized POST was handed it: two
    live networks overlapping. Now a block of one of our VPCs that its request does not
    hold is held by the VPC, as a foreign VPC's is, and freed once it is proven gone."""
    first = accepted(client, sized(20))
    deliver(client, first["request_id"])
    vpc_id = record(client, first["request_id"])["vpc_id"]
    stack.truth.ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.0.16.0/20")

    report = pools.pool_keeper.run()

    assert f"{vpc_id} 10.0.16.0/20" in report.foreign_held
    assert f"{vpc_id} {first['cidr']}" not in report.foreign_held  # the request holds that
    assert not IPv4Network(accepted(client, sized(20))["cidr"]).overlaps(
        IPv4Network("10.0.16.0/20")
    )
    assert vpc_id in refused(client, explicit("10.0.16.0/24"), 409, "CidrConflict")
    assert pools.pool_keeper.run().foreign_held == []  # held once

    assert client.http.delete(f"/vpcs/{first['request_id']}", headers=auth()).status_code == 202
    deliver(client, first["request_id"], operation=Operation.DELETE)
    assert pools.pool_keeper.run().foreign_freed == [f"{vpc_id} 10.0.16.0/20"]
    assert accepted(client, explicit("10.0.16.0/24"))["cidr"] == "10.0.16.0/24"


def test_an_orphan_vpc_whose_requests_block_was_freed_is_held_until_it_is_gone(
    client: Client, stack: Stack, pools: Services
) -> None:
    """A VPC carrying a request's tag whose block that request no longer holds (an orphan
    of a FAILED request, its block freed when it failed) is held by the VPC while it
    lives: a sized POST never gets its range, even if the reconciler cannot remove it."""
    other = "11111111-2222-4333-8444-555555555555"
    orphan = stack.truth.ec2.create_vpc(
        CidrBlock="10.0.0.0/20",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [
                    {"Key": REQUEST_ID_TAG, "Value": other},
                    {"Key": DEPLOYMENT_TAG, "Value": pools.settings.deployment},
                ],
            }
        ],
    )["Vpc"]["VpcId"]

    assert f"{orphan} 10.0.0.0/20" in pools.pool_keeper.run().foreign_held
    assert not IPv4Network(accepted(client, sized(20))["cidr"]).overlaps(IPv4Network("10.0.0.0/20"))


# --- CIDR_OVERLAP=allow -----------------------------------------------------------------


def test_with_allow_a_cidr_shared_by_another_process_is_never_overlapped_by_a_sized_post(
    client: Client, stack: Stack, services: Services, settings: Settings, reconfigure: Any
) -> None:
    """Another API process accepted an overlapping CIDR (a shared one) after this one read
    the pool: this process's next sized POST picks a block inside it, and the table, not
    the read, refuses that; the POST reads the pool again and goes around it. A freed
    shared CIDR's range is free again."""
    reconfigure(settings, address_pools=parse_pools(POOLS), allow_overlap=True)
    assert accepted(client, sized(24))["cidr"] == "10.0.0.0/24"
    other = "11111111-2222-4333-8444-555555555555"
    theirs = IPv4Network("10.0.0.0/22")
    # What that process's POST wrote for it (its record aside).
    stack.truth.dynamodb.transact_write_items(TransactItems=shared(TABLE, theirs, other, "main"))

    # (after a refusal the POST takes one of the lowest few free blocks)
    for size in (24, 21, 23):
        assert not IPv4Network(accepted(client, sized(size))["cidr"]).overlaps(theirs)

    stack.truth.dynamodb.transact_write_items(TransactItems=release_shared(TABLE, theirs, other))
    assert accepted(client, explicit("10.0.2.0/23"))["cidr"] == "10.0.2.0/23"
    assert "block#10.0.2.0/23" in held(stack)


def test_with_allow_a_cidr_over_a_block_the_index_does_not_show_yet_is_shared_not_a_503(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Only a count refuses the explicit CIDR (a block inside it is held) and the pool's
    index, read afresh, does not list that block yet (it lags behind the table): with
    CIDR_OVERLAP=allow the overlap is allowed whoever holds it, so the CIDR is shared.
    Before: 503, and the same again on every retry while the index lagged."""
    reconfigure(settings, address_pools=parse_pools(POOLS), allow_overlap=True)
    inner, other = IPv4Network("10.0.4.0/24"), "11111111-2222-4333-8444-555555555555"
    stack.truth.dynamodb.transact_write_items(TransactItems=allocation(TABLE, inner, other, "main"))
    stack.faults.stale("dynamodb", "Query", "Items", times=2)

    assert accepted(client, explicit("10.0.4.0/22"))["cidr"] == "10.0.4.0/22"

    assert held(stack)["block#10.0.4.0/24"]["holder"] == {"S": other}  # theirs, untouched


def test_a_shared_cidr_is_counted_once_however_often_its_transaction_is_sent(
    stack: Stack, pools: Services
) -> None:
    """A retry of a transaction whose answer was lost is refused (the shared item exists):
    the marks count the CIDR once, and one release frees its range."""
    block, holder = IPv4Network("10.0.0.0/22"), "vpc-0123456789abcdef0"
    stack.truth.dynamodb.transact_write_items(TransactItems=shared(TABLE, block, holder, "main"))
    with pytest.raises(ClientError):
        stack.truth.dynamodb.transact_write_items(
            TransactItems=shared(TABLE, block, holder, "main")
        )
    assert descendants(stack, "10.0.0.0/16") == 1

    stack.truth.dynamodb.transact_write_items(TransactItems=release_shared(TABLE, block, holder))

    assert descendants(stack, "10.0.0.0/16") == 0
    stack.truth.dynamodb.transact_write_items(
        TransactItems=allocation(TABLE, IPv4Network("10.0.0.0/16"), "someone", "main")
    )


def test_with_allow_a_freed_block_keeps_the_marks_of_a_cidr_shared_inside_it(
    client: Client, stack: Stack, services: Services, settings: Settings, reconfigure: Any
) -> None:
    """A held /16, a /24 shared inside it; the /16's request is cancelled and its block
    freed: the /24 still marks the /16 (its item stays, without a holder), so the table
    refuses to hold the /16 again for anyone, whatever they last read."""
    reconfigure(settings, address_pools=parse_pools(POOLS), allow_overlap=True)
    outer = accepted(client, explicit("10.0.0.0/16"))["request_id"]
    inner = accepted(client, explicit("10.0.0.0/24"))["request_id"]
    assert f"shared#{inner}" in items(stack, "shared#")

    assert client.http.delete(f"/vpcs/{outer}", headers=auth()).json_body["status"] == ("CANCELLED")

    assert "block#10.0.0.0/16" not in held(stack)
    with pytest.raises(ClientError) as refusal:
        stack.truth.dynamodb.transact_write_items(
            TransactItems=allocation(TABLE, IPv4Network("10.0.0.0/16"), "someone", "main")
        )
    assert refusal.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_with_allow_explicit_cidrs_may_overlap_but_sized_ones_never_do(
    client: Client, stack: Stack, services: Services, settings: Settings, reconfigure: Any
) -> None:
    reconfigure(settings, address_pools=parse_pools(POOLS), allow_overlap=True)
    accepted(client, body("10.0.0.0/17"))

    overlapping = accepted(client, body("10.0.0.0/16"))

    assert overlapping["cidr"] == "10.0.0.0/16"
    assert f"shared#{overlapping['request_id']}" in items(stack, "shared#")
    # The only /16 of pool "main" overlaps both: a sized /16 cannot be had there.
    assert refused(client, sized(17), 409, "PoolExhausted")


# --- GET /pools -------------------------------------------------------------------------


def test_pools_report_total_allocated_free_largest_and_count(
    client: Client, pools: Services
) -> None:
    accepted(client, sized(17))
    accepted(client, sized(24))
    accepted(client, body("10.200.0.0/16"))  # outside every pool: counted in none

    usage = pool_usage(client)

    assert usage["main"] == {
        "name": "main",
        "cidr": "10.0.0.0/16",
        "total_addresses": 65536,
        "allocated_addresses": 32768 + 256,
        "free_addresses": 65536 - 32768 - 256,
        "largest_free_netmask_length": 18,
        "allocations": 2,
    }
    assert usage["edge"]["allocations"] == 0
    assert usage["edge"]["largest_free_netmask_length"] == 16


def test_a_size_larger_than_its_pool_is_a_400_not_a_pool_to_wait_for(
    client: Client, settings: Settings, reconfigure: Any
) -> None:
    """A /16 never fits a /20 pool, however much of it is freed: the caller must change
    the request (a 400), not wait for space (a 409)."""
    small = '[{"name": "dev", "cidr": "10.1.0.0/20"}]'
    reconfigure(settings, address_pools=parse_pools(small), allow_overlap=False)

    message = refused(client, sized(16, 24, pool="dev"), 400, "BadRequestError")

    assert message.startswith("vpc.netmask_length 16 asks for more than pool 'dev' holds")
    assert "ask for /20 or a longer netmask" in message
    assert accepted(client, sized(20, 24, pool="dev"))["cidr"] == "10.1.0.0/20"


def test_pools_in_one_16_see_a_block_held_over_both(
    client: Client, settings: Settings, reconfigure: Any
) -> None:
    """Two pools smaller than a VPC share a /16; an explicit /16 over both is counted in
    the first (its index). The second's sized POSTs must see it too: they were a 503 (every
    block they tried was refused by the /16's item) and GET /pools called it all free."""
    small = '[{"name": "dev", "cidr": "10.1.0.0/20"}, {"name": "test", "cidr": "10.1.16.0/20"}]'
    reconfigure(settings, address_pools=parse_pools(small), allow_overlap=False)
    accepted(client, body("10.1.0.0/16"))

    message = refused(client, sized(24, pool="test"), 409, "PoolExhausted")

    assert "Pool 'test' (10.1.16.0/20) has no free /24: no block of a VPC's size" in message
    usage = pool_usage(client)["test"]
    assert (usage["free_addresses"], usage["largest_free_netmask_length"]) == (0, None)
    assert usage["allocations"] == 1


@pytest.mark.parametrize(
    "inside",
    [
        sized(24, pool="test"),  # 10.1.16.0/24, in the index of pool "test"
        {"vpc": {"cidr": "10.1.32.0/24"}, "subnets": [{"netmask_length": 24}]},  # no pool's
    ],
)
def test_an_explicit_cidr_over_a_block_of_another_index_is_409_naming_its_holder(
    client: Client, settings: Settings, reconfigure: Any, inside: dict[str, Any]
) -> None:
    """10.1.0.0/16 counts in pool "dev" (the first it overlaps); what it holds back is a
    block in another pool's index or outside every pool. Only a count refuses it, so the
    holder is looked up: in every index a block inside it can be in (it was looked up in
    "dev"'s alone, found nobody, and answered 503 to every retry)."""
    small = '[{"name": "dev", "cidr": "10.1.0.0/20"}, {"name": "test", "cidr": "10.1.16.0/20"}]'
    reconfigure(settings, address_pools=parse_pools(small), allow_overlap=False)
    holder = accepted(client, inside)["request_id"]

    message = refused(client, body("10.1.0.0/16"), 409, "CidrConflict")

    assert f"vpc.cidr 10.1.0.0/16 overlaps request {holder}" in message


def test_pools_need_a_token(client: Client, pools: Services) -> None:
    assert client.http.get("/pools").status_code == 401


def test_get_pools_reads_its_pools_side_by_side_and_waits_for_one_call(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A GET waits for one AWS call: each pool's Query is sent while the others are under
    way (here each waits at a barrier until all three are; one after another, the first
    would wait alone and fail). They were read one after the other: three pools, three
    calls' latency."""
    three = '[{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "172.16.0.0/12"}, '
    three += '{"name": "c", "cidr": "100.64.0.0/10"}]'
    reconfigure(settings, address_pools=parse_pools(three))
    together = threading.Barrier(3, timeout=5)
    events = stack.clients.dynamodb.meta.events

    def all_at_once(**_: Any) -> None:
        together.wait()

    events.register("before-call.dynamodb.Query", all_at_once)
    try:
        response = client.http.get("/pools", headers=auth())
    finally:
        events.unregister("before-call.dynamodb.Query", all_at_once)

    assert response.status_code == 200, response.json_body
    assert [p["name"] for p in response.json_body["items"]] == ["a", "b", "c"]


def test_a_hold_that_meets_another_transaction_is_not_recorded_shared(
    client: Client, stack: Stack, pools: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold that met another transaction on a count item (TransactionConflict: busy) was
    taken for an overlap (d687976, taken back the same evening), and the foreign VPC's
    block recorded shared for good although nothing overlaps it."""
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.0.0.0/18")["Vpc"]["VpcId"]
    store = pools.pool_keeper._store
    real = store._transaction
    met: list[str] = []

    def once_in_conflict(what: str, batch: list[dict[str, Any]]) -> Any:
        if what == "hold" and not met:
            met.append(what)
            return [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(batch) - 1)
        return real(what, batch)

    monkeypatch.setattr(store, "_transaction", once_in_conflict)

    pools.pool_keeper.run()
    pools.pool_keeper.run()

    assert met == ["hold"]
    # Nothing overlaps 10.0.0.0/18: it is held as any foreign VPC's block is.
    assert items(stack, "shared#") == {}, items(stack, "shared#")
    assert "block#10.0.0.0/18" in held(stack), theirs


# --- the backfill -----------------------------------------------------------------------


def as_before_pools(stack: Stack, *request_ids: str) -> None:
    """The table as written before pools: no block items, and these records without an
    allocation."""
    for item in stack.truth.dynamodb.scan(TableName=TABLE)["Items"]:
        key = item["request_id"]["S"]
        if key.startswith(("block#", "shared#")):
            stack.truth.dynamodb.delete_item(TableName=TABLE, Key={"request_id": {"S": key}})
        elif key in request_ids:
            stack.truth.dynamodb.update_item(
                TableName=TABLE,
                Key={"request_id": {"S": key}},
                UpdateExpression="REMOVE allocation, cidr, #pool",
                ExpressionAttributeNames={"#pool": "pool"},
            )


def test_records_from_before_pools_are_backfilled_once(
    client: Client, stack: Stack, pools: Services
) -> None:
    live = accepted(client, body("10.0.0.0/20"))["request_id"]
    ended = accepted(
        client, {"vpc": {"cidr": "10.0.16.0/20"}, "subnets": [{"cidr": "10.0.16.0/24"}]}
    )["request_id"]
    client.http.delete(f"/vpcs/{ended}", headers=auth())
    as_before_pools(stack, live, ended)

    first = pools.pool_keeper.run()
    second = pools.pool_keeper.run()

    assert (first.backfilled, second.backfilled) == (2, 0)
    assert items(stack, "block#")["block#10.0.0.0/20"]["holder"]["S"] == live
    assert "block#10.0.16.0/20" not in held(stack)
    assert record(client, live)["cidr"] == "10.0.0.0/20"
    assert "overlaps request" in refused(client, body("10.0.0.0/16"), 409, "CidrConflict")


def test_a_block_taken_before_the_backfill_reached_its_record_is_said_loudly(
    client: Client, stack: Stack, pools: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The upgrade window (docs/operating.md): a record from before the pools has no block
    item yet, so a sized POST may be given its block. The backfill cannot undo that: it
    records the older block shared, and says so in a WARNING naming the request."""
    old = accepted(client, body("10.0.0.0/20"))["request_id"]
    as_before_pools(stack, old)
    assert accepted(client, sized(20))["cidr"] == "10.0.0.0/20"  # the window

    pools.pool_keeper.run()

    stored = stack.truth.dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": old}})
    assert stored["Item"]["allocation"]["S"] == "shared"
    (said,) = [r for r in caplog.records if "address backfill" in r.getMessage()]
    assert said.levelname == "WARNING"
    assert old in said.getMessage()
    assert "overlap" in said.getMessage()


# --- concurrency -------------------------------------------------------------------------


def simultaneous_posts(
    service: Any, count: int, payload: dict[str, Any] | Callable[[int], dict[str, Any]]
) -> tuple[list[str], list[BaseException]]:
    """`count` POSTs of `payload` (or of `payload(index)`) let go at once, each its own
    key: the CIDRs accepted, and what the others raised."""
    body_of = payload if callable(payload) else lambda _: payload
    caller = Caller(sub="user-1", username="alice")
    cidrs: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def one(index: int) -> None:
        start.wait()
        try:
            submission = service.submit(caller, f"k-{index}", json.dumps(body_of(index)))
        except BaseException as exc:
            with lock:
                failures.append(exc)
            return
        with lock:
            cidrs.append(submission.record.cidr)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return cidrs, failures


def test_concurrent_sized_posts_never_get_overlapping_blocks(
    client: Client, stack: Stack, pools: Services
) -> None:
    results, failures = simultaneous_posts(pools.submissions, 24, sized(24, 26))

    assert failures == []
    blocks = [IPv4Network(c) for c in results]
    assert len(blocks) == 24
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert descendants(stack, "10.0.0.0/16") == 24


# --- a table from before pools (PERSIST=1) ---------------------------------------------


def test_a_table_from_before_pools_gets_the_pools_index_on_the_next_start(stack: Stack) -> None:
    """A local stack saved with PERSIST=1 by an older version has no `by_pool`: the next
    start adds it (else every POST would fail on the missing index)."""
    dynamodb = stack.truth.dynamodb
    dynamodb.delete_table(TableName=TABLE)
    older = [i for i in INDEXES if i["IndexName"] != POOL_INDEX]
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=[a for a in ATTRIBUTES if a["AttributeName"] != "pool_pk"],
        GlobalSecondaryIndexes=older,
        BillingMode="PAY_PER_REQUEST",
    )

    create_table(dynamodb, TABLE)

    indexes = dynamodb.describe_table(TableName=TABLE)["Table"]["GlobalSecondaryIndexes"]
    assert POOL_INDEX in {i["IndexName"] for i in indexes}
    assert add_missing_indexes(dynamodb, TABLE) == []


# --- contention on a /16's count -----------------------------------------------------------


def test_a_transaction_conflict_on_a_block_count_is_busy_on_addresses(stack: Stack) -> None:
    """Real DynamoDB cancels concurrent transactions on one item (TransactionConflict; moto
    never does): on an ancestor's count it is contention, told apart from a held block."""
    reasons = [
        {"Code": "None"},
        {"Code": "None"},
        {"Code": "None"},
        {"Code": "TransactionConflict"},
    ]

    class Conflicting:
        def transact_write_items(self, **_: Any) -> None:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )

    store = RequestStore(Conflicting(), TABLE)
    record = RequestRecord(
        request_id="6f0c2a8e-1b7d-4c55-9a43-2f1e0d9c8b7a",
        status=Status.QUEUED,
        created_by="sub-1",
        created_by_username="demo",
        created_at="2026-11-28T20:17:26Z",
        updated_at="2026-11-28T20:17:26Z",
        request=ProvisioningRequest(VpcSpec(cidr=None, netmask_length=24), ()),
        cidr="10.0.0.0/24",
        pool="main",
        allocation="held",
    )
    lock = IdempotencyLock("sub-1", "k", record.request_id, "hash", 2_000_000_000)

    assert store.create(record, lock, 1_700_000_000.0) == KeyBusy(addresses=True)


def test_posts_contending_for_a_block_count_get_a_503_to_retry(
    client: Client, pools: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pools.submissions._store, "create", lambda *args, **kwargs: KeyBusy(addresses=True)
    )

    response = post(client, sized(24))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "taking addresses at once" in response.json_body["Message"]


# --- the POST's calls ----------------------------------------------------------------


def test_a_burst_of_sized_posts_reads_the_pool_once_and_stays_within_the_call_budget(
    client: Client, stack: Stack, pools: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST's AWS calls come one after another (but for a job sent beside its
    transaction), so their count is the calls a caller waits for in a row. The budget is
    2.5 on average: a sized POST that reads its pool (a Query of `by_pool`) sends its job
    beside the transaction, and the next sized POSTs of the process keep that read a few
    seconds (here: the whole burst, however slow the machine runs it)."""
    monkeypatch.setattr(held_blocks, "_TAKEN_SECONDS", 3600.0)
    accepted(client, sized(24, 28, pool="edge"))  # the zones cached; another pool's read
    stack.faults.reset_counts()

    for _ in range(10):
        accepted(client, sized(24, 28, pool="main"))

    calls = stack.faults.log
    query, transact = ("dynamodb", "Query"), ("dynamodb", "TransactWriteItems")
    send = ("sqs", "SendMessage")
    assert calls[0] == query
    assert sorted(calls[1:3]) == [transact, send]  # at once: 2 in a row
    assert calls[3:] == [transact, send] * 9
    assert (2 + 2 * 9) / 10 <= 2.5


# --- the upkeep and our own VPCs -----------------------------------------------------


def _one_of_ours_during_the_upkeep(
    client: Client, stack: Stack, pools: Services, lagging_index: bool
) -> tuple[dict[str, Any], Any]:
    """A sized POST accepted, and its VPC made, while the address upkeep runs: between its
    read of the pools' blocks and its listing of the region's VPCs (the listing used to
    come second), or, with `lagging_index`, one the index it reads the blocks from does
    not show yet (eventually consistent). Returns the POST's answer and the run's report."""
    keeper = pools.pool_keeper
    keeper.run()  # the region's default VPC held: this run has nothing else to hold
    made: dict[str, Any] = {}

    def a_post_meanwhile() -> None:
        made.update(accepted(client, sized(20)))
        deliver(client, made["request_id"])

    listing, taken = keeper._ec2.region_vpc_blocks, keeper._store.taken

    def listed_after_a_post() -> Any:
        a_post_meanwhile()
        return listing()

    def taken_lagging(pool: str | None) -> Any:
        return [t for t in taken(pool) if t.holder != made.get("request_id")]

    with pytest.MonkeyPatch.context() as patch:
        if lagging_index:
            a_post_meanwhile()
            patch.setattr(keeper._store, "taken", taken_lagging)
        else:
            patch.setattr(keeper._ec2, "region_vpc_blocks", listed_after_a_post)
        report = keeper.run()
    assert record(client, made["request_id"])["status"] == "SUCCEEDED"
    return made, report


@pytest.mark.parametrize("lagging_index", [False, True], ids=["listed-after", "index-lags"])
def test_our_own_vpc_made_while_the_upkeep_runs_is_never_held_as_a_foreign_one(
    client: Client, stack: Stack, pools: Services, lagging_index: bool
) -> None:
    """One live request, one block: its VPC is not held (shared) by the VPC as if someone
    else had made it (GET /pools counted two allocations, and once the request was
    DELETED an explicit POST of its CIDR was a 409 naming a VPC that no longer exists,
    until the next run). The upkeep lists the VPCs before it reads the blocks, and does
    not share a block with the request whose tag its VPC carries."""
    made, report = _one_of_ours_during_the_upkeep(client, stack, pools, lagging_index)

    assert report.foreign_held == []
    assert items(stack, "shared#") == {}
    assert pool_usage(client)["main"]["allocations"] == 1
    assert client.http.delete(f"/vpcs/{made['request_id']}", headers=auth()).status_code == 202
    deliver(client, made["request_id"], operation=Operation.DELETE)
    assert record(client, made["request_id"])["status"] == "DELETED"
    accepted(client, explicit(made["cidr"]))  # its block is free at once
