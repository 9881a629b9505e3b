"""Fixtures the unit tests of vpcctl share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.fake_api import FakeApi, serve


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """A fake vpc-provisioner API on this machine, answering what a test scripts."""
    yield from serve()
