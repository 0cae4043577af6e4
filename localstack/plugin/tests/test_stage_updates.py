"""Updates of API Gateway stages through CloudFormation (pharmaguard_localstack.stage_updates):
the pure patch computation, and a stack whose API gains a route on the running local stack."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from conftest import client
from pharmaguard_localstack.stage_updates import patch_operations


def test_a_new_deployment_and_changed_variables_are_patched():
    desired = {"DeploymentId": "dep2", "Description": "api", "Variables": {"a": "1", "b": "3"}}
    current = {"deploymentId": "dep1", "description": "api", "variables": {"b": "2", "c": "x"}}
    assert patch_operations(desired, current) == [
        {"op": "replace", "path": "/deploymentId", "value": "dep2"},
        {"op": "replace", "path": "/variables/a", "value": "1"},
        {"op": "replace", "path": "/variables/b", "value": "3"},
        {"op": "remove", "path": "/variables/c"},
    ]


def test_an_unchanged_stage_needs_no_patch():
    desired = {"DeploymentId": "dep1", "TracingEnabled": False}
    assert patch_operations(desired, {"deploymentId": "dep1", "tracingEnabled": False}) == []


def template(paths: list[str]) -> str:
    """A REST API with one MOCK GET method per path, a deployment named after the paths
    (a new set of paths is a new deployment, as SAM generates it) and a stage."""
    resources: dict = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "stage-update-test"}},
    }
    methods = []
    for index, path in enumerate(paths):
        resources[f"Path{index}"] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"RestApiId": {"Ref": "Api"}, "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": path},
        }
        resources[f"Get{index}"] = {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": f"Path{index}"},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [{"StatusCode": "200"}],
                },
                "MethodResponses": [{"StatusCode": "200"}],
            },
        }
        methods.append(f"Get{index}")
    deployment = "Deployment" + "".join(p.capitalize() for p in paths)
    resources[deployment] = {"Type": "AWS::ApiGateway::Deployment", "DependsOn": methods, "Properties": {"RestApiId": {"Ref": "Api"}}}
    resources["Stage"] = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "test", "DeploymentId": {"Ref": deployment}},
    }
    outputs = {"ApiId": {"Value": {"Ref": "Api"}}, "DeploymentId": {"Value": {"Ref": deployment}}}
    return json.dumps({"Resources": resources, "Outputs": outputs})


def wait_for(cfn, name: str) -> dict:
    for _ in range(120):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return stack
        time.sleep(0.5)
    pytest.fail(f"stack {name} did not settle")


def test_a_stack_update_that_adds_a_route_points_the_stage_at_the_new_deployment():
    cfn = client("cloudformation")
    apigw = client("apigateway")
    name = f"stage-update-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=template(["alpha"]))
    try:
        stack = wait_for(cfn, name)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        cfn.update_stack(StackName=name, TemplateBody=template(["alpha", "beta"]))
        stack = wait_for(cfn, name)
        assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        served = apigw.get_stage(restApiId=outputs["ApiId"], stageName="test")["deploymentId"]
        assert served == outputs["DeploymentId"], "the stage serves the new deployment"
    finally:
        cfn.delete_stack(StackName=name)
