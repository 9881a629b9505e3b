"""What a record says once a DELETE is sent again (docs/api.md: `error` on a `DELETING`
record is null: an earlier DELETE's failure no longer holds)."""

from __future__ import annotations

from chalice.test import Client

from integration.conftest import Stack, record
from integration.test_lifecycle_worker import delete, provisioned
from support.tokens import auth


def test_a_retried_delete_does_not_keep_saying_the_earlier_delete_failed(
    client: Client, stack: Stack
) -> None:
    """DELETE_FAILED (someone's network interface in the VPC), the interface removed,
    DELETE again: the record is DELETING, and its `error` must not still say the teardown
    failed on that interface (which no longer exists): the console drew it as a problem
    and `vpcctl get` printed it until the new teardown ended."""
    request_id = provisioned(client)
    rec = record(client, request_id)
    eni = stack.ec2.create_network_interface(SubnetId=rec["subnets"][0]["subnet_id"])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    assert client.http.delete(f"/vpcs/{request_id}", headers=auth()).status_code == 202
    delete(client, request_id)
    failed = record(client, request_id)
    assert failed["status"] == "DELETE_FAILED"
    assert eni in failed["error"]["message"]

    stack.ec2.delete_network_interface(NetworkInterfaceId=eni)
    answer = client.http.delete(f"/vpcs/{request_id}", headers=auth())
    assert answer.json_body["status"] == "DELETING"

    deleting = record(client, request_id)
    assert deleting["status"] == "DELETING"
    # The interface is gone and no teardown has run since: nothing has failed.
    assert deleting["error"] is None, deleting["error"]
