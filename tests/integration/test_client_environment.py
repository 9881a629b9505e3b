"""chalice.test's clients leave os.environ as it was, however many threads call them.

By itself, chalice.test's client runs each request and invocation with the stage's
variables from .chalice/config.json (stage dev, which as committed carries
UNBACKED_STAGE=dev). It does that by swapping `os.environ` for a patched copy and putting
back the object it found. When two calls overlap and the first finishes first, the second
puts back the first call's copy, and that copy stays as `os.environ` for every later test
of the process: packaging the dev stage (tests/deploy) then failed, because the app
refused to load ("stage dev has no backing resources yet"). conftest's
`_environment_left_alone` stops the clients from touching os.environ.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from chalice.app import Chalice
from chalice.test import Client

from infra.stage import PROJECT_DIR

WAIT = 10.0


def test_overlapping_invocations_leave_the_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Invocation A begins, then B, then A ends before B: chalice's swap has B put back
    A's patched copy (as the concurrency tests' threads did)."""
    # Each Chalice app appends to AWS_EXECUTION_ENV when it is made: undone after the test.
    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    probe = Chalice(app_name="environment-probe")
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, str | None] = {}

    @probe.lambda_function(name="a")
    def a(event: Any, context: Any) -> None:
        seen["a"] = os.environ.get("UNBACKED_STAGE")
        a_inside.set()
        b_inside.wait(WAIT)

    @probe.lambda_function(name="b")
    def b(event: Any, context: Any) -> None:
        seen["b"] = os.environ.get("UNBACKED_STAGE")
        b_inside.set()
        a_done.wait(WAIT)

    environment, before = os.environ, dict(os.environ)
    # The project's config: stage dev, as the integration tests' clients read it.
    with Client(probe, project_dir=str(PROJECT_DIR)) as client:

        def invoke_a() -> None:
            try:
                client.lambda_.invoke("a")
            finally:
                a_done.set()

        thread = threading.Thread(target=invoke_a)
        thread.start()
        assert a_inside.wait(WAIT)
        try:
            client.lambda_.invoke("b")
            thread.join(WAIT)
            left = os.environ
        finally:
            # Puts back the process's own os.environ if the client swapped it: a failure
            # here fails this test, not the tests after it.
            os.environ = environment  # noqa: B003

    assert left is environment
    assert dict(left) == before
    # The in-process app takes its settings from `services`, never from a deployable stage.
    assert seen == {"a": None, "b": None}
