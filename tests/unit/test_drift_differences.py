"""What differs between a SUCCEEDED record and what EC2 showed (chalicelib/upkeep/differences.py):
pure, no AWS. An observation is what a read showed (`Seen`), GONE (a read by id answered
"not found") or None (nothing could tell)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.aws.described import GONE, Kind, Route, Seen
from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.findings import DriftItem, DriftProblem, DriftType, Orphan
from chalicelib.models import RequestRecord, Status, SubnetState
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec
from chalicelib.upkeep.differences import (
    Observation,
    adopt,
    compare,
    expected,
    merged,
    ordered,
)
from support.records import REQUEST_ID as REQUEST
from support.records import request_record

DEPLOYMENT = "vpc-provisioner-test"
VPC, PUBLIC, PRIVATE = "vpc-1", "subnet-public", "subnet-private"
GATEWAY, TABLE, MAIN = "igw-1", "rtb-1", "rtb-main"


def a_record() -> RequestRecord:
    """A SUCCEEDED request: a VPC, a public and a private subnet, a gateway, a route table."""
    return request_record(
        status=Status.SUCCEEDED,
        created_by="sub",
        created_by_username="alice",
        updated_at="2026-11-28T20:17:30Z",
        request=ProvisioningRequest(
            VpcSpec("10.30.0.0/16"),
            (
                SubnetSpec("10.30.0.0/24", "us-east-1a", public=True),
                SubnetSpec("10.30.1.0/24", "us-east-1b"),
            ),
        ),
        vpc_id=VPC,
        subnets=[
            SubnetState("10.30.0.0/24", "us-east-1a", subnet_id=PUBLIC),
            SubnetState("10.30.1.0/24", "us-east-1b", subnet_id=PRIVATE),
        ],
        internet_gateway_id=GATEWAY,
        route_table_id=TABLE,
    )


def seen(
    kind: Kind,
    resource_id: str,
    request_id: str = REQUEST,
    deployment: str = DEPLOYMENT,
    **more: Any,
) -> Seen:
    tags = {REQUEST_ID_TAG: request_id, DEPLOYMENT_TAG: deployment}
    for key in [k for k, v in more.items() if k.startswith("tag_") and v is None]:
        tags.pop({"tag_request": REQUEST_ID_TAG, "tag_deployment": DEPLOYMENT_TAG}[key])
        more.pop(key)
    return Seen(
        resource_id=resource_id,
        request_id=tags.get(REQUEST_ID_TAG, ""),
        created_at=None,
        vpc_id=more.pop("vpc_id", VPC),
        kind=kind,
        tags=tuple(sorted(tags.items())),
        **more,
    )


def matching() -> dict[str, Observation]:
    """EC2 exactly as the record says."""
    return {
        VPC: seen(Kind.VPC, VPC),
        PUBLIC: seen(Kind.SUBNET, PUBLIC, cidr="10.30.0.0/24", public_ips=True),
        PRIVATE: seen(Kind.SUBNET, PRIVATE, cidr="10.30.1.0/24"),
        GATEWAY: seen(Kind.INTERNET_GATEWAY, GATEWAY, attachments=(VPC,)),
        TABLE: seen(
            Kind.ROUTE_TABLE,
            TABLE,
            internet_route=Route(GATEWAY, "active"),
            associations=(PUBLIC,),
            to_internet=(GATEWAY,),
        ),
        # The VPC's main route table (EC2's, untagged): it routes the private subnet.
        MAIN: seen(Kind.ROUTE_TABLE, MAIN, tag_request=None, tag_deployment=None, main=True),
    }


def tables_of(observed: dict[str, Observation]) -> list[str]:
    """The ids of the route tables a listing of the VPC shows: those in `observed`."""
    return [i for i, o in observed.items() if isinstance(o, Seen) and o.kind is Kind.ROUTE_TABLE]


def as_seen(observation: Observation) -> Seen:
    """An observation `matching()` made a `Seen`."""
    assert isinstance(observation, Seen)
    return observation


def items(observed: dict[str, Observation]) -> list[tuple[str, str, str, str]]:
    found = compare(a_record(), observed.get, tables_of(observed), DEPLOYMENT).items
    return [(i.type.value, i.resource_id, i.problem.value, i.detail) for i in found]


def test_ec2_as_the_record_says_is_no_drift() -> None:
    comparison = compare(a_record(), matching().get, tables_of(matching()), DEPLOYMENT)
    assert comparison.items == ()
    assert comparison.unknown == frozenset()


@pytest.mark.parametrize(
    ("gone", "expected_item"),
    [
        (VPC, ("vpc", VPC, "missing", "the VPC no longer exists")),
        (PRIVATE, ("subnet", PRIVATE, "missing", "the subnet (10.30.1.0/24) no longer exists")),
        (
            GATEWAY,
            ("internet_gateway", GATEWAY, "missing", "the internet gateway no longer exists"),
        ),
        (TABLE, ("route_table", TABLE, "missing", "the route table no longer exists")),
    ],
)
def test_what_a_read_by_id_answers_not_found_for_is_missing(
    gone: str, expected_item: tuple[str, str, str, str]
) -> None:
    assert items({**matching(), gone: GONE}) == [expected_item]


def test_a_gone_public_subnet_is_reported_once_not_also_as_a_lost_association() -> None:
    observed = {**matching(), PUBLIC: GONE}
    observed[TABLE] = replace(as_seen(observed[TABLE]), associations=())
    assert [i[:3] for i in items(observed)] == [("subnet", PUBLIC, "missing")]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"tag_request": None}, "tag RequestId was removed"),
        ({"tag_deployment": None}, f"tag {DEPLOYMENT_TAG} was removed"),
        (
            {"tag_request": None, "tag_deployment": None},
            f"tag RequestId was removed; tag {DEPLOYMENT_TAG} was removed",
        ),
    ],
)
def test_a_stripped_tag_is_changed(changes: dict[str, Any], detail: str) -> None:
    observed = {**matching(), PRIVATE: seen(Kind.SUBNET, PRIVATE, **changes)}
    assert items(observed) == [("subnet", PRIVATE, "changed", detail)]


def test_a_tag_naming_someone_else_is_changed_and_quoted_bounded() -> None:
    long = "x" * 300
    observed = {
        **matching(),
        VPC: seen(Kind.VPC, VPC, request_id="other"),
        PRIVATE: seen(Kind.SUBNET, PRIVATE, deployment=long),
    }
    found = items(observed)
    assert found[0] == ("vpc", VPC, "changed", f"tag RequestId is 'other', not {REQUEST!r}")
    assert found[1][:3] == ("subnet", PRIVATE, "changed")
    assert len(found[1][3]) < 120


@pytest.mark.parametrize(
    ("attachments", "detail"),
    [((), f"no longer attached to {VPC}"), (("vpc-2",), f"attached to vpc-2, not {VPC}")],
)
def test_a_gateway_not_attached_to_the_vpc_is_changed(
    attachments: tuple[str, ...], detail: str
) -> None:
    observed = {
        **matching(),
        GATEWAY: seen(Kind.INTERNET_GATEWAY, GATEWAY, attachments=attachments),
    }
    assert items(observed) == [("internet_gateway", GATEWAY, "changed", detail)]


@pytest.mark.parametrize(
    ("route", "problem", "detail"),
    [
        (None, "missing", f"no route to 0.0.0.0/0 via {GATEWAY}"),
        (Route("nat-1", "active"), "changed", f"0.0.0.0/0 goes to nat-1, not {GATEWAY}"),
        (Route(None, "active"), "changed", f"0.0.0.0/0 goes to no target, not {GATEWAY}"),
        (Route(GATEWAY, "blackhole"), "changed", f"0.0.0.0/0 to {GATEWAY} is a blackhole"),
    ],
)
def test_the_default_route_missing_or_elsewhere_is_route_drift(
    route: Route | None, problem: str, detail: str
) -> None:
    observed = matching()
    observed[TABLE] = replace(as_seen(observed[TABLE]), internet_route=route)
    assert items(observed) == [("route", TABLE, problem, detail)]


def test_a_public_subnet_no_longer_associated_is_association_drift() -> None:
    observed = matching()
    observed[TABLE] = replace(as_seen(observed[TABLE]), associations=())
    assert items(observed) == [
        ("association", PUBLIC, "missing", f"no longer associated with {TABLE}")
    ]


@pytest.mark.parametrize(
    ("subnet_id", "whose"),
    [(PRIVATE, "though private"), ("subnet-theirs", "though not the request's")],
)
def test_another_subnet_associated_with_the_route_table_is_changed_association_drift(
    subnet_id: str, whose: str
) -> None:
    observed = matching()
    observed[TABLE] = replace(as_seen(observed[TABLE]), associations=(PUBLIC, subnet_id))
    assert items(observed) == [
        ("association", subnet_id, "changed", f"associated with {TABLE}, {whose}")
    ]


def test_a_gone_subnet_the_table_still_lists_is_reported_once_as_missing() -> None:
    observed = {**matching(), PRIVATE: GONE}
    observed[TABLE] = replace(as_seen(observed[TABLE]), associations=(PUBLIC, PRIVATE))
    assert [i[:3] for i in items(observed)] == [("subnet", PRIVATE, "missing")]


def test_a_gone_route_table_takes_its_route_and_associations_with_it() -> None:
    assert [i[:3] for i in items({**matching(), TABLE: GONE})] == [
        ("route_table", TABLE, "missing")
    ]


def test_what_no_read_could_tell_is_unknown_with_what_depends_on_it() -> None:
    observed = matching()
    del observed[TABLE], observed[PRIVATE]

    comparison = compare(a_record(), observed.get, tables_of(observed), DEPLOYMENT)

    assert comparison.items == ()
    assert comparison.unknown == {
        (PRIVATE, "subnet"),
        (TABLE, "route_table"),
        (TABLE, "route"),
        (PUBLIC, "association"),
        (PRIVATE, "association"),  # whether the unread subnet is routed to the internet
    }


def test_merged_keeps_recorded_items_only_where_nothing_could_tell() -> None:
    recorded = [
        DriftItem(DriftType.SUBNET, PRIVATE, DriftProblem.MISSING, "gone"),
        DriftItem(DriftType.ROUTE, TABLE, DriftProblem.MISSING, "no route"),
        DriftItem(DriftType.VPC, VPC, DriftProblem.CHANGED, "tag RequestId was removed"),
    ]
    observed = matching()
    del observed[TABLE]  # unknown: the route item stays
    observed[PRIVATE] = GONE  # proven again
    comparison = compare(a_record(), observed.get, tables_of(observed), DEPLOYMENT)

    after = merged(recorded, comparison)

    assert [(i.type.value, i.resource_id) for i in after] == [
        ("subnet", PRIVATE),
        ("route", TABLE),
    ]  # the VPC's tag is back: cleared


def test_a_recorded_association_of_another_subnet_is_kept_while_the_table_is_unknown() -> None:
    association = DriftItem(
        DriftType.ASSOCIATION, PRIVATE, DriftProblem.CHANGED, f"associated with {TABLE}"
    )
    record = replace(a_record(), drift=[association])
    observed = matching()
    del observed[TABLE]

    comparison = compare(record, observed.get, tables_of(observed), DEPLOYMENT)

    assert (PRIVATE, "association") in comparison.unknown
    assert merged(record.drift, comparison) == [association]


def test_a_private_subnet_the_main_table_routes_to_the_internet_is_exposed() -> None:
    """docs/api.md "Drift": someone adds 0.0.0.0/0 -> igw to the VPC's main route table,
    which routes every subnet not associated with another: the private one is public now."""
    observed = matching()
    observed[MAIN] = replace(as_seen(observed[MAIN]), to_internet=(GATEWAY,))

    assert items(observed) == [
        (
            "association",
            PRIVATE,
            "changed",
            f"private, but {MAIN} (the VPC's main route table) routes it to {GATEWAY}",
        )
    ]


def test_an_exposure_through_two_gateways_names_both() -> None:
    observed = matching()
    observed[MAIN] = replace(as_seen(observed[MAIN]), to_internet=(GATEWAY, "igw-2"))

    [(_, _, _, detail)] = items(observed)
    assert detail.endswith(f"routes it to {GATEWAY}, igw-2")


def test_a_private_subnet_associated_with_someones_table_to_the_internet_is_exposed() -> None:
    observed = matching()
    observed["rtb-theirs"] = seen(
        Kind.ROUTE_TABLE,
        "rtb-theirs",
        tag_request=None,
        associations=(PRIVATE,),
        to_internet=("igw-9",),
    )

    assert items(observed) == [
        (
            "association",
            PRIVATE,
            "changed",
            "private, but rtb-theirs (associated with it) routes it to igw-9",
        )
    ]


def test_our_table_made_main_exposes_the_private_subnet_and_says_both() -> None:
    observed = matching()
    del observed[MAIN]
    observed[TABLE] = replace(as_seen(observed[TABLE]), main=True)

    assert [i[:3] for i in items(observed)] == [
        ("route_table", TABLE, "changed"),
        ("association", PRIVATE, "changed"),
    ]


def test_a_private_subnet_routed_without_an_internet_gateway_is_no_drift() -> None:
    """A main table routing 0.0.0.0/0 to a NAT gateway (or nowhere) keeps it private."""
    observed = matching()
    observed["rtb-theirs"] = seen(Kind.ROUTE_TABLE, "rtb-theirs", associations=(PRIVATE,))

    assert items(observed) == []


def test_a_gone_private_subnet_is_missing_not_also_exposed() -> None:
    observed = matching()
    observed[MAIN] = replace(as_seen(observed[MAIN]), to_internet=(GATEWAY,))
    observed[PRIVATE] = GONE

    assert [i[:3] for i in items(observed)] == [("subnet", PRIVATE, "missing")]


def test_no_table_listed_for_the_vpc_leaves_the_private_subnet_unknown() -> None:
    """A listing that showed no route table (lagging) proves nothing, either way."""
    observed = matching()
    exposed = DriftItem(DriftType.ASSOCIATION, PRIVATE, DriftProblem.CHANGED, "private, but ...")
    record = replace(a_record(), drift=[exposed])

    comparison = compare(record, observed.get, [], DEPLOYMENT)

    assert comparison.items == ()
    assert comparison.unknown == {(PRIVATE, "association")}
    assert merged(record.drift, comparison) == [exposed]


def test_two_tables_associated_with_the_private_subnet_leave_it_unknown() -> None:
    """A subnet has one association: two tables showing it (a listing lagging behind a
    re-association) cannot tell which routes it."""
    observed = matching()
    for table in ("rtb-a", "rtb-b"):
        observed[table] = seen(
            Kind.ROUTE_TABLE, table, associations=(PRIVATE,), to_internet=("igw-9",)
        )

    comparison = compare(a_record(), observed.get, tables_of(observed), DEPLOYMENT)

    assert comparison.items == ()
    assert comparison.unknown == {(PRIVATE, "association")}


def test_a_table_read_by_id_without_the_association_leaves_the_main_table_routing_it() -> None:
    """What a listing showed of a table is replaced by what a read of it by id shows: no
    longer associated with the private subnet, which the main table routes again."""
    observed = matching()
    observed["rtb-theirs"] = seen(Kind.ROUTE_TABLE, "rtb-theirs", to_internet=("igw-9",))

    assert items(observed) == []


def test_a_public_subnet_that_no_longer_maps_public_ips_is_changed() -> None:
    """docs/api.md "Drift": the worker turns MapPublicIpOnLaunch on for a public subnet;
    turned off, what is launched there is not reachable as the record says. A private
    subnet that maps them is left alone (without a route to the internet, nothing)."""
    observed = matching()
    observed[PUBLIC] = replace(as_seen(observed[PUBLIC]), public_ips=False)
    observed[PRIVATE] = replace(as_seen(observed[PRIVATE]), public_ips=True)

    assert items(observed) == [
        (
            "subnet",
            PUBLIC,
            "changed",
            "public, but MapPublicIpOnLaunch is off: its instances get no public IPv4",
        )
    ]


def test_items_are_ordered_from_the_vpc_inwards() -> None:
    kinds = [DriftType.ASSOCIATION, DriftType.ROUTE, DriftType.SUBNET, DriftType.VPC]
    shuffled = [DriftItem(k, f"{k.value}-1", DriftProblem.MISSING, "") for k in kinds]
    assert [i.type for i in ordered(shuffled)] == list(reversed(kinds))


def test_expected_names_what_the_record_names() -> None:
    assert expected(a_record()) == [
        (Kind.VPC, VPC),
        (Kind.SUBNET, PUBLIC),
        (Kind.SUBNET, PRIVATE),
        (Kind.INTERNET_GATEWAY, GATEWAY),
        (Kind.ROUTE_TABLE, TABLE),
    ]


# --- adopting what was restored -----------------------------------------------------


def restored(cidr: str = "10.30.1.0/24", az: str = "us-east-1b", **more: Any) -> Seen:
    return seen(Kind.SUBNET, "subnet-new", cidr=cidr, az=az, **more)


def test_a_gone_subnet_is_replaced_by_the_one_tagged_in_its_place() -> None:
    observed = {**matching(), PRIVATE: GONE}
    adopted = adopt(a_record(), observed.get, [restored()], DEPLOYMENT)
    assert [s.subnet_id for s in adopted.subnets] == [PUBLIC, "subnet-new"]


@pytest.mark.parametrize(
    "candidates",
    [
        pytest.param([restored(cidr="10.30.9.0/24")], id="another CIDR"),
        pytest.param([restored(az="us-east-1c")], id="another Availability Zone"),
        pytest.param([restored(vpc_id="vpc-2")], id="another VPC"),
        pytest.param([restored(request_id="other")], id="another request's"),
        pytest.param([restored(deployment="prod")], id="another deployment's"),
        pytest.param([restored(), replace(restored(), resource_id="subnet-2")], id="two"),
    ],
)
def test_nothing_is_adopted_unless_exactly_one_resource_fits(candidates: list[Seen]) -> None:
    observed = {**matching(), PRIVATE: GONE}
    adopted = adopt(a_record(), observed.get, candidates, DEPLOYMENT)
    assert adopted.subnets[1].subnet_id == PRIVATE


def test_nothing_is_adopted_in_place_of_what_may_still_exist_or_another_record_names() -> None:
    unknown = matching()
    del unknown[PRIVATE]
    assert adopt(a_record(), unknown.get, [restored()], DEPLOYMENT) == a_record()
    gone = {**matching(), PRIVATE: GONE}
    assert adopt(a_record(), gone.get, [restored()], DEPLOYMENT, taken={"subnet-new"}) == (
        a_record()
    )


def test_an_orphan_being_removed_is_adopted_only_once_live_in_place_of_what_is_gone() -> None:
    """A run noted its intent to remove a stray gateway (`orphans[].removing`) and died
    before its delete. Attached to the record's VPC now (a person put it in place of the
    gone one), it is the request's gateway: adopted, its note gone (else the record names
    the gone one, and says the live one is being removed, for good). Attached nowhere, or
    noted removed (a delete answered), it is not."""
    observed = {**matching(), GATEWAY: GONE}
    attached = [seen(Kind.INTERNET_GATEWAY, "igw-stray", attachments=(VPC,))]
    nowhere = [seen(Kind.INTERNET_GATEWAY, "igw-stray")]
    removing = replace(a_record(), orphans=[Orphan("igw-stray", removing=True)])
    removed = replace(a_record(), orphans=[Orphan("igw-stray", removed_at="2026-12-07T00:00:00Z")])

    adopted = adopt(removing, observed.get, attached, DEPLOYMENT)
    assert (adopted.internet_gateway_id, adopted.orphans) == ("igw-stray", [])
    assert adopt(removing, observed.get, nowhere, DEPLOYMENT).internet_gateway_id == GATEWAY
    assert adopt(removed, observed.get, attached, DEPLOYMENT).internet_gateway_id == GATEWAY
    assert adopt(a_record(), observed.get, attached, DEPLOYMENT).internet_gateway_id == "igw-stray"


def test_a_gone_gateway_and_route_table_are_replaced_by_the_ones_tagged_in_their_place() -> None:
    observed = {**matching(), GATEWAY: GONE, TABLE: GONE}
    sweep = [
        seen(Kind.INTERNET_GATEWAY, "igw-new", attachments=(VPC,)),
        seen(Kind.ROUTE_TABLE, "rtb-new"),
    ]
    adopted = adopt(a_record(), observed.get, sweep, DEPLOYMENT)
    assert (adopted.internet_gateway_id, adopted.route_table_id) == ("igw-new", "rtb-new")


def test_one_item_per_key_when_the_tables_listed_miss_the_requests_own() -> None:
    """The sweep's listing of every table did not show the request's (it lagged; the table
    was then read by id): the private subnet associated with it is reported once, "though
    private", not also as routed by the main table."""
    observed = matching()
    observed[TABLE] = replace(as_seen(observed[TABLE]), associations=(PRIVATE, PUBLIC))
    observed[MAIN] = replace(as_seen(observed[MAIN]), to_internet=(GATEWAY,))

    found = compare(a_record(), observed.get, [MAIN], DEPLOYMENT).items

    assert [(i.type.value, i.resource_id) for i in found] == [("association", PRIVATE)]
    assert "though private" in found[0].detail
