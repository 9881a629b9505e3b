"""Checks that every AWS call the code makes is allowed by its function's IAM policy.

A botocore hook records each call the app's clients make, attributed to the
Lambda function whose code made it (the api_handler's service, the worker's
provisioner, the reaper), and turns it into the IAM requests AWS would
authorize: action, resource ARN and condition context. `denied` evaluates
them against the policy templates in .chalice/, rendered for the test
account, so a new AWS call without its permission fails the suite.
"""

from __future__ import annotations

import contextvars
import fnmatch
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends

from chalicelib import wiring

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"

# The code that makes a call decides the function (the innermost match wins): each
# role's package is one function's (the scheduled ones share `upkeep`, one module
# each), and each store module is one function's data access.
FUNCTION_OF_PACKAGE = {
    "chalicelib.api": "api_handler",
    "chalicelib.worker": "worker",
    "chalicelib.upkeep.reaper": "reaper",
    "chalicelib.upkeep.reconciler": "reconciler",
    "chalicelib.upkeep.orphans": "reconciler",
    "chalicelib.upkeep.orphan_removal": "reconciler",
    "chalicelib.upkeep.drift": "reconciler",
    "chalicelib.upkeep.pools": "reconciler",  # the address upkeep runs in its function
    "chalicelib.store.api": "api_handler",
    "chalicelib.store.admission": "api_handler",
    "chalicelib.store.listing": "api_handler",
    "chalicelib.store.worker": "worker",
    "chalicelib.store.claims": "worker",
    "chalicelib.store.reaper": "reaper",
    "chalicelib.store.reconciler": "reconciler",
    "chalicelib.store.drift": "reconciler",
    "chalicelib.store.pools": "reconciler",
}


def function_of(module: str) -> str | None:
    """The Lambda function whose code `module` is (None: shared code, or not ours)."""
    for prefix, function in FUNCTION_OF_PACKAGE.items():
        if module == prefix or module.startswith(prefix + "."):
            return function
    return None


# The function of the last call attributed in this context: calls made in a pool's
# thread (shared code such as the teardown, run in the caller's context) inherit it.
_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)


@dataclass(frozen=True)
class IamRequest:
    function: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    project_tag: str = "demo"


@dataclass
class IamRecorder:
    """Collects IAM requests from the clients it is attached to."""

    requests: set[IamRequest] = field(default_factory=set)
    truth_ec2: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._record)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("provide-client-params", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        function, by_the_app = _calling_function()
        if function is not None:
            _FUNCTION.set(function)
        elif by_the_app:
            function = _FUNCTION.get()
        if function is None:
            return
        service = model.service_model.endpoint_prefix
        found = set(_requests(service, model.name, params, self.truth_ec2))
        # The policy allows the project tag of its own deployment.
        project_tag = wiring.current().settings.project_tag
        with self._lock:
            for action, resource, context in found:
                self.requests.add(IamRequest(function, action, resource, context, project_tag))


def _calling_function() -> tuple[str | None, bool]:
    """The function whose module makes the call, and whether the app's code makes it."""
    frame = sys._getframe(2)
    by_the_app = False
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        function = function_of(module)
        if function:
            return function, True
        by_the_app = by_the_app or module.startswith("chalicelib.")
        frame = frame.f_back  # type: ignore[assignment]
    return None, by_the_app


def _arn(service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{resource}"


def _requests(
    service: str, operation: str, params: dict[str, Any], truth_ec2: Any
) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
            kinds["ConditionCheck"] = "ConditionCheckItem"
            return [
                (
                    f"dynamodb:{kinds[kind]}",
                    _arn("dynamodb", f"table/{body['TableName']}"),
                    _leading_keys(body),
                )
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [
                (f"dynamodb:{operation}", _arn("dynamodb", f"table/{table}"), ())
                for table in params["RequestItems"]
            ]
        resource = f"table/{params['TableName']}"
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", _arn("dynamodb", resource), _leading_keys(params))]
    if service == "sqs":
        queue = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        # A batch call is authorized as its single action (SendMessageBatch: SendMessage).
        action = operation.removesuffix("Batch")
        return [(f"sqs:{action}", _arn("sqs", queue), ())]
    if service == "ec2":
        return _ec2_requests(operation, params, truth_ec2)
    return [(f"{service}:{operation}", "*", ())]


def _leading_keys(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """dynamodb:LeadingKeys of a call naming one item (its partition key's value)."""
    key = (body.get("Key") or body.get("Item") or {}).get("request_id")
    return (("dynamodb:LeadingKeys", str(key["S"])),) if key else ()


# The resource types of the EC2 calls the code makes: what each creates (from its
# TagSpecifications), and which parameters name existing resources it acts on.
_CREATES = {
    "CreateVpc": "vpc",
    "CreateSubnet": "subnet",
    "CreateInternetGateway": "internet-gateway",
    "CreateRouteTable": "route-table",
}
_NAMED = {
    "VpcId": "vpc",
    "SubnetId": "subnet",
    "InternetGatewayId": "internet-gateway",
    "RouteTableId": "route-table",
    "GatewayId": "internet-gateway",
}


def _ec2_requests(
    operation: str, params: dict[str, Any], truth_ec2: Any
) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    if operation.startswith("Describe"):
        return [(f"ec2:{operation}", "*", ())]
    out: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
    created = _CREATES.get(operation)
    if created:
        tags = {
            t["Key"]: t["Value"]
            for spec in params.get("TagSpecifications", [])
            for t in spec["Tags"]
        }
        # Request tags apply to the resource being created only (Service
        # Authorization Reference): a parent (CreateSubnet's VPC) is authorized
        # with its own tags.
        context = tuple(sorted((f"aws:RequestTag/{k}", v) for k, v in tags.items()))
        out.append((f"ec2:{operation}", _arn("ec2", f"{created}/*"), context))
        if tags:
            out.append(
                ("ec2:CreateTags", _arn("ec2", f"{created}/*"), (("ec2:CreateAction", operation),))
            )
    named = [(kind, params[key]) for key, kind in _NAMED.items() if params.get(key)]
    if operation == "DisassociateRouteTable":
        table = _table_of_association(truth_ec2, params["AssociationId"])
        if table is None:
            return []  # already gone: AWS answers NotFound
        named = [("route-table", table)]
    for kind, resource_id in named:
        resource_tags = _tags_of(truth_ec2, kind, resource_id)
        if resource_tags is None:
            # Already gone: AWS answers NotFound, or UnauthorizedOperation for a
            # tag-conditioned call (the code then checks that it is gone).
            return []
        context = tuple(sorted((f"aws:ResourceTag/{k}", v) for k, v in resource_tags.items()))
        out.append((f"ec2:{operation}", _arn("ec2", f"{kind}/{resource_id}"), context))
    return out or [(f"ec2:{operation}", "*", ())]


def _tags_of(truth_ec2: Any, kind: str, resource_id: str) -> dict[str, str] | None:
    """The resource's tags, or None if it does not exist: read in moto's EC2 (the tests'
    AWS, in this process) by id, as a Describe by id of `truth_ec2` would answer, without
    a call (one for each EC2 change the app made was 5% of the integration tests' CPU)."""
    backend = ec2_backends[ACCOUNT][truth_ec2.meta.region_name]
    find = {
        "vpc": backend.get_vpc,
        "subnet": backend.get_subnet,
        "internet-gateway": backend.internet_gateways.__getitem__,
        "route-table": backend.get_route_table,
    }[kind]
    try:
        find(resource_id)
    except (KeyError, EC2ClientError):
        return None
    return dict(backend.tags.get(resource_id, {}))


def _table_of_association(truth_ec2: Any, association_id: str) -> str | None:
    tables = truth_ec2.describe_route_tables(
        Filters=[{"Name": "association.route-table-association-id", "Values": [association_id]}]
    )["RouteTables"]
    return str(tables[0]["RouteTableId"]) if tables else None


def allowed(policy: dict[str, Any], request: IamRequest) -> bool:
    """Whether an Allow statement of `policy` covers the request (no Deny statements exist)."""
    context = dict(request.context)
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not any(_match(request.action, a, True) for a in _list(statement["Action"])):
            continue
        if not any(_match(request.resource, r) for r in _list(statement["Resource"])):
            continue
        if _conditions_hold(statement.get("Condition", {}), context):
            return True
    return False


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if operator == "StringEquals":
                if context.get(key) not in _list(expected):
                    return False
            elif operator == "Null":
                if (key not in context) != (str(expected).lower() == "true"):
                    return False
            elif operator == "ForAllValues:StringLike":
                # The call's one value (a key absent: no value, which IAM lets through).
                value = context.get(key)
                if value is not None and not any(_match(value, p) for p in _list(expected)):
                    return False
            else:
                raise AssertionError(f"condition operator {operator} is not modelled here")
    return True


def _match(value: str, pattern: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        return fnmatch.fnmatchcase(value.lower(), pattern.lower())
    return fnmatch.fnmatchcase(value, pattern)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
