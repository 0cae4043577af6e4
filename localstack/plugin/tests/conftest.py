"""Fixtures for the plugin's tests: boto3 clients on the running local stack and
throw-away Lambda functions whose bootstrap is a small shell script."""

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

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
REGION = os.environ.get("AWS_REGION", "eu-central-1")
ROLE = "arn:aws:iam::000000000000:role/host-executor-test"

# A Lambda runtime in a few lines of bash: it speaks the Runtime API with curl, appends
# every event to $RECORD_FILE and answers by the event's "action": echo, sleep, crash.
BOOTSTRAP = r"""#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
echo "started with GREETING=$GREETING"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  rm -f "$headers"
  [ -n "$RECORD_FILE" ] && printf '%s\n' "$event" | tr -d '\n' >>"$RECORD_FILE" && echo >>"$RECORD_FILE"
  echo "handling $id"
  case "$event" in
    *'"action": "sleep"'*|*'"action":"sleep"'*) sleep 5 ;;
    *'"action": "crash"'*|*'"action":"crash"'*) echo "crashing"; exit 3 ;;
  esac
  curl -sS -X POST "$api/invocation/$id/response" \
    -d "{\"greeting\": \"$GREETING\", \"task_root\": \"$LAMBDA_TASK_ROOT\", \"endpoint\": \"$AWS_ENDPOINT_URL\"}" >/dev/null
done
"""


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def code_zip(bootstrap: str = BOOTSTRAP) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, bootstrap)
    return buffer.getvalue()


class Function:
    def __init__(self, name: str, record_file: Path):
        self.name = name
        self.record_file = record_file
        self.arn = ""

    def invoke(self, event: dict) -> tuple[dict, dict]:
        response = client("lambda").invoke(FunctionName=self.name, Payload=json.dumps(event).encode())
        return response, json.loads(response["Payload"].read())

    def records(self) -> list[dict]:
        if not self.record_file.exists():
            return []
        return [json.loads(line) for line in self.record_file.read_text().splitlines() if line.strip()]

    def wait_for_records(self, predicate, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [record for record in self.records() if predicate(record)]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"{self.name} received no matching event within {timeout} s: {self.records()}")


def pytest_configure(config):
    config.addinivalue_line("markers", "without_stack: the test needs no running local stack")


@pytest.fixture(scope="session")
def running_stack():
    try:
        client("sts").get_caller_identity()
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"the local stack is not running on {ENDPOINT} ({error}); start it with localstack/up")


@pytest.fixture(autouse=True)
def local_stack(request):
    if request.node.get_closest_marker("without_stack") is None:
        request.getfixturevalue("running_stack")


def create_function(record_file: Path, bootstrap: str = BOOTSTRAP, prefix: str = "host-executor-test") -> Function:
    """Creates a function whose runtime is the given bash bootstrap and waits until it is active."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    fn = Function(name, record_file)
    lam = client("lambda")
    fn.arn = lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role=ROLE,
        Code={"ZipFile": code_zip(bootstrap)},
        Timeout=2,
        Environment={"Variables": {"GREETING": "hello", "RECORD_FILE": str(record_file)}},
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return fn


@pytest.fixture
def function(tmp_path: Path):
    fn = create_function(tmp_path / "events.jsonl")
    yield fn
    client("lambda").delete_function(FunctionName=fn.name)
