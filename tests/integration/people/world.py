"""EC2's ground truth, read with the uninstrumented client: every VPC (but the default
one), subnet, internet gateway and route table, as EC2 itself would answer for them.

moto keeps every route `active`; EC2 marks a route whose internet gateway is detached or
gone a `blackhole` (docs/api.md "Drift": a `route` is `changed` when it "is a blackhole",
and only an active route to an `igw-` routes a private subnet to the internet).
`mark_dead_routes` says it as EC2 does, for this reading and for the app's own reads
(`DeadRoutesSaid`). `Labels` names resources the same way each time a seed runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from integration.conftest import TABLE

Resource = dict[str, Any]
INTERNET = "0.0.0.0/0"


@dataclass(frozen=True)
class Place:
    """A subnet as the request asked for it: its CIDR block, its zone, public or not."""

    cidr: str
    az: str
    public: bool


@dataclass(frozen=True)
class Network:
    """A request that SUCCEEDED: its name in the test (`net0`...), its id, its VPC and the
    subnets it asked for, in order."""

    name: str
    request_id: str
    vpc_id: str
    places: tuple[Place, ...]

    def __str__(self) -> str:
        return self.name


class Labels:
    """Names for resources that are the same each time a seed runs (moto's ids are not:
    the worker makes a request's subnets, gateway and route table concurrently), for the
    log and for the lags to choose their items by."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def __call__(self, resource_id: str) -> str:
        """Its name, or its id if it has none (the default VPC's, or someone's unseen)."""
        return self._names.get(resource_id, resource_id)

    def add(self, resource_id: str, name: str) -> str:
        self._names.setdefault(resource_id, name)
        return self(resource_id)

    def new(self, resource_id: str, network: Network, kind: str) -> str:
        """A name for something people made in the network."""
        return self.add(resource_id, f"{network}.{kind}{len(self._names)}")

    def __str__(self) -> str:
        return ", ".join(f"{name}={i}" for i, name in self._names.items())


@dataclass(frozen=True)
class World:
    """Everything EC2 holds (the default VPC and what is in it aside), by id."""

    vpcs: dict[str, Resource]
    subnets: dict[str, Resource]
    gateways: dict[str, Resource]
    tables: dict[str, Resource]

    @property
    def everything(self) -> dict[str, Resource]:
        return {**self.vpcs, **self.subnets, **self.gateways, **self.tables}

    def tables_of(self, vpc_id: str) -> list[Resource]:
        return [t for t in self.tables.values() if t["VpcId"] == vpc_id]


def read_world(ec2: Any) -> World:
    """EC2 as it is now (`ec2`: a client no fault or lag reaches)."""
    vpcs = {v["VpcId"]: v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")}
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] in vpcs}
    gateways = {
        g["InternetGatewayId"]: g for g in ec2.describe_internet_gateways()["InternetGateways"]
    }
    tables = {
        t["RouteTableId"]: t
        for t in ec2.describe_route_tables()["RouteTables"]
        if t["VpcId"] in vpcs
    }
    mark_dead_routes(list(tables.values()), gateways)
    return World(vpcs, subnets, gateways, tables)


def mark_dead_routes(tables: list[Resource], gateways: dict[str, Resource]) -> None:
    """Every route of `tables` to an internet gateway that `gateways` (all of them, by id)
    does not show attached to the table's VPC is a `blackhole`, as EC2 says it."""
    for table in tables:
        for route in table.get("Routes") or []:
            target = str(route.get("GatewayId") or "")
            if target.startswith("igw-") and table["VpcId"] not in attached_to(
                gateways.get(target, {})
            ):
                route["State"] = "blackhole"


class DeadRoutesSaid:
    """Makes the app's DescribeRouteTables answers mark dead routes `blackhole`, as EC2's
    do (`mark_dead_routes`, the gateways as `truth` shows them). The app's client outlives
    the test: `install` registers the hook, `uninstall` takes it off."""

    EVENT = "after-call.ec2.DescribeRouteTables"

    def __init__(self, app_ec2: Any, truth: Any) -> None:
        self._events = app_ec2.meta.events
        self._truth = truth

    def install(self) -> None:
        self._events.register(self.EVENT, self._answered)

    def uninstall(self) -> None:
        self._events.unregister(self.EVENT, self._answered)

    def _answered(self, parsed: dict[str, Any], **_: Any) -> None:
        tables = parsed.get("RouteTables") or []
        if tables:
            gateways = self._truth.describe_internet_gateways()["InternetGateways"]
            mark_dead_routes(tables, {g["InternetGatewayId"]: g for g in gateways})


def tag_map(resource: Resource) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def carries(resource: Resource, request_id: str) -> bool:
    """Whether it carries the request's `RequestId` tag and this deployment's tag (what the
    reconciler, the teardown and IAM's delete conditions go by: docs/api.md "Drift")."""
    tags = tag_map(resource)
    return tags.get(REQUEST_ID_TAG) == request_id and tags.get(DEPLOYMENT_TAG) == TABLE


def named_ids(record: dict[str, Any]) -> list[str]:
    """What a record names, in the record's order: VPC, subnets, gateway, route table."""
    ids = [record.get("vpc_id")]
    ids += [s.get("subnet_id") for s in record.get("subnets") or []]
    ids += [record.get("internet_gateway_id"), record.get("route_table_id")]
    return [i for i in ids if i]


def attached_to(gateway: Resource) -> list[str]:
    return [a["VpcId"] for a in gateway.get("Attachments") or [] if a.get("VpcId")]


def associated_subnets(table: Resource) -> set[str]:
    return {a["SubnetId"] for a in table.get("Associations") or [] if a.get("SubnetId")}


def is_main(table: Resource) -> bool:
    return any(a.get("Main") for a in table.get("Associations") or [])


def default_routes(table: Resource) -> list[Resource]:
    return [r for r in table.get("Routes") or [] if r.get("DestinationCidrBlock") == INTERNET]


def to_internet(table: Resource) -> list[str]:
    """The internet gateways the table routes to: any active route to an `igw-`, whatever
    its destination (docs/api.md "Drift")."""
    return [
        str(r["GatewayId"])
        for r in table.get("Routes") or []
        if str(r.get("GatewayId", "")).startswith("igw-") and r.get("State") != "blackhole"
    ]


def routing_table(world: World, vpc_id: str, subnet_id: str) -> Resource | None:
    """The table that routes the subnet: the one associated with it, else the VPC's main."""
    tables = world.tables_of(vpc_id)
    own = [t for t in tables if subnet_id in associated_subnets(t)]
    return next(iter(own or [t for t in tables if is_main(t)]), None)
