"""Run Lambda functions as host processes instead of Docker containers.

LocalStack's open-source core executes Lambda functions only in Docker. This
executor starts the function's ``bootstrap`` (``provided.*`` runtimes, such as
Rust binaries built for Lambda) directly on the host and serves the Lambda
Runtime API to it, so that every trigger LocalStack implements (Kinesis, SNS,
DynamoDB streams, API Gateway, direct invokes) reaches the real binary.

Enabled with ``LAMBDA_RUNTIME_EXECUTOR=host``; see ``localstack/README.md``.

What it honours, as Lambda does:

* the function's environment variables (and no variable of the host's, apart
  from a neutral PATH and locale), plus the reserved ones LocalStack computes;
* the function's timeout: an invocation running longer is answered with a
  ``Sandbox.Timedout`` error and the process is replaced before the next one;
* a runtime that crashes is reported as ``Runtime.ExitError`` and restarted;
* the function's logs: each invocation's output is returned to LocalStack
  (which stores it in CloudWatch Logs), printed to LocalStack's log and
  appended to ``<log dir>/lambda/<function>.log``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    InvocationResult,
)
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger("pharmaguard.lambda")

API_PREFIX = "/2018-06-01/runtime"
HOST = "127.0.0.1"


def log_dir() -> Path:
    """Folder of the per-function log files."""
    configured = os.environ.get("PHARMAGUARD_LAMBDA_LOG_DIR")
    return Path(configured) if configured else Path(config.dirs.logs) / "lambda"


class Invocation:
    """One request handed to the runtime through ``/invocation/next``."""

    def __init__(self, request_id: str, payload: bytes, arn: str, trace_id: str, deadline_ms: int):
        self.request_id = request_id
        self.payload = payload
        self.arn = arn
        self.trace_id = trace_id
        self.deadline_ms = deadline_ms
        self.outcome: Future[tuple[bytes, bool]] = Future()


class RuntimeApi:
    """The Lambda Runtime API for one runtime process, on a free loopback port."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.polled = threading.Event()
        self.init_error: bytes | None = None
        self.closed = threading.Event()
        self.server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="runtime-api").start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server.server_address[1]}"

    def submit(self, invocation: Invocation) -> None:
        self.in_flight[invocation.request_id] = invocation
        self.pending.put(invocation)

    def next_invocation(self) -> Invocation | None:
        """Blocks until an invocation is queued, or returns None once closed."""
        self.polled.set()
        while not self.closed.is_set():
            try:
                return self.pending.get(timeout=0.25)
            except queue.Empty:
                continue
        return None

    def complete(self, request_id: str, body: bytes, is_error: bool) -> bool:
        invocation = self.in_flight.pop(request_id, None)
        if invocation is None or invocation.outcome.done():
            return False
        invocation.outcome.set_result((body, is_error))
        return True

    def fail_all(self, body: bytes) -> None:
        for request_id in list(self.in_flight):
            self.complete(request_id, body, True)

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(request.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                request.rfile.readline()
                return b"".join(chunks)
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence access logs
            return

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path != f"{API_PREFIX}/invocation/next":
                self._reply(404, b'{"errorMessage":"not found"}')
                return
            invocation = api.next_invocation()
            if invocation is None:
                self._reply(503, b'{"errorMessage":"runtime is shutting down"}')
                return
            self._reply(
                200,
                invocation.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                },
            )

        def do_POST(self) -> None:  # noqa: N802
            body = _read_body(self)
            parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
            if parts == ["init", "error"]:
                api.init_error = body or b'{"errorMessage":"init error"}'
                self._reply(202, b'{"status":"OK"}')
                return
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                if api.complete(parts[1], body, parts[2] == "error"):
                    self._reply(202, b'{"status":"OK"}')
                else:
                    self._reply(400, b'{"errorMessage":"unknown or finished request id"}')
                return
            self._reply(404, b'{"errorMessage":"not found"}')

    return Handler


class OutputLog:
    """Collects the runtime's output lines and tells which arrived since a mark."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.lines: list[str] = []
        self.last_write = 0.0
        self.lock = threading.Lock()
        directory = log_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.file = open(directory / f"{function_name}.log", "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def add(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)
            if len(self.lines) > 10_000:
                del self.lines[:5_000]
            self.last_write = time.monotonic()
        self.file.write(line + "\n")
        LOG.info("[%s] %s", self.function_name, line)

    def mark(self) -> int:
        with self.lock:
            return len(self.lines)

    def since(self, mark: int) -> str:
        # give the reader thread a moment to catch up with output written just before the response
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline and time.monotonic() - self.last_write < 0.005:
            time.sleep(0.002)
        with self.lock:
            mark = min(mark, len(self.lines))
            return "\n".join(self.lines[mark:]) + "\n"

    def all(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def close(self) -> None:
        self.file.close()


class HostRuntimeExecutor(RuntimeExecutor):
    """Executes a function version's ``bootstrap`` as a child process of LocalStack."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002
        super().__init__(id=id, function_version=function_version)
        self.process: subprocess.Popen | None = None
        self.api: RuntimeApi | None = None
        self.env_vars: dict[str, str] = {}
        self.invoke_lock = threading.Lock()
        # output of a runtime's init belongs to the log of its first invocation
        self.init_mark: int | None = None
        self.output = OutputLog(function_version.id.function_name)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self.env_vars = {key: str(value) for key, value in env_vars.items()}
        self._spawn()

    def stop(self) -> None:
        self._terminate()
        self.output.close()

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _tmp_dir(self) -> Path:
        path = Path(config.dirs.tmp) / "lambda-tmp" / self.id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _process_env(self, api: RuntimeApi) -> dict[str, str]:
        code_dir = str(self._code_dir())
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self._tmp_dir()),
            "TMPDIR": str(self._tmp_dir()),
        }
        env.update(self.env_vars)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "LAMBDA_TASK_ROOT": code_dir,
                "LAMBDA_RUNTIME_DIR": code_dir,
            }
        )
        return env

    def _spawn(self) -> None:
        bootstrap = self._code_dir() / "bootstrap"
        if not bootstrap.is_file():
            raise LambdaRuntimeException(
                f"{self.function_version.id.function_name}: the code archive has no 'bootstrap' at its root"
            )
        api = RuntimeApi()
        self.api = api
        self.init_mark = self.output.mark()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - the function's own binary
                [str(bootstrap)],
                cwd=str(self._code_dir()),
                env=self._process_env(api),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            api.close()
            raise LambdaRuntimeException(
                f"{self.function_version.id.function_name}: cannot start bootstrap ({error}); "
                "is it built for this machine's architecture?"
            ) from error
        process = self.process
        threading.Thread(target=self._pump, args=(process, api), daemon=True, name="runtime-output").start()

        timeout = float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT or 20)
        deadline = time.monotonic() + timeout
        while not api.polled.wait(0.01):
            if api.init_error is not None:
                self._terminate()
                raise LambdaRuntimeException(f"init error: {api.init_error.decode(errors='replace')}")
            if process.poll() is not None:
                self._terminate()
                raise LambdaRuntimeException(
                    f"bootstrap exited with status {process.returncode} during init:\n{self.output.all()[-4000:]}"
                )
            if time.monotonic() > deadline:
                self._terminate()
                raise LambdaRuntimeException(f"bootstrap did not ask for an invocation within {timeout:.0f} s")

    def _pump(self, process: subprocess.Popen, api: RuntimeApi) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            self.output.add(raw.decode(errors="replace").rstrip("\n"))
        status = process.wait()
        if not api.closed.is_set():
            message = f"Runtime exited with error: exit status {status}"
            self.output.add(message)
            api.fail_all(json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode())

    def _terminate(self) -> None:
        process, api = self.process, self.api
        self.process = None
        if api is not None:
            api.closed.set()
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=2)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if api is not None:
            api.close()

    # -- invocations ---------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self.invoke_lock:
            if self.process is None or self.process.poll() is not None:
                self._spawn()
            api = self.api
            assert api is not None
            request_id = payload["invoke-id"]
            timeout = float(self.function_version.config.timeout or 3)
            invocation = Invocation(
                request_id=request_id,
                payload=(payload.get("payload") or "").encode(),
                arn=payload.get("invoked-function-arn", ""),
                trace_id=payload.get("trace-id", ""),
                deadline_ms=int((time.time() + timeout) * 1000),
            )
            mark = self.output.mark() if self.init_mark is None else self.init_mark
            self.init_mark = None
            self.output.add(f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}")
            started = time.perf_counter()
            api.submit(invocation)
            try:
                body, is_error = invocation.outcome.result(timeout=timeout)
            except FutureTimeout:
                self._terminate()
                body = json.dumps(
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                    }
                ).encode()
                is_error = True
                self.output.add(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} Task timed out after {timeout:.2f} seconds")
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.output.add(f"END RequestId: {request_id}")
            self.output.add(
                f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
                f"Memory Size: {self.function_version.config.memory_size} MB"
            )
            return InvocationResult(request_id=request_id, payload=body, is_error=is_error, logs=self.output.since(mark))

    # -- addresses and logs --------------------------------------------------------------------

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        return self.output.all()

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime or ""
        if not runtime.startswith("provided"):
            raise LambdaRuntimeException(
                f"the host executor runs only provided.* runtimes (bootstrap binaries), not {runtime or 'images'}"
            )
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        return None

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args, **kwargs):
        return HostRuntimeExecutor
