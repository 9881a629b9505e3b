"""How the worker reads an AWS failure: one table, one function (`classify`), which
failures are EC2's lag (`is_lag`), and the answers `calls` acts on: a change's "made
before" answer (`Already`) and a delete that did not happen (`DeleteFailed`).

The distinction that matters for exactly-once provisioning is whether a failed
call may have run:

- THROTTLED: AWS refused the call before running it. Retry it in place.
- UNSENT: the request never reached AWS (no connection). Retry it in place.
- AMBIGUOUS: a 5xx or a lost answer; the call may have run. Never repeat a
  create blindly: look the resource up first.
- NOT_FOUND: AWS refused because a resource the call names cannot be seen.
  The call did not run. For a resource this request made moments ago it is
  EC2's eventual consistency (retry); for an older one it is gone (permanent):
  only the caller knows which.
- PERMANENT: AWS ran the call and said no; repeating cannot help.

No AWS calls here: this module is pure and tested without moto.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class Fault(Enum):
    """What a failed AWS call means for retrying it."""

    THROTTLED = "throttled"
    UNSENT = "unsent"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not-found"
    PERMANENT = "permanent"


# The one table of AWS error codes the worker knows by name. Codes not listed
# fall back on the HTTP status: 5xx is AMBIGUOUS, anything else PERMANENT.
ERROR_CODES: dict[str, Fault] = {
    # Refused before running.
    "RequestLimitExceeded": Fault.THROTTLED,
    "Throttling": Fault.THROTTLED,
    "ThrottlingException": Fault.THROTTLED,
    "TooManyRequestsException": Fault.THROTTLED,
    "ProvisionedThroughputExceededException": Fault.THROTTLED,
    "RequestThrottled": Fault.THROTTLED,
    "RequestThrottledException": Fault.THROTTLED,
    "SlowDown": Fault.THROTTLED,
    "EC2ThrottledException": Fault.THROTTLED,
    # The service failed; the call may or may not have taken effect.
    "InternalError": Fault.AMBIGUOUS,
    "InternalFailure": Fault.AMBIGUOUS,
    "InternalServerError": Fault.AMBIGUOUS,
    "ServiceUnavailable": Fault.AMBIGUOUS,
    "Unavailable": Fault.AMBIGUOUS,
    "RequestTimeout": Fault.AMBIGUOUS,
    "RequestTimeoutException": Fault.AMBIGUOUS,
    # Credentials are refreshed by the runtime; a later attempt can succeed.
    "ExpiredToken": Fault.UNSENT,
    "ExpiredTokenException": Fault.UNSENT,
    "RequestExpired": Fault.UNSENT,
    # A resource the call names is not visible (yet, or any more).
    "InvalidVpcID.NotFound": Fault.NOT_FOUND,
    "InvalidSubnetID.NotFound": Fault.NOT_FOUND,
    "InvalidInternetGatewayID.NotFound": Fault.NOT_FOUND,
    "InvalidRouteTableID.NotFound": Fault.NOT_FOUND,
    "InvalidGatewayID.NotFound": Fault.NOT_FOUND,  # a route's target
    # Quotas, bad parameters, conflicts, missing permissions: AWS said no.
    "VpcLimitExceeded": Fault.PERMANENT,
    "SubnetLimitExceeded": Fault.PERMANENT,
    "TagLimitExceeded": Fault.PERMANENT,
    "InvalidParameterValue": Fault.PERMANENT,
    "InvalidParameter": Fault.PERMANENT,
    "InvalidParameterCombination": Fault.PERMANENT,
    "InvalidVpcRange": Fault.PERMANENT,
    "InvalidVpc.Range": Fault.PERMANENT,
    "InvalidSubnet.Range": Fault.PERMANENT,
    "InvalidSubnet.Conflict": Fault.PERMANENT,
    "InvalidAvailabilityZone": Fault.PERMANENT,
    "UnauthorizedOperation": Fault.PERMANENT,
    "AuthFailure": Fault.PERMANENT,
    "OptInRequired": Fault.PERMANENT,
    "DependencyViolation": Fault.PERMANENT,
}


def error_code(exc: BaseException) -> str:
    """The AWS error code of `exc`, or the botocore exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "Unknown")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The AWS error message of `exc` (for records and logs)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


def classify(exc: BaseException) -> Fault:
    """Classify a failed AWS call. Exceptions that are not AWS failures are AMBIGUOUS."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in ERROR_CODES:
            return ERROR_CODES[code]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:
            return Fault.AMBIGUOUS
        if code.isdigit() and int(code) >= 500:
            return Fault.AMBIGUOUS
        return Fault.PERMANENT
    # Connection refused, DNS failure, connect timeout: nothing was sent.
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return Fault.UNSENT
    # Read timeout or connection dropped mid-call: it may have run.
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return Fault.AMBIGUOUS
    return Fault.AMBIGUOUS


# Failures that no retry clears, unless they are EC2's lag (`is_lag`).
FINAL = (Fault.PERMANENT, Fault.NOT_FOUND)


def is_lag(fault: Fault, code: str, fresh: bool) -> bool:
    """Whether a failure of a call naming a resource made moments ago (`fresh`) is EC2's
    lag: NotFound, or UnauthorizedOperation because IAM evaluates the resource's tags
    and cannot see them yet. For an older resource, NotFound means it is gone."""
    return fresh and (fault is Fault.NOT_FOUND or code == "UnauthorizedOperation")


@dataclass(frozen=True)
class Already:
    """A change's "made before" answer (`code`, e.g. Resource.AlreadyAssociated, and
    words its message holds when the code alone says too little) and the read that says
    whose change is in place (`confirm`: True ours, False someone else's, None nothing
    visible yet)."""

    code: str
    confirm: Callable[[], bool | None]
    words: str = ""

    def answered(self, exc: ClientError | BotoCoreError) -> bool:
        """Whether this error is that answer."""
        return error_code(exc) == self.code and self.words in error_message(exc)


@dataclass(frozen=True)
class DeleteFailed:
    """A delete that did not happen: AWS's code and message, and whether it may clear by itself."""

    operation: str
    code: str
    message: str
    transient: bool

    def __str__(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"


def first_few(ids: Sequence[str]) -> str:
    """The first three of `ids`, and ", ..." when there are more: what a failure's message
    names of a list that may be long."""
    return ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
