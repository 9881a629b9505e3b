"""A request's subnets, made in its VPC as one part of a creation (`create_job`).

They are made concurrently (at most SUBNET_CONCURRENCY at once), each id checkpointed
beside the others as it comes in (the last one's goes into the creation's finishing
write instead). A later attempt looks them up by VPC + CIDR first. EC2 refuses a
second subnet with the same CIDR in a VPC, so a subnet is never duplicated: that
refusal means "already made", and the subnet is adopted if it carries the request's
and this deployment's tags (anyone else's is a permanent conflict). Once one subnet
has failed, those not started yet are not started.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from ipaddress import ip_network

from chalicelib.aws.calls import Ec2Calls
from chalicelib.aws.ec2 import Ec2Gateway, FoundSubnet, Tagging
from chalicelib.clock import Clock
from chalicelib.errors import LeaseLost, PermanentFailure, TransientFailure, decisive_failure
from chalicelib.models import RequestRecord, SubnetState
from chalicelib.worker.checkpoints import CheckpointWriter

# More looks at a subnet listed at the request's CIDR without this deployment's tags.
_TAG_LOOKS = 2


class Subnets:
    """Makes one request's subnets in its VPC. `ensure` once."""

    def __init__(
        self,
        record: RequestRecord,
        ec2: Ec2Gateway,
        calls: Ec2Calls,
        tagging: Tagging,
        checkpoints: CheckpointWriter,
        concurrency: int,
        clock: Clock,
    ) -> None:
        self._record = record
        self._ec2 = ec2
        self._calls = calls
        self._tagging = tagging
        self._checkpoints = checkpoints
        self._concurrency = concurrency
        self._clock = clock
        self._cancel = threading.Event()

    def ensure(self, vpc_id: str, look_first: bool, vpc_is_fresh: bool) -> None:
        """Every subnet of the record without an id: found (`look_first`: an earlier
        attempt may have made it) or created in `vpc_id`; the ids go into the record.

        `vpc_is_fresh`: the VPC was made or found in this run (EC2's "not found" for it
        is lag). Raises PermanentFailure, TransientFailure or LeaseLost (the one that
        decides, of several).
        """
        record = self._record
        pending = [i for i, s in enumerate(record.subnets) if not s.subnet_id]
        if pending and look_first:
            existing = self._listed(vpc_id)
            for index in list(pending):
                subnet = record.subnets[index]
                adopted = self._adopt(vpc_id, subnet, existing.get(subnet.cidr))
                if adopted:
                    subnet.subnet_id = adopted
                    self._checkpoints.subnet(index, adopted, wake=False)
                    pending.remove(index)
        if not pending:
            return
        workers = max(1, min(len(pending), self._concurrency))
        failures: list[Exception] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="subnet") as pool:
            # Each task runs in a copy of this context: its log lines and counts are the job's.
            creations = {
                pool.submit(
                    contextvars.copy_context().run, self._create, vpc_id, i, vpc_is_fresh
                ): i
                for i in pending
            }
            outstanding = len(creations)
            for future in as_completed(creations):
                outstanding -= 1
                index = creations[future]
                try:
                    subnet_id = future.result()
                except (PermanentFailure, TransientFailure, LeaseLost) as exc:
                    failures.append(exc)
                    continue
                if subnet_id is None:
                    continue  # not started: a sibling had failed
                record.subnets[index].subnet_id = subnet_id
                # The last subnets' ids go into the final write instead (or, if it does
                # not land, into the run's last checkpoint).
                wake = bool(outstanding) and not self._cancel.is_set()
                self._checkpoints.subnet(index, subnet_id, wake=wake)
        if failures:
            raise decisive_failure(failures)

    def _create(self, vpc_id: str, index: int, vpc_is_fresh: bool) -> str | None:
        """The subnet's id, or None if it was not started because a sibling failed."""
        if self._cancel.is_set():
            return None
        subnet = self._record.subnets[index]

        def find() -> str | None:
            listed = self._listed(vpc_id)
            adopted = self._adopt(vpc_id, subnet, listed.get(subnet.cidr))
            if adopted is not None:
                return adopted
            # None of ours at its CIDR, and one listed over it (a block holding it, or in
            # it): someone else's, so EC2's InvalidSubnet.Conflict is for good, no lag.
            cidr = ip_network(subnet.cidr)
            other = [
                s.subnet_id
                for c, s in listed.items()
                if c != subnet.cidr and ip_network(c).overlaps(cidr)
            ]
            if other:
                raise PermanentFailure(
                    "InvalidSubnet.Conflict", f"{subnet.cidr} in {vpc_id} overlaps {other[0]}"
                )
            return None

        def create() -> str:
            tags = self._tagging.subnet(self._record.request_id, subnet.name, self._clock())
            return self._ec2.create_subnet(vpc_id, subnet.cidr, subnet.az, tags)

        try:
            return self._calls.create_once(
                "CreateSubnet",
                create,
                find,
                # EC2 refuses a CIDR already used in the VPC: if that subnet is
                # ours (an earlier, lost answer), it is the one we want.
                conflict="InvalidSubnet.Conflict",
                parent_is_fresh=vpc_is_fresh,
            )
        except (PermanentFailure, TransientFailure, LeaseLost):
            # Subnets not started yet are not worth creating: the attempt has failed.
            self._cancel.set()
            raise

    def _listed(self, vpc_id: str) -> dict[str, FoundSubnet]:
        """The VPC's subnets by CIDR, whoever made them."""
        return self._calls.read("DescribeSubnets", lambda: self._ec2.find_subnets(vpc_id))

    def _adopt(self, vpc_id: str, subnet: SubnetState, found: FoundSubnet | None) -> str | None:
        """The id of the subnet `found` at `subnet`'s CIDR if it is this request's; None if
        a look again lists none there. Listed without this deployment's tags, it is looked
        at twice more, a pause apart (a read may lag behind a fresh subnet's tags), before
        it is called someone else's (PermanentFailure)."""
        for _ in range(_TAG_LOOKS):
            if found is None or found.request_id is not None:
                break
            self._calls.pause()
            found = self._listed(vpc_id).get(subnet.cidr)
        if found is None:
            return None
        if found.request_id != self._record.request_id:
            raise PermanentFailure(
                "InvalidSubnet.Conflict",
                f"{subnet.cidr} in {vpc_id} is already used by {found.subnet_id}, "
                "which this request did not create",
            )
        return found.subnet_id
