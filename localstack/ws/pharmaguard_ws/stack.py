"""The deployed stack as the gateway needs it: the stage, the route table (route
key -> the function integrated with it) and where LocalStack's Lambda API is.

Read from `localstack/.state/outputs.json` (written by infra/deploy) again
whenever the file changes, so a redeploy needs no restart of the gateway.

The route table mirrors the template's WebSocket API (`AWS::ApiGatewayV2::Route`
resources, which exist only on AWS): `$connect` -> ws-connect, `$disconnect` ->
ws-disconnect, and `subscribe`, `unsubscribe`, `ping` and `$default` -> ws-message.
`tests/test_outputs.py` compares it with the template once the template has them.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

# route key -> the output naming the function integrated with it
ROUTE_OUTPUTS: dict[str, str] = {
    "$connect": "WsConnectFunctionName",
    "$disconnect": "WsDisconnectFunctionName",
    "subscribe": "WsMessageFunctionName",
    "unsubscribe": "WsMessageFunctionName",
    "ping": "WsMessageFunctionName",
    "$default": "WsMessageFunctionName",
}

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_REGION = "eu-central-1"


class StackNotDeployed(Exception):
    """outputs.json is missing or is not a deployed stack's outputs."""


@dataclass(frozen=True)
class StackOutputs:
    stage: str
    # route key -> function name; empty when the ws-* functions are not deployed
    routes: dict[str, str] = field(default_factory=dict)
    endpoint_url: str = DEFAULT_ENDPOINT
    region: str = DEFAULT_REGION
    stack_name: str = "pharmaguard-local"


def stage_of(outputs: dict) -> str:
    """The stage: the path of `WebSocketUrl` (`ws://127.0.0.1:4600/<stage>`), else the
    last path segment of the REST API's `ApiUrl`, else the stack name's suffix
    (`pharmaguard-<stage>`)."""
    for key in ("WebSocketUrl", "ApiUrl"):
        url = outputs.get(key)
        if isinstance(url, str) and url:
            segments = [segment for segment in urlsplit(url).path.split("/") if segment]
            if segments:
                return segments[0] if key == "WebSocketUrl" else segments[-1]
    stack_name = outputs.get("StackName")
    if isinstance(stack_name, str) and "-" in stack_name:
        return stack_name.rsplit("-", 1)[1]
    raise StackNotDeployed("the outputs name no stage (WebSocketUrl, ApiUrl or StackName)")


def parse_outputs(outputs: dict, stage: str | None = None) -> StackOutputs:
    """The gateway's view of the outputs; `stage` overrides the one they imply."""
    if not isinstance(outputs, dict):
        raise StackNotDeployed("the outputs are not a JSON object")
    routes = {
        route: outputs[name]
        for route, name in ROUTE_OUTPUTS.items()
        if isinstance(outputs.get(name), str) and outputs[name]
    }
    return StackOutputs(
        stage=stage or stage_of(outputs),
        routes=routes,
        endpoint_url=outputs.get("AwsEndpointUrl") or os.environ.get("LOCALSTACK_ENDPOINT") or DEFAULT_ENDPOINT,
        region=outputs.get("Region") or DEFAULT_REGION,
        stack_name=outputs.get("StackName") or "pharmaguard-local",
    )


class StackSource(Protocol):
    def current(self) -> StackOutputs:
        """The stack as it is now; raises `StackNotDeployed`."""
        ...


class OutputsFile:
    def __init__(self, path: Path, stage: str | None = None):
        self.path = Path(path)
        self._stage = stage
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._outputs: StackOutputs | None = None

    def current(self) -> StackOutputs:
        """The outputs as the file says now; raises `StackNotDeployed`."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise StackNotDeployed(f"{self.path} does not exist: deploy the stack (infra/deploy)") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp or self._outputs is None:
                self._outputs = self._read()
                self._stamp = stamp
            return self._outputs

    def _read(self) -> StackOutputs:
        try:
            return parse_outputs(json.loads(self.path.read_text()), self._stage)
        except (OSError, ValueError) as error:
            raise StackNotDeployed(f"{self.path} is not a deployed stack's outputs ({error!r})") from None


class FixedStack:
    """A stack that does not change (tests, or a gateway run without outputs.json)."""

    def __init__(self, outputs: StackOutputs):
        self.outputs = outputs

    def current(self) -> StackOutputs:
        return self.outputs
