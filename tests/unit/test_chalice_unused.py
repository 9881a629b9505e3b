"""What of Chalice's runtime the Lambda zip leaves out (infra/chalice_unused.py): only what
the app never uses, and never a name something left in still runs. The app's integration
tests on the zip's runtime are tests/deploy/test_lambda_zip.py's."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import chalice
import pytest

from infra.chalice_unused import UNUSED_CLASSES, UNUSED_METHODS, UnexpectedRuntime, without_unused

RUNTIME = (Path(chalice.__file__).parent / "app.py").read_text()


def _defined(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef | ast.FunctionDef)}


def test_the_runtime_loses_the_unused_classes_and_methods_and_keeps_what_the_app_uses() -> None:
    shaken = without_unused(RUNTIME)
    left = _defined(shaken)

    assert not left & UNUSED_CLASSES
    assert {"Chalice", "Response", "CognitoUserPoolAuthorizer", "SQSEvent", "Rate"} <= left
    methods = {
        (c.name, m.name)
        for c in ast.parse(shaken).body
        if isinstance(c, ast.ClassDef)
        for m in c.body
        if isinstance(m, ast.FunctionDef)
    }
    assert not {(c, m) for c, names in UNUSED_METHODS.items() for m in names} & methods
    assert {("DecoratorAPI", "route"), ("DecoratorAPI", "on_sqs_message")} <= methods
    assert len(shaken) < 0.75 * len(RUNTIME)


def test_the_shaken_runtime_runs_an_app_of_routes_queues_and_schedules(tmp_path: Path) -> None:
    """Imported on its own (no installed Chalice beside it), it makes the app's kinds of
    handler; a decorator it left out is gone (the app's use of one fails its import)."""
    (tmp_path / "shaken_app.py").write_text(without_unused(RUNTIME))
    namespace: dict[str, Any] = {}
    exec(compile((tmp_path / "shaken_app.py").read_text(), "shaken_app.py", "exec"), namespace)
    app = namespace["Chalice"]("probe")

    def view() -> dict[str, str]:
        return {}

    def job(event: object) -> None:
        pass

    def tick(event: object) -> None:
        pass

    app.register_middleware(lambda event, get_response: get_response(event), "all")
    app.route("/x")(view)
    app.on_sqs_message(queue="q")(job)
    app.schedule(namespace["Rate"](1, unit=namespace["Rate"].MINUTES))(tick)
    assert app.websocket_api is None
    assert set(app.handler_map) == {"view", "job", "tick"}
    with pytest.raises(AttributeError):
        app.on_s3_event  # noqa: B018
    with pytest.raises(AttributeError):  # the app calls register_middleware, not @middleware
        app.middleware  # noqa: B018
    assert namespace["_MIDDLEWARE_MAPPING"] == {"on_sqs_message": "sqs", "schedule": "scheduled"}
    with pytest.raises(NameError, match="CORSConfig"):  # no cross-origin headers: loud
        app.route("/y", cors=True)(view)


def test_a_runtime_unlike_the_one_it_knows_stops_the_build_saying_what() -> None:
    """A Chalice without one of the names, or whose kept code uses one of the classes, is
    never shipped with a dangling name."""
    renamed = RUNTIME.replace("class WebsocketEvent(", "class WebsocketEvent2(")
    with pytest.raises(UnexpectedRuntime, match="no class WebsocketEvent"):
        without_unused(renamed)
    used = RUNTIME.replace(
        "class Response(", "S3EventSeenAtImport = S3Event\n\n\nclass Response(", 1
    )
    with pytest.raises(UnexpectedRuntime, match="still uses S3Event"):
        without_unused(used)
    no_method = RUNTIME.replace("def on_s3_event(", "def on_s3_event_renamed(")
    with pytest.raises(UnexpectedRuntime, match="DecoratorAPI has no on_s3_event"):
        without_unused(no_method)


def test_a_module_that_is_not_chalices_runtime_is_left_as_it_is() -> None:
    stand_in = "def route(path: str) -> None:\n    pass\n"
    assert without_unused(stand_in) == stand_in
