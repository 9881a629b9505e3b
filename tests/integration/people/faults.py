"""What a reconciler run may meet besides people's edits: listings that lag behind them,
and throttled calls (docs/how-it-works.md "Absence from a listing is not evidence": "a
listing lags behind tags, a gateway's attachment, a route table's routes and
associations like behind anything else"; "a lagging or failing read neither makes drift
nor clears it"). Reads by id always answer as EC2 is.

The hooks go on the app's EC2 client, which outlives the test: `install` registers them,
`uninstall` takes them off (the `lags` fixture, conftest.py, when the test ends)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from typing import Any

from devstack.fault_injector import FaultInjector
from integration.people.world import Labels, Resource

Lag = Callable[[Resource], None]

# Each Describe operation and the list its answer holds.
LISTS = {
    "DescribeVpcs": "Vpcs",
    "DescribeSubnets": "Subnets",
    "DescribeInternetGateways": "InternetGateways",
    "DescribeRouteTables": "RouteTables",
}
ID_KEYS = {
    "DescribeVpcs": "VpcId",
    "DescribeSubnets": "SubnetId",
    "DescribeInternetGateways": "InternetGatewayId",
    "DescribeRouteTables": "RouteTableId",
}


def _keep(key: str, keep: Callable[[Resource], bool]) -> Lag:
    """A lag that shows only the items of the resource's `key` list that `keep` accepts."""
    return lambda resource: resource.update({key: [i for i in resource.get(key) or [] if keep(i)]})


# How a listing may lag behind a change, by operation: (name, what it does to an item).
LAGS: dict[str, tuple[tuple[str, Lag], ...]] = {
    "DescribeVpcs": (("no-tags", lambda v: v.update(Tags=[])),),
    "DescribeSubnets": (
        ("no-tags", lambda s: s.update(Tags=[])),
        ("no-public-ips", lambda s: s.update(MapPublicIpOnLaunch=False)),
    ),
    "DescribeInternetGateways": (
        ("no-attachments", lambda g: g.update(Attachments=[])),
        ("no-tags", lambda g: g.update(Tags=[])),
    ),
    "DescribeRouteTables": (
        ("no-associations", _keep("Associations", lambda a: bool(a.get("Main")))),
        ("not-main", _keep("Associations", lambda a: not a.get("Main"))),
        ("local-routes", _keep("Routes", lambda r: r.get("GatewayId") == "local")),
        ("no-tags", lambda t: t.update(Tags=[])),
    ),
}
DELETES = (
    "DeleteInternetGateway",
    "DetachInternetGateway",
    "DeleteRouteTable",
    "DeleteSubnet",
    "DisassociateRouteTable",
)


def by_id(params: dict[str, Any]) -> bool:
    """A read by id (`VpcIds`, `SubnetIds`, ...), not a listing (filters or none)."""
    return any(key.endswith("Ids") for key in params)


def listing(params: dict[str, Any]) -> bool:
    """A listing (filtered or not), not a read by id."""
    return not by_id(params)


def anything(params: dict[str, Any]) -> bool:
    return True


class ListingLags:
    """Makes the app's listings (never its reads by id) show the items a lag chooses (by
    their id) as the lag leaves them, while it is on."""

    def __init__(self, ec2: Any) -> None:
        self._events = ec2.meta.events
        self._on: dict[str, list[tuple[Lag, Callable[[str], bool]]]] = {}

    def install(self) -> None:
        for operation in LISTS:
            self._events.register(f"provide-client-params.ec2.{operation}", self._sending)
            self._events.register(f"after-call.ec2.{operation}", self._answered)

    def uninstall(self) -> None:
        for operation in LISTS:
            self._events.unregister(f"provide-client-params.ec2.{operation}", self._sending)
            self._events.unregister(f"after-call.ec2.{operation}", self._answered)

    def start(self, operation: str, lag: Lag, chooses: Callable[[str], bool]) -> None:
        self._on.setdefault(operation, []).append((lag, chooses))

    def stop(self) -> None:
        self._on.clear()

    def _sending(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["people_read_by_id"] = by_id(params)

    def _answered(
        self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if context.get("people_read_by_id", True):
            return
        for item in parsed.get(LISTS[model.name]) or []:
            for lag, chooses in self._on.get(model.name, []):
                if chooses(str(item.get(ID_KEYS[model.name]))):
                    lag(item)


def plan_faults(
    rng: random.Random,
    faults: FaultInjector,
    lags: ListingLags,
    recent: set[str],
    labels: Labels,
) -> str:
    """Faults for the next run: up to two lagging listings (most often of what people just
    changed, `recent` operations), up to two Describe operations throttled or answering
    stale (empty) listings, and sometimes one kind of delete throttled for good. Returns
    them in words."""
    said = []
    for _ in range(rng.randint(0, 2)):
        operation = rng.choice(sorted(LAGS))
        if recent and rng.random() < 0.7:
            operation = rng.choice(sorted(recent))
        name, lag = rng.choice(LAGS[operation])
        lags.start(operation, lag, _some(rng.getrandbits(32), labels))
        said.append(f"{operation}:lag-{name}")
    for operation in rng.sample(sorted(LISTS), rng.randint(0, 2)):
        mode = rng.choice(["by-id", "listing", "any", "stale"])
        times = rng.choice([-1, -1, 1, 2, 3, 8])
        if mode == "stale":
            faults.stale("ec2", operation, LISTS[operation], times=times, match=listing)
        else:
            match = {"by-id": by_id, "listing": listing, "any": anything}[mode]
            faults.fail("ec2", operation, "RequestLimitExceeded", 503, times=times, match=match)
        said.append(f"{operation}:{mode}x{times}")
    if rng.random() < 0.3:
        operation = rng.choice(DELETES)
        faults.fail("ec2", operation, "RequestLimitExceeded", 503, times=-1)
        said.append(f"{operation}:fails")
    return ",".join(said)


def _some(salt: int, labels: Labels) -> Callable[[str], bool]:
    """About six resources in ten, chosen by their names (the same each time a seed runs,
    and for the whole run)."""
    return lambda resource_id: zlib.crc32(f"{salt}:{labels(resource_id)}".encode()) % 10 < 6
