"""What of Chalice's runtime (the zip's `chalice/app.py`) this app never uses, left out of
the Lambda zip before python-minifier shrinks the rest (`infra/lambda_zip.py`): the
decorators of event sources it has none of (S3, SNS, Kinesis, DynamoDB streams, websockets,
CloudWatch event patterns: its schedules are rates), plain Lambda functions, Chalice's
built-in authorizers (the API's is Cognito's, API Gateway's own) and blueprints, with the
classes only they reach. 3.4 KiB of the zip's 128 (2026-12-07), a third of the runtime;
the CloudWatch events, cron expressions and plain functions 0.3 KiB more (that evening),
the cross-origin (CORS) headers no route asks for and what only `chalice package`
asks of an authorizer, 0.4 KiB (the next morning); the middleware decorator and
ConvertToMiddleware (the app registers functions), with what only they used, 0.25 KiB
(2026-12-08).

A decorator it leaves out no longer exists in the zip: the app's use of one would fail its
import, which the tests that run the app on the zip's runtime would show
(tests/deploy/test_lambda_zip.py). Each name is checked: a Chalice whose runtime no longer
has one of them, or uses one of the classes anywhere but where its use is guarded (below),
stops the build saying so, never ships a runtime with a dangling name.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

# Methods whose decorators and registrations the app never uses, by class.
UNUSED_METHODS = {
    "DecoratorAPI": {
        "authorizer",
        "on_s3_event",
        "on_sns_message",
        "on_kinesis_record",
        "on_dynamodb_record",
        "on_ws_connect",
        "on_ws_disconnect",
        "on_ws_message",
        "on_cw_event",
        "lambda_function",
        # The app registers its middleware with `register_middleware`, not this decorator.
        "middleware",
    },
    "_HandlerRegistration": {
        "_attach_websocket_handler",
        "_register_on_ws_connect",
        "_register_on_ws_message",
        "_register_on_ws_disconnect",
        "_register_on_s3_event",
        "_register_on_sns_message",
        "_register_on_kinesis_record",
        "_register_on_dynamodb_record",
        "_register_authorizer",
        "_register_on_cw_event",
        "_register_lambda_function",
    },
    # What `chalice package` asks of an authorizer (its swagger, scopes), on the machine
    # that builds the zip, with its own Chalice: never at run time.
    "Authorizer": {"to_swagger", "with_scopes"},
    "CognitoUserPoolAuthorizer": {"to_swagger", "with_scopes"},
    # Cross-origin headers: the console is served from the API's own origin (no route
    # sets `cors`, so `_cors_enabled_for_route` is False and these are never called).
    "RestAPIEventHandler": {"_get_cors_headers", "_add_cors_headers"},
    # What only ConvertToMiddleware (below) asks of a request.
    "Request": {"to_original_event", "to_dict"},
    "Chalice": {
        "register_blueprint",
        "_register_on_ws_connect",
        "_register_on_ws_message",
        "_register_on_ws_disconnect",
    },
}
# Classes only those methods (and the entries of `_EVENT_CLASSES` for their handler types)
# reach.
UNUSED_CLASSES = {
    "WebsocketDisconnectedError",
    "WebsocketAPI",
    "WebsocketConnectConfig",
    "WebsocketMessageConfig",
    "WebsocketDisconnectConfig",
    "WebsocketEventSourceHandler",
    "WebsocketEvent",
    "S3EventConfig",
    "SNSEventConfig",
    "KinesisEventConfig",
    "DynamoDBEventConfig",
    "S3Event",
    "SNSEvent",
    "KinesisEvent",
    "KinesisRecord",
    "DynamoDBEvent",
    "DynamoDBRecord",
    "Blueprint",
    "IAMAuthorizer",
    "CustomAuthorizer",
    "BuiltinAuthConfig",
    "ChaliceAuthorizer",
    "AuthRequest",
    "AuthResponse",
    "AuthRoute",
    "CloudWatchEventConfig",
    "Cron",
    "LambdaFunction",
    "PureLambdaWrapper",
    "LambdaFunctionEvent",
    "CORSConfig",
    # Wraps a plain Lambda wrapper as middleware: the app's middleware are functions.
    "ConvertToMiddleware",
}
# Where a removed class may still be named, in branches no handler of the app takes:
# `DecoratorAPI._wrap_handler` (a websocket handler, with `websocket_api` None; an
# authorizer), `RouteEntry.__init__` (a route with `cors=True`).
_GUARDED = {("DecoratorAPI", "_wrap_handler"), ("RouteEntry", "__init__")}


class UnexpectedRuntime(Exception):
    """Chalice's runtime is not the one this module knows: say what to change here."""


def without_unused(source: str) -> str:
    """`source` (Chalice's `app.py`, the module that defines `Chalice`) without
    UNUSED_CLASSES and UNUSED_METHODS, the entries of `_EVENT_CLASSES` that name one of
    those classes and those of `_MIDDLEWARE_MAPPING` for a decorator it takes out, and
    Chalice's websocket API (its `websocket_api` None). Raises UnexpectedRuntime where the
    source is not as expected."""
    tree = ast.parse(source)
    found = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    if "Chalice" not in found:
        return source  # not Chalice's runtime (a test's stand-in): nothing to take out
    if missing := sorted(UNUSED_CLASSES - found):
        raise UnexpectedRuntime(f"Chalice's runtime has no class {', '.join(missing)}")
    tree.body = [n for n in tree.body if not _unused_class(n)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in UNUSED_METHODS:
            node.body = _without_methods(node)
        elif isinstance(node, ast.Assign) and _names(node) == ["_EVENT_CLASSES"]:
            _drop_entries(node.value, "_EVENT_CLASSES", _names_unused_class)
        elif isinstance(node, ast.Assign) and _names(node) == ["_MIDDLEWARE_MAPPING"]:
            _drop_entries(node.value, "_MIDDLEWARE_MAPPING", _keys_removed_decorator)
    _no_websocket_api(tree)
    tree = ast.fix_missing_locations(_Unannotated().visit(tree))
    _check_no_dangling_names(tree)
    return ast.unparse(tree)


def _unused_class(node: ast.stmt) -> bool:
    return isinstance(node, ast.ClassDef) and node.name in UNUSED_CLASSES


def _names(node: ast.Assign) -> list[str]:
    return [t.id for t in node.targets if isinstance(t, ast.Name)]


def _without_methods(node: ast.ClassDef) -> list[ast.stmt]:
    unused = UNUSED_METHODS[node.name]
    methods = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
    if missing := sorted(unused - methods):
        raise UnexpectedRuntime(f"Chalice's {node.name} has no {', '.join(missing)}")
    return [m for m in node.body if not (isinstance(m, ast.FunctionDef) and m.name in unused)]


def _drop_entries(table: ast.expr, name: str, unused: Callable[[Any, Any], bool]) -> None:
    """`table` (Chalice's dict display `name`) without the entries `unused` says of, given
    an entry's key and value nodes."""
    if not isinstance(table, ast.Dict):
        raise UnexpectedRuntime(f"Chalice's {name} is not a dict display")
    kept = [
        (key, value)
        for key, value in zip(table.keys, table.values, strict=True)
        if not unused(key, value)
    ]
    table.keys = [key for key, _ in kept]
    table.values = [value for _, value in kept]


def _names_unused_class(_: Any, value: Any) -> bool:
    """An `_EVENT_CLASSES` entry for a removed event class."""
    return isinstance(value, ast.Name) and value.id in UNUSED_CLASSES


def _keys_removed_decorator(key: Any, _: Any) -> bool:
    """A `_MIDDLEWARE_MAPPING` entry for a handler type no decorator registers any more."""
    return isinstance(key, ast.Constant) and key.value in UNUSED_METHODS["DecoratorAPI"]


def _no_websocket_api(tree: ast.Module) -> None:
    """`self.websocket_api = WebsocketAPI()` in Chalice.__init__ becomes `= None` (what
    DecoratorAPI's class attribute says before it; `_wrap_handler` checks it)."""
    replaced = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.Assign) and _calls(node.value, "WebsocketAPI"):
            node.value = ast.Constant(None)
            replaced += 1
    if replaced != 1:
        raise UnexpectedRuntime(f"Chalice makes its WebsocketAPI {replaced} times, not once")


def _calls(value: ast.expr | None, name: str) -> bool:
    return (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == name
    )


class _Unannotated(ast.NodeTransformer):
    """Annotations that name a removed class, left out: a class attribute's is evaluated
    when the class is made (`websocket_api: Optional[WebsocketAPI] = None`), a function's
    when it is defined."""

    def _names_unused(self, annotation: ast.expr | None) -> bool:
        return annotation is not None and any(
            isinstance(n, ast.Name) and n.id in UNUSED_CLASSES for n in ast.walk(annotation)
        )

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt | None:
        if not self._names_unused(node.annotation):
            return node
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        if self._names_unused(node.annotation):
            node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if self._names_unused(node.returns):
            node.returns = None
        return node


def _check_no_dangling_names(tree: ast.Module) -> None:
    """No removed class is named where the runtime may run it but in the guarded branches
    of `_GUARDED`."""
    guarded: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and (node.name, method.name) in _GUARDED:
                    guarded.update(id(n) for n in ast.walk(method))
    dangling = sorted(
        {
            n.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Name) and n.id in UNUSED_CLASSES and id(n) not in guarded
        }
    )
    if dangling:
        raise UnexpectedRuntime(f"Chalice's runtime still uses {', '.join(dangling)}")
