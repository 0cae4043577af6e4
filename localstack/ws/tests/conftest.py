"""Fixtures of the WebSocket gateway's tests: an in-process gateway with a fake
Lambda, WebSocket clients (the `websockets` library, and a raw socket for exact
frames) and the AWS SDK's management API client (boto3)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pharmaguard_ws.gateway import Gateway, GatewayConfig  # noqa: E402
from pharmaguard_ws.invoker import Invocation, InvokeFailed  # noqa: E402
from pharmaguard_ws.stack import FixedStack, StackOutputs  # noqa: E402

STAGE = "local"
ROUTES = {
    "$connect": "ws-connect",
    "$disconnect": "ws-disconnect",
    "subscribe": "ws-message",
    "unsubscribe": "ws-message",
    "ping": "ws-message",
    "$default": "ws-message",
}
GOOD_TOKEN = "good-token"


def accept_good_token(event: dict) -> dict:
    """A stand-in for ws-connect: the token in the query string decides."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if token == GOOD_TOKEN:
        return {"statusCode": 200}
    return {"statusCode": 401, "body": json.dumps({"message": "Unauthorized"})}


def answer_ping(event: dict) -> dict:
    """A stand-in for ws-message: answers ping, says nothing to anything else."""
    try:
        body = json.loads(event["body"])
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("action") == "ping":
        return {"statusCode": 200, "body": json.dumps({"v": 1, "type": "pong"})}
    return {"statusCode": 200}


class FakeLambda:
    """The `Invoke` the gateway calls: keeps every event, answers with the
    function's handler (run in a thread, so a handler may block, e.g. call the
    gateway back). A handler returns a dict (the payload), an `Invocation`, or
    raises (`InvokeFailed`: the invoke itself failed). `delay[name]` makes a
    function slow."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict]] = []
        self.handlers: dict[str, Callable[[dict], object]] = {
            "ws-connect": accept_good_token,
            "ws-message": answer_ping,
            "ws-disconnect": lambda event: {"statusCode": 200},
        }
        self.delay: dict[str, float] = {}

    async def __call__(self, function: str, event: dict) -> Invocation:
        json.dumps(event)  # what the real invoker sends must be JSON
        with self.lock:
            self.calls.append((function, copy.deepcopy(event)))
        if self.delay.get(function):
            await asyncio.sleep(self.delay[function])
        if function not in self.handlers:
            raise InvokeFailed(f"Function not found: {function}")
        result = await asyncio.to_thread(self.handlers[function], event)
        return result if isinstance(result, Invocation) else Invocation(payload=result)

    def events(self, function: str) -> list[dict]:
        with self.lock:
            return [event for name, event in self.calls if name == function]

    def wait_for(self, function: str, predicate: Callable[[dict], bool] = lambda event: True,
                 timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(function):
                if predicate(event):
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no matching {function} event in {timeout} s; got {self.events(function)}")


class RunningGateway:
    """A gateway on an ephemeral loopback port, its event loop in a thread."""

    def __init__(self, invoke, routes: dict[str, str] | None = None, stack=None, **config):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        stack = stack or FixedStack(StackOutputs(stage=STAGE, routes=ROUTES if routes is None else routes,
                                                 stack_name="pharmaguard-local"))

        async def make() -> Gateway:
            gateway = Gateway(stack, invoke, GatewayConfig(port=0, stats_interval=0, **config))
            await gateway.start()
            return gateway

        self.gateway = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5)
        self.port = self.gateway.port
        self.url = f"ws://127.0.0.1:{self.port}/{STAGE}"
        self.endpoint = f"http://127.0.0.1:{self.port}/{STAGE}"
        self.stopped = False

    def connection_ids(self) -> list[str]:
        async def ids():
            return list(self.gateway.connections)

        return asyncio.run_coroutine_threadsafe(ids(), self.loop).result(5)

    def stop(self):
        if not self.stopped:
            self.stopped = True
            asyncio.run_coroutine_threadsafe(self.gateway.stop(5), self.loop).result(10)

    def close(self):
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda()


@pytest.fixture
def gateway(fake):
    running = RunningGateway(fake)
    yield running
    running.close()


@pytest.fixture
def make_gateway(fake):
    """A gateway with other settings: make_gateway(idle_timeout=0.5, routes={...})."""
    made: list[RunningGateway] = []

    def make(**settings) -> RunningGateway:
        running = RunningGateway(settings.pop("invoke", fake), **settings)
        made.append(running)
        return running

    yield make
    for running in made:
        running.close()


def management_client(endpoint: str):
    """The AWS SDK's client for `@connections`, as the functions use it (SigV4-signed)."""
    return boto3.session.Session().client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="eu-central-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


@pytest.fixture
def management(gateway):
    return management_client(gateway.endpoint)


class RawClient:
    """A WebSocket client over a plain socket, for exact frames: sends masked
    frames as given and reads the server's frames one by one."""

    def __init__(self, port: int, target: str = f"/{STAGE}?token={GOOD_TOKEN}", extra: str = ""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1]) if self.head else None

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        header = bytes([(0x80 if fin else 0) | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the gateway")
            data += chunk
        return data

    def read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._exactly(2)
        assert not second & 0x80, "server frames are never masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8))
        return bool(first & 0x80), first & 0x0F, self._exactly(length)

    def close(self):
        self.sock.close()


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
