"""The gateway's view of the deployed stack: stage, routes and where Lambda is,
followed as outputs.json changes; the route table against the template."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from pharmaguard_ws.stack import ROUTE_OUTPUTS, OutputsFile, StackNotDeployed, parse_outputs, stage_of

TEMPLATE = Path(__file__).resolve().parents[3] / "infra" / "template.yaml"

OUTPUTS = {
    "StackName": "pharmaguard-local",
    "ApiUrl": "https://vyu6ponnot.execute-api.localhost.localstack.cloud:4566/local",
    "AwsEndpointUrl": "http://127.0.0.1:4566",
    "Region": "eu-central-1",
    "WebSocketUrl": "ws://127.0.0.1:4600/local",
    "WsConnectFunctionName": "pharmaguard-local-ws-connect",
    "WsDisconnectFunctionName": "pharmaguard-local-ws-disconnect",
    "WsMessageFunctionName": "pharmaguard-local-ws-message",
    "WsBroadcastFunctionName": "pharmaguard-local-ws-broadcast",
}


def test_routes_and_endpoint():
    outputs = parse_outputs(OUTPUTS)
    assert outputs.stage == "local"
    assert outputs.routes == {
        "$connect": "pharmaguard-local-ws-connect",
        "$disconnect": "pharmaguard-local-ws-disconnect",
        "subscribe": "pharmaguard-local-ws-message",
        "unsubscribe": "pharmaguard-local-ws-message",
        "ping": "pharmaguard-local-ws-message",
        "$default": "pharmaguard-local-ws-message",
    }
    assert (outputs.endpoint_url, outputs.region, outputs.stack_name) == (
        "http://127.0.0.1:4566", "eu-central-1", "pharmaguard-local")


def test_a_stack_without_the_ws_functions_has_no_routes():
    outputs = parse_outputs({k: v for k, v in OUTPUTS.items() if not k.startswith("Ws")})
    assert outputs.routes == {} and outputs.stage == "local"


def test_stage():
    assert stage_of({"WebSocketUrl": "ws://127.0.0.1:4600/dev"}) == "dev"
    assert stage_of({"WebSocketUrl": "wss://abc.execute-api.eu-central-1.amazonaws.com/prod/"}) == "prod"
    assert stage_of({"ApiUrl": "https://x.execute-api.localhost.localstack.cloud:4566/test"}) == "test"
    assert stage_of({"StackName": "pharmaguard-ci"}) == "ci"
    with pytest.raises(StackNotDeployed):
        stage_of({})
    assert parse_outputs(OUTPUTS, stage="other").stage == "other"


def test_the_file_is_read_again_when_a_deploy_rewrites_it(tmp_path):
    path = tmp_path / "outputs.json"
    outputs = OutputsFile(path)
    with pytest.raises(StackNotDeployed, match="does not exist"):
        outputs.current()
    path.write_text(json.dumps({k: v for k, v in OUTPUTS.items() if not k.startswith("Ws")}))
    assert outputs.current().routes == {}
    path.write_text(json.dumps(OUTPUTS))
    os.utime(path, ns=(1, 10**18))  # a different stamp even within the file system's time resolution
    assert outputs.current().routes["$connect"] == "pharmaguard-local-ws-connect"
    path.write_text("{ not json")
    os.utime(path, ns=(1, 2 * 10**18))
    with pytest.raises(StackNotDeployed, match="not a deployed stack"):
        outputs.current()


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, ...) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        {suffix: loader.construct_scalar(node)} if isinstance(node, yaml.ScalarNode)
        else {suffix: loader.construct_sequence(node)} if isinstance(node, yaml.SequenceNode)
        else {suffix: loader.construct_mapping(node)}
    ),
)


def _names(value) -> str:
    """Everything a CloudFormation value mentions, as text (logical ids, names)."""
    return json.dumps(value)


def _mentions(text: str, logical_id: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(logical_id)}(?![A-Za-z0-9])", text) is not None


def test_the_route_table_is_the_templates():
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    resources = template.get("Resources", {})
    routes = {name: r for name, r in resources.items() if r.get("Type") == "AWS::ApiGatewayV2::Route"}
    if not routes:
        pytest.skip("infra/template.yaml declares no AWS::ApiGatewayV2::Route yet")
    integrations = {name: r for name, r in resources.items() if r.get("Type") == "AWS::ApiGatewayV2::Integration"}
    outputs = template.get("Outputs", {})
    # output name -> the logical id of the function it names
    function_of_output = {}
    for output, function_output in ROUTE_OUTPUTS.items():
        value = _names(outputs.get(function_output, {}).get("Value"))
        function_of_output[function_output] = next(
            (name for name, r in resources.items() if r.get("Type") == "AWS::Serverless::Function" and
             _mentions(value, name)), None)
    declared = {}
    for route in routes.values():
        properties = route["Properties"]
        target = _names(properties.get("Target"))
        integration = next((name for name in integrations if _mentions(target, name)), None)
        uri = _names(integrations[integration]["Properties"].get("IntegrationUri")) if integration else target
        function = next((name for name, r in resources.items()
                         if r.get("Type") == "AWS::Serverless::Function" and _mentions(uri, name)), None)
        declared[properties["RouteKey"]] = function
    expected = {route: function_of_output[output] for route, output in ROUTE_OUTPUTS.items()}
    assert declared == expected
