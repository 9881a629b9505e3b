"""Pools whose configuration changes while blocks are held, and a VPC deleted while the
address upkeep runs (docs/operating.md "Address pools", docs/how-it-works.md).

Before: an explicit CIDR around a block filed under a pool since removed or narrowed was
a 503 "retry" at every retry (the conflict's holder was looked for only in the indexes of
the pools there are now), not a 409 naming it; GET /pools counted such a block in the
narrowed pool's allocations; and the upkeep held, in the name of a VPC its DELETE had just
deleted, the block its request had freed (a 409 naming a gone VPC until the next run)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.addresses import parse_pools
from chalicelib.config import Settings
from chalicelib.models import Caller, Operation
from chalicelib.store.api import RequestStore
from chalicelib.wiring import Services
from integration.conftest import Stack, body, deliver, post, record
from integration.test_address_pools import accepted, pools, sized  # noqa: F401
from support.tokens import auth


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            '[{"name": "main", "cidr": "10.0.0.0/15"}]',
            '[{"name": "main", "cidr": "10.0.0.0/16"}]',
            id="main-shrunk",
        ),
        pytest.param(
            '[{"name": "main", "cidr": "10.0.0.0/16"}, {"name": "edge", "cidr": "10.1.0.0/16"}]',
            '[{"name": "main", "cidr": "10.0.0.0/16"}]',
            id="edge-removed",
        ),
    ],
)
def test_an_explicit_cidr_around_a_block_held_where_a_pool_no_longer_reaches_is_a_409(
    client: Client, settings: Settings, reconfigure: Any, before: str, after: str
) -> None:
    """A request holds 10.1.0.0/24 (filed under the pool that covered it then). The stage's
    pools change so that none covers 10.1.0.0/16 any more. An explicit 10.1.0.0/16
    overlaps that live request: the table refuses it (only a count does), and the answer
    must be a 409 naming the holder, not a 503 "retry" that every retry meets again."""
    reconfigure(settings, address_pools=parse_pools(before), allow_overlap=False)
    inner = post(client, {"vpc": {"cidr": "10.1.0.0/24"}, "subnets": [{"netmask_length": 24}]})
    assert inner.status_code == 202, inner.body
    holder = inner.json_body["request_id"]
    reconfigure(settings, address_pools=parse_pools(after), allow_overlap=False)

    answers = [post(client, body("10.1.0.0/16"), key="around") for _ in range(3)]

    assert [a.status_code for a in answers] == [409, 409, 409], [a.body for a in answers]
    assert holder in answers[0].json_body["Message"]


def _deleted_between_listing_and_blocks(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, records_unread: bool
) -> tuple[str, Any]:
    """A request SUCCEEDED in 10.0.0.0/20, then DELETED (its VPC deleted, its block freed)
    after the upkeep listed the region's VPCs and before it read the blocks (as a listing
    lagging behind DeleteVpc shows it too). The request's id and the upkeep's report."""
    built = reconfigure(
        settings,
        address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]'),
        allow_overlap=False,
    )
    keeper = built.pool_keeper
    keeper.run()  # the default VPC held: nothing else to hold
    first = post(client, body("10.0.0.0/20"))
    assert first.status_code == 202, first.body
    request_id = first.json_body["request_id"]
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    listing = keeper._ec2.region_vpc_blocks

    def listed_then_deleted() -> Any:
        listed = listing()
        assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
        deliver(client, request_id, operation=Operation.DELETE)
        if records_unread:
            stack.faults.unprocessed(times=-1)
        return listed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keeper._ec2, "region_vpc_blocks", listed_then_deleted)
        report = keeper.run()
    stack.faults.clear()
    assert record(client, request_id)["status"] == "DELETED"
    assert stack.vpcs(request_id) == []
    return request_id, report


def test_a_vpc_deleted_while_the_upkeep_runs_leaves_its_cidr_free_at_once(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """Its record says DeleteVpc answered for the VPC: gone for good, its block not held
    (before: held in the gone VPC's name, an explicit POST of it a 409 until the next run)."""
    _, report = _deleted_between_listing_and_blocks(
        client, stack, settings, reconfigure, records_unread=False
    )

    again = post(client, body("10.0.0.0/20"))

    assert again.status_code == 202, again.body
    assert report.foreign_held == [], report.foreign_held


def test_a_vpc_of_ours_whose_record_is_unread_is_held(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The records' read throttled (every key handed back unprocessed): nothing proves the
    VPC gone, so its block is held in its name (the side that never lets two networks
    overlap), and the next run, reading its record, frees it."""
    _, report = _deleted_between_listing_and_blocks(
        client, stack, settings, reconfigure, records_unread=True
    )
    assert [held.split()[1] for held in report.foreign_held] == ["10.0.0.0/20"]
    assert post(client, body("10.0.0.0/20"), key="early").status_code == 409

    settings_keeper = reconfigure(
        settings,
        address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]'),
        allow_overlap=False,
    ).pool_keeper
    assert len(settings_keeper.run().foreign_freed) == 1
    assert post(client, body("10.0.0.0/20"), key="later").status_code == 202


def test_get_pools_does_not_count_a_block_outside_a_shrunk_pool(
    client: Client, settings: Settings, reconfigure: Any
) -> None:
    """ "main" shrinks from 10.0.0.0/15 to 10.0.0.0/16 while 10.1.0.0/24 is held under it:
    GET /pools must not say "main" holds one allocation and no address."""
    reconfigure(
        settings,
        address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/15"}]'),
        allow_overlap=False,
    )
    inner = post(client, {"vpc": {"cidr": "10.1.0.0/24"}, "subnets": [{"netmask_length": 24}]})
    assert inner.status_code == 202, inner.body
    reconfigure(
        settings,
        address_pools=parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]'),
        allow_overlap=False,
    )

    [main] = client.http.get("/pools", headers=auth()).json_body["items"]

    assert (main["allocations"], main["allocated_addresses"]) == (0, 0), main


def test_a_holder_the_tree_cannot_be_read_for_is_a_503_then_the_409(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """The walk down the block tree throttled: a read that could not tell is a 503 to
    retry (never a 409 naming no one, nor a 202); once it reads, the 409 names the holder."""
    edge = parse_pools('[{"name": "edge", "cidr": "10.1.0.0/16"}]')
    reconfigure(settings, address_pools=edge, allow_overlap=False)
    inner = post(client, {"vpc": {"cidr": "10.1.0.0/24"}, "subnets": [{"netmask_length": 24}]})
    assert inner.status_code == 202, inner.body
    main = parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]')
    reconfigure(settings, address_pools=main, allow_overlap=False)
    stack.faults.unprocessed(times=-1)

    throttled = post(client, body("10.1.0.0/16"), key="around")
    stack.faults.clear()
    again = post(client, body("10.1.0.0/16"), key="around")

    assert throttled.status_code == 503, throttled.body
    assert again.status_code == 409, again.body
    assert inner.json_body["request_id"] in again.json_body["Message"]


def test_a_steady_upkeep_run_reads_no_record_for_a_vpc_already_held(
    client: Client,
    stack: Stack,
    pools: Services,  # noqa: F811 (the fixture of test_address_pools)
    request: pytest.FixtureRequest,
) -> None:
    """A block someone associated with a VPC of ours is held in the VPC's name; the runs
    after that have nothing to hold, and read no record for it (the check that a delete
    answered for the VPC is for one about to be held): no call every 3 minutes for good."""
    first = accepted(client, sized(20))
    deliver(client, first["request_id"])
    vpc_id = record(client, first["request_id"])["vpc_id"]
    stack.truth.ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.0.16.0/20")
    assert f"{vpc_id} 10.0.16.0/20" in pools.pool_keeper.run().foreign_held
    assert pools.pool_keeper.run().foreign_held == []  # steady from here

    reads: list[list[str]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        for table in params.get("RequestItems", {}).values():
            reads.append([k["request_id"]["S"] for k in table["Keys"]])

    events, event = (
        stack.clients.dynamodb.meta.events,
        "provide-client-params.dynamodb.BatchGetItem",
    )
    events.register(event, note)
    request.addfinalizer(lambda: events.unregister(event, note))

    report = pools.pool_keeper.run()

    assert report.foreign_held == []
    assert report.errors == []
    naming = [keys for keys in reads if first["request_id"] in keys]
    # `_ended` reads the request (it holds its own block); nothing else needs it.
    assert len(naming) == 1, reads


def test_an_explicit_cidr_inside_a_vpc_shared_under_a_removed_pool_is_a_409(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any
) -> None:
    """A VPC someone made over a request's block is recorded shared (docs/operating.md
    "Address pools"), filed under pool `edge`; `edge` is then removed. An explicit CIDR
    inside that VPC (beside the request's block) overlaps it: the table refuses it (only
    the shared block's count does, and no key names who shares it). A read of the tree
    that proves no block inside is held makes that a 409 CidrConflict saying so, not a 503
    "retry" that every retry meets again."""
    edge = parse_pools('[{"name": "edge", "cidr": "10.1.0.0/16"}]')
    built = reconfigure(settings, address_pools=edge, allow_overlap=False)
    inner = post(client, {"vpc": {"cidr": "10.1.0.0/24"}, "subnets": [{"netmask_length": 24}]})
    assert inner.status_code == 202, inner.body
    theirs = stack.truth.ec2.create_vpc(CidrBlock="10.1.0.0/20")["Vpc"]["VpcId"]
    report = built.pool_keeper.run()
    assert report.errors == [], report.errors
    main = parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]')
    reconfigure(settings, address_pools=main, allow_overlap=False)

    inside = {"vpc": {"cidr": "10.1.4.0/24"}, "subnets": [{"netmask_length": 24}]}
    answers = [post(client, inside, key="inside") for _ in range(2)]

    assert [a.status_code for a in answers] == [409, 409], [a.body for a in answers]
    assert answers[0].json_body["Code"] == "CidrConflict"
    assert "addresses a VPC already has" in answers[0].json_body["Message"]
    assert stack.truth.ec2.describe_vpcs(VpcIds=[theirs])["Vpcs"]


def test_an_explicit_cidr_whose_inner_holder_ends_meanwhile_is_not_a_409(
    client: Client, stack: Stack, settings: Settings, reconfigure: Any, monkeypatch: Any
) -> None:
    """A QUEUED request R holds 10.1.0.0/24, filed under pool `edge`, since removed. A POST
    of an explicit 10.1.0.0/16 is refused by the table (its own item counts R's block), and
    R is cancelled (its block freed) between that refusal and the walk of the tree
    (`holder_within`): nothing overlaps any more. The POST must not be a 409
    CidrConflict ("overlaps addresses a VPC already has"): no VPC has those addresses; a
    503 "retry" (the same key) gets them."""
    edge = parse_pools('[{"name": "edge", "cidr": "10.1.0.0/16"}]')
    built = reconfigure(settings, address_pools=edge, allow_overlap=False)
    inner = post(client, {"vpc": {"cidr": "10.1.0.0/24"}, "subnets": [{"netmask_length": 24}]})
    assert inner.status_code == 202, inner.body
    holder = inner.json_body["request_id"]
    main = parse_pools('[{"name": "main", "cidr": "10.0.0.0/16"}]')
    built = reconfigure(settings, address_pools=main, allow_overlap=False)

    real = RequestStore.holder_within
    ended: list[str] = []

    def cancelled_first(self: RequestStore, block: Any) -> Any:
        if not ended:
            # The other request's DELETE lands now: QUEUED -> CANCELLED, its block freed.
            caller = Caller(sub="user-1", username="user-1", groups=frozenset())
            ended.append(built.deletes.delete(caller, holder).status.value)
        return real(self, block)

    monkeypatch.setattr(RequestStore, "holder_within", cancelled_first)
    answer = post(client, body("10.1.0.0/16"), key="around")

    assert ended == ["CANCELLED"], ended
    assert answer.status_code == 503, answer.body
    monkeypatch.undo()
    again = post(client, body("10.1.0.0/16"), key="around")
    assert again.status_code == 202, again.body
