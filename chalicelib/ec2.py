"""EC2 calls, one method each, and the region's Availability Zones.

The gateway makes single calls and lets botocore errors through: what a failure
means, and whether to repeat or look up, is decided by the provisioner with
`faults.classify`. Every resource is tagged at creation (`TagSpecifications`),
so nothing ever exists untagged, even for a moment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import BackendFailure
from .faults import error_code

REQUEST_ID_TAG = "RequestId"


@dataclass(frozen=True)
class FoundSubnet:
    subnet_id: str
    cidr: str
    az: str
    request_id: str | None


def resource_tags(project: str, request_id: str, name: str | None) -> dict[str, str]:
    """The tags of a VPC: Name (the given name, else the project), Project, RequestId."""
    return {"Name": name or project, "Project": project, REQUEST_ID_TAG: request_id}


def subnet_tags(project: str, request_id: str, name: str | None) -> dict[str, str]:
    """A subnet's tags: those of `resource_tags`, plus SubnetName when it has a name."""
    tags = resource_tags(project, request_id, name)
    if name:
        tags["SubnetName"] = name
    return tags


class Ec2Gateway:
    """Single EC2 calls. Raises botocore's ClientError / BotoCoreError unchanged."""

    def __init__(self, client: Any) -> None:
        self._ec2 = client

    def create_vpc(self, cidr: str, tags: dict[str, str]) -> str:
        response = self._ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[_tag_spec("vpc", tags)])
        return str(response["Vpc"]["VpcId"])

    def find_vpcs(self, request_id: str) -> list[str]:
        """Ids of the VPCs tagged with this request id (normally zero or one), sorted."""
        response = self._ec2.describe_vpcs(
            Filters=[{"Name": f"tag:{REQUEST_ID_TAG}", "Values": [request_id]}]
        )
        return sorted(str(v["VpcId"]) for v in response.get("Vpcs", []))

    def create_subnet(self, vpc_id: str, cidr: str, az: str, tags: dict[str, str]) -> str:
        response = self._ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=[_tag_spec("subnet", tags)],
        )
        return str(response["Subnet"]["SubnetId"])

    def find_subnets(self, vpc_id: str) -> dict[str, FoundSubnet]:
        """The subnets of a VPC, by CIDR block."""
        found: dict[str, FoundSubnet] = {}
        paginator = self._ec2.get_paginator("describe_subnets")
        for page in paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]):
            for subnet in page.get("Subnets", []):
                tags = {t["Key"]: t["Value"] for t in subnet.get("Tags") or []}
                found[str(subnet["CidrBlock"])] = FoundSubnet(
                    subnet_id=str(subnet["SubnetId"]),
                    cidr=str(subnet["CidrBlock"]),
                    az=str(subnet.get("AvailabilityZone", "")),
                    request_id=tags.get(REQUEST_ID_TAG),
                )
        return found

    def delete_subnet(self, subnet_id: str) -> None:
        """Delete a subnet; one that is already gone counts as deleted."""
        try:
            self._ec2.delete_subnet(SubnetId=subnet_id)
        except ClientError as exc:
            if error_code(exc) != "InvalidSubnetID.NotFound":
                raise

    def delete_vpc(self, vpc_id: str) -> None:
        """Delete a VPC; one that is already gone counts as deleted."""
        try:
            self._ec2.delete_vpc(VpcId=vpc_id)
        except ClientError as exc:
            if error_code(exc) != "InvalidVpcID.NotFound":
                raise


def _tag_spec(resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "ResourceType": resource_type,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


class ZoneDirectory:
    """The region's Availability Zone names, fetched once per process.

    Raises BackendFailure if EC2 cannot be asked (the API answers 503).
    """

    def __init__(self, client: Any) -> None:
        self._ec2 = client
        self._zones: frozenset[str] | None = None
        self._lock = threading.Lock()

    def names(self) -> frozenset[str]:
        if self._zones is not None:
            return self._zones
        with self._lock:
            if self._zones is None:
                try:
                    response = self._ec2.describe_availability_zones()
                except (ClientError, BotoCoreError) as exc:
                    raise BackendFailure("EC2 DescribeAvailabilityZones", exc) from exc
                zones = frozenset(
                    str(z["ZoneName"])
                    for z in response.get("AvailabilityZones", [])
                    # Local and Wavelength Zones are not Availability Zones.
                    if z.get("ZoneType", "availability-zone") == "availability-zone"
                )
                if not zones:
                    # Never cache an empty answer: it would reject every request.
                    return zones
                self._zones = zones
            return self._zones
