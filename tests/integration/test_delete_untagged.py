"""DELETE's teardown deletes only what carries the request's `RequestId` and this
deployment's tag (the contract's rule; IAM's delete conditions hold it in AWS, and the code
holds it too, so that the local stack, whose moto enforces no IAM, behaves the same).

A resource the record names whose tags a person removed or changed (drift) is left where
it is, named, and what it keeps (its VPC) stays too: the request ends `DELETE_FAILED`
saying to tag it again. Tagged again, a new DELETE removes everything."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from chalicelib.config import Settings
from chalicelib.errors import RetryLater
from chalicelib.models import Operation
from chalicelib.wiring import Services
from integration.conftest import Stack, assert_nothing_left, deliver, record, submit
from integration.convergence.conftest import lag_tag_lookups
from integration.test_drift import public_request, reconcile
from support.tokens import auth


def _deleted(client: Client, request_id: str) -> dict[str, Any]:
    response = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert response.status_code == 202, response.json_body
    deliver(client, request_id, operation=Operation.DELETE)
    return record(client, request_id)


def _exists(stack: Stack, subnet_id: str) -> bool:
    return bool(
        stack.truth.ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])[
            "Subnets"
        ]
    )


@pytest.mark.parametrize(
    "untag",
    [
        pytest.param({"delete": [REQUEST_ID_TAG]}, id="RequestId removed"),
        pytest.param({"delete": [DEPLOYMENT_TAG]}, id="deployment tag removed"),
        pytest.param({"set": {REQUEST_ID_TAG: "someone-else"}}, id="RequestId changed"),
    ],
)
def test_a_subnet_a_person_untagged_is_left_with_its_vpc_and_named(
    client: Client,
    stack: Stack,
    services: Services,
    clock: Any,
    settings: Settings,
    untag: dict[str, Any],
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    if "delete" in untag:
        stack.truth.ec2.delete_tags(Resources=[private], Tags=[{"Key": k} for k in untag["delete"]])
    else:
        tags = [{"Key": k, "Value": v} for k, v in untag["set"].items()]
        stack.truth.ec2.create_tags(Resources=[private], Tags=tags)
    reconcile(services, clock, settings)
    assert [d["resource_id"] for d in record(client, request_id)["drift"]] == [private]
    stack.faults.reset_counts()

    after = _deleted(client, request_id)

    assert after["status"] == "DELETE_FAILED", after["status"]
    assert after["error"]["code"] == "NotTagged"
    assert private in after["error"]["message"]
    assert f"RequestId={request_id}" in after["error"]["message"]
    assert _exists(stack, private)
    assert stack.faults.count("ec2", "DeleteSubnet") == 1  # the public one only
    assert stack.faults.count("ec2", "DeleteVpc") == 0  # it keeps the untagged subnet
    assert sorted(after["teardown"]["remaining"]) == sorted([private, rec["vpc_id"]])


def test_tagged_again_the_next_delete_removes_everything(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    stack.truth.ec2.delete_tags(Resources=[private], Tags=[{"Key": REQUEST_ID_TAG}])
    clock.advance(settings.drift_settle_seconds + 2)
    assert _deleted(client, request_id)["status"] == "DELETE_FAILED"
    stack.truth.ec2.create_tags(
        Resources=[private], Tags=[{"Key": REQUEST_ID_TAG, "Value": request_id}]
    )

    after = _deleted(client, request_id)

    assert after["status"] == "DELETED", (after["status"], after.get("error"))
    assert_nothing_left(stack, request_id)
    assert not _exists(stack, private)


def test_an_untagged_vpc_keeps_everything_of_the_request_and_ends_not_tagged_once_settled(
    client: Client, stack: Stack, clock: Any, settings: Settings
) -> None:
    """Its gateway stays attached to it, its subnets in it: nothing is deleted (the gateway
    is not "attached to a VPC not being deleted", a failure that may clear, try after try).
    Moments after it was made, a listing without its tags may be EC2 lagging behind them:
    that try decides nothing (RetryLater); once that is past, it ends at once."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    stack.truth.ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": REQUEST_ID_TAG}])
    stack.faults.reset_counts()

    with pytest.raises(RetryLater):
        _deleted(client, request_id)
    assert record(client, request_id)["status"] == "DELETING"
    clock.advance(settings.drift_settle_seconds + 2)
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)  # no RetryLater
    after = record(client, request_id)

    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged")
    assert vpc_id in after["error"]["message"]
    assert "AttachedElsewhere" not in str(after["teardown"])
    assert after["teardown"]["deleted"] == []
    assert sum(stack.faults.count("ec2", op) for op in DELETES) == 0


DELETES = ("DeleteSubnet", "DeleteVpc", "DeleteRouteTable", "DeleteInternetGateway")


def test_a_tag_read_that_fails_deletes_nothing_it_was_to_prove(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """The read that tells an untagged subnet from a tagged one fails, every try: the subnet
    (its RequestId changed) stays, and the teardown tries again later (a failure that may
    clear), never DELETED."""
    rec = public_request(client)
    request_id, private = rec["request_id"], rec["subnets"][1]["subnet_id"]
    tags = [{"Key": REQUEST_ID_TAG, "Value": "someone-else"}]
    stack.truth.ec2.create_tags(Resources=[private], Tags=tags)
    clock.advance(settings.drift_settle_seconds + 2)

    def by_id(params: dict[str, Any]) -> bool:
        return any(f.get("Name") == "subnet-id" for f in params.get("Filters") or [])

    stack.faults.fail("ec2", "DescribeSubnets", "InternalError", 500, times=-1, match=by_id)
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202

    with pytest.raises(RetryLater):
        deliver(client, request_id, operation=Operation.DELETE)

    assert _exists(stack, private)
    assert record(client, request_id)["status"] == "DELETING"


def test_an_id_said_to_remain_that_lost_its_request_id_is_not_deleted(
    client: Client, stack: Stack
) -> None:
    """A subnet the record does not name but an earlier teardown said remains (tagged with
    the request, kept by a network interface): the person frees it and removes its
    RequestId to keep it. The next DELETE leaves it, named."""
    rec = public_request(client)
    request_id, vpc_id = rec["request_id"], rec["vpc_id"]
    ec2 = stack.truth.ec2
    vpc_tags = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"]
    ours = [t for t in vpc_tags if t["Key"] in (REQUEST_ID_TAG, DEPLOYMENT_TAG)]
    extra = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock="10.30.200.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": ours}],
    )["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=extra)["NetworkInterface"]["NetworkInterfaceId"]
    first = _deleted(client, request_id)
    assert first["status"] == "DELETE_FAILED"
    assert extra in first["teardown"]["remaining"]
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_tags(Resources=[extra], Tags=[{"Key": REQUEST_ID_TAG}])

    after = _deleted(client, request_id)

    assert _exists(stack, extra)
    assert (after["status"], after["error"]["code"]) == ("DELETE_FAILED", "NotTagged")
    assert extra in after["error"]["message"]


def _by_id(params: dict[str, Any]) -> bool:
    return any(f.get("Name") in ("vpc-id", "subnet-id") for f in params.get("Filters") or [])


def test_a_listing_lagging_behind_fresh_tags_does_not_end_a_delete_in_delete_failed(
    client: Client, stack: Stack
) -> None:
    """DELETE right after SUCCEEDED (a CI job's create, then delete), EC2's reads not caught
    up with the new resources' tags: the look by tag lists nothing, and the listing by id
    that reads their tags shows the VPC and its subnet without them. One such read ended
    the DELETE at once in DELETE_FAILED "NotTagged ... tag it again": a final status, and
    a false message, on one lagging read. It stays DELETING; the next try deletes it all."""
    request_id = submit(client, subnets=1)
    deliver(client, request_id)
    assert record(client, request_id)["status"] == "SUCCEEDED"
    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202

    lag_tag_lookups(stack)
    stripped: list[str] = []

    def note(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["by_id"] = _by_id(params)

    def without_tags_once(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = "Vpcs" if "Vpcs" in parsed else "Subnets"
        if context.get("by_id") and key not in stripped:
            stripped.append(key)
            for item in parsed.get(key) or []:
                item["Tags"] = []

    events = stack.clients.ec2.meta.events
    hooks = [
        (f"{event}.ec2.{operation}", hook)
        for operation in ("DescribeVpcs", "DescribeSubnets")
        for event, hook in (("provide-client-params", note), ("after-call", without_tags_once))
    ]
    for name, hook in hooks:
        events.register(name, hook)
    try:
        with pytest.raises(RetryLater):
            deliver(client, request_id, operation=Operation.DELETE)
    finally:
        for name, hook in hooks:
            events.unregister(name, hook)
        stack.faults.clear()
    assert sorted(stripped) == ["Subnets", "Vpcs"]  # the lag was met

    assert record(client, request_id)["status"] == "DELETING"
    deliver(client, request_id, receive_count=2, operation=Operation.DELETE)
    assert record(client, request_id)["status"] == "DELETED"
    assert_nothing_left(stack, request_id)


def test_a_public_subnet_a_person_untagged_ends_not_tagged_like_a_private_one(
    client: Client, stack: Stack, services: Services, clock: Any, settings: Settings
) -> None:
    """docs/api.md "Drift": a resource whose tags someone removed is left where it is and
    "the request ends DELETE_FAILED with the code NotTagged, naming it. Put the tags back
    and DELETE again." For the PUBLIC subnet, the request's own route table still routes
    it: the table stays for good too (it routes a subnet kept for good), not a
    "RoutesAnotherSubnet ... move that subnet" that may clear, which kept the request
    DELETING on every receive and ended it RetriesExhausted, telling the user to move
    their own subnet."""
    rec = public_request(client)
    request_id, public = rec["request_id"], rec["subnets"][0]["subnet_id"]
    stack.truth.ec2.delete_tags(Resources=[public], Tags=[{"Key": REQUEST_ID_TAG}])
    reconcile(services, clock, settings)
    assert [d["resource_id"] for d in record(client, request_id)["drift"]] == [public]

    assert client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth()).status_code == 202
    first_try_ended = True
    try:
        deliver(client, request_id, operation=Operation.DELETE)
    except RetryLater:
        first_try_ended = False
    if not first_try_ended:  # the message's last receive: it must end by now
        last = settings.max_receive_count
        deliver(client, request_id, receive_count=last, operation=Operation.DELETE)
    after = record(client, request_id)

    assert after["status"] == "DELETE_FAILED", (after["status"], after["teardown"])
    assert after["error"]["code"] == "NotTagged", after["error"]
    assert "move that subnet" not in str(after["teardown"]["error"]), after["teardown"]
    assert first_try_ended, "a refusal that stands (NotTagged) was retried as one that may clear"
