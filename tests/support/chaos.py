"""Random faults on every AWS call, from a seed: lost answers, failures, throttles, stale
reads, lapsed leases and dead workers.

`ChaosMonkey` hooks into botocore like the fault injector, but decides each call's fate
by drawing from a seeded random generator; `log` says what it did, so a failing run can
be read (threads interleave, so a seed fixes the schedule's odds, not its exact order).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from devstack.fault_rules import WorkerKilled

EC2_CREATES = {
    "CreateVpc": "VpcLimitExceeded",
    "CreateSubnet": "SubnetLimitExceeded",
    "CreateInternetGateway": "InternetGatewayLimitExceeded",
    "CreateRouteTable": "RouteTableLimitExceeded",
}
# Idempotent changes: their answers too may be lost (then EC2 says "already done").
EC2_CHANGES = {
    "AttachInternetGateway",
    "CreateRoute",
    "AssociateRouteTable",
    "ModifySubnetAttribute",
}
EC2_DELETES = {
    "DeleteVpc",
    "DeleteSubnet",
    "DeleteInternetGateway",
    "DetachInternetGateway",
    "DeleteRouteTable",
    "DisassociateRouteTable",
}
# Reads that may lag: their list comes back empty.
READS = {
    "DescribeVpcs": "Vpcs",
    "DescribeSubnets": "Subnets",
    "DescribeInternetGateways": "InternetGateways",
    "DescribeRouteTables": "RouteTables",
}
DYNAMODB_WRITES = {"UpdateItem", "TransactWriteItems", "PutItem"}
# Only the worker's own thread is killed (a Lambda's death ends every thread at once;
# here the threads it started finish their call and find their lease gone).
WORKER_THREAD_PREFIX = "chaos-worker"


@dataclass(frozen=True)
class Odds:
    """The chance, per call, of each fault."""

    throttle: float = 0.08
    failure: float = 0.05
    lost_answer: float = 0.08
    stale_read: float = 0.15
    permanent: float = 0.02
    not_found: float = 0.05
    lapse: float = 0.02
    kill: float = 0.02
    # A BatchGetItem hands some (or all) of its keys back unprocessed.
    unprocessed: float = 0.25

    def scaled(self, factor: float) -> Odds:
        """These odds times `factor` (a stormier schedule)."""
        return Odds(**{name: value * factor for name, value in vars(self).items()})


class ChaosMonkey:
    """Attach to the app's clients; `enabled` switches the faults on and off."""

    def __init__(self, seed: int, lapse: Callable[[], None], odds: Odds | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._lapse = lapse
        self.odds = odds or Odds()
        # Requests whose creates always fail while the storm lasts: they exhaust their
        # retries, end FAILED (RetriesExhausted) and are dead-lettered.
        self.cursed: set[str] = set()
        self.enabled = False
        self.log: list[str] = []
        self.counts: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._remember)
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-parameter-build", self._remember)
        client.meta.events.unregister("before-call", self._before)
        client.meta.events.unregister("after-call", self._after)

    def _remember(self, params: Any, context: Any, **_: Any) -> None:
        context["_chaos_params"] = dict(params)

    def _is_cursed(self, operation: str, params: dict[str, Any]) -> bool:
        if operation not in ("CreateVpc", "CreateSubnet") or not self.cursed:
            return False
        tags = [t for spec in params.get("TagSpecifications", []) for t in spec.get("Tags", [])]
        return any(t["Key"] == "RequestId" and t["Value"] in self.cursed for t in tags)

    def _roll(self, chance: float) -> bool:
        with self._lock:
            return self._rng.random() < chance

    def _rng_share(self) -> float:
        with self._lock:
            return self._rng.choice([0.3, 0.7, 1.0])

    def _note(self, fault: str, operation: str) -> None:
        with self._lock:
            self.log.append(f"{threading.current_thread().name}: {fault} {operation}")
            self.counts[fault] += 1

    def _before(self, model: Any, context: Any, **_: Any) -> Any:
        context["_chaos_injected"] = False
        if not self.enabled:
            return None
        operation, service = model.name, model.service_model.endpoint_prefix
        odds = self.odds
        if self._roll(odds.lapse):
            self._note("lapse before", operation)
            self._lapse()
        # A worker dies at any call but the first of a last receive (deleting its message,
        # the only DeleteMessage a worker sends): one that dies before its first call is not
        # one the code can do anything about. Nor is that call failing: the message then
        # stays, and SQS itself moves it to the dead-letter queue at its next receive (the
        # reaper prunes the letter and sends the job again; test_record_never_lies.py's
        # test_7_a_last_receive_whose_message_cannot_be_deleted_does_nothing covers it).
        first_of_last_receive = (
            threading.current_thread().name.startswith(WORKER_THREAD_PREFIX)
            and operation == "DeleteMessage"
        )
        if not first_of_last_receive and (
            threading.current_thread().name.startswith(WORKER_THREAD_PREFIX)
            and self._roll(odds.kill)
        ):
            self._note("kill before", operation)
            self._lapse()  # its lease runs out meanwhile (the test's clock is fake)
            raise WorkerKilled(f"chaos killed the worker before {operation}")
        fault: tuple[str, int] | None = None
        if self._is_cursed(operation, context.get("_chaos_params", {})):
            fault = ("InternalError", 500)
        elif service == "ec2" and operation in EC2_CREATES and self._roll(odds.permanent):
            fault = (EC2_CREATES[operation], 400)
        elif operation == "CreateSubnet" and self._roll(odds.not_found):
            fault = ("InvalidVpcID.NotFound", 400)
        elif service == "ec2" and self._roll(odds.throttle):
            fault = ("RequestLimitExceeded", 503)
        elif service == "dynamodb" and self._roll(odds.throttle):
            fault = ("ProvisionedThroughputExceededException", 400)
        elif not first_of_last_receive and self._roll(odds.failure):
            fault = ("InternalError" if service == "ec2" else "InternalServerError", 500)
        if fault is None:
            return None
        self._note(f"{fault[0]} before", operation)
        context["_chaos_injected"] = True
        return _response(*fault)

    def _after(
        self,
        model: Any,
        http_response: Any,
        parsed: Any,
        context: Any,
        **_: Any,
    ) -> None:
        if not self.enabled or context.get("_chaos_injected") or http_response.status_code >= 300:
            return
        operation, service = model.name, model.service_model.endpoint_prefix
        if operation in READS and self._roll(self.odds.stale_read):
            self._note("stale", operation)
            parsed[READS[operation]] = []
            return
        if operation == "BatchGetItem" and self._roll(self.odds.unprocessed):
            self._note("unprocessed", operation)
            _unprocess(parsed, self._rng_share())
            return
        mutating = (
            service == "ec2"
            and (operation in EC2_CREATES or operation in EC2_CHANGES or operation in EC2_DELETES)
        ) or (service == "dynamodb" and operation in DYNAMODB_WRITES)
        if mutating and self._roll(self.odds.lost_answer):
            self._note("lost answer", operation)
            code = "InternalError" if service == "ec2" else "InternalServerError"
            raise ClientError(_response(code, 500)[1], operation)
        if threading.current_thread().name.startswith(WORKER_THREAD_PREFIX) and self._roll(
            self.odds.kill
        ):
            self._note("kill after", operation)
            self._lapse()
            raise WorkerKilled(f"chaos killed the worker after {operation} ran")


def _unprocess(parsed: dict[str, Any], share: float) -> None:
    """Hand back a share of a BatchGetItem answer's items as unprocessed keys (those items
    not read), as DynamoDB does when it throttles. Keys of items that do not exist are
    answered all the same: the test then also sees a key that is absent proven absent."""
    for table, items in list(parsed.get("Responses", {}).items()):
        count = max(1, int(len(items) * share)) if items else 0
        back, kept = items[:count], items[count:]
        if not back:
            continue
        parsed["Responses"][table] = kept
        unprocessed = parsed.setdefault("UnprocessedKeys", {}).setdefault(table, {"Keys": []})
        unprocessed["Keys"].extend({"request_id": item["request_id"]} for item in back)
        unprocessed["ConsistentRead"] = True


def _response(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": f"chaos: {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "chaos"},
    }
    return AWSResponse("https://chaos.invalid", status, {}, None), parsed
