"""`python -m pharmaguard_ws`: runs the local WebSocket gateway until SIGTERM or SIGINT.

localstack/ws-gateway starts it in the background with the settings below
(environment variables, or the matching options):

| variable | default | meaning |
|---|---|---|
| `PHARMAGUARD_WS_HOST` | `127.0.0.1` | address to listen on |
| `PHARMAGUARD_WS_PORT` | `4600` | port of the WebSocket endpoint and of `@connections` |
| `PHARMAGUARD_WS_OUTPUTS` | `localstack/.state/outputs.json` | the deployed stack's outputs |
| `PHARMAGUARD_WS_STAGE` | from the outputs | the stage in the URL paths |
| `PHARMAGUARD_WS_IDLE_TIMEOUT` | `600` | seconds without a data message before a connection is closed |
| `PHARMAGUARD_WS_MAX_AGE` | `7200` | seconds a connection may last |
| `PHARMAGUARD_WS_INTEGRATION_TIMEOUT` | `29` | seconds a function may take to answer |
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .gateway import Gateway, GatewayConfig
from .invoker import LambdaInvoker
from .stack import OutputsFile, StackNotDeployed

LOG = logging.getLogger("pharmaguard.ws")


def default_outputs() -> Path:
    state = os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state"
    return Path(state) / "outputs.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="pharmaguard_ws", description="PharmaGuard's local WebSocket gateway")
    parser.add_argument("--host", default=env("PHARMAGUARD_WS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("PHARMAGUARD_WS_PORT", "4600")))
    parser.add_argument("--outputs", type=Path, default=Path(env("PHARMAGUARD_WS_OUTPUTS") or default_outputs()))
    parser.add_argument("--stage", default=env("PHARMAGUARD_WS_STAGE") or None)
    parser.add_argument("--idle-timeout", type=float, default=float(env("PHARMAGUARD_WS_IDLE_TIMEOUT", "600")))
    parser.add_argument("--max-age", type=float, default=float(env("PHARMAGUARD_WS_MAX_AGE", "7200")))
    parser.add_argument("--integration-timeout", type=float,
                        default=float(env("PHARMAGUARD_WS_INTEGRATION_TIMEOUT", "29")))
    parser.add_argument("--log-level", default=env("PHARMAGUARD_WS_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    stack = OutputsFile(args.outputs, stage=args.stage)
    try:
        outputs = stack.current()
        if outputs.routes:
            LOG.info("stack %s, stage %s: routes %s", outputs.stack_name, outputs.stage,
                     ", ".join(f"{route} -> {function}" for route, function in outputs.routes.items()))
        else:
            LOG.warning("stack %s has no ws-* functions (WsConnectFunctionName): handshakes are refused (503) "
                        "until they are deployed", outputs.stack_name)
    except StackNotDeployed as error:
        LOG.warning("%s; handshakes are refused (503) until it is deployed", error)
    invoker = LambdaInvoker(stack, read_timeout=args.integration_timeout + 5)
    config = GatewayConfig(host=args.host, port=args.port, idle_timeout=args.idle_timeout, max_age=args.max_age,
                           integration_timeout=args.integration_timeout)
    gateway = Gateway(stack, invoker, config)
    await gateway.start()
    LOG.info("WebSocket gateway listening on ws://%s:%s/<stage> and http://%s:%s/<stage>/@connections "
             "(idle timeout %g s, maximum age %g s)", args.host, gateway.port, args.host, gateway.port,
             args.idle_timeout, args.max_age)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    LOG.info("stopping: closing %d connection(s)", len(gateway.connections))
    await gateway.stop()
    invoker.close()
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
