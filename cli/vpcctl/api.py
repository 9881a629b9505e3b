"""The API over HTTP: the token, the retries, and errors as exit codes.

Every call is safe to repeat (docs/api.md): a POST carries one
Idempotency-Key for all its attempts, so retrying it never makes a second VPC;
GET and DELETE are idempotent by themselves. So a 503, a 409 (the same key
being accepted right now, or a request a worker is still on), a gateway
error or a lost connection is retried, after the answer's Retry-After when it
has one.

A wait (--wait, `vpcctl wait`) bounds its calls with a `Deadline`: no retry sleeps past
it, and a call still being retried when it comes raises `DeadlinePassed` (exit 6).
`delete --wait` also waits out the 409 a DELETE gets while a worker is on the request,
beyond --max-attempts, until that deadline.
"""

from __future__ import annotations

import email.utils
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from requests.auth import AuthBase
from urllib3.util import parse_url

from .api_errors import RETRIED_STATUSES, api_error, is_refusal
from .errors import CliError, ExitCode, connection_refused, stack_not_running, unavailable
from .urls import is_loopback, is_plain_http_to_loopback, port_of

DEFAULT_MAX_ATTEMPTS = 5
# Honoured up to this many seconds: a longer Retry-After is waited for this long.
MAX_RETRY_AFTER_SECONDS = 60.0
# Without a Retry-After: 0.5 s, 1 s, 2 s, ... up to this.
BACKOFF_CAP_SECONDS = 8.0
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
# An attempt made as a deadline comes still gets this long to connect and be answered.
MIN_ATTEMPT_SECONDS = 1.0
# "Is anything listening?" on this machine: a refusal comes at once, so this is only a cap.
PROBE_TIMEOUT_SECONDS = 1.0
# The API's page size limit (GET /vpcs?limit=1..50).
MAX_PAGE_SIZE = 50


class TokenSource(Protocol):
    def id_token(self) -> str: ...

    def refresh(self) -> str: ...


@dataclass(frozen=True)
class Answer:
    """An HTTP answer the command goes on with (2xx)."""

    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None


@dataclass(frozen=True)
class Deadline:
    """When a wait gives up: `seconds` (its --timeout) after it began, on `clock` (a
    monotonic one)."""

    seconds: float
    at: float
    clock: Callable[[], float]

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float]) -> Deadline:
        return cls(seconds, clock() + seconds, clock)

    def left(self) -> float:
        """The seconds left (0 or less: it has come)."""
        return self.at - self.clock()


class DeadlinePassed(CliError):
    """A call was still being retried when its deadline came (exit 6); `last` is why
    the last attempt did not do (the API's answer, or the failure to reach it)."""

    def __init__(self, deadline: Deadline, last: str) -> None:
        super().__init__(
            f"gave up after {deadline.seconds:g}s: {last}",
            code="WaitTimedOut",
            exit_code=ExitCode.TIMEOUT,
        )
        self.deadline = deadline
        self.last = last


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header's wait in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class _BearerToken(AuthBase):
    """Sends the ID token as `Authorization: Bearer`. Given to each request as its `auth`,
    which keeps requests from reading ~/.netrc (or $NETRC): a session that trusts the
    environment (for its proxies and CA bundle) would otherwise put the netrc entry's
    `Basic` credentials over the header, sending the API a password and not the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class ApiClient:
    """Calls the API with the caller's ID token, retrying what is safe to retry."""

    def __init__(
        self,
        api_url: str,
        tokens: TokenSource,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_retry: Callable[[str], None] | None = None,
        start: str = "make run",
    ) -> None:
        self.api_url = api_url
        self._tokens = tokens
        self._session = session or requests.Session()
        if is_plain_http_to_loopback(api_url):
            # requests takes proxies from the environment (HTTP_PROXY, ALL_PROXY, and
            # NO_PROXY may not name localhost): the ID token would go in clear text to the
            # proxy host. Plain http:// is only ever to this machine, straight there.
            self._session.trust_env = False
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._on_retry = on_retry or (lambda _message: None)
        # What starts the local stack, for "nothing answers" (config.Target.start).
        self._start = start

    def create(self, body: bytes, idempotency_key: str, deadline: Deadline | None = None) -> Answer:
        """POST /vpcs with the spec file's bytes as they are (the same bytes on every attempt,
        as the key's replay requires); its retries within `deadline` (`create --wait`:
        raises DeadlinePassed)."""
        answer = self.call(
            "POST",
            "/vpcs",
            data=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            deadline=deadline,
        )
        _having(answer, "request_id")
        return answer

    def get(self, request_id: str, deadline: Deadline | None = None) -> dict[str, Any]:
        """GET /vpcs/ID; its retries within `deadline` (raises DeadlinePassed)."""
        path = f"/vpcs/{_path_segment(request_id)}"
        return _having(self.call("GET", path, deadline=deadline), "request_id", "status")

    def delete(self, request_id: str, deadline: Deadline | None = None) -> dict[str, Any]:
        """DELETE /vpcs/ID. With a `deadline` (`delete --wait`), a 409 (a worker is still on
        the request: retry after Retry-After) is retried until it comes, beyond
        --max-attempts; then DeadlinePassed."""
        path = f"/vpcs/{_path_segment(request_id)}"
        answer = self.call("DELETE", path, deadline=deadline, wait_out_busy=True)
        return _having(answer, "request_id", "status")

    def pools(self) -> list[dict[str, Any]]:
        """GET /pools: each address pool's use."""
        return list(_having(self.call("GET", "/pools"), "items")["items"])

    def page(self, params: Mapping[str, str], deadline: Deadline | None = None) -> Page:
        """One page of GET /vpcs; its retries within `deadline` (raises DeadlinePassed)."""
        body = _having(self.call("GET", "/vpcs", params=params, deadline=deadline), "items")
        return Page(list(body["items"]), body.get("next_token"))

    def pages(
        self,
        filters: Mapping[str, str],
        limit: int | None,
        next_token: str | None = None,
        deadline: Deadline | None = None,
    ) -> Iterator[Page]:
        """The listing page by page, following next_token, until it ends or `limit` items
        have come. Each page asks only for what is still wanted, so the last page's
        next_token resumes exactly after the last item returned. Every page's retries
        within `deadline` (a wait's lookup of an id by its start: DeadlinePassed)."""
        returned = 0
        while True:
            size = MAX_PAGE_SIZE if limit is None else min(MAX_PAGE_SIZE, limit - returned)
            params = {**filters, "limit": str(size)}
            if next_token:
                params["next_token"] = next_token
            page = self.page(params, deadline)
            returned += len(page.items)
            yield page
            next_token = page.next_token
            if not next_token or (limit is not None and returned >= limit):
                return

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
        wait_out_busy: bool = False,
    ) -> Answer:
        """One API call, retried as the module says; a 2xx answer, or CliError. With a
        `deadline`, no retry waits past it (DeadlinePassed, exit 6, when it has come); with
        `wait_out_busy` too, a 409 is retried until then, whatever --max-attempts."""
        url = f"{self.api_url}{path}"
        token = self._id_token()
        refreshed = False
        # Whether an attempt may have reached the API (an answer came, or the connection
        # failed otherwise than refused): a POST then may have been accepted.
        sent = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    auth=_BearerToken(token),
                    timeout=_timeouts(deadline),
                    allow_redirects=False,
                )
            except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:
                # Refused by requests before sending: no retry sends it, nothing was sent.
                raise CliError(
                    f"cannot send {method} {path}: {exc}",
                    code="UsageError",
                    exit_code=ExitCode.USAGE,
                    sent_nothing=not sent,
                ) from exc
            except requests.RequestException as exc:
                if is_loopback(self.api_url) and connection_refused(exc):
                    # Nothing listens on this machine's port: the local stack is down (it
                    # was stopped, or killed and left its stack.json). This attempt sent
                    # nothing, and waiting will not start it: no retry, the exit of a
                    # missing stack. An earlier attempt may have reached it before it
                    # stopped: then the error says so (sent_nothing false).
                    raise stack_not_running(
                        self.api_url, self._start, sent_nothing=not sent
                    ) from exc
                sent = True  # a timeout or a lost connection: the request may have gone
                if attempt >= self._max_attempts:
                    raise unavailable(
                        f"cannot reach {self.api_url} ({type(exc).__name__}) "
                        f"after {attempt} attempts",
                        code="ConnectionFailed",
                    ) from exc
                self._wait(
                    attempt,
                    None,
                    f"{method} {path}: {type(exc).__name__}",
                    deadline,
                    f"cannot reach {self.api_url} ({type(exc).__name__})",
                )
                continue
            sent = True
            if response.status_code == 401 and not refreshed:
                # An ID token the API refuses (expired early, or revoked): refresh once.
                try:
                    token = self._tokens.refresh()
                except CliError as refused:
                    if refused.exit_code is not ExitCode.AUTH:
                        # (e.g. Cognito's moto gone with a stack that stopped: this call's
                        # earlier attempts were sent all the same)
                        refused.sent_nothing = False
                        raise
                    # The API's reason (e.g. that the local stack restarted) says more
                    # than Cognito's refusal of the refresh token.
                    raise api_error(response, attempt) from refused
                refreshed = True
                attempt -= 1
                continue
            busy_until_deadline = (
                wait_out_busy and deadline is not None and response.status_code == 409
            )
            if (
                response.status_code in RETRIED_STATUSES
                and (attempt < self._max_attempts or busy_until_deadline)
                and not is_refusal(response)  # waiting does not free a place or a block
            ):
                self._wait(
                    attempt,
                    response.headers.get("Retry-After"),
                    f"{method} {path}: {response.status_code}",
                    deadline,
                    api_error(response, attempt).message,
                )
                continue
            if 200 <= response.status_code < 300:
                return Answer(response.status_code, response.headers, _answer(response))
            raise api_error(response, attempt)

    def _id_token(self) -> str:
        """The ID token to send; when there is none to be had (not logged in, the session
        over), and the API is on this machine where nothing listens, the stack being down
        is what the user needs to hear (exit 5), not `vpcctl login` (exit 3)."""
        try:
            return self._tokens.id_token()
        except CliError as refused:
            if refused.exit_code is ExitCode.AUTH:
                check_something_listens(self.api_url, self._start)
            raise

    def _wait(
        self,
        attempt: int,
        retry_after: str | None,
        why: str,
        deadline: Deadline | None,
        last: str,
    ) -> None:
        """Sleep before attempt `attempt + 1`: Retry-After, else the backoff; never past
        `deadline`, and DeadlinePassed (naming `last`, why this attempt did not do) when
        it has come."""
        delay = retry_after_seconds(retry_after, self._clock())
        if delay is None:
            delay = min(BACKOFF_CAP_SECONDS, 0.5 * 2 ** (attempt - 1))
        delay = min(delay, MAX_RETRY_AFTER_SECONDS)
        of = f"of {self._max_attempts}"
        if deadline is not None:
            left = deadline.left()
            if left <= 0:
                raise DeadlinePassed(deadline, last)
            delay = min(delay, left)
            if attempt >= self._max_attempts:
                of = f"until --timeout, {left:g}s left"
        self._on_retry(f"{why}; retrying in {delay:g}s (attempt {attempt + 1} {of})")
        self._sleep(delay)


def _timeouts(deadline: Deadline | None) -> tuple[float, float]:
    """An attempt's connect and read timeouts: no longer than what is left before
    `deadline` (but MIN_ATTEMPT_SECONDS)."""
    if deadline is None:
        return CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
    left = max(deadline.left(), MIN_ATTEMPT_SECONDS)
    return min(CONNECT_TIMEOUT_SECONDS, left), min(READ_TIMEOUT_SECONDS, left)


def check_something_listens(api_url: str, start: str) -> None:
    """For an API on this machine: raises StackNotRunning (exit 5) when a TCP connection to
    its port is refused, within PROBE_TIMEOUT_SECONDS; any other outcome (it connects, it
    times out, the host has no address) says nothing, and returns. An API elsewhere is not
    probed: no round trip to a remote host, whose refusal would not mean a stack is down."""
    if not is_loopback(api_url):
        return
    host = (parse_url(api_url).host or "").removeprefix("[").removesuffix("]")
    port = port_of(api_url)
    if port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS):
            return
    except ConnectionRefusedError as exc:
        raise stack_not_running(api_url, start) from exc
    except OSError:
        return


# Ids a URL cannot carry as a path segment: requests and urllib3 remove the dot segments
# (even percent-encoded: requests decodes %2E first), and the empty one leaves /vpcs/, so
# GET /vpcs/. would be the listing and DELETE /vpcs/.. a DELETE /.
_NO_SEGMENT = ("", ".", "..")


def is_utf8(text: str) -> bool:
    """Whether `text` can be sent (as UTF-8): an argument that was not UTF-8 (`vpcctl get
    $'\\xff'`) holds the surrogate escapes Python decodes argv's bytes to, which cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path_segment(request_id: str) -> str:
    """`request_id` as one path segment, whatever it holds; one no URL can carry (or not
    UTF-8, which urllib.parse.quote cannot encode) is no request's id (a UUID): refused as
    the API answers such ids (404, exit 4), unsent."""
    if request_id in _NO_SEGMENT or not is_utf8(request_id):
        raise CliError(
            f"No request with id {request_id!r}: it cannot be a request's id (not sent)",
            code="NotFoundError",
            exit_code=ExitCode.NOT_FOUND,
        )
    return urllib.parse.quote(request_id, safe="")


def _answer(response: requests.Response) -> dict[str, Any]:
    """A 2xx answer's body: the API answers every one with a JSON object (another server at
    the URL, or a proxy, may not: UnexpectedAnswer, exit 5, not a crash or an empty list)."""
    body = _json(response)
    if not response.content or not isinstance(body, dict):
        raise unavailable(
            f"the API answered {response.status_code} with "
            + ("no body" if not response.content else "JSON that is not an object")
            + ": is --api-url the vpc-provisioner API's?",
            code="UnexpectedAnswer",
        )
    return body


def _having(answer: Answer, *keys: str) -> dict[str, Any]:
    """`answer`'s body, once it has `keys` (under "items" a list of objects, what each
    command reads as records: a list of numbers would be no request's, and no pool's)."""
    body = dict(answer.body)
    missing = [key for key in keys if key not in body]
    items = body.get("items")
    if missing or (
        "items" in keys
        and not (isinstance(items, list) and all(isinstance(item, dict) for item in items))
    ):
        raise unavailable(
            f"the API answered {answer.status} without "
            f"{', '.join(missing) or 'a list of objects as its items'}"
            ": is --api-url the vpc-provisioner API's?",
            code="UnexpectedAnswer",
        )
    return body


def _json(response: requests.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise unavailable(
            f"the API answered {response.status_code} with a body that is not JSON",
            code="UnexpectedAnswer",
        ) from exc
