"""Both deployments of each stage, built once per test session (what `make package` writes)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.package import Packages, package
from infra.stage import Stage, load_stage

STAGES = ("dev", "prod")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packages]:
    return {name: package(name, tmp_path_factory.mktemp(name)) for name in STAGES}


@pytest.fixture(scope="session", params=STAGES)
def stage(request: pytest.FixtureRequest) -> Stage:
    return load_stage(str(request.param))


@pytest.fixture(scope="session")
def sam(built: dict[str, Packages], stage: Stage) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(
        (built[stage.name].cloudformation / "sam.json").read_text()
    )
    return template


@pytest.fixture(scope="session")
def tf(built: dict[str, Packages], stage: Stage) -> dict[str, Any]:
    """chalice.tf.json and backing.tf.json, merged into one document per block type."""
    merged: dict[str, Any] = {}
    for name in ("chalice.tf.json", "backing.tf.json"):
        doc = json.loads((built[stage.name].terraform / name).read_text())
        for block, content in doc.items():
            if block in ("resource", "data"):
                for kind, items in content.items():
                    merged.setdefault(block, {}).setdefault(kind, {}).update(items)
            elif isinstance(content, dict):
                merged.setdefault(block, {}).update(content)
    return merged


def terraform_mirror() -> Path | None:
    """The local provider mirror: a folder holding registry.terraform.io/hashicorp/aws."""
    candidates = [os.environ.get("TF_PLUGIN_MIRROR", "")]
    for root in ("/opt", "/usr/local/share", "/usr/share", str(Path.home() / ".terraform.d")):
        candidates += [str(p.parent) for p in Path(root).glob("*/registry.terraform.io")]
        candidates += [str(p.parent) for p in Path(root).glob("*/*/registry.terraform.io")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def terraform() -> tuple[str, Path]:
    executable = shutil.which("terraform")
    if executable is None:
        pytest.skip("terraform is not installed on this machine")
    mirror = terraform_mirror()
    if mirror is None:
        pytest.skip("no local Terraform provider mirror (a folder with registry.terraform.io)")
    return executable, mirror
