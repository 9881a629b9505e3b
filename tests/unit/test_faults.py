"""The error table: what each AWS failure means for retrying."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.aws.faults import Fault, classify, error_code, error_message
from chalicelib.backoff import Backoff


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"msg {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "CreateVpc",
    )


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "Throttling", "ThrottlingException"])
def test_throttling_means_the_call_did_not_run(code: str) -> None:
    assert classify(client_error(code, 503)) is Fault.THROTTLED


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("Unavailable", 503),
        ("Whatever", 502),
        ("500", 500),
    ],
)
def test_server_errors_are_ambiguous(code: str, status: int) -> None:
    assert classify(client_error(code, status)) is Fault.AMBIGUOUS


@pytest.mark.parametrize(
    "code",
    [
        "VpcLimitExceeded",
        "SubnetLimitExceeded",
        "InvalidParameterValue",
        "InvalidSubnet.Range",
        "InvalidSubnet.Conflict",
        "UnauthorizedOperation",
        "SomeNew4xxCode",
    ],
)
def test_client_errors_are_permanent(code: str) -> None:
    assert classify(client_error(code, 400)) is Fault.PERMANENT


def test_a_listed_code_wins_over_its_http_status() -> None:
    assert classify(client_error("RequestLimitExceeded", 500)) is Fault.THROTTLED
    assert classify(client_error("VpcLimitExceeded", 500)) is Fault.PERMANENT


def test_connection_failures_before_sending_are_unsent() -> None:
    assert classify(EndpointConnectionError(endpoint_url="https://ec2")) is Fault.UNSENT
    assert classify(ConnectTimeoutError(endpoint_url="https://ec2")) is Fault.UNSENT


def test_a_lost_answer_is_ambiguous() -> None:
    assert classify(ReadTimeoutError(endpoint_url="https://ec2")) is Fault.AMBIGUOUS
    assert classify(ConnectionClosedError(endpoint_url="https://ec2")) is Fault.AMBIGUOUS


def test_code_and_message_are_read_from_the_error() -> None:
    exc = client_error("VpcLimitExceeded")
    assert error_code(exc) == "VpcLimitExceeded"
    assert error_message(exc) == "msg VpcLimitExceeded"
    assert error_code(ReadTimeoutError(endpoint_url="x")) == "ReadTimeoutError"


def test_backoff_grows_exponentially_up_to_the_cap_with_full_jitter() -> None:
    top = Backoff(base=0.5, cap=4.0, rand=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert Backoff(base=0.5, cap=4.0, rand=lambda: 0.0).delay(3) == 0.0


@pytest.mark.parametrize(
    "code",
    [
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
    ],
)
def test_a_resource_not_found_is_its_own_kind_left_to_the_caller(code: str) -> None:
    """Lag for a resource just made, gone for an older one: only the caller knows which."""
    assert classify(client_error(code, 400)) is Fault.NOT_FOUND
