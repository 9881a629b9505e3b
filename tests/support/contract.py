"""The API's contract, `openapi.yaml`, held against what the app really answers.

`check_response` validates one answer (status, headers, body) against the
operation the request was for, with openapi-core. The integration suite runs
with chalice.test's HTTP client patched by `checked`, and the end-to-end
suite's HTTP session carries `contract_hook`: every response either suite
receives is checked, and one that the document does not describe fails the
test that received it (`ContractViolation`).

A request for a path no route matches never reaches the app: API Gateway
answers it (403, `MISSING_AUTHENTICATION_TOKEN`), and so does Chalice's local
gateway in its own shape. Such answers are outside the document and pass
unchecked, but only as that 403: anything else for an unknown path is a
violation too.
"""

from __future__ import annotations

import functools
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from chalice.test import HTTPResponse, TestHTTPClient
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.validation.exceptions import ValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
# The URL the in-process client's requests are taken to go to (the local stack's
# server in the document).
LOCAL_HOST_URL = "http://127.0.0.1:8000"
# The Content-Type API Gateway gives a Lambda answer that names none.
GATEWAY_CONTENT_TYPE = "application/json"
# What a gateway answers for a path no route matches (never the app).
UNROUTED_STATUS = 403


class ContractViolation(AssertionError):
    """An answer that `openapi.yaml` does not describe."""


@functools.cache
def document() -> dict[str, Any]:
    """openapi.yaml, parsed (once per process)."""
    with CONTRACT_PATH.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    assert isinstance(loaded, dict)
    return loaded


@functools.cache
def contract() -> OpenAPI:
    """openapi.yaml as openapi-core's validator (built once per process: building it
    checks the document, which takes far longer than validating an answer)."""
    return OpenAPI.from_dict(document())


@dataclass
class ContractStats:
    """How many answers were checked, and the seconds spent checking them."""

    checked: int = 0
    unrouted: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, seconds: float, routed: bool) -> None:
        with self._lock:
            self.checked += routed
            self.unrouted += not routed
            self.seconds += seconds


STATS = ContractStats()


@dataclass
class ApiRequest:
    """An HTTP request as openapi-core reads it (its `Request` protocol: `parameters` an
    attribute, which openapi-core may write the path parameters it resolved into)."""

    method_name: str
    host_url: str
    path: str
    query: str
    headers: Headers
    data: bytes | None
    parameters: RequestParameters = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(urllib.parse.parse_qsl(self.query, keep_blank_values=True)),
            header=self.headers,
        )

    @property
    def method(self) -> str:
        return self.method_name.lower()

    @property
    def body(self) -> bytes | None:
        return self.data

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", "application/json")).lower()


@dataclass(frozen=True)
class ApiResponse:
    """An HTTP response as openapi-core reads it."""

    status_code: int
    headers: Headers
    data: bytes | None

    @property
    def content_type(self) -> str:
        # What the function returns without a Content-Type, API Gateway (and Chalice's
        # local server) sends as application/json: the client sees that.
        return str(self.headers.get("Content-Type", GATEWAY_CONTENT_TYPE)).lower()


def _headers(raw: Mapping[str, Any] | None) -> Headers:
    headers = Headers()
    for name, value in (raw or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            headers.add(name, str(item))
    return headers


def check_response(request: ApiRequest, response: ApiResponse) -> None:
    """Raise ContractViolation unless `openapi.yaml` describes `response` as an answer
    to `request` (its status among the operation's, its headers and body their schemas)."""
    started = time.perf_counter()
    routed = True
    try:
        contract().validate_response(request, response)
    except (PathNotFound, OperationNotFound) as exc:
        routed = False
        if response.status_code != UNROUTED_STATUS:
            raise ContractViolation(
                f"{request.method_name} {request.path}: no operation in openapi.yaml ({exc}), "
                f"and the answer is {response.status_code}, not the gateway's "
                f"{UNROUTED_STATUS}: {response.data!r}"
            ) from None
    except ValidationError as exc:
        raise ContractViolation(
            f"{request.method_name} {request.path}"
            + (f"?{request.query}" if request.query else "")
            + f" answered {response.status_code} {dict(response.headers)} "
            f"{_shorten(response.data)}, which openapi.yaml does not describe: "
            + "; ".join(_reasons(exc))
        ) from None
    finally:
        STATS.add(time.perf_counter() - started, routed)


def _reasons(exc: BaseException) -> list[str]:
    """What openapi-core found wrong, one line per schema error (where in the answer, what)."""
    reasons = [_shorten(str(exc).splitlines()[0], 200)]
    cause: BaseException | None = exc
    while cause is not None:
        for error in getattr(cause, "schema_errors", None) or []:
            reasons.append(f"{error.json_path}: {_shorten(error.message, 300)}")
        cause = cause.__cause__ or cause.__context__
    return reasons


def _shorten(data: object, limit: int = 600) -> str:
    text = data if isinstance(data, str) else repr(data)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more)"


# --- the in-process client (tests/integration) ----------------------------------


def checked(request: Callable[..., HTTPResponse]) -> Callable[..., HTTPResponse]:
    """`TestHTTPClient.request` (chalice.test's HTTP client), checking every answer
    against openapi.yaml. Patched onto the class, so that every client any test
    builds is checked, not only the fixture's."""

    @functools.wraps(request)
    def checked_request(
        self: TestHTTPClient,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> HTTPResponse:
        response = request(self, method, path, headers=headers, body=body)
        raw_path, _, query = path.partition("?")
        check_response(
            ApiRequest(
                method,
                LOCAL_HOST_URL,
                raw_path,
                query,
                _headers(headers),
                body if isinstance(body, bytes) else str(body).encode(),
            ),
            ApiResponse(response.status_code, _headers(response.headers), response.body),
        )
        return response

    return checked_request


# --- requests (tests/e2e) ---------------------------------------------------------


def contract_hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A `requests` response hook checking the answer against openapi.yaml."""
    prepared = response.request
    url = urllib.parse.urlsplit(prepared.url or "")
    body = prepared.body
    check_response(
        ApiRequest(
            prepared.method or "GET",
            f"{url.scheme}://{url.netloc}",
            url.path,
            url.query,
            _headers(dict(prepared.headers)),
            body.encode() if isinstance(body, str) else body,
        ),
        ApiResponse(response.status_code, _headers(dict(response.headers)), response.content),
    )
    return response
