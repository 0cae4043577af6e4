"""End to end against the running local stack and its WebSocket gateway
(localstack/up starts both): the deployed ws-* functions, invoked through
LocalStack's Lambda API, decide the handshake, answer messages, and keep the
connections table; the management API works with the AWS SDK's client.

Skipped while the stack has no ws-* functions (no `WsConnectFunctionName` in
outputs.json): without Docker, no other Lambda function can be deployed here
for the test, so there is nothing real to invoke."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from conftest import management_client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

STATE_DIR = Path(os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state")
WS_HOST = os.environ.get("PHARMAGUARD_WS_HOST", "127.0.0.1")
WS_PORT = int(os.environ.get("PHARMAGUARD_WS_PORT", "4600"))


class Stack:
    def __init__(self):
        outputs_file = STATE_DIR / "outputs.json"
        admin_file = STATE_DIR / "admin.json"
        if not outputs_file.exists() or not admin_file.exists():
            pytest.fail(f"no deployed local stack ({outputs_file} or {admin_file} missing): run localstack/up")
        self.outputs = json.loads(outputs_file.read_text())
        if "WsConnectFunctionName" not in self.outputs:
            pytest.skip("the ws-* functions are not deployed (outputs.json has no WsConnectFunctionName), and "
                        "without Docker no stand-in function can be deployed for this test")
        stage = self.outputs["WebSocketUrl"].rstrip("/").rsplit("/", 1)[1]
        self.url = f"ws://{WS_HOST}:{WS_PORT}/{stage}"
        self.endpoint = f"http://{WS_HOST}:{WS_PORT}/{stage}"
        try:
            requests.get(self.endpoint, timeout=5)
        except requests.ConnectionError:
            pytest.fail(f"the WebSocket gateway does not answer on {WS_HOST}:{WS_PORT}: localstack/ws-gateway start")
        self.dynamodb = boto3.client(
            "dynamodb", endpoint_url=self.outputs["AwsEndpointUrl"], region_name=self.outputs["Region"],
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        self.table = self.outputs["ConnectionsTableName"]
        admin = json.loads(admin_file.read_text())
        api = self.outputs["ApiBaseUrl"]
        login = requests.post(f"{api}/v1/auth/login", json={"email": admin["email"], "password": admin["password"]},
                              timeout=30)
        assert login.status_code == 200, login.text
        self.token = login.json()["access_token"]

    def stored(self, connection_id: str) -> bool:
        """Whether the connections table holds an item naming the connection."""
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table)
        return any(connection_id in json.dumps(item) for page in pages for item in page["Items"])

    def wait_until(self, condition, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.2)
        return condition()


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack()


def test_the_handshake_needs_a_valid_access_token(stack):
    for query in ("", "?token=", "?token=not-a-token"):
        with pytest.raises(InvalidStatus) as info:
            connect(f"{stack.url}{query}", open_timeout=30)
        assert info.value.response.status_code == 401, query


def test_a_connection_through_the_deployed_functions(stack):
    management = management_client(stack.endpoint)
    before = _open_connections(stack, management)
    with connect(f"{stack.url}?token={stack.token}", open_timeout=30, close_timeout=5) as ws:
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        assert json.loads(ws.recv(timeout=30)) == {"v": 1, "type": "pong"}
        ws.send(json.dumps({"v": 1, "action": "dance"}))  # no such route: $default answers with an error
        error = json.loads(ws.recv(timeout=30))
        assert error["v"] == 1 and error["type"] == "error", error

        new = _open_connections(stack, management) - before
        assert len(new) == 1, f"ws-connect stored {len(new)} new open connection(s)"
        (connection_id,) = new
        info = management.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"

        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd.code == 1000
    assert stack.wait_until(lambda: not stack.stored(connection_id)), "ws-disconnect left the connection stored"
    with pytest.raises(ClientError) as gone:
        management.get_connection(ConnectionId=connection_id)
    assert gone.value.response["Error"]["Code"] == "GoneException"


def _open_connections(stack: Stack, management) -> set[str]:
    """The connection ids in the connections table that the gateway has open."""
    ids = set()
    for page in stack.dynamodb.get_paginator("scan").paginate(TableName=stack.table):
        for item in page["Items"]:
            for value in item.values():
                candidate = value.get("S")
                if candidate and len(candidate) == 16 and candidate.endswith("="):
                    try:
                        management.get_connection(ConnectionId=candidate)
                    except ClientError:
                        continue
                    ids.add(candidate)
    return ids
