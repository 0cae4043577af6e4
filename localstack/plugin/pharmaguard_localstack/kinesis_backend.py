"""ferrokinesis as the Kinesis server behind LocalStack's Kinesis endpoint.

LocalStack's Kinesis provider answers a few operations itself
(``KINESIS_ERROR_PROBABILITY`` fault injection, resource policies,
``SubscribeToShard``) and forwards every other request to a kinesis-local
(kinesis-mock) process that it starts for each account, in JSON re-encoded from
what it parsed (clients may send JSON or CBOR). kinesis-local gets slower as a
shard fills: a ``PutRecords`` of 500 records takes 3–5 s once the shard holds
10 000 records, and more than 10 s further on (docs/benchmarks.md, "Local Kinesis servers"), so the local stack
cannot hold 1 000 records/s for long. ferrokinesis answers the same call in a
few milliseconds at any fill level.

With ``PHARMAGUARD_KINESIS=ferrokinesis`` (``localstack/start``'s default), this
module makes the provider forward to ferrokinesis instead:

- one process per account and region, started on first use on a free port
  (ferrokinesis serves a single region and writes it into every ARN, while
  kinesis-local took the region from each request);
- started as LocalStack starts its Kinesis servers (a ``KinesisMockServer``
  run by a ``ShellCommandThread``): its log lines go to LocalStack's log
  (logger ``pharmaguard.ferrokinesis``), it is restarted if it fails, started
  anew on the next request if it exited cleanly, and the provider stops it with
  LocalStack;
- with the settings LocalStack gives kinesis-local: ``KINESIS_LATENCY`` for the
  time a stream stays ``CREATING``/``DELETING``/``UPDATING`` (``localstack/start``
  sets 0), ``KINESIS_SHARD_LIMIT``, and the log level of ``KINESIS_MOCK_LOG_LEVEL``
  or ``LS_LOG``; no persistence (the local stack keeps no state between runs).

Two answers of ferrokinesis 0.7.0 differ from AWS's, and the plugin corrects them:

ferrokinesis finds a stream by ``StreamARN`` only in ``PutRecord(s)`` and the
consumer operations; ``DescribeStream``, ``DescribeStreamSummary``,
``GetShardIterator``, ``ListShards``, ``DeleteStream`` and the others answer
"Value null at 'streamName'" to a request that names the stream by ARN, which
LocalStack's CloudFormation resource and event source mappings do. So every
operation that takes either is forwarded with the ``StreamName`` its ARN names.

ferrokinesis answers ``MillisBehindLatest: 0`` to every ``GetRecords`` of an open
shard, even when more records follow; readers that page until they are caught up
(the anomaly detector's test harness does) would stop after the first page. So a
``GetRecords`` that returns records is followed by a look at the next position
(``Limit`` 1), and when records follow, ``MillisBehindLatest`` is the age of the
last record returned, as kinesis-local and AWS answer.

``PHARMAGUARD_FERROKINESIS_BIN`` names the binary (``localstack/setup`` builds it;
``start`` sets the variable). ``PHARMAGUARD_KINESIS=kinesis-local`` leaves
LocalStack's provider as it is.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)
SERVER_LOG = logging.getLogger("pharmaguard.ferrokinesis")

BACKEND_SETTING = "PHARMAGUARD_KINESIS"
BINARY_SETTING = "PHARMAGUARD_FERROKINESIS_BIN"
BACKENDS = ("ferrokinesis", "kinesis-local")
# Without the setting LocalStack keeps its own Kinesis server; localstack/start chooses ferrokinesis.
DEFAULT_BACKEND = "kinesis-local"
STARTUP_TIMEOUT_S = 30


@dataclass(frozen=True)
class FerrokinesisSettings:
    binary: str
    latency_ms: int
    shard_limit: int
    log_level: str


def chosen_backend(environ: Mapping[str, str]) -> str:
    """The Kinesis server named by ``PHARMAGUARD_KINESIS``; an unknown name is an error
    that lists the known ones."""
    backend = environ.get(BACKEND_SETTING, "").strip().lower() or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"{BACKEND_SETTING}={backend!r} is not a Kinesis server of the local stack: use one of {', '.join(BACKENDS)}")
    return backend


def ferrokinesis_log_level(localstack_level: str | None) -> str:
    """ferrokinesis's name (off, error, warn, info, debug, trace) for a LocalStack or
    kinesis-mock log level (``LS_LOG``, ``KINESIS_MOCK_LOG_LEVEL``)."""
    level = (localstack_level or "info").strip().lower()
    aliases = {"warning": "warn", "trace-internal": "trace"}
    level = aliases.get(level, level)
    return level if level in ("off", "error", "warn", "info", "debug", "trace") else "info"


def ferrokinesis_command(settings: FerrokinesisSettings, port: int, account_id: str, region: str) -> list[str]:
    """The command line of one ferrokinesis for ``account_id`` in ``region``. Arguments
    win over ferrokinesis's environment variables, which LocalStack's environment
    (``AWS_REGION`` among them) would otherwise set."""
    latency = str(settings.latency_ms)
    return [
        settings.binary,
        "--port", str(port),
        "--account-id", account_id,
        "--region", region,
        "--create-stream-ms", latency,
        "--delete-stream-ms", latency,
        "--update-stream-ms", latency,
        "--shard-limit", str(settings.shard_limit),
        "--log-level", settings.log_level,
        "--log-format", "plain",
    ]  # fmt: skip


def millis_behind_latest(last_arrival: datetime, more_follow: bool, now: datetime) -> int:
    """How far a ``GetRecords`` answer whose last record arrived at ``last_arrival`` is
    behind the tip: 0 when no record follows (caught up), else that record's age, and
    never 0 then (0 tells readers that they are caught up)."""
    if not more_follow:
        return 0
    return max(1, int((now - last_arrival).total_seconds() * 1000))


def by_stream_name(request: Mapping) -> dict:
    """``request`` naming its stream by ``StreamName`` where it gave only a ``StreamARN``
    (``arn:aws:kinesis:<region>:<account>:stream/<name>``)."""
    arn = request.get("StreamARN")
    if not arn or request.get("StreamName") or ":stream/" not in arn:
        return dict(request)
    rewritten = {key: value for key, value in request.items() if key != "StreamARN"}
    rewritten["StreamName"] = arn.split(":stream/", 1)[1]
    return rewritten


def operations_taking_name_or_arn(service_model) -> list[str]:
    """The operations of a botocore service model whose input names a stream either by
    ``StreamName`` or by ``StreamARN``."""
    names = []
    for name in service_model.operation_names:
        shape = service_model.operation_model(name).input_shape
        if shape is not None and {"StreamName", "StreamARN"} <= set(shape.members):
            names.append(name)
    return names


def settings_from_config(environ: Mapping[str, str]) -> FerrokinesisSettings:
    """ferrokinesis's settings from LocalStack's configuration, as LocalStack derives
    kinesis-local's; raises ``ValueError`` saying what to do if the binary is missing."""
    from localstack import config

    binary = environ.get(BINARY_SETTING, "")
    if not binary or not os.access(binary, os.X_OK):
        raise ValueError(
            f"{BINARY_SETTING}={binary!r} is not an executable ferrokinesis: run localstack/setup, "
            f"or start with {BACKEND_SETTING}=kinesis-local"
        )
    return FerrokinesisSettings(
        binary=binary,
        latency_ms=int(float(config.KINESIS_LATENCY or 0)),
        shard_limit=int(config.KINESIS_SHARD_LIMIT),
        log_level=ferrokinesis_log_level(config.KINESIS_MOCK_LOG_LEVEL or config.LS_LOG),
    )


def ferrokinesis_manager_class():
    """The server manager the provider gets, and its server, built on LocalStack's own
    classes (imported late: this module is loaded before LocalStack reads its configuration)."""
    from localstack.services.kinesis.kinesis_mock_server import KinesisMockServer, KinesisServerManager
    from localstack.utils.common import TMP_THREADS, ShellCommandThread, get_free_tcp_port

    class FerrokinesisServer(KinesisMockServer):
        """One ferrokinesis process for an account and a region."""

        def __init__(self, settings: FerrokinesisSettings, port: int, account_id: str, region: str):
            self._settings = settings
            self._region = region
            super().__init__(
                port=port,
                exe_path=Path(settings.binary),
                latency=f"{settings.latency_ms}ms",
                account_id=account_id,
                log_level=settings.log_level,
            )

        def _create_shell_command(self) -> tuple[list, dict]:
            return ferrokinesis_command(self._settings, self.port, self._account_id, self._region), {}

        def do_start_thread(self):
            command, env_vars = self._create_shell_command()
            LOG.debug("starting %s", command)
            thread = ShellCommandThread(
                command,
                strip_color=True,
                env_vars=env_vars,
                log_listener=self._log_listener,
                auto_restart=True,
                name=f"ferrokinesis-{self._account_id}-{self._region}",
            )
            TMP_THREADS.append(thread)
            thread.start()
            return thread

        def _log_listener(self, line, **_kwargs):
            SERVER_LOG.info("[%s %s] %s", self._account_id, self._region, line.rstrip())

        def has_exited(self) -> bool:
            """The process ended and was not restarted: LocalStack restarts it only
            after a failure, not after a clean exit (a SIGTERM from outside)."""
            return self._thread is not None and not self._thread.is_alive()

    class FerrokinesisServerManager(KinesisServerManager):
        """Starts ferrokinesis per account and region on first use; ``shutdown_all``
        (the provider calls it as LocalStack stops or resets) is LocalStack's."""

        def __init__(self, settings: FerrokinesisSettings):
            super().__init__()
            self._settings = settings

        def get_server(self, account_id: str, region: str) -> FerrokinesisServer:
            key = f"{account_id}/{region}"
            with self._lock:
                server = self._servers.get(key)
                if server is not None and server.has_exited():
                    LOG.warning("ferrokinesis for account %s in %s has exited; starting a new one, without its streams", account_id, region)
                    server = None
                if server is None:
                    server = self._servers[key] = self._start(account_id, region)
            return server

        def _start(self, account_id: str, region: str) -> FerrokinesisServer:
            LOG.info("starting ferrokinesis for account %s in %s", account_id, region)
            server = FerrokinesisServer(self._settings, get_free_tcp_port(), account_id, region)
            server.start()
            if not server.wait_is_up(timeout=STARTUP_TIMEOUT_S):
                server.shutdown()
                raise TimeoutError(
                    f"ferrokinesis ({self._settings.binary}) did not listen within {STARTUP_TIMEOUT_S} s: "
                    f"see the pharmaguard.ferrokinesis lines in LocalStack's log"
                )
            return server

    return FerrokinesisServerManager


def forward_to_ferrokinesis(settings: FerrokinesisSettings) -> None:
    """Gives LocalStack's Kinesis provider a ferrokinesis server manager, a forward URL
    per account and region, a ``GetRecords`` that sets ``MillisBehindLatest``, and
    handlers that forward requests naming a stream by ARN with its name.
    Patched on the class, before LocalStack creates the provider on the first Kinesis
    request."""
    from localstack.aws.api.kinesis import GetRecordsInput, KinesisApi
    from localstack.aws.forwarder import AwsRequestProxy
    from localstack.aws.spec import load_service
    from localstack.constants import LOCALHOST
    from localstack.services.kinesis.provider import KinesisProvider

    manager_class = ferrokinesis_manager_class()
    original_init = KinesisProvider.__init__

    def init(self) -> None:
        original_init(self)
        self.server_manager = manager_class(settings)

    def get_forward_url(self, account_id: str, region_name: str) -> str:
        server = self.server_manager.get_server(account_id, region_name)
        return f"http://{LOCALHOST}:{server.port}"

    def get_records(self, context, shard_iterator, limit=None, stream_arn=None, stream_id=None, **kwargs):
        proxy = AwsRequestProxy(self.get_forward_url(context.account_id, context.region))
        answer = proxy.forward(context, context.service_request)  # in JSON, as LocalStack forwards
        records = answer.get("Records") or []
        following = answer.get("NextShardIterator")
        if records and following and not answer.get("MillisBehindLatest"):
            peek = proxy.forward(context, GetRecordsInput(ShardIterator=following, Limit=1))
            last_arrival = records[-1]["ApproximateArrivalTimestamp"]
            answer["MillisBehindLatest"] = millis_behind_latest(last_arrival, bool(peek.get("Records")), datetime.now(last_arrival.tzinfo))
        return answer

    def forward_by_stream_name(self, context, *_args, **_params):
        proxy = AwsRequestProxy(self.get_forward_url(context.account_id, context.region))
        return proxy.forward(context, by_stream_name(context.service_request))

    for method in (init, get_forward_url, get_records, forward_by_stream_name):
        method.__module__ = __name__
    KinesisProvider.__init__ = init
    KinesisProvider.get_forward_url = get_forward_url
    KinesisProvider.get_records = get_records
    # The provider's own handlers (PutRecord(s) fault injection) stay; ferrokinesis
    # resolves the ARN of those itself.
    handlers = handler_names(KinesisApi)
    for operation in operations_taking_name_or_arn(load_service("kinesis")):
        if handlers[operation] not in vars(KinesisProvider):
            setattr(KinesisProvider, handlers[operation], forward_by_stream_name)


def handler_names(api_class) -> dict[str, str]:
    """Operation name → method name, from the ``@handler`` marks of LocalStack's API class."""
    return {
        fn.operation: name
        for name, fn in inspect.getmembers(api_class, inspect.isfunction)
        if getattr(fn, "operation", None)
    }


@hooks.on_infra_start()
def register_kinesis_backend() -> None:
    """Makes LocalStack's Kinesis provider forward to ferrokinesis when
    ``PHARMAGUARD_KINESIS=ferrokinesis`` (see the module docs)."""
    from localstack.services.kinesis.provider import KinesisProvider

    if getattr(KinesisProvider.get_forward_url, "__module__", "") == __name__:
        return
    try:
        if chosen_backend(os.environ) != "ferrokinesis":
            LOG.info("Kinesis: LocalStack's kinesis-local (%s=kinesis-local)", BACKEND_SETTING)
            return
        settings = settings_from_config(os.environ)
    except ValueError as error:
        LOG.error("Kinesis stays on LocalStack's kinesis-local: %s", error)
        return
    forward_to_ferrokinesis(settings)
    LOG.info("Kinesis: requests go to ferrokinesis (%s)", settings.binary)
