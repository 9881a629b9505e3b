"""Convergence never destroys and never lies, over `make run`: the six ways the reconciler,
the teardown and DELETE used to destroy a live network or write something false, each
reproduced against the local stack (its faults file injects AWS's failures, moto's EC2
is the ground truth), and a seventh found since (4b: a FAILED record naming a VPC that EC2
no longer lists was never read again). The in-process twins are in
tests/integration/convergence/.

The session's stack runs with RECONCILE_BATCH_LIMIT=2 (e2e/conftest.py), so that the
fairness scenario needs only a few requests, and its reconciler every 2 s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chalicelib.store.items import serialize
from e2e.conftest import RECONCILER_SECONDS, RunningStack
from e2e.test_lifecycle import ours, wait_status
from e2e.test_local_stack import body, submit, subnets_of, vpcs_of, wait_for

pytestmark = pytest.mark.e2e

TABLE = "vpc-provisioner-local"
OLD = "2020-01-01T00:00:00Z"
# Enough of the session stack's reconciler runs for anything to happen, on a slow machine.
RUNS = 15 * RECONCILER_SECONDS


@pytest.fixture(autouse=True)
def _no_faults_left(local_stack: RunningStack) -> Iterator[None]:
    local_stack.clear_faults()
    yield
    local_stack.clear_faults()


def until(check: Callable[[], Any], timeout: float, what: str, stack: RunningStack) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    quiet = [
        line
        for line in stack.log().splitlines()
        if "GET /vpcs" not in line and "chalicelib.invocations" not in line
    ]
    pytest.fail(f"{what}: not within {timeout}s\n" + "\n".join(quiet[-40:]))


def stray_vpc(stack: RunningStack, request_id: str, cidr: str) -> str:
    """A VPC tagged as this deployment's worker tags one, long ago (a zombie's)."""
    tags = {
        "RequestId": request_id,
        "vpc-provisioner:deployment": TABLE,
        "vpc-provisioner:created-at": OLD,
    }
    return str(
        stack.client("ec2").create_vpc(
            CidrBlock=cidr,
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        )["Vpc"]["VpcId"]
    )


def ended_stray_vpc(stack: RunningStack, request_id: str, cidr: str) -> str:
    """`stray_vpc`, of a request whose record (CANCELLED, written straight into the table)
    keeps nothing: an orphan. One whose request has no record at all is left alone
    (tests/integration/test_reconciler.py)."""
    stack.client("dynamodb").put_item(
        TableName=TABLE,
        Item=serialize(
            {
                "request_id": request_id,
                "type": "VPC_REQUEST",
                "status": "CANCELLED",
                "created_by": "e2e-stray",
                "created_at": OLD,
                "updated_at": OLD,
                "request": {"vpc": {"cidr": cidr}, "subnets": []},
            }
        ),
    )
    return stray_vpc(stack, request_id, cidr)


def exists(stack: RunningStack, vpc_id: str) -> bool:
    vpcs = stack.client("ec2").describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return bool(vpcs["Vpcs"])


def truth_status(stack: RunningStack, request_id: str) -> str:
    item = stack.client("dynamodb").get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True
    )["Item"]
    return str(item["status"]["S"])


def reconciler_runs(stack: RunningStack, text: str) -> int:
    return stack.log().count(text)


def test_1_a_reconciler_whose_reads_are_throttled_deletes_nothing(
    local_stack: RunningStack, api: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(170, subnets=2))
    record = wait_for(local_stack, api, request_id)
    assert record["status"] == "SUCCEEDED"
    local_stack.add_fault(
        service="dynamodb", operation="BatchGetItem", when="unprocessed", times=-1
    )
    stray = stray_vpc(local_stack, request_id, "10.171.0.0/16")
    seen = reconciler_runs(local_stack, "could not be read")

    until(
        lambda: reconciler_runs(local_stack, "could not be read") >= seen + 2,
        RUNS,
        "two throttled reconciler runs",
        local_stack,
    )

    assert exists(local_stack, record["vpc_id"])
    assert {s["SubnetId"] for s in subnets_of(local_stack, record["vpc_id"])} == {
        s["subnet_id"] for s in record["subnets"]
    }
    assert exists(local_stack, stray)
    assert api.get(f"{local_stack.url}/vpcs/{request_id}").json()["status"] == "SUCCEEDED"

    local_stack.clear_faults()
    until(lambda: not exists(local_stack, stray), RUNS, "stray removed", local_stack)
    assert exists(local_stack, record["vpc_id"])


# The change, the read that confirms EC2's "already done" answer (and what it lists and
# filters on), whether EC2 must be made to say "already done" (moto would simply associate
# again), and the request's second octet.
CHANGES = {
    "AttachInternetGateway": (
        "DescribeInternetGateways",
        "InternetGateways",
        "internet-gateway-id",
        None,
        172,
    ),
    "CreateRoute": ("DescribeRouteTables", "RouteTables", "route-table-id", None, 182),
    "AssociateRouteTable": (
        "DescribeRouteTables",
        "RouteTables",
        "association.subnet-id",
        "Resource.AlreadyAssociated",
        183,
    ),
}


@pytest.mark.parametrize("operation", sorted(CHANGES))
def test_2_a_lost_answer_and_a_lagging_read_still_succeed(
    local_stack: RunningStack, api: requests.Session, operation: str
) -> None:
    """The change is made and its answer lost; repeated, EC2 answers "already done"; the
    first read that should confirm it lists nothing yet. Before: FAILED (and rolled back)
    on that one lagging read. Now the read is retried: SUCCEEDED, the change in place."""
    describe, listing, filtered_on, already, octet = CHANGES[operation]
    local_stack.add_fault(
        service="ec2", operation=operation, code="InternalError", status=500, when="after"
    )
    if already:
        local_stack.add_fault(service="ec2", operation=operation, code=already, times=-1, skip=1)
    local_stack.add_fault(
        service="ec2",
        operation=describe,
        code=listing,
        when="stale",
        times=1,
        contains=filtered_on,
    )
    payload = body(octet, subnets=2)
    payload["subnets"][0]["public"] = True

    request_id = submit(local_stack, api, payload)
    record = wait_for(local_stack, api, request_id)

    assert record["status"] == "SUCCEEDED", record
    assert record["error"] is None
    [gateway] = ours(local_stack, "gateways", request_id)
    assert [a["VpcId"] for a in gateway["Attachments"]] == [record["vpc_id"]]
    [table] = ours(local_stack, "tables", request_id)
    assert table["RouteTableId"] == record["route_table_id"]
    assert {
        r.get("GatewayId") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    } == {gateway["InternetGatewayId"]}
    public = record["subnets"][0]["subnet_id"]
    assert [a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")] == [public]
    assert f"{operation} attempt 1 failed (InternalError)" in local_stack.log()


def test_3_orphans_that_cannot_go_never_starve_the_others(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """Three stray VPCs (of CANCELLED requests sorting first) hold someone else's subnet;
    two more can go; two requests per run. All removable ones go within a few runs."""
    ec2 = local_stack.client("ec2")
    foreign = []
    for i in range(3):
        vpc = ended_stray_vpc(
            local_stack, f"00000000-0000-4000-8000-00000000000{i}", f"10.17{3 + i}.0.0/16"
        )
        foreign.append(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.17{3 + i}.1.0/24")["Subnet"])
    free = [
        ended_stray_vpc(
            local_stack, f"ffffffff-0000-4000-8000-00000000000{i}", f"10.17{6 + i}.0.0/16"
        )
        for i in range(2)
    ]

    until(
        lambda: not any(exists(local_stack, v) for v in free),
        RUNS,
        "the removable strays removed",
        local_stack,
    )

    assert all(exists(local_stack, s["VpcId"]) for s in foreign)
    for subnet in foreign:  # let the stuck ones go too
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    until(
        lambda: not any(exists(local_stack, s["VpcId"]) for s in foreign),
        RUNS,
        "the stuck strays removed once free",
        local_stack,
    )


def test_4_a_lost_note_is_finished_by_a_later_run(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """The reconciler's notes after deleting a stray do not land (every run's, until the
    fault is withdrawn): the record says the removal is under way, and a later run
    finishes it."""
    request_id = submit(local_stack, api, body(178, subnets=1))
    assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"
    local_stack.add_fault(
        service="dynamodb",
        operation="UpdateItem",
        code="InternalServerError",
        status=500,
        times=-1,
        contains='"removed_at": {"S"',
    )
    stray = stray_vpc(local_stack, request_id, "10.179.0.0/16")

    until(lambda: not exists(local_stack, stray), RUNS, "stray gone", local_stack)
    under_way = api.get(f"{local_stack.url}/vpcs/{request_id}").json()["orphans"]
    assert under_way == [{"id": stray, "removed_at": None, "error": None}]
    local_stack.clear_faults()
    noted = until(
        lambda: [
            o
            for o in api.get(f"{local_stack.url}/vpcs/{request_id}").json()["orphans"]
            if o["removed_at"]
        ],
        RUNS,
        "the removal noted",
        local_stack,
    )
    assert [o["id"] for o in noted] == [stray]
    assert "note failed" in local_stack.log()


def test_5_a_stale_delete_failed_never_lands_on_a_new_delete(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """Teardown A is refused (DependencyViolation: three tries locally) and writes
    DELETE_FAILED; its answer is lost and the read that would settle it is slow; meanwhile
    the user DELETEs again, and the new teardown's claim is slower still. Before: A read
    "DELETING, owner A" and wrote its stale DELETE_FAILED over the user's DELETE (which
    then never ran). Now A sees a newer version and stops; the new teardown deletes."""
    request_id = submit(local_stack, api, body(180, subnets=1))
    assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"
    local_stack.add_fault(service="ec2", operation="DeleteVpc", code="DependencyViolation", times=3)
    local_stack.add_fault(
        service="dynamodb",
        operation="UpdateItem",
        code="InternalServerError",
        status=500,
        when="after",
        contains='":target": {"S": "DELETE_FAILED"}',
    )
    local_stack.add_fault(
        service="dynamodb", operation="GetItem", when="slow", seconds=3, contains=request_id
    )

    assert api.delete(f"{local_stack.url}/vpcs/{request_id}").status_code == 202
    until(
        lambda: truth_status(local_stack, request_id) == "DELETE_FAILED",
        30,
        "DELETE_FAILED (its answer lost)",
        local_stack,
    )
    local_stack.add_fault(
        service="dynamodb",
        operation="UpdateItem",
        when="slow",
        seconds=6,
        contains='":claimed": {"S": "DELETING"}',
    )
    again = api.delete(f"{local_stack.url}/vpcs/{request_id}")

    assert again.json()["status"] == "DELETING"
    final = wait_status(local_stack, api, request_id, {"DELETED"})
    assert final["status"] == "DELETED"
    assert vpcs_of(local_stack, request_id) == []


def test_6_what_the_teardown_records_deleted_is_gone(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """The teardown's listing of the route table lags (empty) and the VPC is refused: the
    table is deleted by id all the same, and nothing recorded deleted is still there."""
    payload = body(181, subnets=2)
    payload["subnets"][0]["public"] = True
    request_id = submit(local_stack, api, payload)
    record = wait_for(local_stack, api, request_id)
    assert record["status"] == "SUCCEEDED"
    local_stack.add_fault(
        service="ec2",
        operation="DescribeRouteTables",
        code="RouteTables",
        when="stale",
        times=1,
        contains="route-table-id",
    )
    local_stack.add_fault(service="ec2", operation="DeleteVpc", code="DependencyViolation", times=3)

    assert api.delete(f"{local_stack.url}/vpcs/{request_id}").status_code == 202
    failed = wait_status(local_stack, api, request_id, {"DELETE_FAILED", "DELETED"})

    assert failed["status"] == "DELETE_FAILED", failed
    deleted = set(failed["teardown"]["deleted"])
    assert record["route_table_id"] in deleted
    assert ours(local_stack, "tables", request_id) == []
    assert not deleted & {s["SubnetId"] for s in subnets_of(local_stack, record["vpc_id"])}
    assert api.delete(f"{local_stack.url}/vpcs/{request_id}").status_code == 202
    assert wait_status(local_stack, api, request_id, {"DELETED"})["status"] == "DELETED"
    assert vpcs_of(local_stack, request_id) == []


def test_4b_a_vpc_a_person_removed_after_the_rollback_was_refused_is_noted_gone(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """The rollback's DeleteVpc is refused for good: FAILED rightly names the VPC, and the
    worker has put the request on the reconciler's ledger. A person deletes the VPC: EC2
    lists it no more, yet once FAILED is older than the grace period a run still reads the
    record, deletes what it names by id ("not found": proof) and notes it gone."""
    local_stack.add_fault(
        service="ec2",
        operation="CreateSubnet",
        code="SubnetLimitExceeded",
        status=400,
        times=1,
        match={"CidrBlock": "10.184.0.0/24"},
    )
    local_stack.add_fault(
        service="ec2", operation="DeleteVpc", code="DependencyViolation", status=400, times=-1
    )
    request_id = submit(local_stack, api, body(184, subnets=1))
    failed = wait_status(local_stack, api, request_id, {"FAILED"})
    vpc_id = failed["vpc_id"]
    assert failed["rollback"]["remaining"] == [vpc_id], failed["rollback"]

    local_stack.client("ec2").delete_vpc(VpcId=vpc_id)  # out of band: no fault there
    local_stack.clear_faults()  # EC2 now answers the reconciler's DeleteVpc "not found"
    assert vpcs_of(local_stack, request_id) == []

    def naming_nothing() -> dict[str, Any] | None:
        now = api.get(f"{local_stack.url}/vpcs/{request_id}").json()
        return now if now["vpc_id"] is None else None

    noted = until(
        naming_nothing,
        20 + RUNS,  # the "local" stage's RECONCILE_GRACE_SECONDS, then the runs
        "the gone VPC noted gone",
        local_stack,
    )
    assert noted["status"] == "FAILED"
    assert noted["rollback"]["remaining"] == [], noted
    assert noted["rollback"]["complete"], noted
