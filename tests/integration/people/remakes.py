"""People's edits that delete something of a request and make it again, as someone
restoring it by hand would: tags copied (its creation time too) or the request's tags put
on, public IPs and associations set up again, or not yet (docs/how-it-works.md "Restored
is restored")."""

from __future__ import annotations

from chalicelib.aws.ec2 import CREATED_AT_TAG, DEPLOYMENT_TAG, REQUEST_ID_TAG
from integration.conftest import TABLE
from integration.people.console import GATEWAYS, SUBNETS, TABLES, People, copied, tagging
from integration.people.world import INTERNET, Network, Place, attached_to, is_main, tag_map


def delete_subnet(people: People, network: Network) -> None:
    """Delete one of its subnets; most often make it again at once, its tags copied."""
    present = [(p, s) for p in network.places if (s := people.subnet_at(network, p))]
    if not present:
        return remake_subnet(people, network)
    place, subnet = people.rng.choice(present)
    people.ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    people.did(f"delete subnet {people.name(subnet['SubnetId'])} {place.cidr}", SUBNETS)
    if people.rng.random() < 0.7:
        _make_subnet(people, network, place, copied(subnet))
    return None


def remake_subnet(people: People, network: Network) -> None:
    """Make a subnet that is gone again with the request's tags (a creation time of long
    ago, or none); with none gone, delete one."""
    empty = [p for p in network.places if people.subnet_at(network, p) is None]
    if not empty:
        return delete_subnet(people, network)
    tags = [
        {"Key": REQUEST_ID_TAG, "Value": network.request_id},
        {"Key": DEPLOYMENT_TAG, "Value": TABLE},
    ]
    if people.rng.random() < 0.5:
        tags.append({"Key": CREATED_AT_TAG, "Value": "2020-01-01T00:00:00Z"})
    _make_subnet(people, network, people.rng.choice(empty), tags)
    return None


def _make_subnet(
    people: People, network: Network, place: Place, tags: list[dict[str, str]]
) -> None:
    ec2 = people.ec2
    made = ec2.create_subnet(
        VpcId=network.vpc_id,
        CidrBlock=place.cidr,
        AvailabilityZone=place.az,
        **tagging("subnet", tags),
    )["Subnet"]["SubnetId"]
    public_ips = place.public and people.rng.random() < 0.6
    if public_ips:
        ec2.modify_subnet_attribute(SubnetId=made, MapPublicIpOnLaunch={"Value": True})
    table = next((t for t in people.own_tables(network) if not is_main(t)), None)
    associated = place.public and table is not None and people.rng.random() < 0.7
    if associated and table is not None:
        people.associate(table, made)
    people.did(
        f"make subnet {people.made(made, network, 'subnet')} at {place.cidr} (public"
        f" {place.public}, public IPs {public_ips}, associated {associated}, tags"
        f" {sorted(tag_map({'Tags': tags}))})",
        SUBNETS,
        TABLES,
    )


def remake_table(people: People, network: Network) -> None:
    """Delete a table of the VPC that carries a tag of the service and make it again:
    tags copied, routed to the attached gateway, its public subnets associated again, or
    not yet. A main one is left (EC2 never deletes it)."""
    tables = people.own_tables(network)
    if not tables:
        return
    gone = people.rng.choice(tables)
    if is_main(gone):
        people.did(f"(table {people.name(gone['RouteTableId'])} is the main one: left)")
        return
    ec2 = people.ec2
    for association in gone.get("Associations") or []:
        ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=gone["RouteTableId"])
    made = ec2.create_route_table(VpcId=network.vpc_id, **tagging("route-table", copied(gone)))[
        "RouteTable"
    ]
    gateways = people.attached(network)
    if gateways:
        ec2.create_route(
            RouteTableId=made["RouteTableId"],
            DestinationCidrBlock=INTERNET,
            GatewayId=gateways[0]["InternetGatewayId"],
        )
    associated = people.rng.random() < 0.6
    for place in network.places if associated else ():
        subnet = people.subnet_at(network, place)
        if place.public and subnet is not None:
            people.associate(made, subnet["SubnetId"])
    people.did(
        f"remake table {people.name(gone['RouteTableId'])} as"
        f" {people.made(made['RouteTableId'], network, 'table')} (associated {associated},"
        f" routed {bool(gateways)}, tags {sorted(tag_map(gone))})",
        TABLES,
    )


def remake_gateway(people: People, network: Network) -> None:
    """Detach and delete the VPC's gateway and make it again, tags copied: attached and
    routed to at once, or later (with none attached, this edit attaches one)."""
    ec2 = people.ec2
    gateways = people.attached(network)
    if not gateways:
        tagged = [{"Name": f"tag:{REQUEST_ID_TAG}", "Values": [network.request_id]}]
        loose = [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]
            if not attached_to(g)
        ]
        if loose:
            _attach(people, network, loose[0])
            people.did(f"attach gateway {people.name(loose[0])} to {network}", GATEWAYS, TABLES)
        return
    gone = gateways[0]["InternetGatewayId"]
    ec2.detach_internet_gateway(InternetGatewayId=gone, VpcId=network.vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=gone)
    made = ec2.create_internet_gateway(**tagging("internet-gateway", copied(gateways[0])))[
        "InternetGateway"
    ]["InternetGatewayId"]
    attach = people.rng.random() < 0.7
    if attach:
        _attach(people, network, made)
    people.did(
        f"remake gateway {people.name(gone)} as {people.made(made, network, 'gateway')}"
        f" (attached {attach}, tags {sorted(tag_map(gateways[0]))})",
        GATEWAYS,
        TABLES,
    )


def _attach(people: People, network: Network, gateway_id: str) -> None:
    """Attach the gateway to the VPC and point every default route of the VPC at it."""
    people.ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=network.vpc_id)
    for table in people.tables(network):
        if any(r.get("DestinationCidrBlock") == INTERNET for r in table.get("Routes") or []):
            people.ec2.replace_route(
                RouteTableId=table["RouteTableId"],
                DestinationCidrBlock=INTERNET,
                GatewayId=gateway_id,
            )
