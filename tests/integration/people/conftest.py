"""Fixtures of the people test: the hooks it puts on the app's EC2 client (taken off at
its end: the client outlives the test). Under `make people` each seed is a unit of work of
its own (tests/conftest.py `PEOPLE_ALONE`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.conftest import Stack
from integration.people.faults import ListingLags
from integration.people.world import DeadRoutesSaid


@pytest.fixture
def lags(stack: Stack) -> Iterator[ListingLags]:
    """The app's listings lag while a lag is on (`ListingLags.start`), and its route table
    reads say `blackhole` as EC2 does (`DeadRoutesSaid`); both hooks are unregistered
    when the test ends, however it ends."""
    dead_routes = DeadRoutesSaid(stack.clients.ec2, stack.truth.ec2)
    listing_lags = ListingLags(stack.clients.ec2)
    dead_routes.install()
    listing_lags.install()
    try:
        yield listing_lags
    finally:
        listing_lags.uninstall()
        dead_routes.uninstall()
