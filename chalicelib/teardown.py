"""Deleting what a request made: subnets first, then their VPCs. Idempotent and crash-safe.

Used by the worker's rollback and by the reconciler (and by DELETE's teardown).
It only ever deletes resources it was given by id or found by the request's
tags within this deployment; IAM's delete conditions (the deployment tag)
back that up. A resource that is already gone counts as deleted, so running
it again, or twice at once, converges on the same result.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .calls import DeleteFailed, Ec2Calls
from .ec2 import Ec2Gateway
from .errors import PermanentFailure, TransientFailure

logger = logging.getLogger(__name__)

_DELETE_CONCURRENCY = 10


@dataclass(frozen=True)
class Removal:
    """What a teardown deleted (or found gone), what is still there, and why."""

    deleted: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # Some failure may clear by itself (throttling, a 5xx): worth another try.
    transient: bool = False

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.errors


class Teardown:
    """Deletes resources of one deployment. Raises LeaseLost (through the calls' fence)."""

    def __init__(self, gateway: Ec2Gateway, calls: Ec2Calls) -> None:
        self._ec2 = gateway
        self._calls = calls

    def request(
        self, request_id: str, vpc_ids: Iterable[str], subnet_ids: Iterable[str]
    ) -> Removal:
        """Delete everything of `request_id`: the ids given and whatever carries its tags.

        The lookup by tag finds what lost answers made; EC2's reads may lag, so
        what it misses is the reconciler's to find later.
        """
        vpcs, subnets = list(dict.fromkeys(vpc_ids)), list(dict.fromkeys(subnet_ids))
        try:
            found_vpcs = self._calls.read("DescribeVpcs", lambda: self._ec2.find_vpcs(request_id))
            found_subnets = self._calls.read(
                "DescribeSubnets", lambda: self._ec2.find_request_subnets(request_id)
            )
        except (PermanentFailure, TransientFailure) as exc:
            # Without the lookup nothing can be called complete: delete what is known,
            # and say the rest is unknown.
            known = self.remove(subnets, vpcs)
            return Removal(
                deleted=known.deleted,
                remaining=known.remaining,
                errors=(*known.errors, f"lookup failed: {exc}"),
                transient=isinstance(exc, TransientFailure) or known.transient,
            )
        vpcs.extend(v for v in found_vpcs if v not in vpcs)
        subnets.extend(s.resource_id for s in found_subnets if s.resource_id not in subnets)
        return self.remove(subnets, vpcs)

    def remove(self, subnet_ids: Iterable[str], vpc_ids: Iterable[str]) -> Removal:
        """Delete these subnets, then these VPCs (a VPC only if every subnet given went).

        A VPC that still holds someone else's subnet or interface fails with
        DependencyViolation and is reported as remaining.
        """
        subnets, vpcs = list(dict.fromkeys(subnet_ids)), list(dict.fromkeys(vpc_ids))
        deleted: list[str] = []
        remaining: list[str] = []
        failures: list[DeleteFailed] = []
        if subnets:
            workers = min(len(subnets), _DELETE_CONCURRENCY)
            # The deletions run in the caller's context (its context variables).
            context = contextvars.copy_context()
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delete") as pool:
                results = list(
                    pool.map(lambda s: context.copy().run(self._delete_subnet, s), subnets)
                )
            for subnet_id, failure in zip(subnets, results, strict=True):
                if failure is None:
                    deleted.append(subnet_id)
                else:
                    remaining.append(subnet_id)
                    failures.append(failure)
        for vpc_id in vpcs:
            if failures:
                # Its subnets are still there: DeleteVpc would only fail.
                remaining.append(vpc_id)
                continue
            failure = self._calls.delete(
                "DeleteVpc",
                functools.partial(self._ec2.delete_vpc, vpc_id),
                functools.partial(self._ec2.vpc_exists, vpc_id),
            )
            if failure is None:
                deleted.append(vpc_id)
            else:
                remaining.append(vpc_id)
                failures.append(failure)
        if failures:
            logger.warning("teardown incomplete: %s", "; ".join(map(str, failures)))
        return Removal(
            deleted=tuple(deleted),
            remaining=tuple(remaining),
            errors=tuple(str(f) for f in failures),
            transient=any(f.transient for f in failures),
        )

    def _delete_subnet(self, subnet_id: str) -> DeleteFailed | None:
        return self._calls.delete(
            "DeleteSubnet",
            functools.partial(self._ec2.delete_subnet, subnet_id),
            functools.partial(self._ec2.subnet_exists, subnet_id),
        )
