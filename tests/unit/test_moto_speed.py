"""moto's per-call costs cut (devstack/moto_speed.py) change no answer: each patch is held
to what it replaces (the whole suite runs with them, tests/conftest.py)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import boto3
import pytest
import xmltodict
from moto import backends as moto_backends
from moto import mock_aws
from moto.core import responses as core_responses
from moto.core import serialize as core_serialize
from moto.core import utils as core_utils
from moto.dynamodb.exceptions import ItemSizeTooLarge, MockValidationException
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.tokens import ExpressionTokenizer
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response
from moto.sqs import models as sqs_models
from moto.sqs.responses import SQSResponse

from devstack import moto_speed
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


def _describe_everything(ec2: Any, sqs: Any) -> list[Any]:
    """What the app and the tests read of EC2 and SQS, as boto3 parses moto's answers."""
    answers = [
        ec2.describe_vpcs(),
        ec2.describe_vpcs(Filters=[{"Name": "tag:RequestId", "Values": ["r-1"]}]),
        ec2.describe_subnets(),
        ec2.describe_route_tables(),
        ec2.describe_internet_gateways(),
        ec2.describe_network_interfaces(),
        ec2.describe_tags(),
        sqs.list_queues(),
        sqs.get_queue_attributes(
            QueueUrl=sqs.list_queues()["QueueUrls"][0], AttributeNames=["All"]
        ),
    ]
    return [{k: v for k, v in a.items() if k != "ResponseMetadata"} for a in answers]


def test_ec2_and_sqs_answers_are_the_ones_moto_alone_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keys each field is looked up by, and the transformer for its path, kept once
    asked (`kept_alias_keys`): every answer the same as moto's picker asking each time,
    down to a field its transformer leaves out (an interface's empty Association)."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        tags = [{"Key": "RequestId", "Value": "r-1"}, {"Key": "Name", "Value": "n"}]
        vpc = ec2.create_vpc(
            CidrBlock="10.1.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
        )["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        ec2.create_network_interface(SubnetId=subnet)
        sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "45"})

        kept = _describe_everything(ec2, sqs)
        patched = core_serialize.AttributePicker.__dict__["__call__"]
        monkeypatch.setattr(core_serialize.AttributePicker, "__call__", patched.__wrapped__)
        alone = _describe_everything(ec2, sqs)

    assert kept == alone
    interfaces = alone[5]["NetworkInterfaces"]
    assert interfaces
    assert all("Association" not in i for i in interfaces)
    assert {t["Key"] for t in alone[1]["Vpcs"][0]["Tags"]} == {"RequestId", "Name"}
    assert alone[3]["RouteTables"][0]["Routes"]


def test_describe_key_pairs_honours_include_public_key_on_every_call() -> None:
    """moto rewrites EC2's table of transformers for a key's PublicKey at every
    DescribeKeyPairs (by IncludePublicKey): each answer follows the table as it is then,
    not the transformer found for that path first."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.create_key_pair(KeyName="k1")

        def has_public_key(**kwargs: Any) -> bool:
            return "PublicKey" in ec2.describe_key_pairs(**kwargs)["KeyPairs"][0]

        seen = [
            has_public_key(IncludePublicKey=True),
            has_public_key(),
            has_public_key(IncludePublicKey=True),
        ]
    assert seen == [True, False, True]


def test_each_peering_connection_answers_with_its_own_peer_owner() -> None:
    """CreateVpcPeeringConnection puts in the table a transformer of its own call (its
    status message names the peer's owner): the next call's answer uses the next one."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        own = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        messages = []
        for account in ("111111111111", "222222222222"):
            peer = ec2_backends[account]["us-east-1"].create_vpc(cidr_block="10.1.0.0/16")
            answer = ec2.create_vpc_peering_connection(
                VpcId=own, PeerVpcId=peer.id, PeerOwnerId=account
            )
            messages.append(answer["VpcPeeringConnection"]["Status"]["Message"])
    assert messages == [
        "Initiating Request to 111111111111",
        "Initiating Request to 222222222222",
    ]


def test_a_transformer_put_in_the_table_or_taken_out_applies_from_the_next_answer() -> None:
    """A response's table of transformers gains a path for a field, then loses it: the
    field's value is transformed exactly while the table holds it."""
    model = core_utils.get_service_model("ec2")
    vpc = model.shape_for("Vpc")
    member = vpc.members["State"]
    member.parent = vpc
    table: dict[str, Any] = {"Image.CreationDate": str}
    picker = core_serialize.XFormedAttributePicker(response_transformers=table)

    class Vpc:
        state = "available"

    def pick() -> Any:
        context = core_serialize.AttributePickerContext(
            obj=Vpc(),
            key="State",
            shape=member,
            operation_model=model.operation_model("DescribeVpcs"),
            service_model=model,
            key_path="DescribeVpcsResult.Vpcs.Vpc",
        )
        return picker(context)

    before = pick()
    table["Vpc.State"] = str.upper
    during = pick()
    del table["Vpc.State"]
    assert [before, during, pick()] == ["available", "AVAILABLE", "available"]


def test_error_answers_never_grow_the_kept_keys_past_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto makes new shapes for every error answer: a long-running local stack's moto
    answering error after error keeps at most `_PICKS_KEPT` entries (50 here), and
    answers the same."""
    monkeypatch.setattr(moto_speed, "_PICKS_KEPT", 50)
    call = core_serialize.AttributePicker.__dict__["__call__"]
    keys = inspect.getclosurevars(call).nonlocals["keys"]
    kept = inspect.getclosurevars(keys).nonlocals["kept"]
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        for _ in range(150):
            with pytest.raises(sqs.exceptions.QueueDoesNotExist):
                sqs.get_queue_url(QueueName="no-such-queue")
            assert len(kept) <= 50
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        assert sqs.get_queue_url(QueueName="q")["QueueUrl"] == url


def test_one_field_of_objects_of_two_classes_is_looked_up_by_each_ones_names() -> None:
    """The keys kept for a field depend on the object's class too: after an object of one
    class, one of another whose Meta names the field otherwise (moto's ExplicitAlias) is
    read by that name, not by the first one's."""

    class Aliased:
        class Meta:
            serialization_aliases: ClassVar[dict[str, str]] = {"VpcId": "ident"}

        ident = "vpc-from-meta"
        vpc_id = "not this one: its Meta names another"

    class Plain:
        vpc_id = "vpc-plain"

    model = core_utils.get_service_model("ec2")
    vpc = model.shape_for("Vpc")
    member = vpc.members["VpcId"]
    member.parent = vpc
    operation = model.operation_model("DescribeVpcs")
    picker = core_serialize.XFormedAttributePicker()

    def pick(obj: Any) -> Any:
        context = core_serialize.AttributePickerContext(
            obj=obj,
            key="VpcId",
            shape=member,
            operation_model=operation,
            service_model=model,
            key_path="DescribeVpcsResult.Vpcs.Vpc",
        )
        return picker(context)

    assert [pick(Plain()), pick(Aliased()), pick(Plain())] == [
        "vpc-plain",
        "vpc-from-meta",
        "vpc-plain",
    ]


def test_the_server_finds_the_same_moto_modules_listed_once() -> None:
    """moto's server asks which of its modules a host names at every request: the names
    listed once are the ones its own listing gives, in its order."""
    patched = vars(moto_backends)["list_of_moto_modules"]
    assert patched() == tuple(patched.__wrapped__())
    assert {"ec2", "dynamodb", "sqs", "cognitoidp"} <= set(patched())
    assert patched() is patched()  # listed once


@pytest.mark.parametrize(
    "name", ["Vpc", "vpcId", "item", "a b", "?x", "<x", "a/b", 'a"b', "a=b", "", 7, None]
)
@pytest.mark.parametrize("kind", ["element", "attribute"])
def test_an_xml_name_is_refused_or_passed_as_xmltodict_alone_does(name: Any, kind: str) -> None:
    """Each name checked once it passed: the same verdict, the same error, every time."""
    patched = vars(xmltodict)["_validate_name"]

    def verdict(check: Any) -> str | None:
        try:
            check(name, kind)
        except ValueError as exc:
            return str(exc)
        return None

    alone = verdict(patched.__wrapped__)
    assert [verdict(patched) for _ in range(3)] == [alone] * 3


# Every kind of attribute value, nested as a record's are (maps of lists of maps).
EVERY_KIND: dict[str, Any] = {
    "M": {
        "s": {"S": "vpc-0a1b"},
        "unicode": {"S": "bé✓"},
        "n": {"N": "-12.50"},
        "b": {"B": b"\x00\xff"},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["a", "bé"]},
        "ns": {"NS": ["1", "22"]},
        "bs": {"BS": [b"x", b"yz"]},
        "empty_map": {"M": {}},
        "empty_list": {"L": []},
        "subnets": {
            "L": [
                {"M": {"cidr": {"S": "10.0.0.0/24"}, "ids": {"L": [{"S": "subnet-1"}]}}},
                {"L": [{"N": "1"}, {"M": {"deep": {"M": {"er": {"S": "x" * 40}}}}}]},
            ]
        },
    }
}


def test_an_attribute_is_the_size_moto_alone_measures() -> None:
    size = DynamoType.__dict__["size"]
    for value in [EVERY_KIND, *EVERY_KIND["M"].values()]:
        wrapped = DynamoType(value)
        assert size(wrapped) == size.__wrapped__(wrapped), value
    assert size(DynamoType(EVERY_KIND)) > 100  # (measured something)


def test_an_item_past_400_kb_is_still_refused_and_one_just_under_is_not() -> None:
    """moto's own limit (405,000 bytes of names and values): reached through nested values."""
    row = {"M": {"text": {"S": "x" * 9_000}}}
    under = {"id": {"S": "1"}, "rows": {"L": [{"M": {"r": row}}] * 44}}
    over = {"id": {"S": "1"}, "rows": {"L": [{"M": {"r": row}}] * 46}}

    Item(hash_key=DynamoType({"S": "1"}), range_key=None, attrs=under)
    with pytest.raises(ItemSizeTooLarge):
        Item(hash_key=DynamoType({"S": "1"}), range_key=None, attrs=over)


def test_the_patches_are_in_place() -> None:
    assert not isinstance(vars(core_responses)["method_names_from_class"](SQSResponse), list)
    assert inspect.ismethod(UpdateExpressionParser.make)
    assert hasattr(core_serialize.AttributePicker.__dict__["__call__"], "__wrapped__")
    assert hasattr(DynamoType.__dict__["size"], "__wrapped__")
