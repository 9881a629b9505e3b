"""Under pytest-xdist the workers take the groups of tests longest first (tests/conftest.py,
GROUP_ORDER), each group's tests in their own order, its `after_all` ones still last."""

from __future__ import annotations

from dataclasses import dataclass

import conftest
import pytest


@dataclass
class Item:
    nodeid: str


def test_the_groups_come_longest_first_then_the_rest_each_in_its_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collected = [
        "tests/deploy/test_backing.py::test_a",
        "tests/e2e/test_console.py::test_b",
        "tests/e2e/test_convergence.py::test_c",
        "tests/integration/test_api.py::test_d",
        "tests/integration/test_chaos.py::test_e",
        "tests/unit/test_auth.py::test_f",
        "tests/integration/test_iam_policies.py::test_after_all",
        "tests/deploy/test_terraform_apply.py::test_after_all",
    ]
    items = [Item(nodeid) for nodeid in collected]
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")

    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]

    assert [item.nodeid for item in items] == [
        "tests/integration/test_api.py::test_d",
        "tests/integration/test_iam_policies.py::test_after_all",
        "tests/deploy/test_backing.py::test_a",
        "tests/deploy/test_terraform_apply.py::test_after_all",
        "tests/integration/test_chaos.py::test_e",
        "tests/e2e/test_convergence.py::test_c",
        "tests/e2e/test_console.py::test_b",
        "tests/unit/test_auth.py::test_f",
    ]
    assert [conftest.group_of(item.nodeid) for item in items][-1] == items[-1].nodeid
