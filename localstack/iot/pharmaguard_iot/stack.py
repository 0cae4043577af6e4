"""The deployed stack's outputs (`localstack/.state/outputs.json`, written by
infra/deploy). Read again whenever the file changes, so the broker follows a
redeployed stack (a new REST API id, a recreated stream) without a restart."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path


class StackNotDeployed(Exception):
    """outputs.json is missing or lacks an output the broker needs."""


@dataclass(frozen=True)
class StackOutputs:
    api_base_url: str
    stream_name: str
    endpoint_url: str
    region: str


class OutputsFile:
    def __init__(self, path: Path):
        self.path = Path(path)
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
            outputs = json.loads(self.path.read_text())
            return StackOutputs(
                api_base_url=outputs["ApiBaseUrl"].rstrip("/"),
                stream_name=outputs["TelemetryStreamName"],
                endpoint_url=outputs.get("AwsEndpointUrl") or "http://127.0.0.1:4566",
                region=outputs.get("Region") or "eu-central-1",
            )
        except (OSError, ValueError, KeyError, AttributeError) as error:
            raise StackNotDeployed(f"{self.path} is not a deployed stack's outputs ({error!r})") from None
