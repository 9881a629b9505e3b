"""`load_stage`: the checks that keep a bad stage from being packaged or deployed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.package import package
from infra.stage import CONFIG_PATH, load_stage

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def config_copy(tmp_path: Path) -> Callable[[Edit], Path]:
    """A tmp copy of .chalice/, its config.json changed by `edit`; returns config.json."""

    def make(edit: Edit) -> Path:
        config_dir = tmp_path / ".chalice"
        shutil.copytree(CONFIG_PATH.parent, config_dir, ignore=shutil.ignore_patterns("deploy*"))
        path = config_dir / "config.json"
        config = json.loads(path.read_text())
        edit(config)
        path.write_text(json.dumps(config))
        return path

    return make


def _grace(seconds: int, stage: str | None = None) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        env = (
            config["stages"][stage]["environment_variables"]
            if stage
            else config["environment_variables"]
        )
        env["RECONCILE_GRACE_SECONDS"] = str(seconds)

    return edit


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("offset", [0, -1, -300])
def test_a_reconcile_grace_not_above_the_workers_timeout_is_refused(
    config_copy: Callable[[Edit], Path], stage: str, offset: int
) -> None:
    worker_timeout = load_stage(stage).worker_timeout
    config = config_copy(_grace(worker_timeout + offset))

    with pytest.raises(ValueError, match=r"RECONCILE_GRACE_SECONDS \(\d+\) must exceed"):
        load_stage(stage, config)


def test_the_grace_is_compared_with_the_stages_own_worker_timeout(
    config_copy: Callable[[Edit], Path],
) -> None:
    """A stage's override of the grace, or of the worker's timeout, is what counts."""

    def edit(config: dict[str, Any]) -> None:
        _grace(10_000)(config)  # the default, far above every timeout
        _grace(301, "prod")(config)
        config["stages"]["dev"]["lambda_functions"]["worker"]["lambda_timeout"] = 10_000

    config = config_copy(edit)

    assert load_stage("prod", config).reconcile_grace_seconds == 301
    with pytest.raises(ValueError, match=r"\(10000\) must exceed the worker's lambda_timeout"):
        load_stage("dev", config)


def test_packaging_refuses_such_a_stage_before_building_anything(
    config_copy: Callable[[Edit], Path], tmp_path: Path
) -> None:
    config = config_copy(_grace(load_stage("dev").worker_timeout, "dev"))

    with pytest.raises(ValueError, match="RECONCILE_GRACE_SECONDS"):
        package("dev", tmp_path / "dist", config)
    assert not (tmp_path / "dist").exists()


def test_the_projects_stages_leave_the_reconciler_a_margin() -> None:
    for name in ("dev", "prod"):
        stage = load_stage(name)
        assert stage.reconcile_grace_seconds > stage.worker_timeout, name


@pytest.mark.parametrize("value", ["1", "0", "1001", "two"])
def test_a_worker_max_concurrency_lambda_refuses_is_refused_naming_the_range(
    config_copy: Callable[[Edit], Path], value: str
) -> None:
    """Lambda's SQS event source takes a maximum concurrency of 2 to 1000: AWS would
    refuse any other only half-way through a deploy (moto does not check)."""

    def concurrency(config: dict[str, Any]) -> None:
        config["stages"]["dev"]["environment_variables"]["WORKER_MAX_CONCURRENCY"] = value

    with pytest.raises(ValueError, match=r"WORKER_MAX_CONCURRENCY is .* from 2 to 1000"):
        load_stage("dev", config_copy(concurrency))


@pytest.mark.parametrize("value", ["2", "1000"])
def test_the_ends_of_the_worker_concurrency_range_are_accepted(
    config_copy: Callable[[Edit], Path], value: str
) -> None:
    def concurrency(config: dict[str, Any]) -> None:
        config["stages"]["dev"]["environment_variables"]["WORKER_MAX_CONCURRENCY"] = value

    assert load_stage("dev", config_copy(concurrency)).worker_max_concurrency == int(value)
