"""The gateway with its real invoker against the running LocalStack: throw-away
Lambda functions (a bash runtime, run by the host executor in localstack/plugin)
are invoked through LocalStack's Lambda API with the gateway's events, decide
the handshake, answer messages, fail, and call `@connections` back with a
SigV4-signed request while the gateway waits for them."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from conftest import STAGE, RunningGateway
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pharmaguard_ws.invoker import LambdaInvoker
from pharmaguard_ws.stack import StackOutputs

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
REGION = os.environ.get("AWS_REGION", "eu-central-1")
ROLE = "arn:aws:iam::000000000000:role/ws-gateway-test"

# A route integration in bash: records each event, refuses a $connect without
# token=good, answers a message with the route it came by, fails on "crash", and
# on "callback" first posts to the connection through @connections (curl signs
# the request with the function's credentials, as the AWS SDK would).
BOOTSTRAP = r"""#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  rm -f "$headers"
  printf '%s\n' "$event" | tr -d '\n' >>"$RECORD_FILE"; echo >>"$RECORD_FILE"
  field() { printf '%s' "$event" | grep -o "\"$1\": \"[^\"]*\"" | head -1 | cut -d'"' -f4; }
  answer='{"statusCode": 200}'
  case "$(field eventType)" in
    CONNECT)
      case "$event" in
        *'"token": "good"'*) ;;
        *) answer='{"statusCode": 401, "body": "{\"message\": \"Unauthorized\"}"}' ;;
      esac ;;
    MESSAGE)
      case "$event" in
        *crash*)
          curl -sS -X POST "$api/invocation/$id/error" -d '{"errorMessage": "crashed on purpose", "errorType": "Test"}' >/dev/null
          continue ;;
        *callback*)
          curl -sS --aws-sigv4 "aws:amz:$AWS_REGION:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            -H "x-amz-security-token: $AWS_SESSION_TOKEN" -X POST --data-binary "called back" \
            "$WS_MANAGEMENT_ENDPOINT/@connections/$(field connectionId | sed 's/=/%3D/g')" >>"$RECORD_FILE.callback" 2>&1 ;;
      esac
      answer="{\"statusCode\": 200, \"body\": \"routed to $(field routeKey)\"}" ;;
  esac
  curl -sS -X POST "$api/invocation/$id/response" -d "$answer" >/dev/null
done
"""


def lambda_client():
    return boto3.client("lambda", endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, BOOTSTRAP)
    return buffer.getvalue()


class LateStack:
    """The stack the gateway reads: its routes are set once the function exists
    (the function needs the gateway's port first)."""

    def __init__(self):
        self.outputs = StackOutputs(stage=STAGE, routes={}, endpoint_url=ENDPOINT, region=REGION)

    def current(self) -> StackOutputs:
        return self.outputs


class Deployed:
    def __init__(self, tmp: Path):
        try:
            lambda_client().list_functions(MaxItems=1)
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"LocalStack does not answer on {ENDPOINT} ({error}); start it with localstack/up")
        self.stack = LateStack()
        self.invoker = LambdaInvoker(self.stack)
        self.gateway = RunningGateway(self.invoker, stack=self.stack)
        self.record_file = tmp / "events.jsonl"
        self.name = f"ws-gateway-test-{uuid.uuid4().hex[:8]}"
        client = lambda_client()
        client.create_function(
            FunctionName=self.name,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=ROLE,
            Code={"ZipFile": code_zip()},
            Timeout=10,
            Environment={"Variables": {"RECORD_FILE": str(self.record_file),
                                       "WS_MANAGEMENT_ENDPOINT": self.gateway.endpoint}},
        )
        client.get_waiter("function_active_v2").wait(FunctionName=self.name)
        self.stack.outputs = StackOutputs(
            stage=STAGE, endpoint_url=ENDPOINT, region=REGION,
            routes={route: self.name for route in ("$connect", "$disconnect", "ping", "$default")},
        )

    def events(self) -> list[dict]:
        if not self.record_file.exists():
            return []
        return [json.loads(line) for line in self.record_file.read_text().splitlines() if line.strip()]

    def wait_for(self, predicate, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if predicate(event):
                    return event
            time.sleep(0.2)
        raise AssertionError(f"{self.name} got no matching event in {timeout} s: {self.events()}")

    def close(self):
        self.gateway.close()
        self.invoker.close()
        lambda_client().delete_function(FunctionName=self.name)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    deployment = Deployed(tmp_path_factory.mktemp("ws-lambda"))
    yield deployment
    deployment.close()


def test_connect_through_lambda_refuses_with_the_functions_status(deployed):
    with pytest.raises(InvalidStatus) as info:
        connect(f"{deployed.gateway.url}?token=bad", open_timeout=60)
    assert info.value.response.status_code == 401
    assert json.loads(info.value.response.body) == {"message": "Unauthorized"}
    event = deployed.wait_for(lambda e: e["requestContext"]["eventType"] == "CONNECT")
    assert event["queryStringParameters"] == {"token": "bad"}


def test_a_session_through_lambda(deployed):
    with connect(f"{deployed.gateway.url}?token=good", open_timeout=60, close_timeout=5) as ws:
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        assert ws.recv(timeout=60) == "routed to ping"
        ws.send("hello")
        assert ws.recv(timeout=60) == "routed to $default"
        ws.send(json.dumps({"v": 1, "action": "callback"}))
        assert ws.recv(timeout=60) == "called back"  # posted while the gateway waited for the function
        assert ws.recv(timeout=60) == "routed to $default"
        ws.send(json.dumps({"v": 1, "action": "crash"}))
        error = json.loads(ws.recv(timeout=60))
        assert error["message"] == "Internal server error" and set(error) == {"message", "connectionId", "requestId"}
        connection_id = error["connectionId"]
        ws.close(4001, "done")
    event = deployed.wait_for(lambda e: e["requestContext"]["eventType"] == "DISCONNECT" and
                              e["requestContext"]["connectionId"] == connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 4001
    assert event["requestContext"]["disconnectReason"] == "done"
    routes = [e["requestContext"]["routeKey"] for e in deployed.events()
              if e["requestContext"]["connectionId"] == connection_id]
    assert routes == ["$connect", "ping", "$default", "$default", "$default", "$disconnect"]
