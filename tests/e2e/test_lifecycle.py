"""The lifecycle over `make run`: DELETE, cancel, the filtered listings, public subnets,
the admin user, over HTTP against the local stack."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from e2e.conftest import PROJECT_DIR, RunningStack
from e2e.test_local_stack import body, submit, vpcs_of, wait_for
from support.contract import contract_hook

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin(local_stack: RunningStack) -> Iterator[requests.Session]:
    """A session of the stack's second demo user, in the `admins` group (make token USER=admin)."""
    result = subprocess.run(
        [sys.executable, "-m", "devstack.token", "admin"],
        cwd=PROJECT_DIR,
        env={"DEVSTACK_STATE_DIR": str(local_stack.state_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {result.stdout.strip()}"
    session.hooks["response"].append(contract_hook)  # every answer checked, as `api`'s
    yield session
    session.close()


def wait_status(
    stack: RunningStack, api: requests.Session, request_id: str, statuses: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = api.get(f"{stack.url}/vpcs/{request_id}").json()
        if record["status"] in statuses:
            return dict(record)
        time.sleep(0.2)
    pytest.fail(f"{request_id} never reached {statuses}:\n{stack.log()[-4000:]}")


def ours(stack: RunningStack, kind: str, request_id: str) -> list[Any]:
    ec2 = stack.client("ec2")
    filters = [{"Name": "tag:RequestId", "Values": [request_id]}]
    if kind == "gateways":
        return list(ec2.describe_internet_gateways(Filters=filters)["InternetGateways"])
    return list(ec2.describe_route_tables(Filters=filters)["RouteTables"])


def test_the_stack_json_names_an_admin_user(local_stack: RunningStack) -> None:
    assert local_stack.info["admin_username"] == "admin"
    assert local_stack.info["admin_password"]


def test_a_public_request_is_provisioned_then_deleted_leaving_nothing(
    local_stack: RunningStack, api: requests.Session
) -> None:
    payload = body(130, subnets=2)
    payload["subnets"][0]["public"] = True
    request_id = submit(local_stack, api, payload)
    record = wait_for(local_stack, api, request_id)
    assert record["status"] == "SUCCEEDED", record
    assert record["internet_gateway_id"]
    assert record["route_table_id"]
    assert len(ours(local_stack, "gateways", request_id)) == 1

    response = api.delete(f"{local_stack.url}/vpcs/{request_id}")

    assert response.status_code == 202, response.text
    assert response.json() == {"request_id": request_id, "status": "DELETING"}
    deleted = wait_status(local_stack, api, request_id, {"DELETED", "DELETE_FAILED"})
    assert deleted["status"] == "DELETED", deleted
    assert vpcs_of(local_stack, request_id) == []
    assert ours(local_stack, "gateways", request_id) == []
    assert ours(local_stack, "tables", request_id) == []
    again = api.delete(f"{local_stack.url}/vpcs/{request_id}")
    assert (again.status_code, again.json()["status"]) == (202, "DELETED")


def test_an_admin_may_delete_anothers_request(
    local_stack: RunningStack, api: requests.Session, admin: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(131, subnets=1))
    assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"

    response = admin.delete(f"{local_stack.url}/vpcs/{request_id}")

    assert response.status_code == 202, response.text
    assert wait_status(local_stack, api, request_id, {"DELETED"})["status"] == "DELETED"
    assert vpcs_of(local_stack, request_id) == []


def test_the_admin_is_not_the_creator_of_the_demo_users_requests(
    local_stack: RunningStack, api: requests.Session, admin: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(132, subnets=1))

    query: dict[str, str | int] = {"created_by": "me", "limit": 50}
    mine = admin.get(f"{local_stack.url}/vpcs", params=query).json()
    theirs = api.get(f"{local_stack.url}/vpcs", params=query).json()

    assert request_id not in [r["request_id"] for r in mine["items"]]
    assert request_id in [r["request_id"] for r in theirs["items"]]


def test_a_queued_request_is_cancelled_and_never_provisioned(
    local_stack: RunningStack, api: requests.Session
) -> None:
    """The workers cannot receive for a few seconds (ReceiveMessage fails): the request is
    still QUEUED when the DELETE arrives; its job, received later, creates nothing."""
    failed = "receiving from the jobs queue failed"
    before = local_stack.log().count(failed)
    local_stack.add_fault(
        service="sqs", operation="ReceiveMessage", code="InternalError", status=500, times=12
    )
    # Two failed receives (each worker's, or one's twice a second apart): every receive
    # that was already waiting for messages (1 s long polls) has ended.
    deadline = time.monotonic() + 10
    while local_stack.log().count(failed) < before + 2:
        assert time.monotonic() < deadline, local_stack.log()[-3000:]
        time.sleep(0.05)
    request_id = submit(local_stack, api, body(133, subnets=1))

    response = api.delete(f"{local_stack.url}/vpcs/{request_id}")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "CANCELLED"
    deadline = time.monotonic() + 30
    while f"request {request_id} already CANCELLED" not in local_stack.log():
        assert time.monotonic() < deadline, local_stack.log()[-3000:]
        time.sleep(0.2)
    assert api.get(f"{local_stack.url}/vpcs/{request_id}").json()["status"] == "CANCELLED"
    assert vpcs_of(local_stack, request_id) == []


def test_a_foreign_interface_fails_the_delete_until_it_is_gone(
    local_stack: RunningStack, api: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(134, subnets=1))
    record = wait_for(local_stack, api, request_id)
    ec2 = local_stack.client("ec2")
    eni = ec2.create_network_interface(SubnetId=record["subnets"][0]["subnet_id"])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]

    api.delete(f"{local_stack.url}/vpcs/{request_id}")
    failed = wait_status(local_stack, api, request_id, {"DELETE_FAILED", "DELETED"})

    assert failed["status"] == "DELETE_FAILED", failed
    assert eni in failed["error"]["message"]
    assert len(vpcs_of(local_stack, request_id)) == 1
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    assert api.delete(f"{local_stack.url}/vpcs/{request_id}").json()["status"] == "DELETING"
    assert wait_status(local_stack, api, request_id, {"DELETED"})["status"] == "DELETED"
    assert vpcs_of(local_stack, request_id) == []


def test_the_status_filter_lists_only_that_status(
    local_stack: RunningStack, api: requests.Session
) -> None:
    request_id = submit(local_stack, api, body(135, subnets=1))
    assert wait_for(local_stack, api, request_id)["status"] == "SUCCEEDED"

    query: dict[str, str | int] = {"status": "SUCCEEDED", "limit": 50}
    page = api.get(f"{local_stack.url}/vpcs", params=query).json()
    bad = api.get(f"{local_stack.url}/vpcs", params={"status": "DONE"})

    assert request_id in [r["request_id"] for r in page["items"]]
    assert {r["status"] for r in page["items"]} == {"SUCCEEDED"}
    assert bad.status_code == 400
    assert "SUCCEEDED" in bad.json()["Message"]
