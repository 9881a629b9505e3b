"""What a SUCCEEDED record must say once reconciler runs have met no lag and no fault,
worked out from EC2's ground truth alone:

- `expected_drift`: its `drift`, item for item, as docs/api.md "Drift" defines each
  `type` and `problem` (one item per resource and kind, whatever the number of reasons;
  a route table that is gone is reported `missing`, and its route and associations go
  with it, as a subnet that is gone takes its association);
- `unadopted`: a subnet, gateway or route table made again in place of a gone one that
  the record does not name (docs/how-it-works.md "Restored is restored");
- `live`: what no reconciler run may delete (docs/how-it-works.md "A live resource is
  never an orphan", "Restored is restored"), whatever the run meets;
- `live_orphans`: what is live for it, yet noted among its `orphans` as not removed
  (docs/how-it-works.md "Restored is restored": a refused removal's note goes once the
  resource is live in place)."""

from __future__ import annotations

from typing import Any

from integration.people.world import (
    Network,
    World,
    associated_subnets,
    attached_to,
    carries,
    default_routes,
    is_main,
    named_ids,
    routing_table,
    to_internet,
)

Item = tuple[str, str, str]  # (type, resource_id, problem) of docs/api.md "Drift"


def drift_items(record: dict[str, Any]) -> set[Item]:
    return {(d["type"], d["resource_id"], d["problem"]) for d in record["drift"]}


def expected_drift(world: World, network: Network, record: dict[str, Any]) -> set[Item]:
    """The drift items docs/api.md "Drift" says the record shows, EC2 being as it is."""
    rid, vpc_id = network.request_id, record["vpc_id"]
    items: set[Item] = set()

    def check(kind: str, resource_id: str, found: dict[str, Any] | None, changed: bool) -> None:
        if found is None:
            items.add((kind, resource_id, "missing"))
        elif changed or not carries(found, rid):
            items.add((kind, resource_id, "changed"))

    vpc = world.vpcs.get(vpc_id)
    blocks = [
        b["CidrBlock"]
        for b in (vpc or {}).get("CidrBlockAssociationSet") or []
        if b.get("CidrBlockState", {}).get("State") in (None, "associated")
    ]
    check("vpc", vpc_id, vpc, changed=bool(set(blocks) - {record["cidr"]}))
    public: set[str] = set()
    private: set[str] = set()
    for state, place in zip(record["subnets"], network.places, strict=True):
        subnet = world.subnets.get(state["subnet_id"])
        no_public_ips = place.public and subnet is not None and not subnet["MapPublicIpOnLaunch"]
        check("subnet", state["subnet_id"], subnet, changed=no_public_ips)
        if subnet is not None:
            (public if place.public else private).add(state["subnet_id"])
    gateway_id = record.get("internet_gateway_id")
    if gateway_id:
        gateway = world.gateways.get(gateway_id)
        detached = gateway is not None and attached_to(gateway) != [vpc_id]
        check("internet_gateway", gateway_id, gateway, changed=detached)
    table_id = record.get("route_table_id")
    table = world.tables.get(table_id or "")
    if table_id:
        check("route_table", table_id, table, changed=table is not None and is_main(table))
    if table_id and table is not None:
        routes = default_routes(table)
        if gateway_id and not routes:
            items.add(("route", table_id, "missing"))
        elif gateway_id and (
            routes[0].get("GatewayId") != gateway_id or routes[0].get("State") == "blackhole"
        ):
            items.add(("route", table_id, "changed"))
        associated = associated_subnets(table)
        items |= {("association", s, "missing") for s in public - associated}
        items |= {("association", s, "changed") for s in associated - public}
    for subnet_id in private:
        routing = routing_table(world, vpc_id, subnet_id)
        if routing is None or not to_internet(routing):
            continue
        own = routing["RouteTableId"] == table_id and subnet_id in associated_subnets(routing)
        if not own:  # (the request's own table associated with it: said above)
            items.add(("association", subnet_id, "changed"))
    return items


def unadopted(world: World, network: Network, record: dict[str, Any]) -> list[tuple[str, str]]:
    """Each resource made again in place of a gone one the record names (same kind, the
    request's and the deployment's tags, in its VPC: a subnet at the same CIDR block and
    zone, a gateway attached to it, the one route table) that the record does not name
    instead, and what it should replace. A route table noted as an orphan whose removal
    was refused, routing no subnet, is no replacement (docs/how-it-works.md)."""
    rid, vpc_id = network.request_id, record["vpc_id"]
    out = []
    for state, place in zip(record["subnets"], network.places, strict=True):
        if state["subnet_id"] in world.subnets:
            continue
        out += [
            (s["SubnetId"], state["subnet_id"])
            for s in world.subnets.values()
            if (s["VpcId"], s["CidrBlock"], s["AvailabilityZone"]) == (vpc_id, place.cidr, place.az)
            and carries(s, rid)
        ]
    gateway_id = record.get("internet_gateway_id")
    if gateway_id and gateway_id not in world.gateways:
        out += [
            (i, gateway_id)
            for i, g in world.gateways.items()
            if carries(g, rid) and attached_to(g) == [vpc_id]
        ]
    table_id = record.get("route_table_id")
    noted = {o["id"] for o in record["orphans"] if o["removed_at"] is None}
    in_place = [t for t in world.tables_of(vpc_id) if carries(t, rid)]
    if table_id and table_id not in world.tables and len(in_place) == 1:
        [table] = in_place
        if table["RouteTableId"] not in noted or associated_subnets(table):
            out.append((table["RouteTableId"], table_id))
    return out


def live_orphans(
    world: World, networks: list[Network], records: dict[str, dict[str, Any]]
) -> list[tuple[Network, str, str]]:
    """(network, orphan, why it is live) for each orphan noted not removed that is live."""
    alive = live(world, networks, records)
    return [
        (network, o["id"], alive[o["id"]])
        for network in networks
        for o in records[network.request_id]["orphans"]
        if o["removed_at"] is None and o["id"] in alive
    ]


def live(world: World, networks: list[Network], records: dict[str, Any]) -> dict[str, str]:
    """What is live for a SUCCEEDED record, so that no reconciler run may delete it, and
    why (docs/how-it-works.md "A live resource is never an orphan", "Restored is
    restored"): what the record names; a subnet at one of its CIDR blocks in its VPC; a
    gateway carrying its tags attached to its VPC; a route table carrying its tags in its
    VPC that routes one of its subnets, or any while the table the record names is gone."""
    out: dict[str, str] = {}
    for network in networks:
        record = records[network.request_id]
        if record["status"] != "SUCCEEDED":
            continue
        rid, vpc_id = network.request_id, record["vpc_id"]
        for resource_id in named_ids(record):
            out[resource_id] = f"named by {network}"
        subnets = {s["subnet_id"] for s in record["subnets"] if s.get("subnet_id")}
        cidrs = {p.cidr for p in network.places}
        for subnet in world.subnets.values():
            if subnet["VpcId"] == vpc_id and subnet["CidrBlock"] in cidrs:
                out.setdefault(subnet["SubnetId"], f"at a CIDR block of {network}")
                subnets.add(subnet["SubnetId"])
        for gateway_id, gateway in world.gateways.items():
            if carries(gateway, rid) and vpc_id in attached_to(gateway):
                out.setdefault(gateway_id, f"carries the tags of {network}, attached to its VPC")
        table_gone = record.get("route_table_id") not in world.tables
        for table in world.tables_of(vpc_id):
            if not carries(table, rid):
                continue
            if associated_subnets(table) & subnets:
                out.setdefault(
                    table["RouteTableId"], f"carries the tags of {network}, routes its subnet"
                )
            elif table_gone:
                out.setdefault(
                    table["RouteTableId"], f"carries the tags of {network}, its table gone"
                )
    return out
