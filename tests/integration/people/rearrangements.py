"""People's edits that rearrange what exists: retag what a record names, associate a
private subnet with the request's table, make a table the VPC's main one (and back), add
a subnet of their own, put the public subnets right (docs/api.md "Drift", whose table
says what each of them is on the record)."""

from __future__ import annotations

import uuid

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from integration.conftest import REGION, TABLE
from integration.people.console import GATEWAYS, SUBNETS, TABLES, VPCS, People
from integration.people.world import (
    Network,
    associated_subnets,
    carries,
    is_main,
    named_ids,
    read_world,
    tag_map,
)

RETAGS = ("strip-request-id", "strip-deployment", "other-request-id", "rename", "restore")


def retag(people: People, network: Network) -> None:
    """Strip or change a tag of something the record names, or put its tags back."""
    ec2, present = people.ec2, read_world(people.ec2).everything
    named = [i for i in named_ids(people.record(network.request_id)) if i in present]
    if not named:
        return
    target, how = people.rng.choice(named), people.rng.choice(RETAGS)
    if how == "strip-request-id":
        ec2.delete_tags(Resources=[target], Tags=[{"Key": REQUEST_ID_TAG}])
    elif how == "strip-deployment":
        ec2.delete_tags(Resources=[target], Tags=[{"Key": DEPLOYMENT_TAG}])
    elif how == "other-request-id":
        others = [n.request_id for n in people.networks if n is not network]
        other = people.rng.choice(others or [str(uuid.UUID(int=people.rng.getrandbits(128)))])
        ec2.create_tags(Resources=[target], Tags=[{"Key": REQUEST_ID_TAG, "Value": other}])
    elif how == "rename":
        ec2.create_tags(Resources=[target], Tags=[{"Key": "Name", "Value": "renamed"}])
    else:
        tags = {REQUEST_ID_TAG: network.request_id, DEPLOYMENT_TAG: TABLE}
        ec2.create_tags(Resources=[target], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    people.did(f"retag {people.name(target)}: {how}", VPCS, SUBNETS, GATEWAYS, TABLES)


def associate_private(people: People, network: Network) -> None:
    """Associate a private subnet that has no table of its own with the request's."""
    privates = [p for p in network.places if not p.public]
    tables = [t for t in people.own_tables(network) if not is_main(t)]
    subnet = people.subnet_at(network, people.rng.choice(privates)) if privates else None
    if subnet is None or not tables:
        return
    if any(subnet["SubnetId"] in associated_subnets(t) for t in people.tables(network)):
        return
    people.associate(tables[0], subnet["SubnetId"])
    people.did(
        f"associate private {people.name(subnet['SubnetId'])} with"
        f" {people.name(tables[0]['RouteTableId'])}",
        TABLES,
    )


def make_main(people: People, network: Network) -> None:
    """Make the request's table the VPC's main one, or the VPC's first table again."""
    tables = people.tables(network)
    main = [a for t in tables for a in t.get("Associations") or [] if a.get("Main")]
    mine = [t for t in tables if carries(t, network.request_id) and not is_main(t)]
    first = [t for t in tables if not tag_map(t) and not is_main(t)]
    if not main:
        return
    back = people.rng.random() < 0.3 or not mine
    if back and not first:
        return
    table = first[0] if back else mine[0]
    people.ec2.replace_route_table_association(
        AssociationId=main[0]["RouteTableAssociationId"], RouteTableId=table["RouteTableId"]
    )
    people.did(f"make {people.name(table['RouteTableId'])} the main table of {network}", TABLES)


def put_right(people: People, network: Network) -> None:
    """Public IPs on for the public subnets, each associated with the request's table
    unless some table already routes it."""
    mine = [t for t in people.own_tables(network) if carries(t, network.request_id)]
    for place in network.places:
        subnet = people.subnet_at(network, place)
        if subnet is None or not place.public:
            continue
        subnet_id = subnet["SubnetId"]
        people.ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        if mine and not any(subnet_id in associated_subnets(t) for t in people.tables(network)):
            people.associate(mine[0], subnet_id)
    people.did(f"put the public subnets of {network} right", SUBNETS, TABLES)


def add_own_subnet(people: People, network: Network) -> None:
    """Someone's subnet in the VPC (untagged), sometimes associated with the request's
    table."""
    base = network.places[0].cidr.split(".")
    taken = {s["CidrBlock"] for s in people.subnets(network)}
    free = [f"{base[0]}.{base[1]}.{k}.0/24" for k in range(200, 210)]
    cidr = next((c for c in free if c not in taken), None)
    if cidr is None:
        return
    made = people.ec2.create_subnet(
        VpcId=network.vpc_id, CidrBlock=cidr, AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    people.did(f"someone's subnet {people.made(made, network, 'theirs')} {cidr}", SUBNETS)
    tables = [t for t in people.own_tables(network) if not is_main(t)]
    if tables and people.rng.random() < 0.3:
        people.associate(tables[0], made)
        people.did(f"associate {people.name(made)} with {people.name(tables[0]['RouteTableId'])}")
