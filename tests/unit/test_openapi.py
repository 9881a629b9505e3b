"""openapi.yaml, the API's contract: a valid OpenAPI 3.1 document that names exactly
the routes the app registers, every error the app raises, and the record's every field.

(That each answer the app gives matches it is checked on every answer of the
integration and end-to-end suites: tests/support/contract.py.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from werkzeug.datastructures import Headers

import app as app_module
from chalicelib.errors import ApiError
from chalicelib.findings import Orphan
from chalicelib.models import (
    DeletionReport,
    ErrorInfo,
    Status,
    StatusChange,
    SubnetState,
)
from chalicelib.request_spec import ProvisioningRequest, SubnetSpec, VpcSpec
from infra.gateway_responses import GATEWAY_RESPONSES
from support.contract import (
    CONTRACT_PATH,
    LOCAL_HOST_URL,
    ApiRequest,
    ApiResponse,
    ContractViolation,
    check_response,
    document,
)
from support.records import REQUEST_ID, request_record

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its `$ref` (a local reference) points at."""
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _documented_error_codes() -> set[tuple[int, str]]:
    """(status, error Code) of every error answer the document describes."""
    found = set()
    for _, _, operation in _operations():
        for status, response in operation["responses"].items():
            content = _resolve(response)["content"]
            if "application/json" not in content:
                continue  # the console's page and files
            schema = _resolve(content["application/json"]["schema"])
            # One error schema, or a choice of several (429: the quota or the throttle).
            for choice in [_resolve(s) for s in schema.get("oneOf", [])] or [schema]:
                for part in choice.get("allOf", []):
                    code = part.get("properties", {}).get("Code", {}).get("const")
                    if code is not None:
                        found.add((int(status), code))
    return found


def test_openapi_yaml_is_a_valid_openapi_3_1_document() -> None:
    assert document()["openapi"].startswith("3.1.")

    validate(document())


def test_the_validator_refuses_a_broken_document() -> None:
    broken = copy.deepcopy(document())
    broken["paths"]["/vpcs"]["get"]["parameters"][0]["in"] = "body"  # OpenAPI 2's, not 3's

    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_the_document_has_exactly_the_routes_and_methods_the_app_registers() -> None:
    registered = {
        (path, method.lower())
        for path, methods in app_module.app.routes.items()
        for method in methods
    }
    documented = {(path, method) for path, method, _ in _operations()}

    assert documented == registered


# The routes a browser loads before anyone signs in (the web console): no authorizer.
CONSOLE_PATHS = {"/console", "/console/{asset}"}


def test_every_operation_needs_the_cognito_id_token() -> None:
    schemes = document()["components"]["securitySchemes"]
    assert document()["security"] == [{"cognitoIdToken": []}]
    assert schemes["cognitoIdToken"] == {**schemes["cognitoIdToken"], "scheme": "bearer"}
    for path, method, operation in _operations():
        if path in CONSOLE_PATHS:
            continue
        assert "security" not in operation, f"{method} {path} overrides the token"
        assert "401" in operation["responses"], f"{method} {path} documents no 401"


def test_only_the_console_needs_no_token_in_the_document_and_in_the_app() -> None:
    open_in_document = {
        (path, method)
        for path, method, operation in _operations()
        if operation.get("security") == []
    }
    open_in_app = {
        (path, method.lower())
        for path, methods in app_module.app.routes.items()
        for method, entry in methods.items()
        if entry.authorizer is None
    }

    assert open_in_document == open_in_app == {(p, "get") for p in CONSOLE_PATHS}


def test_every_error_the_app_raises_is_documented_with_its_status_and_code() -> None:
    def subclasses(cls: type[ApiError]) -> Iterator[type[ApiError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    raised = {(cls.status_code, cls.code) for cls in subclasses(ApiError)}
    # Chalice's own answer to a Content-Type other than JSON.
    raised.add((415, "UnsupportedMediaType"))

    assert raised - _documented_error_codes() == set()


def test_every_error_api_gateway_answers_itself_is_documented_with_its_status_and_code() -> None:
    gateway = {
        (int(status), code) for status, code in GATEWAY_RESPONSES.values() if status is not None
    }

    assert gateway - _documented_error_codes() == set()


def test_the_status_schema_lists_every_status() -> None:
    statuses = document()["components"]["schemas"]["Status"]["enum"]

    assert statuses == [status.value for status in Status]


def _check_record(body: dict[str, Any]) -> None:
    check_response(
        ApiRequest("GET", LOCAL_HOST_URL, f"/vpcs/{REQUEST_ID}", "", Headers(), None),
        ApiResponse(200, Headers(), json.dumps(body).encode()),
    )


def test_a_fresh_record_and_one_with_every_field_filled_match_the_record_schema() -> None:
    full = request_record(
        status=Status.DELETE_FAILED,
        request=ProvisioningRequest(
            VpcSpec("10.30.0.0/16", "apps"),
            (SubnetSpec("10.30.1.0/24", "us-east-1a", "apps-a", public=True),),
        ),
        vpc_id="vpc-0abc",
        subnets=[SubnetState("10.30.1.0/24", "us-east-1a", "apps-a", "subnet-0abc")],
        internet_gateway_id="igw-0abc",
        route_table_id="rtb-0abc",
        error=ErrorInfo("DependencyViolation", "the VPC has dependencies"),
        rollback=DeletionReport(("subnet-1",), ("vpc-1",), "a lookup failed"),
        teardown=DeletionReport(("rtb-0abc",), ("vpc-0abc",)),
        orphans=[Orphan("vpc-2", removed_at="2026-11-28T20:40:00Z"), Orphan("vpc-3", error="no")],
        attempts=3,
        history=(
            StatusChange(Status.QUEUED, "2026-11-28T20:17:26Z"),
            StatusChange(Status.IN_PROGRESS, "2026-11-28T20:17:27Z"),
        ),
    )

    _check_record(request_record().to_api())
    _check_record(full.to_api())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: r.pop("attempts"), id="a field missing"),
        pytest.param(lambda r: r.update(lease_owner="w-1"), id="a field not documented"),
        pytest.param(lambda r: r.update(status="DONE"), id="an unknown status"),
        pytest.param(lambda r: r.update(created_at="2026-11-28 20:17"), id="another time format"),
        pytest.param(
            lambda r: r.update(history=[{"status": "QUEUED"}]), id="a change without its time"
        ),
    ],
)
def test_a_record_unlike_the_readme_describes_is_a_contract_violation(change: Any) -> None:
    body = request_record().to_api()
    change(body)

    with pytest.raises(ContractViolation):
        _check_record(body)


def test_an_answer_to_a_path_no_route_has_passes_only_as_the_gateways_403() -> None:
    request = ApiRequest("GET", LOCAL_HOST_URL, "/nowhere", "", Headers(), None)
    gateway = b'{"message": "Missing Authentication Token"}'

    check_response(request, ApiResponse(403, Headers(), gateway))
    with pytest.raises(ContractViolation):
        check_response(request, ApiResponse(200, Headers(), b"{}"))


def test_the_readme_links_the_contract() -> None:
    readme = (CONTRACT_PATH.parent / "README.md").read_text(encoding="utf-8")

    assert "(openapi.yaml)" in readme
    assert Path(CONTRACT_PATH).name == "openapi.yaml"
