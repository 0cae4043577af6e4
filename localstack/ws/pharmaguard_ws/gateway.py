"""The gateway: one port serving WebSocket clients (`ws://host:port/<stage>`) and
the `@connections` management API (`http://host:port/<stage>/@connections/<id>`),
as API Gateway's WebSocket API does for PharmaGuard's ws-* functions.

WebSocket clients:

- The handshake (`GET /<stage>?query`, RFC 6455) is held while `$connect`'s
  function runs. Its answer decides: a 2xx `statusCode` completes the upgrade
  (101, with the `Sec-WebSocket-Protocol` the function returned, if any); any
  other status refuses it with that status and the function's body. A function
  that fails or answers without a `statusCode` refuses it with 502
  `{"message": "Internal server error"}`; one that outlives the integration
  timeout (29 s) with 504 `{"message": "Endpoint request timed out"}`. Until the
  upgrade is done the connection does not exist for `@connections` (410).
- Each message goes to the route its JSON `action` names (`$default` otherwise)
  as a MESSAGE event; the function's answer `body`, if any, is sent back. A
  function that fails: the client gets `{"message": "Internal server error",
  "connectionId": ..., "requestId": ...}`; one that times out,
  `"Endpoint request timed out"`; no matching route and no `$default`: `"Forbidden"`.
  Messages are handled concurrently, as API Gateway does.
- Limits: a frame over 32 KB or a message over 128 KB (assembled from its
  frames) closes the connection with 1009 "Message too big". No data message
  in either direction for the idle timeout (10 min) or a connection older than
  the maximum age (2 h) closes it with 1001 "Going away". Control frames (ping,
  pong) do not count as activity; pings are answered.
- After every close (by the client, by `DELETE @connections`, by a limit, or a
  dropped TCP connection) `$disconnect`'s function gets `disconnectStatusCode`
  and `disconnectReason`: the client's close code and reason (1005 "Client-side
  close frame status not set" without a code), 1000 "Connection Closed Normally"
  for a DELETE, 1001 "Going away" for the timeouts and a gateway shutdown, 1009
  "Message too big", 1006 when the connection ended without a close frame.

The management API (the AWS SDK's ApiGatewayManagementApi client with its
endpoint at `http://host:port/<stage>`; requests must carry a SigV4
`Authorization` header, whose signature is not checked):

- `POST` sends the body to the client as one message (a text message when it is
  UTF-8, binary otherwise; split into frames of at most 32 KB) -> 200; a body
  over 128 KB -> 413 `PayloadTooLargeException`; a client that does not read
  (over 1 MiB waiting) -> 429 `LimitExceededException`;
- `GET` -> 200 `{"connectedAt", "lastActiveAt", "identity": {"sourceIp", "userAgent"}}`
  (the SDK's `ConnectedAt`, `LastActiveAt`, `Identity`);
- `DELETE` -> 204, closes the connection with 1000;
- an id that is not connected -> 410 `GoneException`; every error is
  `{"message": ...}` with `x-amzn-ErrorType` naming it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

import h11
from wsproto.connection import Connection as WsProtocol
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from . import events
from .events import ConnectionInfo
from .invoker import Invocation, Invoke, InvokeFailed
from .stack import StackNotDeployed, StackOutputs, StackSource

LOG = logging.getLogger("pharmaguard.ws.gateway")

MAX_FRAME = 32 * 1024  # API Gateway's WebSocket frame size quota
MAX_MESSAGE = 128 * 1024  # its message payload size quota (also for @connections POST)
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 4600
    idle_timeout: float = 600.0
    max_age: float = 7200.0
    integration_timeout: float = 29.0
    max_frame: int = MAX_FRAME
    max_message: int = MAX_MESSAGE
    max_url: int = 4096
    handshake_timeout: float = 10.0  # to receive a request's head
    keep_alive_timeout: float = 60.0  # an idle management API connection
    close_timeout: float = 2.0  # to wait for the client's close frame after ours
    send_buffer_limit: int = 1024 * 1024  # unsent bytes of a client before POST answers 429
    stats_interval: float = 60.0


def api_id_of(stack_name: str) -> str:
    """A stable stand-in for the WebSocket API's id (10 lowercase letters and digits, as on AWS)."""
    digest = hashlib.sha256(f"websocket:{stack_name}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:10])


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()).decode("ascii")


def split_utf8(raw: bytes, size: int) -> list[str]:
    """Text in pieces of at most `size` UTF-8 bytes, never cutting a character."""
    parts: list[str] = []
    start = 0
    while len(raw) - start > size:
        cut = start + size
        while raw[cut] & 0xC0 == 0x80:
            cut -= 1
        parts.append(raw[start:cut].decode("utf-8"))
        start = cut
    parts.append(raw[start:].decode("utf-8"))
    return parts


def client_close(code: int, reason: str) -> tuple[int, str]:
    """`$disconnect`'s status code and reason for a close frame from the client."""
    if code == events.NO_STATUS:
        return code, events.REASON_NO_STATUS
    return code, reason or f"Client-side close frame status {code}"


class Connection:
    """An open WebSocket connection."""

    def __init__(self, gateway: Gateway, info: ConnectionInfo, ws: WsProtocol,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.gateway = gateway
        self.info = info
        self.ws = ws
        self.reader = reader
        self.writer = writer
        self.opened = time.monotonic()
        self.last_active = self.opened
        self.last_active_at = info.connected_at
        self.closing = False
        self.disconnect: tuple[int, str] | None = None
        self._frame_size = 0
        self._message_size = 0
        self._parts: list[str | bytes] = []

    @property
    def id(self) -> str:
        return self.info.connection_id

    def touch(self) -> None:
        self.last_active = time.monotonic()
        self.last_active_at = self.gateway.now_ms()

    def buffered(self) -> int:
        transport = self.writer.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def send(self, data: str | bytes) -> bool:
        """Sends one message, in frames of at most `max_frame` bytes."""
        if self.closing or self.writer.is_closing():
            return False
        limit = self.gateway.config.max_frame
        if isinstance(data, str):
            pieces: list[str | bytes] = list(split_utf8(data.encode("utf-8"), limit))
            kind = TextMessage
        else:
            pieces = [data[start:start + limit] for start in range(0, len(data), limit)] or [b""]
            kind = BytesMessage
        out = bytearray()
        for index, piece in enumerate(pieces):
            out += self.ws.send(kind(data=piece, message_finished=index == len(pieces) - 1))
        self.writer.write(bytes(out))
        self.gateway.sent += 1
        self.touch()
        return True

    def close(self, code: int, reason: str, disconnect: tuple[int, str] | None = None) -> None:
        """Starts the closing handshake; the TCP connection ends when the client
        answers with its close frame, or after `close_timeout`."""
        if self.closing:
            return
        self.closing = True
        self.gateway.forget(self)
        self.disconnect = disconnect or (code, reason)
        with contextlib.suppress(LocalProtocolError):
            self.writer.write(self.ws.send(CloseConnection(code=code, reason=reason)))
        asyncio.get_running_loop().call_later(self.gateway.config.close_timeout, self.writer.close)

    # ---------------------------------------------------------------- reading

    async def run(self) -> None:
        try:
            self._handle_events()
            await self._read()
        except (ConnectionError, LocalProtocolError):
            pass
        finally:
            self.closing = True
            self.gateway.forget(self)
            self.writer.close()
            code, reason = self.disconnect or (events.ABNORMAL_CLOSURE, events.REASON_ABNORMAL)
            LOG.info("%s disconnected: %d %s (after %.1f s)", self.id, code, reason, time.monotonic() - self.opened)
            await self.gateway.invoke_disconnect(self, code, reason)

    def _deadline(self) -> float | None:
        """Seconds until the idle timeout or the maximum age; closes the connection
        (and returns None) once one has passed."""
        if self.closing:
            return None
        config = self.gateway.config
        now = time.monotonic()
        if now >= self.opened + config.max_age:
            LOG.info("%s reached the maximum connection age (%g s)", self.id, config.max_age)
            self.close(events.GOING_AWAY, events.REASON_GOING_AWAY)
            return None
        if now >= self.last_active + config.idle_timeout:
            LOG.info("%s was idle for %g s", self.id, config.idle_timeout)
            self.close(events.GOING_AWAY, events.REASON_GOING_AWAY)
            return None
        return min(self.opened + config.max_age, self.last_active + config.idle_timeout) - now

    async def _read(self) -> None:
        while self.ws.state is not ConnectionState.CLOSED:
            timeout = self._deadline()
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
            except TimeoutError:
                continue
            if not data:
                if self.disconnect is None:
                    self.disconnect = (events.ABNORMAL_CLOSURE, events.REASON_ABNORMAL)
                return
            self.ws.receive_data(data)
            self._handle_events()

    def _handle_events(self) -> None:
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._on_data(event)
            elif isinstance(event, Ping):
                if not self.closing:
                    self.writer.write(self.ws.send(event.response()))
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, CloseConnection):
                self._on_close(event)

    def _on_data(self, event: TextMessage | BytesMessage) -> None:
        if self.closing:
            return
        config = self.gateway.config
        size = len(event.data.encode("utf-8")) if isinstance(event.data, str) else len(event.data)
        self._frame_size += size
        self._message_size += size
        if self._frame_size > config.max_frame or self._message_size > config.max_message:
            what = "a frame" if self._frame_size > config.max_frame else "a message"
            LOG.info("%s sent %s over %d bytes: closing with 1009", self.id, what,
                     config.max_frame if what == "a frame" else config.max_message)
            self.close(events.MESSAGE_TOO_BIG, events.REASON_TOO_BIG)
            return
        self._parts.append(event.data)
        if event.frame_finished:
            self._frame_size = 0
        if event.message_finished:
            data: str | bytes = "".join(self._parts) if isinstance(event, TextMessage) else b"".join(self._parts)
            self._parts = []
            self._message_size = 0
            self.touch()
            self.gateway.received += 1
            self.gateway.dispatch(self, data)

    def _on_close(self, event: CloseConnection) -> None:
        code, reason = int(event.code), event.reason or ""
        if self.ws.state is ConnectionState.REMOTE_CLOSING:
            # the client closes: answer with its code, then the connection ends
            self.gateway.forget(self)
            if self.disconnect is None:
                self.disconnect = client_close(code, reason)
            self.closing = True
            self.writer.write(self.ws.send(event.response()))
        elif self.ws.state is ConnectionState.OPEN:
            # a protocol error (bad framing, invalid UTF-8, ...): close with its code
            LOG.info("%s broke the WebSocket protocol: %d %s", self.id, code, reason)
            self.close(code, reason[:100])
        # else: the answer to our own close frame


class Reject(Exception):
    """Ends an HTTP request with an error answer."""

    def __init__(self, status: int, message: str | None, error_type: str | None = None,
                 headers: list[tuple[str, str]] | None = None, body: bytes | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.headers = headers or []
        self.body = body if body is not None else json.dumps({"message": message}).encode("utf-8")


class Gateway:
    def __init__(self, stack: StackSource, invoke: Invoke, config: GatewayConfig | None = None,
                 now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000):
        """`stack` is outputs.json (`OutputsFile`) or a fixed one; `invoke` calls a function."""
        self.stack = stack
        self.invoke = invoke
        self.config = config or GatewayConfig()
        self.now_ms = now_ms
        self.connections: dict[str, Connection] = {}
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stats_task: asyncio.Task | None = None
        self._waiting_http: set[asyncio.StreamWriter] = set()  # kept-alive HTTP connections between requests
        self._stopping = False
        # counters, for the log and the tests
        self.received = 0
        self.sent = 0
        self.invocations = 0
        self.failures = 0

    # ---------------------------------------------------------------- life

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config.stats_interval:
            self._stats_task = asyncio.get_running_loop().create_task(self._stats())

    async def stop(self, timeout: float = 10.0) -> None:
        """Closes every connection (1001) and waits for their `$disconnect` invocations."""
        self._stopping = True
        if self._server:
            self._server.close()
        if self._stats_task:
            self._stats_task.cancel()
        for writer in list(self._waiting_http):
            writer.close()
        for connection in list(self.connections.values()):
            connection.close(events.GOING_AWAY, events.REASON_GOING_AWAY)
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()

    def _track(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def forget(self, connection: Connection) -> None:
        if self.connections.get(connection.id) is connection:
            del self.connections[connection.id]

    def _stack(self) -> StackOutputs:
        try:
            return self.stack.current()
        except StackNotDeployed as error:
            raise Reject(503, f"the stack is not deployed: {error}") from None

    # ---------------------------------------------------------------- invoking

    async def _call(self, function: str, event: dict, what: str) -> Invocation | str:
        """Invokes a function; returns its answer, or the message API Gateway reports
        for a failed or timed-out integration."""
        self.invocations += 1
        try:
            result = await asyncio.wait_for(self.invoke(function, event), self.config.integration_timeout)
        except TimeoutError:
            self.failures += 1
            LOG.warning("%s: %s did not answer within %g s", what, function, self.config.integration_timeout)
            return "Endpoint request timed out"
        except InvokeFailed as error:
            self.failures += 1
            LOG.warning("%s: %s", what, error)
            return "Internal server error"
        except Exception:
            self.failures += 1
            LOG.exception("%s: invoking %s failed", what, function)
            return "Internal server error"
        if result.error:
            self.failures += 1
            detail = result.payload.get("errorMessage") if isinstance(result.payload, dict) else result.payload
            LOG.warning("%s: %s failed (%s): %s", what, function, result.error, detail)
            return "Internal server error"
        return result

    def dispatch(self, connection: Connection, data: str | bytes) -> None:
        self._track(self._route(connection, data))

    async def _route(self, connection: Connection, data: str | bytes) -> None:
        request_id = events.new_id()
        try:
            routes = self.stack.current().routes
        except StackNotDeployed:
            routes = {}
        route = events.select_route(data, routes)
        if route is None:
            connection.send(events.gateway_message("Forbidden", connection.id, request_id))
            return
        event = events.message_event(connection.info, route, request_id, events.new_id(), self.now_ms(), data)
        result = await self._call(routes[route], event, f"{connection.id} route {route}")
        if isinstance(result, str):
            connection.send(events.gateway_message(result, connection.id, request_id))
            return
        try:
            reply = events.route_reply(result.payload)
        except events.MalformedAnswer as error:
            LOG.warning("%s route %s: %s", connection.id, route, error)
            connection.send(events.gateway_message("Internal server error", connection.id, request_id))
            return
        if reply is None:
            return
        size = len(reply.encode("utf-8")) if isinstance(reply, str) else len(reply)
        if size > self.config.max_message:
            LOG.warning("%s route %s answered %d bytes, over the %d-byte message limit: not sent",
                        connection.id, route, size, self.config.max_message)
            return
        connection.send(reply)

    async def invoke_disconnect(self, connection: Connection, code: int, reason: str) -> None:
        try:
            routes = self.stack.current().routes
        except StackNotDeployed:
            return
        if "$disconnect" not in routes:
            return
        event = events.disconnect_event(connection.info, events.new_id(), self.now_ms(), code, reason)
        await self._call(routes["$disconnect"], event, f"{connection.id} $disconnect")

    # ---------------------------------------------------------------- HTTP

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._serve_http(reader, writer)
        except (ConnectionError, TimeoutError, h11.ProtocolError):
            pass
        except Exception:
            LOG.exception("connection from %s failed", writer.get_extra_info("peername"))
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _next_event(self, http: h11.Connection, reader: asyncio.StreamReader, timeout: float):
        while True:
            event = http.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(reader.read(65536), timeout)
            http.receive_data(data)

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=self.config.max_url + 16 * 1024)
        first = True
        while True:
            if not first:
                self._waiting_http.add(writer)
            try:
                request = await self._next_event(
                    http, reader, self.config.handshake_timeout if first else self.config.keep_alive_timeout)
            except TimeoutError:
                return
            except h11.RemoteProtocolError as error:
                if http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    self._respond(http, writer, Reject(error.error_status_hint, f"Bad request: {error}"), close=True)
                return
            finally:
                self._waiting_http.discard(writer)
            first = False
            if not isinstance(request, h11.Request):
                return
            headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw_items()]
            target = request.target.decode("latin-1")
            if _header(headers, "upgrade") is not None and "websocket" in _header(headers, "upgrade").lower():
                await self._websocket(http, request, headers, target, reader, writer)
                return
            try:
                body = await self._body(http, reader)
                status, answer = await self._management(request.method.decode("ascii"), target, headers, body)
                self._respond(http, writer, None, status=status, body=answer, close=self._stopping)
            except Reject as reject:
                self._respond(http, writer, reject, close=self._stopping or http.their_state is not h11.DONE)
            except h11.RemoteProtocolError:
                return
            await writer.drain()
            if http.our_state is not h11.DONE or http.their_state is not h11.DONE:
                return
            http.start_next_cycle()

    async def _body(self, http: h11.Connection, reader: asyncio.StreamReader) -> bytes:
        """A request's body; over the message limit only its size matters, so it is
        read (up to 16 MiB, to keep the connection usable) and dropped."""
        if http.they_are_waiting_for_100_continue:
            http.send(h11.InformationalResponse(status_code=100, headers=[]))
        parts: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event(http, reader, self.config.keep_alive_timeout)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size <= self.config.max_message:
                    parts.append(event.data)
                elif size > 16 * 1024 * 1024:
                    raise Reject(413, f"the request body is over {16 * 1024 * 1024} bytes", "PayloadTooLargeException")
            elif isinstance(event, h11.EndOfMessage):
                if size > self.config.max_message:
                    raise Reject(413, f"Message of {size} bytes is over the limit of {self.config.max_message} bytes",
                                 "PayloadTooLargeException")
                return b"".join(parts)
            else:
                raise h11.RemoteProtocolError("unexpected end of the request")

    def _respond(self, http: h11.Connection, writer: asyncio.StreamWriter, reject: Reject | None, *,
                 status: int = 200, body: bytes = b"", close: bool = False) -> None:
        headers = [("x-amzn-RequestId", str(uuid.uuid4())), ("Date", _http_date())]
        if reject is not None:
            status, body = reject.status, reject.body
            headers += reject.headers
            if reject.error_type:
                headers.append(("x-amzn-ErrorType", reject.error_type))
        if status != 204:
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))
            headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        data = http.send(h11.Response(status_code=status, headers=headers, reason=_reason(status))) or b""
        if body and status != 204:
            data += http.send(h11.Data(data=body)) or b""
        data += http.send(h11.EndOfMessage()) or b""
        writer.write(data)

    # ---------------------------------------------------------------- @connections

    async def _management(self, method: str, target: str, headers: list[tuple[str, str]],
                          body: bytes) -> tuple[int, bytes]:
        authorization = _header(headers, "authorization") or ""
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise Reject(403, "Missing Authentication Token", "ForbiddenException")
        stack = self._stack()
        path = target.split("?", 1)[0]
        segments = path.split("/")
        if len(segments) != 4 or segments[0] or segments[1] != stack.stage or \
                unquote(segments[2]) != "@connections" or not segments[3]:
            raise Reject(403, "Forbidden", "ForbiddenException")
        connection_id = unquote(segments[3])
        if method not in ("POST", "GET", "DELETE"):
            raise Reject(403, f"Forbidden: {method} is not an @connections method", "ForbiddenException")
        connection = self.connections.get(connection_id)
        if connection is None or connection.closing:
            raise Reject(410, f"Connection {connection_id} is gone (never connected, closed, or still in $connect)",
                         "GoneException")
        if method == "POST":
            if connection.buffered() > self.config.send_buffer_limit:
                raise Reject(429, f"the client of {connection_id} is not reading: its buffer is full",
                             "LimitExceededException")
            try:
                data: str | bytes = body.decode("utf-8")
            except UnicodeDecodeError:
                data = body
            connection.send(data)
            return 200, b""
        if method == "GET":
            answer = {
                "connectedAt": events.iso_time(connection.info.connected_at),
                "identity": {"sourceIp": connection.info.source_ip, "userAgent": connection.info.user_agent or ""},
                "lastActiveAt": events.iso_time(connection.last_active_at),
            }
            return 200, json.dumps(answer).encode("utf-8")
        LOG.info("%s deleted through @connections", connection_id)
        connection.close(events.NORMAL_CLOSURE, "", (events.NORMAL_CLOSURE, events.REASON_DELETED))
        return 204, b""

    # ---------------------------------------------------------------- WebSocket handshake

    async def _websocket(self, http: h11.Connection, request: h11.Request, headers: list[tuple[str, str]],
                         target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source_ip = peer[0] if isinstance(peer, tuple) else "127.0.0.1"
        try:
            # the handshake request has no body; this also reaches h11's "might switch protocol" state
            await self._body(http, reader)
            info, subprotocol, trailing = await self._handshake(http, request, headers, target, source_ip, reader)
        except Reject as reject:
            LOG.info("refused a WebSocket handshake from %s for %s: %d %s", source_ip, target.split("?")[0],
                     reject.status, reject.message)
            self._respond(http, writer, reject, close=True)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return
        response = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Accept", accept_key(_header(headers, "sec-websocket-key") or ""))]
        if subprotocol:
            response.append(("Sec-WebSocket-Protocol", subprotocol))
        writer.write(http.send(h11.InformationalResponse(status_code=101, headers=response,
                                                         reason=b"Switching Protocols")) or b"")
        trailing += http.trailing_data[0]
        connection = Connection(self, info, WsProtocol(ConnectionType.SERVER, trailing_data=trailing), reader, writer)
        self.connections[info.connection_id] = connection
        LOG.info("%s connected from %s (%s)", info.connection_id, source_ip, info.user_agent or "no user agent")
        await connection.run()

    async def _handshake(self, http: h11.Connection, request: h11.Request, headers: list[tuple[str, str]],
                         target: str, source_ip: str, reader: asyncio.StreamReader):
        """Checks the handshake and runs `$connect`; returns the connection's info
        and the subprotocol to confirm, or raises Reject."""
        if len(target) > self.config.max_url:
            raise Reject(414, f"the URL is over {self.config.max_url} characters")
        if request.method != b"GET":
            raise Reject(400, "a WebSocket handshake is a GET")
        if "upgrade" not in (_header(headers, "connection") or "").lower():
            raise Reject(400, "a WebSocket handshake needs 'Connection: Upgrade'")
        if _header(headers, "sec-websocket-version") != "13":
            raise Reject(426, "Sec-WebSocket-Version must be 13", headers=[("Sec-WebSocket-Version", "13")])
        key = _header(headers, "sec-websocket-key") or ""
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            valid_key = False
        if not valid_key:
            raise Reject(400, "Sec-WebSocket-Key must be 16 bytes in base64")
        stack = self._stack()
        path, _, query = target.partition("?")
        if path.rstrip("/") != f"/{stack.stage}":
            raise Reject(403, "Forbidden")
        if not stack.routes:
            raise Reject(503, "the WebSocket API is not deployed: the stack has no WsConnectFunctionName output "
                              "(deploy the ws-* functions with infra/deploy)")
        now = self.now_ms()
        info = ConnectionInfo(
            connection_id=events.new_id(),
            connected_at=now,
            stage=stack.stage,
            domain_name=_header(headers, "host") or f"{self.config.host}:{self.port}",
            api_id=api_id_of(stack.stack_name),
            source_ip=source_ip,
            user_agent=_header(headers, "user-agent"),
        )
        if "$connect" not in stack.routes:
            return info, None, b""
        event = events.connect_event(info, events.new_id(), now, headers,
                                     parse_qsl(query, keep_blank_values=True), self.port)
        result = await self._call(stack.routes["$connect"], event, f"{info.connection_id} $connect")
        if isinstance(result, str):
            raise Reject(504 if result == "Endpoint request timed out" else 502, result)
        try:
            answer = events.connect_answer(result.payload)
        except events.MalformedAnswer as error:
            LOG.warning("%s $connect: malformed answer: %s", info.connection_id, error)
            raise Reject(502, "Internal server error") from None
        if not answer.accepted:
            content_type = answer.header("Content-Type") or ("application/json" if answer.body[:1] in (b"{", b"[")
                                                             else "text/plain; charset=utf-8")
            raise Reject(answer.status, f"$connect answered {answer.status}", body=answer.body,
                         headers=[("Content-Type", content_type)])
        return info, answer.header("Sec-WebSocket-Protocol"), b""

    # ---------------------------------------------------------------- stats

    async def _stats(self) -> None:
        last = (self.received, self.sent)
        while True:
            await asyncio.sleep(self.config.stats_interval)
            if (self.received, self.sent) != last:
                LOG.info("%d connection(s); %d message(s) in, %d out; %d invocation(s), %d failed",
                         len(self.connections), self.received, self.sent, self.invocations, self.failures)
                last = (self.received, self.sent)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    """The last value of a header (names compare case-insensitively)."""
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _http_date() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)
