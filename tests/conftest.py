"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from devstack import ec2_fidelity
from devstack.moto_answers import plain_dynamodb_answers
from devstack.moto_fixes import bound_transaction_snapshots, direct_ec2_tags
from devstack.moto_process import without_amis
from devstack.moto_speed import speed_up_moto

# The suite behaves alike in a shell where `eval "$(make -s env)"` ran (the quick start's
# terminal 2): the eval is undone here as `make -s unenv` would, or its endpoint, its
# credentials and its marker would make the deployers refuse the tests' moto servers
# (infra/aws.py, local_stack_refusal) and `make run` read AWS_ENDPOINT_URL otherwise.
if "DEVSTACK_SAVED" in os.environ:  # only then: the zip's tests run this with its chalicelib
    from devstack.env import undo

    undo(os.environ)
for _name in [name for name in os.environ if name.startswith("DEVSTACK_SAVED")]:
    del os.environ[_name]

# No test runs an instance: moto's AMI catalogue was 40% of the integration tests' CPU.
without_amis()
# moto's per-call costs that change no answer (devstack/moto_speed.py: 10% of the
# integration tests' time under a profiler).
speed_up_moto()
# The local stack's moto, as its process patches it (devstack/moto_fixes.py): a failed
# transaction restores the items it touched, not a deep copy of each table taken before
# every transaction (7% of the integration tests' time under a profiler, and growing with
# the table);
# a resource's tags are read by its id. `make_dynamodb_atomic` still wraps both.
bound_transaction_snapshots()
direct_ec2_tags()
# DynamoDB's item answers written as JSON directly, not walked through moto's serializer
# (devstack/moto_answers.py: most of a busy local stack's moto CPU).
plain_dynamodb_answers()
# And as EC2 does, a deleted subnet's route table associations go with it
# (devstack/ec2_fidelity.py).
ec2_fidelity.apply()

# Under pytest-xdist (`make test`), each of these folders runs on one worker: their
# session fixtures (moto clients, the local stack, the packaged deployments and the
# Terraform apply begun early) are built once, and their `after_all` checks (the IAM
# drift check) see every call of the folder. The unit tests spread over the workers.
GROUPED = ("integration", "e2e", "deploy")
# Files grouped apart from their folder (each group its own local stack): the e2e folder
# alone was the run's longest unit of work (about 330 s on two cores: its tests mostly wait
# for the stack), so it runs as three groups of about a minute to two and a half.
OWN_GROUP = {
    # The integration folder alone was the run's longest unit (about 280 s of its 330):
    # these files run as a second group, with an IAM check of their own calls.
    **{
        f"tests/integration/{name}.py": "integration-b"
        for name in (
            "test_chaos",
            "test_drift",
            "test_drift_exposure",
            "test_drift_exposure_lag",
            "test_address_pools",
            "test_api_fuzz",
            "test_tag_is_not_proof",
            "test_address_contention",
            "test_address_blocks",
            "test_status_history",
            "test_iam_policies_b",
            "people/test_people",
        )
    },
    "tests/e2e/test_console.py": "e2e-console",
    "tests/e2e/test_console_states.py": "e2e-console",
    "tests/e2e/test_convergence.py": "e2e-upkeep",
    "tests/e2e/test_drift.py": "e2e-upkeep",
    "tests/e2e/test_stack_state.py": "e2e-upkeep",
    "tests/e2e/test_moto_process.py": "e2e-upkeep",
}
# The order the workers take the groups in, longest first (seconds on two cores, a fresh
# clone's `make test`, 2026-12-07): 285, 267, 158, 150, 142, 113 (a later run: 312, 310,
# 167, 165, 165, 155); the unit tests, one by one, fill in after. By their number of
# tests (xdist's own order) the 150 s group, 34 tests, was taken fifth, at 185 s, and
# ended the run 25 s after the others.
GROUP_ORDER = ("integration", "deploy", "integration-b", "e2e-upkeep", "e2e", "e2e-console")
# `make chaos` (CHAOS_RUNS seeds, nothing else): each seed a unit of its own, spread over
# the workers (grouped with the folder, all ran on one).
CHAOS_ALONE = "CHAOS_RUNS" in os.environ
# `make people` (PEOPLE_RUNS seeds) likewise.
PEOPLE_ALONE = "PEOPLE_RUNS" in os.environ


def group_of(nodeid: str) -> str:
    """The unit of work a test is in: its group's name, or its own id."""
    if CHAOS_ALONE and nodeid.startswith("tests/integration/test_chaos.py"):
        return nodeid
    if PEOPLE_ALONE and nodeid.startswith("tests/integration/people/"):
        return nodeid
    group = OWN_GROUP.get(nodeid.split("::", maxsplit=1)[0])
    if group:
        return group
    parts = nodeid.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return folder if folder in GROUPED else nodeid


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist, the groups in GROUP_ORDER, then everything else; each group's tests in
    the order they had (its `after_all` tests still last)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    rank = {group: n for n, group in enumerate(GROUP_ORDER)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """One work unit per group (`group_of`), taken in the order the tests were collected
    in (GROUP_ORDER first), not by their number of tests. (pytest-xdist's own `--dist
    loadgroup` does not group under pytest 9: it renames node ids in a way pytest 9 no
    longer reads.)"""
    config.option.loadscopereorder = False

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class SleepRecorder:
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
