"""A resource of this deployment whose RequestId tag a person blanked (the EC2 console lets
a tag keep its key with an empty value; the sweep's filter is `tag-key`) names no request:
it is no key to read (DynamoDB refuses the empty key with ValidationException, which would
fail every reconciler run, so that no orphan of any other request is removed again) and no
proof that its request is gone (moto answers the empty key as absent): left alone."""

from __future__ import annotations

import contextlib
from typing import Any

from chalice.test import Client

from chalicelib.errors import BackendFailure
from chalicelib.wiring import Services
from integration.conftest import TABLE, Stack
from integration.test_reconciler import ended_stray, exists, tagged_vpc

ENDED = "00000000-0000-4000-8000-000000000001"


def _blanked(stack: Stack) -> str:
    """An old VPC of this deployment whose RequestId tag someone emptied."""
    vpc = tagged_vpc(stack, "placeholder", cidr="10.94.0.0/16")
    stack.ec2.create_tags(Resources=[vpc], Tags=[{"Key": "RequestId", "Value": ""}])
    return vpc


def _asks_for_empty_key(params: dict[str, Any]) -> bool:
    return {"request_id": {"S": ""}} in params["RequestItems"][TABLE]["Keys"]


def test_a_blank_request_tag_never_stops_the_reconciler_from_removing_the_others(
    client: Client, stack: Stack, services: Services
) -> None:
    """As DynamoDB answers a BatchGetItem that asks for the key "" (moto does not check).
    The other: an orphan of a CANCELLED request."""
    orphan = ended_stray(stack, ENDED, cidr="10.95.0.0/16")
    blanked = _blanked(stack)
    stack.faults.fail(
        "dynamodb",
        "BatchGetItem",
        "ValidationException",
        400,
        times=-1,
        match=_asks_for_empty_key,
        message="One or more parameter values are not valid. The AttributeValue for a key "
        "attribute cannot contain an empty string value. Key: request_id",
    )

    for _ in range(3):  # every run, for ever (each raises BackendFailure)
        with contextlib.suppress(BackendFailure):
            services.reconciler.run()

    assert not exists(stack, orphan), "the orphan of a CANCELLED request is never removed"
    assert exists(stack, blanked)


def test_a_vpc_whose_request_tag_names_nobody_is_not_proven_an_orphan(
    client: Client, stack: Stack, services: Services
) -> None:
    """Where the empty key is answered (moto), "" would be taken for a request proven to
    have no record. Such a request's resources are left alone now too (reported
    `unrecorded`), so what shows that "" is no key read at all is that it is not reported
    so."""
    blanked = _blanked(stack)

    report = services.reconciler.run()

    assert blanked not in report.removed
    assert report.unrecorded == []
    assert exists(stack, blanked)
