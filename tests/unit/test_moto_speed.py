"""moto's per-call costs cut (devstack/moto_speed.py) change no answer: each patch is held
to what it replaces (the whole suite runs with them, tests/conftest.py)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import responses as core_responses
from moto.core import utils as core_utils
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.tokens import ExpressionTokenizer
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.responses import EC2Response
from moto.sqs import models as sqs_models
from moto.sqs.responses import SQSResponse

from devstack.moto_speed import speed_up_moto

# What our code writes (chalicelib/store), and the shapes moto's parser takes apart.
EXPRESSIONS = [
    "SET #s = :s, version = version + :one REMOVE lease_owner",
    "SET subnets = list_append(if_not_exists(subnets, :empty), :new) ADD attempts :one",
    "REMOVE seeded SET #type = :t",
    "SET a.b[0].c = :v DELETE tags :t",
]


@pytest.fixture(autouse=True)
def _patched() -> None:
    speed_up_moto()  # as tests/conftest.py does; again: idempotent


@pytest.mark.parametrize("cls", [DynamoHandler, SQSResponse, EC2Response])
def test_an_action_is_found_exactly_when_moto_would_have_listed_it(cls: type[Any]) -> None:
    listed = set(core_utils.method_names_from_class(cls))  # moto's own, unpatched
    found = vars(core_responses)["method_names_from_class"](cls)
    names = {name for name in dir(cls)} | {"no_such_action", "", "__init__", "mro"}
    assert {name for name in names if name in found} == listed
    assert listed  # (the comparison compared something)
    assert 123 not in found


def _shape(node: Any) -> Any:
    """A parse tree as nested tuples: each node's type, its value, its children's shapes."""
    children = getattr(node, "children", None)
    kids = tuple(_shape(c) for c in children) if isinstance(children, list) else ()
    return type(node).__name__, repr(getattr(node, "value", None)) if not kids else None, kids


def _fresh(expression: str) -> Any:
    return UpdateExpressionParser(ExpressionTokenizer.make_list(expression)).parse()


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_an_update_expression_parsed_once_is_the_tree_a_fresh_parse_makes(expression: str) -> None:
    first = UpdateExpressionParser.make(expression)
    assert UpdateExpressionParser.make(expression) is first  # kept
    assert _shape(first) == _shape(_fresh(expression))


def test_an_expression_that_does_not_parse_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(MockValidationException):
            UpdateExpressionParser.make("SET = nonsense")


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_a_kept_tree_is_unchanged_by_the_updates_that_use_it(table: Any) -> None:
    """moto's validator rewrites a deep copy: the next update with the same text starts from
    the tree as parsed, whatever item the last one met."""
    expression = "SET n = if_not_exists(n, :zero) + :one, seen = list_append(seen, :x)"
    tree = _shape(UpdateExpressionParser.make(expression))
    for key in ("a", "b", "a"):
        table.put_item(TableName="t", Item={"pk": {"S": key}, "seen": {"L": []}})
        for _ in range(2):
            table.update_item(
                TableName="t",
                Key={"pk": {"S": key}},
                UpdateExpression=expression,
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":x": {"L": [{"S": key}]},
                },
            )
        item = table.get_item(TableName="t", Key={"pk": {"S": key}})["Item"]
        assert item["n"] == {"N": "2"}
        assert item["seen"] == {"L": [{"S": key}, {"S": key}]}
        assert _shape(UpdateExpressionParser.make(expression)) == tree


UPDATES = [
    # (update expression, values): valid, and each way moto's walkers refuse one.
    ("SET n = if_not_exists(n, :zero) + :one, seen = list_append(seen, :x)", ":zero :one :x"),
    ("SET #s = :s, version = version + :one REMOVE lease", ":s :one"),
    ("ADD tags :set", ":set"),
    ("SET n = n + :s", ":s"),  # a string added to a number
    ("SET missing = nope + :one", ":one"),  # a path the item does not hold
    ("SET pk = :s", ":s"),  # the key
    ("SET a = :one, a = :zero", ":one :zero"),  # the same path twice
    ("SET #s = :empty", ":empty"),
]
VALUES = {
    ":zero": {"N": "0"},
    ":one": {"N": "1"},
    ":x": {"L": [{"S": "x"}]},
    ":s": {"S": "s"},
    ":set": {"SS": ["a", "b"]},
    ":empty": {"S": ""},
}


def _run_updates(table: Any) -> list[Any]:
    """Each of UPDATES on a fresh item: the item after it, or the error moto answered."""
    seen: list[Any] = []
    for n, (expression, names) in enumerate(UPDATES):
        key = {"pk": {"S": f"k{n}"}}
        table.put_item(TableName="t", Item={**key, "n": {"N": "1"}, "seen": {"L": []}})
        values = {name: VALUES[name] for name in names.split()}
        try:
            table.update_item(
                TableName="t",
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": {"#s": "status"}} if "#s" in expression else {}),
            )
            seen.append(table.get_item(TableName="t", Key=key)["Item"])
        except table.exceptions.ClientError as error:
            seen.append(error.response["Error"])
    return seen


def test_update_expressions_are_validated_and_applied_as_moto_alone_does(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each walker's table of node classes and handlers, built once, walks as moto's own
    built at every node: the same items, the same refusals."""
    kept = _run_updates(table)
    for name in ("process", "nodes_to_be_processed"):
        patched = DepthFirstTraverser.__dict__[name]
        monkeypatch.setattr(DepthFirstTraverser, name, patched.__wrapped__)
    alone = _run_updates(table)

    assert kept == alone
    assert sum("Code" in outcome for outcome in alone) == 5  # the refusals were refused


def test_sqs_reads_the_clock_moto_reads() -> None:
    before = core_utils.unix_time_millis()
    now = vars(sqs_models)["unix_time_millis"]()
    after = core_utils.unix_time_millis()
    assert vars(sqs_models)["unix_time_millis"] is not core_utils.unix_time_millis  # patched
    assert before - 1 <= now <= after + 1
    moment = core_utils.utcnow()
    assert vars(sqs_models)["unix_time_millis"](moment) == core_utils.unix_time_millis(moment)


def test_a_message_is_invisible_for_its_timeout_and_delayed_for_its_delay() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="now")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60, MaxNumberOfMessages=10)
        assert [m["Body"] for m in got["Messages"]] == ["now"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
        assert counts["ApproximateNumberOfMessagesDelayed"] == "1"


def test_the_patches_are_in_place() -> None:
    assert not isinstance(vars(core_responses)["method_names_from_class"](SQSResponse), list)
    assert inspect.ismethod(UpdateExpressionParser.make)
