"""The local stack's faults file (devstack/faults_file.py, the injector's `watch`), which
the end-to-end tests write: the stack injects what the file holds now, not what an
earlier test left."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.fault_injector import FaultInjector


@pytest.fixture
def ec2() -> Any:
    """A client whose calls reach nothing: a call no rule answers fails to connect."""
    return boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )


def write(path: Path, rules: list[dict[str, Any]], tick: int) -> None:
    path.write_text(json.dumps(rules))
    os.utime(path, (tick, tick))  # a new mtime, whatever the filesystem's resolution


def answer(ec2: Any) -> str:
    try:
        ec2.create_vpc(CidrBlock="10.0.0.0/16")
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    except EndpointConnectionError:
        return "no rule"
    raise AssertionError("the call cannot succeed")


def test_a_rule_the_file_no_longer_holds_is_withdrawn_though_the_empty_file_went_unseen(
    tmp_path: Path, ec2: Any
) -> None:
    """One test's rule (every call, for good), then the file emptied and the next test's
    rule written before the stack made a call: the first rule is gone all the same."""
    path, injector = tmp_path / "faults.json", FaultInjector()
    injector.attach(ec2)
    old = {"id": "a", "service": "ec2", "operation": "CreateVpc", "code": "Old", "times": -1}
    write(path, [old], 1)
    injector.watch(str(path))
    assert answer(ec2) == "Old"

    write(path, [], 2)
    new = {"id": "b", "service": "ec2", "operation": "CreateVpc", "code": "New", "times": 1}
    write(path, [new], 3)

    assert answer(ec2) == "New"
    assert answer(ec2) == "no rule"


def test_a_file_rule_lets_skip_calls_through_first(tmp_path: Path, ec2: Any) -> None:
    path, injector = tmp_path / "faults.json", FaultInjector()
    injector.attach(ec2)
    rule = {"id": "a", "service": "ec2", "operation": "CreateVpc", "code": "Later", "skip": 1}
    write(path, [rule], 1)
    injector.watch(str(path))

    assert [answer(ec2), answer(ec2), answer(ec2)] == ["no rule", "Later", "no rule"]
