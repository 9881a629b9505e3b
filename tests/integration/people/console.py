"""People with console access (docs/api.md "Drift": they "delete a subnet, remove a
route, strip a tag"): their session on EC2, through the uninstrumented client (no fault
or lag reaches them), what they read before an edit, and the log of what they did, in
words, for a failure to print."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from chalicelib.aws.ec2 import DEPLOYMENT_TAG, REQUEST_ID_TAG
from integration.people.world import Labels, Network, Place, Resource, tag_map

# The Describe operations whose listings may lag behind an edit.
SUBNETS, TABLES = "DescribeSubnets", "DescribeRouteTables"
VPCS, GATEWAYS = "DescribeVpcs", "DescribeInternetGateways"


def copied(resource: Resource) -> list[dict[str, str]]:
    """Its tags, as a person copies them onto what they make (no `aws:` tags)."""
    return [t for t in resource.get("Tags") or [] if not t["Key"].startswith("aws:")]


def tagging(kind: str, tags: list[dict[str, str]]) -> dict[str, Any]:
    """Create's parameters that tag what it makes with `tags` (none for none)."""
    return {"TagSpecifications": [{"ResourceType": kind, "Tags": tags}]} if tags else {}


class People:
    """Who edits the networks (`actions.act`), and what they did."""

    def __init__(
        self,
        ec2: Any,
        rng: random.Random,
        networks: list[Network],
        record: Callable[[str], dict[str, Any]],
        labels: Labels,
    ) -> None:
        self.ec2, self.rng, self.networks = ec2, rng, networks
        self.record, self.name = record, labels
        self.log: list[str] = []
        # The Describe operations whose listings may lag behind the edits since the last run.
        self.recent: set[str] = set()

    def did(self, what: str, *lagging: str) -> None:
        """Log an edit, and which listings may lag behind it."""
        self.log.append(what)
        self.recent.update(lagging)

    def made(self, resource_id: str, network: Network, kind: str) -> str:
        """Name something just made in the network; its name."""
        return self.name.new(resource_id, network, kind)

    def subnets(self, network: Network) -> list[Resource]:
        vpc = [{"Name": "vpc-id", "Values": [network.vpc_id]}]
        return list(self.ec2.describe_subnets(Filters=vpc)["Subnets"])

    def subnet_at(self, network: Network, place: Place) -> Resource | None:
        return next((s for s in self.subnets(network) if s["CidrBlock"] == place.cidr), None)

    def tables(self, network: Network) -> list[Resource]:
        """The VPC's route tables, oldest first (the one EC2 made with the VPC first)."""
        vpc = [{"Name": "vpc-id", "Values": [network.vpc_id]}]
        return list(self.ec2.describe_route_tables(Filters=vpc)["RouteTables"])

    def own_tables(self, network: Network) -> list[Resource]:
        """The VPC's tables that carry either of the service's tags."""
        keys = {REQUEST_ID_TAG, DEPLOYMENT_TAG}
        return [t for t in self.tables(network) if keys & set(tag_map(t))]

    def attached(self, network: Network) -> list[Resource]:
        vpc = [{"Name": "attachment.vpc-id", "Values": [network.vpc_id]}]
        return list(self.ec2.describe_internet_gateways(Filters=vpc)["InternetGateways"])

    def associate(self, table: Resource, subnet_id: str) -> None:
        self.ec2.associate_route_table(RouteTableId=table["RouteTableId"], SubnetId=subnet_id)
