"""EC2 calls, one method each (the region's Availability Zones: `zones`).

The gateway makes single calls and lets botocore errors through: what a failure
means, and whether to repeat or look up, is decided by `calls.Ec2Calls` with
`faults.classify`. Every resource is tagged at creation (`TagSpecifications`),
so nothing ever exists untagged, even for a moment, and every lookup is scoped
to this deployment's tag: one deployment never sees another's resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.faults import error_code
from chalicelib.clock import epoch_of, iso_timestamp
from chalicelib.errors import BackendFailure

REQUEST_ID_TAG = "RequestId"
# Names the deployment (its table) that made a resource: the reconciler and the
# IAM delete conditions only ever touch resources carrying their own.
DEPLOYMENT_TAG = "vpc-provisioner:deployment"
# When the create call was sent: a resource is at least this old. The
# reconciler leaves younger resources alone (a worker may still be on them).
CREATED_AT_TAG = "vpc-provisioner:created-at"


@dataclass(frozen=True)
class FoundSubnet:
    subnet_id: str
    cidr: str
    az: str
    request_id: str | None


@dataclass(frozen=True)
class Tagged:
    """A resource carrying this deployment's tags: whose request it is, and since when."""

    resource_id: str
    request_id: str
    created_at: float | None
    vpc_id: str


@dataclass(frozen=True)
class Tagging:
    """The tags every resource of a deployment gets."""

    project: str
    deployment: str

    def resource(self, request_id: str, name: str | None, now: float) -> dict[str, str]:
        """The tags of a VPC, internet gateway or route table: Name (the given name, else
        the project), Project, RequestId, the deployment and the creation time."""
        return {
            "Name": name or self.project,
            "Project": self.project,
            REQUEST_ID_TAG: request_id,
            DEPLOYMENT_TAG: self.deployment,
            CREATED_AT_TAG: iso_timestamp(now),
        }

    def subnet(self, request_id: str, name: str | None, now: float) -> dict[str, str]:
        """A subnet's tags: those of a VPC, plus SubnetName when it has a name."""
        tags = self.resource(request_id, name, now)
        if name:
            tags["SubnetName"] = name
        return tags


class Ec2Gateway:
    """Single EC2 calls. Raises botocore's ClientError / BotoCoreError unchanged."""

    def __init__(self, client: Any, deployment: str) -> None:
        self._ec2 = client
        self._deployment = deployment

    def create_vpc(self, cidr: str, tags: dict[str, str]) -> str:
        response = self._ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[tag_spec("vpc", tags)])
        return str(response["Vpc"]["VpcId"])

    def find_vpcs(self, request_id: str, cidr: str | None = None) -> list[str]:
        """Ids of the VPCs tagged with this request id (normally zero or one), sorted;
        with `cidr`, only those whose primary CIDR block it is."""
        filters = self._ours(request_id)
        if cidr is not None:
            filters = [*filters, {"Name": "cidr", "Values": [cidr]}]
        return sorted(str(v["VpcId"]) for v in every(self._ec2, "describe_vpcs", "Vpcs", filters))

    def create_subnet(self, vpc_id: str, cidr: str, az: str, tags: dict[str, str]) -> str:
        response = self._ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=[tag_spec("subnet", tags)],
        )
        return str(response["Subnet"]["SubnetId"])

    def find_subnets(self, vpc_id: str) -> dict[str, FoundSubnet]:
        """The subnets of a VPC, by CIDR block (whoever made them: a CIDR is unique in a VPC)."""
        listed = every(self._ec2, "describe_subnets", "Subnets", [_in_vpc(vpc_id)])
        return {
            str(subnet["CidrBlock"]): FoundSubnet(
                subnet_id=str(subnet["SubnetId"]),
                cidr=str(subnet["CidrBlock"]),
                az=str(subnet.get("AvailabilityZone", "")),
                # Another deployment's subnet is not ours to adopt.
                request_id=request_of(subnet, self._deployment),
            )
            for subnet in listed
        }

    def find_request_subnets(self, request_id: str) -> list[Tagged]:
        """The subnets tagged with this request id, in any VPC."""
        listed = every(self._ec2, "describe_subnets", "Subnets", self._ours(request_id))
        return [tagged(subnet["SubnetId"], subnet) for subnet in listed]

    def owners(self, vpc_ids: list[str], subnet_ids: list[str]) -> dict[str, str | None]:
        """Of these VPCs and subnets, those a listing shows, each with the request of this
        deployment whose tag it carries (None: it carries no such tags now). Filters, not
        ids: an id that is gone (or not listed yet) is simply absent."""
        owners: dict[str, str | None] = {}
        for ids, operation, items, field, name in (
            (vpc_ids, "describe_vpcs", "Vpcs", "VpcId", "vpc-id"),
            (subnet_ids, "describe_subnets", "Subnets", "SubnetId", "subnet-id"),
        ):
            if ids:
                for item in every(self._ec2, operation, items, [{"Name": name, "Values": ids}]):
                    owners[str(item[field])] = request_of(item, self._deployment)
        return owners

    def region_vpc_blocks(self) -> dict[str, tuple[str | None, set[str]]]:
        """Every VPC of the region, with the request of this deployment whose tag it
        carries (None: one this deployment did not make, the default VPC, the account's
        own, other deployments') and its associated IPv4 blocks."""
        return {
            vpc["VpcId"]: (request_of(vpc, self._deployment), ipv4_blocks(vpc))
            for vpc in every(self._ec2, "describe_vpcs", "Vpcs")
        }

    def vpc_blocks(self, vpc_id: str) -> set[str] | None:
        """The IPv4 blocks of a VPC, read by id; None when EC2 answers "not found" (the only
        proof that it is gone)."""
        try:
            answer = self._ec2.describe_vpcs(VpcIds=[vpc_id])
        except ClientError as exc:
            if error_code(exc) == "InvalidVpcID.NotFound":
                return None
            raise
        vpcs = answer.get("Vpcs") or []
        if not vpcs:
            raise BackendFailure(
                "EC2 DescribeVpcs", RuntimeError(f"{vpc_id}: an empty answer proves nothing")
            )
        return ipv4_blocks(vpcs[0])

    def vpc_gone(self, vpc_id: str) -> bool | None:
        """Whether EC2 answers "not found" for this VPC's id: the only read that proves a
        resource gone (one that lists nothing may lag: None, see `not_found`)."""
        return not_found(lambda: self._ec2.describe_vpcs(VpcIds=[vpc_id]), "InvalidVpcID.NotFound")

    def subnet_gone(self, subnet_id: str) -> bool | None:
        """Whether EC2 answers "not found" for this subnet's id."""
        return not_found(
            lambda: self._ec2.describe_subnets(SubnetIds=[subnet_id]), "InvalidSubnetID.NotFound"
        )

    def delete_subnet(self, subnet_id: str) -> None:
        """Delete a subnet; "not found" is for `Ec2Calls.delete` to weigh (gone, unless
        made moments ago)."""
        self._ec2.delete_subnet(SubnetId=subnet_id)

    def delete_vpc(self, vpc_id: str) -> None:
        """Delete a VPC; "not found" is for `Ec2Calls.delete` to weigh (gone, unless made
        moments ago)."""
        self._ec2.delete_vpc(VpcId=vpc_id)

    def _ours(self, request_id: str | None) -> list[dict[str, Any]]:
        return ours(self._deployment, request_id)


def every(
    client: Any, operation: str, items: str, filters: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every item a Describe lists, page after page. Without MaxResults EC2 mostly answers
    in one page (one call), but an answer that carries a NextToken is not the whole
    answer: a lookup that finds nothing left, or that everything is there, must read on."""
    parameters = {} if filters is None else {"Filters": filters}
    return [
        item
        for page in client.get_paginator(operation).paginate(**parameters)
        for item in page.get(items) or []
    ]


def _in_vpc(vpc_id: str) -> dict[str, Any]:
    return {"Name": "vpc-id", "Values": [vpc_id]}


def not_found(describe: Callable[[], Any], code: str) -> bool | None:
    """True if a by-id Describe answers `code`; False if it lists the resource; None if it
    answers an empty list (EC2 lagging: proof of nothing, neither way). Other errors are
    raised (the caller retries)."""
    try:
        answer = describe()
    except ClientError as exc:
        if error_code(exc) == code:
            return True
        raise
    listed = any(isinstance(v, list) and v for k, v in answer.items() if k != "ResponseMetadata")
    return False if listed else None


def ours(deployment: str, request_id: str | None) -> list[dict[str, Any]]:
    """Describe* filters for a deployment's resources: of one request, or of any."""
    request = (
        {"Name": f"tag:{REQUEST_ID_TAG}", "Values": [request_id]}
        if request_id
        else {"Name": "tag-key", "Values": [REQUEST_ID_TAG]}
    )
    return [{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [deployment]}, request]


def ipv4_blocks(vpc: dict[str, Any]) -> set[str]:
    """A described VPC's IPv4 blocks (associated, or being associated)."""
    associated = {
        a["CidrBlock"]
        for a in vpc.get("CidrBlockAssociationSet") or []
        if (a.get("CidrBlockState") or {}).get("State") in ("associated", "associating")
    }
    return associated or {vpc["CidrBlock"]}


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def request_of(resource: dict[str, Any], deployment: str) -> str | None:
    """The RequestId tag of a described resource of `deployment` (None: it has none, or
    it is another deployment's)."""
    tags = _tags(resource)
    return tags.get(REQUEST_ID_TAG) if tags.get(DEPLOYMENT_TAG) == deployment else None


def tagged(resource_id: str, resource: dict[str, Any], vpc_id: str | None = None) -> Tagged:
    """What the tags of a described resource say (its VPC: given, or its own VpcId)."""
    tags = _tags(resource)
    return Tagged(
        resource_id=str(resource_id),
        request_id=tags.get(REQUEST_ID_TAG, ""),
        created_at=epoch_of(tags.get(CREATED_AT_TAG)),
        vpc_id=vpc_id or str(resource.get("VpcId", resource_id)),
    )


def tag_spec(resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "ResourceType": resource_type,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
