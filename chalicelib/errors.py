"""The project's error vocabulary, in one place.

The API's errors: one hierarchy, each class one HTTP status. `app.py` turns
any `ApiError` into Chalice's error shape `{"Code": ..., "Message": ...}`;
nothing else in the code decides status codes. openapi.yaml documents each
status and code under the operations that answer it (tests/unit/test_openapi.py
fails for an error it does not name). Codes reuse Chalice's names so
that every error a client sees looks alike, whether Chalice raised it (415,
405) or we did.

The worker's errors: what a failed call means for the request (permanent,
transient, the lease gone, an outcome nobody can know; which of several decides),
and `RetryLater`, the one exception the worker's Lambda lets SQS see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class ApiError(Exception):
    """An error a client should see, with its status and a message saying what to fix."""

    status_code = 500
    code = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers for this error."""
        return {}


class BadRequest(ApiError):
    """The request is malformed: bad JSON, a wrong field, an out-of-range value."""

    status_code = 400
    code = "BadRequestError"


class Unauthorized(ApiError):
    """No authenticated caller reached the app."""

    status_code = 401
    code = "UnauthorizedError"


class Forbidden(ApiError):
    """The caller is authenticated but may not do this to this request."""

    status_code = 403
    code = "ForbiddenError"


class NotFound(ApiError):
    """No request with that id."""

    status_code = 404
    code = "NotFoundError"


class IdempotencyConflict(ApiError):
    """Another request with the same Idempotency-Key is being accepted right now."""

    status_code = 409
    code = "ConflictError"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class RequestBusy(ApiError):
    """The request is in a state that does not allow this yet (a worker is on it): retry later."""

    status_code = 409
    code = "ConflictError"

    def __init__(self, message: str, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class CidrConflict(ApiError):
    """An explicit VPC CIDR overlaps a live allocation or a VPC this deployment did not make."""

    status_code = 409
    code = "CidrConflict"


class PoolExhausted(ApiError):
    """No free block of the asked size is left in the pool."""

    status_code = 409
    code = "PoolExhausted"


class IdempotencyKeyReused(ApiError):
    """The Idempotency-Key was already used with a different body."""

    status_code = 422
    code = "UnprocessableEntityError"


class QuotaExceeded(ApiError):
    """The caller already has as many live requests as a user may (MAX_LIVE_REQUESTS_PER_USER)."""

    status_code = 429
    code = "QuotaExceeded"


class BackendUnavailable(ApiError):
    """DynamoDB, SQS or EC2 failed; the same request (same key) can be retried safely."""

    status_code = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, retry_after_seconds: int = 2) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


def unavailable(exc: BackendFailure) -> BackendUnavailable:
    """The 503 a client gets when a backing service failed (logged)."""
    logger.warning("answering 503: %s", exc)
    return BackendUnavailable(f"A backing service is unavailable ({exc.operation}); retry shortly.")


def backend(call: Callable[[], _T]) -> _T:
    """`call()`, with a BackendFailure turned into the client's 503."""
    try:
        return call()
    except BackendFailure as exc:
        raise unavailable(exc) from exc


class BackendFailure(Exception):
    """A DynamoDB or SQS call failed (after botocore's own retries).

    Not an ApiError: the API turns it into a 503, the worker into a retry.
    """

    def __init__(self, operation: str, cause: BaseException) -> None:
        super().__init__(f"{operation} failed: {cause}")
        self.operation = operation
        self.cause = cause


class OutcomeUnknown(BackendFailure):
    """A write failed in a way that may have landed, and no read could tell whether it did.

    Whoever gets it must act as if either were true: never undo what the write
    may have recorded (a SUCCEEDED record is never rolled back on a guess).
    """


# --- the worker ------------------------------------------------------------------


class LeaseLost(Exception):
    """This worker can no longer prove it holds the request: it must stop touching the world.

    Raised when the lease's deadline passed without a renewal, or when a write
    conditional on the lease found another owner (or another status).
    """


class PermanentFailure(Exception):
    """AWS refused for good (a quota, a bad parameter, a conflict): roll back and fail."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientFailure(Exception):
    """Still failing after the in-place retries: worth another try on a later delivery."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def decisive_failure(failures: Sequence[BaseException]) -> BaseException:
    """Of concurrent failures, the one that decides the outcome: a permanent failure (roll
    back, FAILED), then a lost lease (stop), then a transient one (retry later)."""
    return sorted(
        failures,
        key=lambda f: (not isinstance(f, PermanentFailure), not isinstance(f, LeaseLost)),
    )[0]


class RetryLater(Exception):
    """Raised to SQS's consumer: keep the message and deliver it again.

    The worker has already set the message's visibility to `delay_seconds`
    (best effort); on the queue's last receive it is what moves the message
    to the dead-letter queue, so the worker raises it then only for a request
    it has recorded FAILED.
    """

    def __init__(self, reason: str, delay_seconds: int = 0, quiet: bool = False) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds
        # The usual race (a first receive before the POST stored the request): DEBUG lines.
        self.quiet = quiet


class InvalidJob(ValueError):
    """A queue message that is not a job of ours (never retried into success)."""
