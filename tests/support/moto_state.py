"""moto's state between in-process tests, dropped and made again cheaply.

The integration tests each started and stopped `mock_aws()` and made the table and the
queues through the API: about 40 ms of CPU a test before it did anything (a third of the
folder's CPU). Starting the mock registers moto's 1,288 URL patterns again; its reset
rebuilds every backend it drops (EC2's default VPC and subnets included) before throwing
it away; and the table and the queues took seven calls through botocore and moto's
handlers. Here the mock is started once, a test's state is dropped as moto's reset
drops it (without the rebuild), and the table and the queues are made by replaying on
moto's backends the calls its own handlers made the first time (`Replay`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend, backend_lock
from moto.core.model_instances import reset_model_data


def drop_state() -> None:
    """Every backend moto holds, dropped (the next call makes a fresh one): what
    `BackendDict.reset` ends with, without first rebuilding each backend it drops. A
    backend whose reset does more than rebuild it is reset first (S3's frees its buckets'
    names, which its `BackendDict` keeps outside the backends)."""
    instances: list[BackendDict[Any]] = vars(BackendDict)["_instances"]
    with backend_lock:
        for backends in instances:
            for regions in backends.values():
                for backend in regions.values():
                    if type(backend).reset is not BaseBackend.reset:
                        backend.reset()
            backends.clear()
        instances.clear()
    reset_model_data()


@dataclass(frozen=True)
class _Call:
    backends: BackendDict[Any]
    account: str
    region: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class Replay:
    """Calls moto's handlers made on its backends, to make the same state again."""

    calls: list[_Call] = field(default_factory=list)

    def __call__(self) -> None:
        """Make again, on the current backends, what the recorded calls made."""
        for call in self.calls:
            backend = call.backends[call.account][call.region]
            getattr(backend, call.method)(*copy.deepcopy(call.args), **copy.deepcopy(call.kwargs))


@contextlib.contextmanager
def recording(methods: dict[BackendDict[Any], tuple[str, ...]]) -> Iterator[Replay]:
    """Record the calls of `methods` (by their backends) made inside the block: only
    those that change state are worth naming (reads need no replay)."""
    replay = Replay()
    originals: list[tuple[type, str, Any]] = []

    def recorded(backends: BackendDict[Any], name: str, original: Any) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            replay.calls.append(
                _Call(
                    backends,
                    self.account_id,
                    self.region_name,
                    name,
                    copy.deepcopy(args),
                    copy.deepcopy(kwargs),
                )
            )
            return original(self, *args, **kwargs)

        return method

    for backends, names in methods.items():
        for name in names:
            original = getattr(backends.backend, name)
            originals.append((backends.backend, name, original))
            setattr(backends.backend, name, recorded(backends, name, original))
    try:
        yield replay
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)
