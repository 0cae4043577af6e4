"""Invokes the routes' functions through LocalStack's Lambda API (`Invoke`,
`RequestResponse`), as API Gateway's Lambda proxy integration does on AWS.

The gateway takes any `Invoke`: an async callable `(function name, event) ->
Invocation`. `LambdaInvoker` is the real one (boto3 in a thread pool, with
LocalStack's test credentials, like the IoT broker); the tests pass fakes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .stack import StackOutputs, StackSource


@dataclass(frozen=True)
class Invocation:
    """A function's answer: `payload` is its JSON result (None when it returned
    nothing); `error` is set when the function failed (Lambda's `FunctionError`),
    and then `payload` is the error document."""

    payload: Any = None
    error: str | None = None


class InvokeFailed(Exception):
    """The function could not be invoked (not deployed, LocalStack not answering, ...)."""


Invoke = Callable[[str, dict], Awaitable[Invocation]]


class LambdaInvoker:
    def __init__(self, stack: StackSource, read_timeout: float = 35.0, max_workers: int = 16):
        self._stack = stack
        self._read_timeout = read_timeout
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")

    def _client(self, outputs: StackOutputs):
        key = (outputs.endpoint_url, outputs.region)
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[key] = boto3.session.Session().client(
                    "lambda",
                    endpoint_url=outputs.endpoint_url,
                    region_name=outputs.region,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                    config=Config(
                        connect_timeout=2,
                        # the gateway gives up after the integration timeout; this only frees the thread
                        read_timeout=self._read_timeout,
                        # never invoke twice: a retried Invoke would run the function again
                        retries={"mode": "standard", "total_max_attempts": 1},
                        max_pool_connections=self._max_workers,
                    ),
                )
            return self._clients[key]

    def _invoke(self, function_name: str, event: dict) -> Invocation:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = self._client(self._stack.current())
            response = client.invoke(
                FunctionName=function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode("utf-8"),
            )
            raw = response["Payload"].read()
        except ClientError as error:
            raise InvokeFailed(f"Invoke {function_name}: {error}") from None
        except (BotoCoreError, OSError) as error:
            raise InvokeFailed(f"Invoke {function_name}: {error}") from None
        except Exception as error:  # StackNotDeployed and anything unexpected: a failed invoke, not a crash
            raise InvokeFailed(f"Invoke {function_name}: {error}") from None
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        return Invocation(payload=payload, error=response.get("FunctionError"))

    async def __call__(self, function_name: str, event: dict) -> Invocation:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._invoke, function_name, event)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
