"""What moto lacks that `make deploy` (the stage's one SAM stack) needs, on top of
`support.moto_chalice_gaps` (the user pool, its client and group, the queue policy).

`make deploy` sends dist/cloudformation/sam.json, a SAM template, through a
change set. moto's CloudFormation knows neither the transform nor some of what
the transform makes, so without these the stack would come out without its API
(or fail outright):

- **`Transform: AWS::Serverless-2016-10-31`**: moto reads the template as it
  is and skips `AWS::Serverless::*` (no functions, no API). Here a change set's
  template goes through aws-sam-translator first, the transform CloudFormation
  itself runs (the same translation tests/deploy/test_sam_translate.py checks
  offline), with the change set's parameters.
- **`AWS::ApiGateway::RestApi` with `Body`** (the transform's API): moto's model
  reads only `Name`, which SAM does not set, and ignores the definition. Here the
  API takes its name from the definition's `info.title`, as API Gateway does, and
  the definition is imported as PutRestApi imports it (Swagger 2.0 by
  `support.moto_gaps`: methods, integrations, the Cognito authorizer), with its
  `x-amazon-apigateway-gateway-responses` made gateway responses.
- **`AWS::ApiGateway::Stage`**: no model at all. Here one made with CreateStage,
  with the properties this deployment sets (tracing, the access log, the
  throttle as method settings) applied as UpdateStage would apply them.
- **A stack made by a change set has no outputs**: moto reads a stack's
  `Outputs` from the template it was created with, which for a change set's
  stack is empty (the template arrives with the change set). Here executing a
  change set gives the stack the outputs of the change set's template, as
  CloudFormation does (`make deploy` prints the API's URL and the user pool
  from them).
- **Deleting a stack leaves its REST API**: moto's RestApi model has no delete.
- **A parameter of type `AWS::SSM::Parameter::Name` is given the parameter's
  value** (as `AWS::SSM::Parameter::Value<String>` is): CloudFormation only checks
  that the parameter exists and passes its name on. Unpatched, the listing
  tokens' key itself would land in every function's environment here, where
  CloudFormation puts the parameter's name (PAGE_TOKEN_SECRET_SSM_PARAMETER).
- **`Ref` of an `AWS::ApiGateway::Deployment`** is moto's object, not the
  deployment's id (the stage would name `<moto...Deployment object at 0x...>`).
- **A document given as an object** (as a template may, and ours does), a
  queue's `RedriveAllowPolicy` or a role's inline policy, is stored as Python's
  repr of it, which no JSON reader reads; here as JSON, as SQS and IAM store it.

What these make is deleted with the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
from collections.abc import Callable
from typing import Any

import boto3
from moto import server
from moto.apigateway.models import Deployment, RestAPI, apigateway_backends
from moto.cloudformation import models as cloudformation_models
from moto.cloudformation import parsing
from moto.cloudformation.parsing import OutputMap, ResourceMap
from moto.core.common_models import CloudFormationModel
from moto.iam.models import Role
from moto.sqs.models import Queue
from moto.ssm.models import ssm_backends
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from support import moto_chalice_gaps, moto_gaps
from support.moto_chalice_gaps import Model
from support.moto_server import MotoServer, moto_server

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
SSM_PARAMETER_NAME = "AWS::SSM::Parameter::Name"

_APPLIED = False


def _sam_transform() -> None:
    parse = cloudformation_models.ChangeSet._parse_template

    @functools.wraps(parse)
    def parse_and_transform(self: Any) -> None:
        parse(self)
        transforms = self.template_dict.get("Transform", [])
        if SAM_TRANSFORM in ([transforms] if isinstance(transforms, str) else transforms):
            self.template_dict = translate(
                self.template_dict, self.parameters, self.stack.region_name
            )

    cloudformation_models.ChangeSet._parse_template = parse_and_transform  # type: ignore[method-assign]


def translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of `template` (no AWS call: the
    template names no managed policy)."""

    def no_managed_policies() -> dict[str, str]:
        raise NotImplementedError("a managed policy in a SAM template (SAM would ask IAM)")

    translated: dict[str, Any] = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region)
    ).translate(
        template, parameter_values=dict(parameters), get_managed_policy_map=no_managed_policies
    )
    return translated


def _rest_api_body() -> None:
    create_named = RestAPI.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    @classmethod  # type: ignore[misc]
    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        body = properties.get("Body")
        if body is None:
            return create_named(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        info = body.get("info", {})
        backend = apigateway_backends[account_id][region_name]
        api = backend.create_rest_api(
            name=properties.get("Name", info.get("title", resource_name)),
            description=properties.get("Description", info.get("description", "")),
            endpoint_configuration=properties.get("EndpointConfiguration"),
        )
        backend.put_rest_api(api.id, body, fail_on_warnings=False, mode="overwrite")
        responses = body.get("x-amazon-apigateway-gateway-responses", {})
        for response_type, response in responses.items():
            backend.put_gateway_response(
                rest_api_id=api.id,
                response_type=response_type,
                status_code=response.get("statusCode"),
                response_parameters=response.get("responseParameters"),
                response_templates=response.get("responseTemplates"),
            )
        return api

    RestAPI.create_from_cloudformation_json = create_from_cloudformation_json  # type: ignore[method-assign,assignment]


class StageResource(Model, CloudFormationModel):
    """`AWS::ApiGateway::Stage`, made with moto's CreateStage and UpdateStage."""

    TYPE = "AWS::ApiGateway::Stage"
    NAME_TYPE = "StageName"

    def __init__(self, rest_api_id: str, name: str) -> None:
        self.rest_api_id = rest_api_id
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
    ) -> StageResource:
        properties = cloudformation_json["Properties"]
        backend = apigateway_backends[account_id][region_name]
        api_id, name = str(properties["RestApiId"]), str(properties["StageName"])
        stage = backend.create_stage(
            api_id,
            name,
            str(properties["DeploymentId"]),
            variables=properties.get("Variables"),
            description=properties.get("Description", ""),
            tracing_enabled=properties.get("TracingEnabled"),
        )
        stage.apply_operations(_stage_patch_operations(properties))
        return cls(api_id, name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = apigateway_backends[account_id][region_name]
        with contextlib.suppress(Exception):  # the API may be gone first
            backend.delete_stage(self.rest_api_id, self.name)


def _stage_patch_operations(properties: dict[str, Any]) -> list[dict[str, str]]:
    """The stage's access log and method settings, as UpdateStage's patch operations."""
    operations = []
    access_log = properties.get("AccessLogSetting")
    if access_log:
        operations += [
            {
                "op": "replace",
                "path": "/accessLogSettings/destinationArn",
                "value": str(access_log["DestinationArn"]),
            },
            {
                "op": "replace",
                "path": "/accessLogSettings/format",
                "value": str(access_log["Format"]),
            },
        ]
    names = {
        "ThrottlingRateLimit": "throttling/rateLimit",
        "ThrottlingBurstLimit": "throttling/burstLimit",
        "MetricsEnabled": "metrics/enabled",
        "LoggingLevel": "logging/loglevel",
        "DataTraceEnabled": "logging/dataTrace",
    }
    for setting in properties.get("MethodSettings", []):
        resource = setting.get("ResourcePath", "/*")
        method = setting.get("HttpMethod", "*")
        for key, path in names.items():
            if key in setting:
                operations.append(
                    {
                        "op": "replace",
                        "path": f"{resource}/{method}/{path}",
                        "value": json.dumps(setting[key]).strip('"'),
                    }
                )
    return operations


def _change_set_outputs() -> None:
    apply_change_set = cloudformation_models.ChangeSet.apply

    @functools.wraps(apply_change_set)
    def apply_with_outputs(self: Any) -> None:
        apply_change_set(self)
        stack = self.stack
        stack.output_map = OutputMap(stack.resource_map, self.template_dict, stack.stack_id)

    cloudformation_models.ChangeSet.apply = apply_with_outputs  # type: ignore[method-assign]


def _deployment_reference() -> None:
    # `Ref` of a resource is its physical_resource_id, which moto's Deployment lacks.
    Deployment.physical_resource_id = property(lambda self: self.id)  # type: ignore[attr-defined]


def _documents_as_json() -> None:
    def queue(properties: dict[str, Any]) -> dict[str, Any]:
        if "RedriveAllowPolicy" not in properties:
            return properties
        return {**properties, "RedriveAllowPolicy": _json(properties["RedriveAllowPolicy"])}

    def role(properties: dict[str, Any]) -> dict[str, Any]:
        policies = [
            {**policy, "PolicyDocument": _json(policy["PolicyDocument"])}
            for policy in properties.get("Policies", [])
        ]
        return {**properties, "Policies": policies}

    _with_properties(Queue, queue)
    _with_properties(Role, role)


def _json(value: Any) -> Any:
    """An object a template gives where the API takes a JSON document, as that document."""
    return json.dumps(value) if isinstance(value, dict) else value


def _with_properties(model: Any, fix: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """`model` made from a resource's properties as `fix` returns them."""
    create = model.create_from_cloudformation_json.__func__

    @classmethod  # type: ignore[misc]
    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = fix(dict(cloudformation_json.get("Properties", {})))
        fixed = {**cloudformation_json, "Properties": properties}
        return create(cls, resource_name, fixed, account_id, region_name, **kwargs)

    model.create_from_cloudformation_json = create_from_cloudformation_json


def _ssm_parameter_names() -> None:
    resolve = ResourceMap.parse_ssm_parameter

    @functools.wraps(resolve)
    def parse_ssm_parameter(self: Any, value: str, value_type: str) -> Any:
        if value_type != SSM_PARAMETER_NAME:
            return resolve(self, value, value_type)
        # CloudFormation checks that the parameter exists, and passes on its name.
        ssm_backends[self._account_id][self._region_name].get_parameter(value)
        return value

    ResourceMap.parse_ssm_parameter = parse_ssm_parameter  # type: ignore[method-assign]


def _rest_api_deleted_with_the_stack() -> None:
    def delete(self: Any, account_id: str, region_name: str) -> None:
        with contextlib.suppress(Exception):  # already gone
            apigateway_backends[account_id][region_name].delete_rest_api(self.id)

    RestAPI.delete = delete  # type: ignore[attr-defined]


def apply() -> None:
    """`support.moto_chalice_gaps` (and so `support.moto_gaps`), and the above, here."""
    global _APPLIED
    if _APPLIED:
        return
    moto_chalice_gaps.apply()
    _sam_transform()
    _rest_api_body()
    _deployment_reference()
    _documents_as_json()
    _ssm_parameter_names()
    _change_set_outputs()
    _rest_api_deleted_with_the_stack()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _APPLIED = True


def stack_moto_server() -> contextlib.AbstractContextManager[MotoServer]:
    """Like `support.moto_server.moto_server`, with every CloudFormation gap patched:
    for `make deploy`, `make backing` and `chalice deploy` alike."""
    return moto_server(gaps=__name__)


def main(argv: list[str] | None = None) -> None:
    """Serve moto, with every set of gaps patched, on 127.0.0.1:`--port` until terminated."""
    parser = argparse.ArgumentParser(
        description="moto server for make deploy, make backing and chalice deploy"
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    moto_gaps.exit_with_parent()
    apply()
    server.main(["--host", "127.0.0.1", "--port", str(args.port)])
