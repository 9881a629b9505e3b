"""What moto lacks that `make backing` (a CloudFormation stack) needs, on top of
`support.moto_gaps`.

moto's CloudFormation creates only the resource types it has a model for and
skips the others with a warning, so the backing stack would come out
without its user pool, app client, admins group and queue policy (and
`Fn::GetAtt UserPool.Arn` would fail). Here those four types get models that
create what the Cognito and SQS APIs create, through moto's own backends:

- `AWS::Cognito::UserPool`: `Ref` is the pool id; `Arn`, `ProviderName`,
  `ProviderURL`, `UserPoolId` as CloudFormation documents them;
- `AWS::Cognito::UserPoolClient`: `Ref` is the client id;
- `AWS::Cognito::UserPoolGroup`: `Ref` is the group's name;
- `AWS::SQS::QueuePolicy`: sets `Policy` on each queue of `Queues` (by URL).

Deleting the stack deletes them (or, `DeletionPolicy: Retain`, keeps them:
moto's stack handles that). Properties moto's DynamoDB model ignores
(`TimeToLiveSpecification`, `PointInTimeRecoverySpecification`) stay
ignored: nothing in `make backing` or `chalice deploy` reads them back.

`support.moto_stack_gaps` applies these with its own (what `make deploy`
needs besides): its `stack_moto_server()` is the server `make deploy`, `make
backing` and `chalice deploy` are tested against.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.cloudformation import parsing
from moto.cognitoidp.models import cognitoidp_backends
from moto.core.common_models import CloudFormationModel
from moto.sqs.models import sqs_backends

from support import moto_gaps

_APPLIED = False


class Model:
    """What moto asks of each model below besides making it: its CloudFormation type, the
    property that names it, the attributes `Fn::GetAtt` may read; made at once. (A mixin:
    moto finds models among CloudFormationModel's direct subclasses only.)"""

    TYPE = ""
    NAME_TYPE = ""
    ATTRIBUTES: tuple[str, ...] = ()

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def is_created(self) -> bool:
        return True


class UserPoolResource(Model, CloudFormationModel):
    """`AWS::Cognito::UserPool`, made with moto's CreateUserPool."""

    TYPE = "AWS::Cognito::UserPool"
    NAME_TYPE = "UserPoolName"
    ATTRIBUTES = ("Arn", "ProviderName", "ProviderURL", "UserPoolId")

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @property
    def physical_resource_id(self) -> str:
        return str(self.pool.id)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        provider = f"cognito-idp.{self.pool.region}.amazonaws.com/{self.pool.id}"
        return str(
            {
                "Arn": self.pool.arn,
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
                "UserPoolId": self.pool.id,
            }[attribute_name]
        )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> UserPoolResource:
        properties = dict(cloudformation_json.get("Properties", {}))
        name = properties.pop("UserPoolName", resource_name)
        backend = cognitoidp_backends[account_id][region_name]
        return cls(backend.create_user_pool(name, properties))

    def delete(self, account_id: str, region_name: str) -> None:
        cognitoidp_backends[account_id][region_name].delete_user_pool(self.pool.id)


class UserPoolClientResource(Model, CloudFormationModel):
    """`AWS::Cognito::UserPoolClient`, made with moto's CreateUserPoolClient."""

    TYPE = "AWS::Cognito::UserPoolClient"
    NAME_TYPE = "ClientName"
    ATTRIBUTES = ("ClientId",)

    def __init__(self, user_pool_id: str, client: Any) -> None:
        self.user_pool_id = user_pool_id
        self.client = client

    @property
    def physical_resource_id(self) -> str:
        return str(self.client.id)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "ClientId":
            raise NotImplementedError(attribute_name)
        return str(self.client.id)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> UserPoolClientResource:
        properties = dict(cloudformation_json.get("Properties", {}))
        pool_id = str(properties.pop("UserPoolId"))
        generate_secret = bool(properties.pop("GenerateSecret", False))
        properties.setdefault("ClientName", resource_name)
        backend = cognitoidp_backends[account_id][region_name]
        return cls(pool_id, backend.create_user_pool_client(pool_id, generate_secret, properties))

    def delete(self, account_id: str, region_name: str) -> None:
        backend = cognitoidp_backends[account_id][region_name]
        with contextlib.suppress(Exception):  # the pool may be gone first
            backend.delete_user_pool_client(self.user_pool_id, self.client.id)


class UserPoolGroupResource(Model, CloudFormationModel):
    """`AWS::Cognito::UserPoolGroup`, made with moto's CreateGroup."""

    TYPE = "AWS::Cognito::UserPoolGroup"
    NAME_TYPE = "GroupName"

    def __init__(self, user_pool_id: str, name: str) -> None:
        self.user_pool_id = user_pool_id
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> UserPoolGroupResource:
        properties = cloudformation_json["Properties"]
        pool_id = str(properties["UserPoolId"])
        name = str(properties.get("GroupName", resource_name))
        cognitoidp_backends[account_id][region_name].create_group(
            pool_id,
            name,
            str(properties.get("Description", "")),
            properties.get("RoleArn"),
            properties.get("Precedence"),
        )
        return cls(pool_id, name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = cognitoidp_backends[account_id][region_name]
        with contextlib.suppress(Exception):  # the pool may be gone first
            backend.delete_group(self.user_pool_id, self.name)


class QueuePolicyResource(Model, CloudFormationModel):
    """`AWS::SQS::QueuePolicy`: the `Policy` attribute of each queue in `Queues`."""

    TYPE = "AWS::SQS::QueuePolicy"
    NAME_TYPE = ""

    def __init__(self, queue_names: list[str], logical_id: str) -> None:
        self.queue_names = queue_names
        self.logical_id = logical_id

    @property
    def physical_resource_id(self) -> str:
        return self.logical_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> QueuePolicyResource:
        properties = cloudformation_json["Properties"]
        backend = sqs_backends[account_id][region_name]
        names = [str(url).rstrip("/").rsplit("/", 1)[-1] for url in properties["Queues"]]
        for name in names:
            backend.set_queue_attributes(name, {"Policy": json.dumps(properties["PolicyDocument"])})
        return cls(names, str(kwargs.get("LogicalId", resource_name)))

    def delete(self, account_id: str, region_name: str) -> None:
        backend = sqs_backends[account_id][region_name]
        for name in self.queue_names:
            with contextlib.suppress(Exception):  # the queue may be gone first
                backend.set_queue_attributes(name, {"Policy": ""})


def apply() -> None:
    """`support.moto_gaps`, and the CloudFormation models above, in this process."""
    global _APPLIED
    if _APPLIED:
        return
    moto_gaps.apply()
    # moto lists its models once (`CloudFormationModel.__subclasses__()`, cached):
    # the classes above exist now, so a fresh listing includes them.
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _APPLIED = True
