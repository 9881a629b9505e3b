"""Whoever sees a request ended frees its address block, also when the write that ended it
answered nothing: a DELETE retried after its CANCELLED write's answer was lost, and a job
delivered after the request ended (the release of whoever ended it having failed). Each
frees the block at the version it read, exactly once; until then the block stays held and
sized POSTs keep away from it."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.store.items import deserialize
from integration.conftest import TABLE, Stack, body, deliver, post
from support.tokens import auth

BLOCK = "10.77.0.0/16"


def _item(stack: Stack, key: str) -> dict[str, Any]:
    item = stack.truth.dynamodb.get_item(
        TableName=TABLE, Key={"request_id": {"S": key}}, ConsistentRead=True
    ).get("Item")
    return deserialize(item) if item else {}


def _queued_holding_the_block(client: Client, stack: Stack) -> str:
    response = post(client, body(cidr=BLOCK))
    assert response.status_code == 202, response.body
    request_id = str(response.json_body["request_id"])
    stack.messages()  # its create job, not delivered yet: the request stays QUEUED
    assert _item(stack, f"block#{BLOCK}").get("holder") == request_id
    return request_id


def _freed(stack: Stack, request_id: str) -> bool:
    return _item(stack, request_id)["allocation"] == "released" and "holder" not in _item(
        stack, f"block#{BLOCK}"
    )


def test_a_delete_retried_after_its_cancels_answer_was_lost_frees_the_block(
    client: Client, stack: Stack
) -> None:
    request_id = _queued_holding_the_block(client, stack)
    stack.faults.fail(
        "dynamodb",
        "UpdateItem",
        "InternalServerError",
        500,
        when="after",  # CANCELLED is written; its answer is lost
        match=lambda p: p.get("ExpressionAttributeValues", {}).get(":target") == {"S": "CANCELLED"},
    )
    lost = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert lost.status_code == 503
    assert _item(stack, request_id)["status"] == "CANCELLED"
    assert not _freed(stack, request_id)

    retried = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())

    assert (retried.status_code, retried.json_body["status"]) == (202, "CANCELLED")
    assert _freed(stack, request_id)


def test_a_job_delivered_after_its_request_ended_frees_the_block_its_ender_could_not(
    client: Client, stack: Stack
) -> None:
    request_id = _queued_holding_the_block(client, stack)
    stack.faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", 500)
    cancelled = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert cancelled.json_body["status"] == "CANCELLED"
    assert not _freed(stack, request_id)  # DELETE's release failed: the upkeep's, later

    deliver(client, request_id)  # the create job sent before the cancel

    assert _freed(stack, request_id)
    assert _item(stack, request_id)["status"] == "CANCELLED"
    again = client.http.request("DELETE", f"/vpcs/{request_id}", headers=auth())
    assert again.json_body["status"] == "CANCELLED"  # nothing freed twice, nothing refused
