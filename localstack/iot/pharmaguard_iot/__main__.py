"""`python -m pharmaguard_iot`: runs the local IoT broker until SIGTERM or SIGINT.

localstack/iot-broker starts it in the background with the settings below
(environment variables, or the matching options):

| variable | default | meaning |
|---|---|---|
| `PHARMAGUARD_IOT_HOST` | `127.0.0.1` | address to listen on |
| `PHARMAGUARD_IOT_PORT` | `1883` | MQTT port |
| `PHARMAGUARD_IOT_OUTPUTS` | `localstack/.state/outputs.json` | the deployed stack's outputs |
| `PHARMAGUARD_IOT_AUTH_TTL` | `300` | seconds a successful credentials check is cached |
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .auth import DeviceAuthenticator, token_endpoint_check
from .broker import Broker, BrokerConfig
from .forwarder import Forwarder, KinesisSink
from .stack import OutputsFile, StackNotDeployed

LOG = logging.getLogger("pharmaguard.iot")


def default_outputs() -> Path:
    state = os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state"
    return Path(state) / "outputs.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pharmaguard_iot", description="PharmaGuard's local IoT Core broker")
    parser.add_argument("--host", default=os.environ.get("PHARMAGUARD_IOT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PHARMAGUARD_IOT_PORT", "1883")))
    parser.add_argument("--outputs", type=Path, default=Path(os.environ.get("PHARMAGUARD_IOT_OUTPUTS") or default_outputs()))
    parser.add_argument("--auth-ttl", type=float, default=float(os.environ.get("PHARMAGUARD_IOT_AUTH_TTL", "300")))
    parser.add_argument("--log-level", default=os.environ.get("PHARMAGUARD_IOT_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    outputs = OutputsFile(args.outputs)
    try:
        stack = outputs.current()
        LOG.info("stack: REST API %s, stream %s", stack.api_base_url, stack.stream_name)
    except StackNotDeployed as error:
        LOG.warning("%s; devices are refused until it is deployed", error)
    authenticator = DeviceAuthenticator(token_endpoint_check(outputs), ttl=args.auth_ttl)
    forwarder = Forwarder(KinesisSink(outputs))
    broker = Broker(authenticator, forwarder, BrokerConfig(host=args.host, port=args.port))
    await broker.start()
    LOG.info("MQTT 3.1.1 broker listening on %s:%s (telemetry rule: %s -> Kinesis)", args.host, broker.port,
             "pharmaguard/devices/+/telemetry")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    LOG.info("stopping")
    await broker.stop()
    LOG.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s.%(msecs)03d %(levelname)-5s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args))
    except OSError as error:
        LOG.error("cannot listen on %s:%s: %s", args.host, args.port, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
