"""What moto lacks that `terraform apply` of `dist/terraform` and `chalice deploy` need.

`python -m support.moto_gaps --port N` serves moto with them patched: started
by `support.moto_server` in a process of its own (the installed package is
never edited, the test process never patched). Each gap, and why it matters:

- **PutRestApi / ImportRestApi refuse Swagger 2.0** ("Only OpenAPI 3.x.x are
  currently supported"), and ImportRestApi fails on a document without
  `info.description`. Chalice writes Swagger 2.0 without one, and both
  `chalice deploy` and the Terraform REST API (`body`) send it. Real API
  Gateway imports Swagger 2.0; here the document is imported as moto imports
  OpenAPI 3 (paths, methods, integrations), plus what moto drops and this
  deployment relies on: the `securityDefinitions` authorizers, each method's
  `security` (authorization type and authorizer), and
  `x-amazon-apigateway-binary-media-types`.
- **SQS has no `RedriveAllowPolicy` attribute**: SetQueueAttributes stores it
  but GetQueueAttributes never returns it (and refuses the name), so the
  provider's `aws_sqs_queue_redrive_allow_policy` waits for it for ever; and
  an empty value must remove it (the provider's delete waits for that).
- **GetQueueAttributes spells `RedrivePolicy` with spaces** (`{"a": 1, "b": 2}`),
  where SQS answers compact JSON, as it was sent: the provider then plans an
  update of the jobs queue right after every apply (a plan after an apply must
  be empty).
- **SetQueueAttributes without `Policy` wipes the queue policy**: moto resets
  every attribute it is not given to `None`, real SQS changes only the ones
  named. The provider sets the redrive allow policy after the queue policy, so
  the TLS-only policy silently disappeared.
- **UpdateRestApi add/remove of `/binaryMediaTypes/<type>`**: the media type is
  in the path (`~1` for `/`), not in `value`; moto appended an empty string on
  add and raised (a 500) on remove, which Terraform does while reconciling the
  REST API's `binary_media_types` with its body.
- **DynamoDB isolation** (not a gap the deployment tools hit): the same lock
  the local stack's moto has (`devstack/isolation.py`), so that an app run
  against this server claims a job once.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import threading
import time
from typing import Any, cast

from moto import server
from moto.apigateway.models import APIGatewayBackend, RestAPI
from moto.sqs.models import Queue

from devstack.isolation import make_dynamodb_atomic

_APPLIED = False


def apply() -> None:
    """Patch moto's classes in this process. Calling it again changes nothing."""
    global _APPLIED
    if _APPLIED:
        return
    _swagger_rest_apis()
    _binary_media_type_patches()
    _sqs_redrive_allow_policy()
    _sqs_compact_redrive_policy()
    _sqs_keep_policy()
    make_dynamodb_atomic()
    _APPLIED = True


def _swagger_rest_apis() -> None:
    put_openapi3 = APIGatewayBackend.put_rest_api

    @functools.wraps(put_openapi3)
    def put_rest_api(
        self: Any,
        function_id: str,
        api_doc: dict[str, Any],
        fail_on_warnings: bool,
        mode: str = "merge",
    ) -> Any:
        if api_doc.get("swagger") is None:
            return put_openapi3(self, function_id, api_doc, fail_on_warnings, mode)
        # moto's importer reads only what Swagger 2.0 and OpenAPI 3 share (paths,
        # methods, x-amazon-apigateway-integration); its validator knows only OpenAPI 3.
        shared = {key: value for key, value in api_doc.items() if key != "swagger"}
        put_openapi3(self, function_id, shared, False, mode)
        rest_api = self.get_rest_api(function_id)
        if mode == "overwrite":
            rest_api.authorizers.clear()
        authorizers = _swagger_authorizers(self, function_id, rest_api, api_doc)
        _swagger_method_security(rest_api, api_doc, authorizers)
        media_types = api_doc.get("x-amazon-apigateway-binary-media-types")
        if media_types is not None:
            rest_api.binaryMediaTypes = list(media_types)
        return rest_api

    import_openapi3 = APIGatewayBackend.import_rest_api

    @functools.wraps(import_openapi3)
    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        if api_doc.get("swagger") is None:
            return import_openapi3(self, api_doc, fail_on_warnings)
        info = api_doc.get("info", {})
        api = self.create_rest_api(name=info.get("title"), description=info.get("description"))
        self.put_rest_api(api.id, api_doc, fail_on_warnings=fail_on_warnings)
        return api

    APIGatewayBackend.put_rest_api = put_rest_api  # type: ignore[method-assign]
    APIGatewayBackend.import_rest_api = import_rest_api  # type: ignore[method-assign]


def _swagger_authorizers(
    backend: Any, function_id: str, rest_api: Any, api_doc: dict[str, Any]
) -> dict[str, str]:
    """The authorizers of `securityDefinitions`, created if absent: {name: authorizer id}."""
    existing = {authorizer.name: authorizer.id for authorizer in rest_api.authorizers.values()}
    found: dict[str, str] = {}
    for name, scheme in api_doc.get("securityDefinitions", {}).items():
        extension = scheme.get("x-amazon-apigateway-authorizer")
        if extension is None:
            continue
        if name not in existing:
            header = scheme.get("name", "Authorization")
            authorizer = backend.create_authorizer(
                function_id,
                name,
                _authorizer_type(extension["type"]),
                provider_arns=extension.get("providerARNs"),
                auth_type=scheme.get("x-amazon-apigateway-authtype"),
                authorizer_uri=extension.get("authorizerUri"),
                authorizer_credentials=extension.get("authorizerCredentials"),
                identity_source=extension.get("identitySource", f"method.request.header.{header}"),
                authorizer_result_ttl=extension.get("authorizerResultTtlInSeconds"),
            )
            existing[name] = authorizer.id
        found[name] = existing[name]
    return found


def _authorizer_type(swagger_type: str) -> str:
    # Swagger spells them `cognito_user_pools`, `token`, `request`; the API, upper case.
    return swagger_type.upper()


def _swagger_method_security(
    rest_api: Any, api_doc: dict[str, Any], authorizers: dict[str, str]
) -> None:
    default_security = api_doc.get("security")
    for path, methods in api_doc.get("paths", {}).items():
        resource = rest_api.get_resource_for_path(path)
        for method_type, method_doc in methods.items():
            method = resource.resource_methods.get(method_type.upper())
            if method is None or not isinstance(method_doc, dict):
                continue
            security = method_doc.get("security", default_security) or []
            names = [name for requirement in security for name in requirement]
            if not names or names[0] not in authorizers:
                method.authorization_type = "NONE"
                continue
            authorizer = rest_api.authorizers[authorizers[names[0]]]
            method.authorization_type = authorizer.type
            method.authorizer_id = authorizer.id
            scopes = security[0][names[0]]
            method.authorization_scopes = scopes or None


def _binary_media_type_patches() -> None:
    apply_others = RestAPI.apply_patch_operations
    prefix = "/binaryMediaTypes/"

    @functools.wraps(apply_others)
    def apply_patch_operations(self: Any, patch_operations: list[dict[str, Any]]) -> None:
        others = []
        for operation in patch_operations:
            path = operation.get("path", "")
            if not path.startswith(prefix):
                others.append(operation)
                continue
            media_type = _unescape_pointer(path[len(prefix) :])
            op = operation.get("op")
            if op == "add" and media_type not in self.binaryMediaTypes:
                self.binaryMediaTypes.append(media_type)
            elif op == "remove" and media_type in self.binaryMediaTypes:
                self.binaryMediaTypes.remove(media_type)
            elif op == "replace":
                kept = [t for t in self.binaryMediaTypes if t != media_type]
                self.binaryMediaTypes = [*kept, operation.get("value", media_type)]
        apply_others(self, others)

    RestAPI.apply_patch_operations = apply_patch_operations  # type: ignore[method-assign]


def _unescape_pointer(segment: str) -> str:
    # JSON Pointer (RFC 6901), as API Gateway patch paths spell `/` and `~`.
    return segment.replace("~1", "/").replace("~0", "~")


def _sqs_redrive_allow_policy() -> None:
    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    # Read by Queue.attributes for every queue; set by SetQueueAttributes (moto
    # stores every attribute it is given under its snake_case name).
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]


def _sqs_compact_redrive_policy() -> None:
    # A property at run time (mypy takes a property read on the class for its getter).
    attributes = cast(property, Queue.attributes).fget
    assert attributes is not None

    @functools.wraps(attributes)
    def compact(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = attributes(self)
        if "RedrivePolicy" in result:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(compact)  # type: ignore[method-assign,assignment]


def _sqs_keep_policy() -> None:
    set_all = Queue._set_attributes

    @functools.wraps(set_all)
    def set_named(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        kept = getattr(self, "policy", None)
        set_all(self, attributes, now)
        if "Policy" not in attributes:
            self.policy = kept
        if attributes.get("RedriveAllowPolicy") == "":
            self.redrive_allow_policy = None  # an empty value removes it, as in SQS

    Queue._set_attributes = set_named  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """Serve moto, with the gaps patched, on 127.0.0.1:`--port` until terminated."""
    parser = argparse.ArgumentParser(description="moto server with the gaps patched")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    exit_with_parent()
    apply()
    server.main(["--host", "127.0.0.1", "--port", str(args.port)])


def exit_with_parent() -> None:
    # A test process killed outright never runs its cleanup: leave no server behind.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    main()
