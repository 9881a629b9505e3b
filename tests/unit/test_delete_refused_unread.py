"""`Ec2Calls.delete` answered UnauthorizedOperation: what the read by id that follows
decides (docs/how-it-works.md: a tag-conditioned delete of a resource already gone may be
answered UnauthorizedOperation; only a by-id "not found" proves it gone, and a read that
failed proves nothing, neither way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import not_found
from chalicelib.backoff import Backoff
from chalicelib.config import load_settings

SETTINGS = load_settings(
    {
        "TABLE_NAME": "t",
        "AWS_REGION": "eu-west-1",
        "QUEUE_URL": "https://q",
        "EC2_MAX_ATTEMPTS": "3",
    }
)


def refused(code: str, status: int) -> Callable[[], None]:
    def call() -> None:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": "no"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "DeleteVpc",
        )

    return call


def calls() -> Ec2Calls:
    return Ec2Calls(SETTINGS, lambda _seconds: None, Backoff(0.0, 0.0))


def test_a_by_id_not_found_makes_the_refused_delete_done() -> None:
    assert calls().delete("DeleteVpc", refused("UnauthorizedOperation", 403), lambda: True) is None


def test_a_read_that_lists_it_makes_the_refusal_final() -> None:
    """The tag condition failed: the VPC is there and not ours to delete."""
    failure = calls().delete("DeleteVpc", refused("UnauthorizedOperation", 403), lambda: False)

    assert failure is not None
    assert failure.code == "UnauthorizedOperation"
    assert not failure.transient


def test_a_read_that_fails_leaves_the_refusal_to_a_later_try() -> None:
    """Throttled on every try: whether the VPC is gone is unknown, so the failure may
    clear (tried later), never a final refusal naming a VPC that may be gone."""
    reads = 0

    def throttled() -> bool:
        nonlocal reads
        reads += 1
        refused("RequestLimitExceeded", 503)()
        return False

    failure = calls().delete("DeleteVpc", refused("UnauthorizedOperation", 403), throttled)

    assert failure is not None
    assert failure.transient
    assert "could not be told" in failure.message
    assert reads == 3 * 3  # each of the 3 tries read it, 3 attempts each


def test_a_read_refused_for_good_makes_the_refusal_final() -> None:
    def forbidden() -> bool:
        refused("UnauthorizedOperation", 403)()
        return False

    failure = calls().delete("DeleteVpc", refused("UnauthorizedOperation", 403), forbidden)

    assert failure is not None
    assert not failure.transient


def test_a_read_that_lists_nothing_leaves_the_refusal_to_a_later_try() -> None:
    """An empty answer by id is EC2 lagging (or the resource gone and not yet said so):
    no proof that it is there, so no final refusal saying it is."""
    failure = calls().delete("DeleteVpc", refused("UnauthorizedOperation", 403), lambda: None)

    assert failure is not None
    assert failure.transient


def test_a_read_by_id_says_gone_listed_or_nothing() -> None:
    def gone() -> dict[str, Any]:
        refused("InvalidVpcID.NotFound", 400)()
        return {}

    assert not_found(gone, "InvalidVpcID.NotFound") is True
    assert not_found(lambda: {"Vpcs": [{"VpcId": "vpc-1"}]}, "InvalidVpcID.NotFound") is False
    assert not_found(lambda: {"Vpcs": [], "ResponseMetadata": {}}, "InvalidVpcID.NotFound") is None
