"""The moto server the apply tests use answers as AWS does where plain moto does not
(each gap in `support/moto_gaps.py`)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from support.moto_server import MotoServer

SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"version": "1.0", "title": "gaps"},
    "paths": {
        "/items/{id}": {
            "get": {
                "responses": {"200": {"description": "200 response"}},
                "security": [{"Pool": []}],
                "x-amazon-apigateway-integration": {
                    "type": "aws_proxy",
                    "httpMethod": "POST",
                    "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                    "arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
                },
            },
            "options": {"responses": {"200": {"description": "200 response"}}},
        }
    },
    "x-amazon-apigateway-binary-media-types": ["application/zip", "image/png"],
    "securityDefinitions": {
        "Pool": {
            "in": "header",
            "type": "apiKey",
            "name": "Authorization",
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {
                "type": "cognito_user_pools",
                "providerARNs": ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"],
            },
        }
    },
}


@pytest.fixture
def client(moto_server: MotoServer) -> Any:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server.endpoint_url,
            region_name=moto_server.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


def _methods(apigateway: Any, api_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    methods = {}
    for resource in apigateway.get_resources(restApiId=api_id)["items"]:
        for verb in resource.get("resourceMethods", {}):
            methods[resource["path"], verb] = apigateway.get_method(
                restApiId=api_id, resourceId=resource["id"], httpMethod=verb
            )
    return methods


def test_put_rest_api_overwrite_imports_swagger_methods_authorizer_and_media_types(
    client: Any,
) -> None:
    apigateway = client("apigateway")
    api_id = apigateway.create_rest_api(name="gaps")["id"]

    apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(SWAGGER))

    (authorizer,) = apigateway.get_authorizers(restApiId=api_id)["items"]
    assert authorizer["name"] == "Pool"
    assert authorizer["type"] == "COGNITO_USER_POOLS"
    assert (
        authorizer["providerARNs"]
        == SWAGGER["securityDefinitions"]["Pool"]["x-amazon-apigateway-authorizer"]["providerARNs"]
    )
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    methods = _methods(apigateway, api_id)
    assert set(methods) == {("/items/{id}", "GET"), ("/items/{id}", "OPTIONS")}
    get = methods["/items/{id}", "GET"]
    assert (get["authorizationType"], get["authorizerId"]) == (
        "COGNITO_USER_POOLS",
        authorizer["id"],
    )
    integration = SWAGGER["paths"]["/items/{id}"]["get"]["x-amazon-apigateway-integration"]
    assert get["methodIntegration"]["uri"] == integration["uri"]
    assert methods["/items/{id}", "OPTIONS"]["authorizationType"] == "NONE"
    api = apigateway.get_rest_api(restApiId=api_id)
    assert api["binaryMediaTypes"] == ["application/zip", "image/png"]


def test_put_rest_api_overwrite_again_keeps_one_authorizer(client: Any) -> None:
    apigateway = client("apigateway")
    api_id = apigateway.create_rest_api(name="gaps")["id"]

    for _ in range(2):
        apigateway.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(SWAGGER))

    assert len(apigateway.get_authorizers(restApiId=api_id)["items"]) == 1
    assert len(_methods(apigateway, api_id)) == 2


def test_import_rest_api_accepts_swagger_without_a_description(client: Any) -> None:
    apigateway = client("apigateway")

    api = apigateway.import_rest_api(body=json.dumps(SWAGGER))

    assert api["name"] == "gaps"
    get = _methods(apigateway, api["id"])["/items/{id}", "GET"]
    assert get["authorizationType"] == "COGNITO_USER_POOLS"


def test_update_rest_api_adds_and_removes_the_media_type_named_in_the_path(client: Any) -> None:
    apigateway = client("apigateway")
    api_id = apigateway.create_rest_api(name="gaps", binaryMediaTypes=["image/png"])["id"]

    apigateway.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {"op": "add", "path": "/binaryMediaTypes/application~1zip"},
            {"op": "remove", "path": "/binaryMediaTypes/image~1png"},
            {"op": "replace", "path": "/description", "value": "kept working"},
        ],
    )

    api = apigateway.get_rest_api(restApiId=api_id)
    assert api["binaryMediaTypes"] == ["application/zip"]
    assert api["description"] == "kept working"


def test_redrive_allow_policy_is_stored_and_returned(client: Any) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="gaps-dlq")["QueueUrl"]
    policy = {"redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:us-east-1:1:q"]}

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": json.dumps(policy)})

    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedriveAllowPolicy"])
    assert json.loads(named["Attributes"]["RedriveAllowPolicy"]) == policy
    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(every["RedriveAllowPolicy"]) == policy


def test_an_empty_redrive_allow_policy_removes_it(client: Any) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="gaps-dlq-removed")["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"RedriveAllowPolicy": '{"redrivePermission": "allowAll"}'}
    )

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": ""})

    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "RedriveAllowPolicy" not in every


def test_set_queue_attributes_without_policy_keeps_the_policy(client: Any) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="gaps-policy")["QueueUrl"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Deny", "Effect": "Deny"}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["Policy"]) == json.loads(policy)


def test_set_queue_attributes_with_an_empty_policy_removes_it(client: Any) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="gaps-no-policy")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": '{"Version": "2012-10-17"}'})

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "Policy" not in attributes
