"""The request as asked: the VPC and subnets of a validated POST /vpcs body
(`ProvisioningRequest`, `VpcSpec`, `SubnetSpec`), as stored in its record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VpcSpec:
    """The VPC a caller asked for: a `cidr`, or a `netmask_length` to allocate from a
    `pool` (None: the stage's first pool)."""

    cidr: str | None
    name: str | None = None
    netmask_length: int | None = None
    pool: str | None = None


@dataclass(frozen=True)
class SubnetSpec:
    """One subnet a caller asked for (a `cidr`, or a `netmask_length` carved from the
    VPC's block; an `az`, or None to be spread); a public one is routed to an internet
    gateway."""

    cidr: str | None
    az: str | None
    name: str | None = None
    public: bool = False
    netmask_length: int | None = None


@dataclass(frozen=True)
class ProvisioningRequest:
    """A validated POST /vpcs body."""

    vpc: VpcSpec
    subnets: tuple[SubnetSpec, ...]

    @property
    def has_public_subnets(self) -> bool:
        return any(s.public for s in self.subnets)

    def to_json(self) -> dict[str, Any]:
        """The body as accepted (optional names only where given, `public` only when true,
        so that a body saying `"public": false` is the same body as one that does not)."""

        def given(**fields: Any) -> dict[str, Any]:
            return {name: value for name, value in fields.items() if value is not None}

        def subnet(s: SubnetSpec) -> dict[str, Any]:
            body = given(cidr=s.cidr, netmask_length=s.netmask_length, az=s.az, name=s.name)
            return {**body, "public": True} if s.public else body

        vpc = self.vpc
        return {
            "vpc": given(
                cidr=vpc.cidr, netmask_length=vpc.netmask_length, pool=vpc.pool, name=vpc.name
            ),
            "subnets": [subnet(s) for s in self.subnets],
        }

    def fingerprint(self) -> str:
        """A stable hash of the body: equal bodies hash equal whatever their key order."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProvisioningRequest:
        """Rebuild from `to_json` output (trusted data from our own table)."""

        def length(value: Any) -> int | None:
            return None if value is None else int(value)

        vpc = data["vpc"]
        return cls(
            vpc=VpcSpec(
                cidr=vpc.get("cidr"),
                name=vpc.get("name"),
                netmask_length=length(vpc.get("netmask_length")),
                pool=vpc.get("pool"),
            ),
            subnets=tuple(
                SubnetSpec(
                    cidr=s.get("cidr"),
                    az=s.get("az"),
                    name=s.get("name"),
                    public=bool(s.get("public")),
                    netmask_length=length(s.get("netmask_length")),
                )
                for s in data["subnets"]
            ),
        )
