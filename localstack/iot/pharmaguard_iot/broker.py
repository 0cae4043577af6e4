"""An MQTT 3.1.1 broker that behaves, for the trucks' sensors, like AWS IoT Core
with PharmaGuard's device policy and telemetry rule.

- CONNECT: user name = device id, password = device secret, checked against the
  auth API (`auth.DeviceAuthenticator`). The client id must be the device id (or
  empty, then it becomes the device id): on AWS the device policy only lets a
  certificate connect as its own thing. Return codes: 1 for a protocol level
  other than 4 (3.1.1), 2 for another client id, 3 when the auth API cannot
  answer, 4 for credentials it refuses, 5 without credentials or with a will on
  a topic the device may not publish to. A second connection with the same
  client id closes the first, as on AWS.
- PUBLISH: a device may publish only to `pharmaguard/devices/{its id}/telemetry`
  (the device policy); anything else, QoS 2 (AWS IoT has no QoS 2) and payloads
  over 128 KiB (AWS IoT's limit) close the connection, with a log line saying
  why. A message goes to the matching local subscribers and through the
  telemetry rule (`rule.apply`) into the forwarder; for QoS 1 the PUBACK goes
  out once Kinesis has the record (or at once when the rule refuses the
  payload), in the order the messages came.
- SUBSCRIBE: a device may subscribe to filters within
  `pharmaguard/devices/{its id}/`; others get the failure return code 0x80.
  Granted QoS is at most 1.
- PINGREQ, UNSUBSCRIBE and DISCONNECT as the standard says; keep alive is
  enforced (1.5 times the client's value); the will is published when a
  connection ends without DISCONNECT.

Not emulated: persistent sessions (a session is always new: CONNACK's
session-present flag is 0 and nothing is kept after a disconnect), retained
messages, TLS and X.509 certificates (devices authenticate with their secret
locally; see infra/template.yaml for AWS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import mqtt, rule
from .auth import DeviceAuthenticator, Verdict
from .forwarder import Forwarder

LOG = logging.getLogger("pharmaguard.iot.broker")

MAX_PAYLOAD = 128 * 1024  # AWS IoT Core's message size limit


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    max_payload: int = MAX_PAYLOAD
    connect_timeout: float = 10.0
    stats_interval: float = 60.0


def telemetry_topic(device_id: str) -> str:
    return f"{rule.TOPIC_PREFIX}{device_id}{rule.TOPIC_SUFFIX}"


def may_publish(device_id: str, topic: str) -> bool:
    """The device policy: a device publishes its own telemetry only."""
    return topic == telemetry_topic(device_id)


def may_subscribe(device_id: str, topic_filter: str) -> bool:
    """The device policy: a device subscribes within its own topics only."""
    own = f"{rule.TOPIC_PREFIX}{device_id}/"
    return topic_filter.startswith(own) and len(topic_filter) > len(own)


class Disconnect(Exception):
    """Ends a connection; the message says why (logged)."""


class Session:
    def __init__(self, broker: Broker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.broker = broker
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.client_id = ""
        self.device_id = ""
        self.subscriptions: dict[str, int] = {}
        self.will: mqtt.Publish | None = None
        self.acks: asyncio.Queue[tuple[int, asyncio.Future]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._next_packet_id = 0
        self._taken_over = False

    # -------------------------------------------------------------------- output

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def deliver(self, topic: str, payload: bytes, qos: int) -> None:
        """Sends a message to this subscriber, dropping it when the subscriber
        does not keep up (over 1 MiB waiting in its socket buffer)."""
        transport = self.writer.transport
        if transport is not None and transport.get_write_buffer_size() > 1024 * 1024:
            LOG.warning("subscriber %s is not reading; dropped a message on %s", self.client_id, topic)
            return
        packet_id = None
        if qos:
            self._next_packet_id = self._next_packet_id % 65535 + 1
            packet_id = self._next_packet_id
        self.send(mqtt.publish(topic, payload, qos, packet_id))

    # -------------------------------------------------------------------- life

    async def run(self) -> None:
        acks: asyncio.Task | None = None
        clean = False
        reason = "connection closed"
        try:
            try:
                first = await asyncio.wait_for(
                    mqtt.read_packet(self.reader, 64 * 1024), self.broker.config.connect_timeout
                )
            except TimeoutError:
                raise Disconnect("no CONNECT in time") from None
            if first is None:
                return
            if first.type != mqtt.CONNECT:
                raise Disconnect(f"{first.name} before CONNECT")
            if not await self._connect(mqtt.parse_connect(first)):
                return
            acks = asyncio.get_running_loop().create_task(self._send_acks())
            clean = await self._serve()
            reason = "DISCONNECT" if clean else reason
        except Disconnect as stop:
            reason = str(stop)
        except mqtt.ProtocolError as error:
            reason = f"protocol error: {error}"
        except (ConnectionError, asyncio.IncompleteReadError):
            reason = "connection lost"
        finally:
            if self.device_id:
                if not self._taken_over:
                    self.broker.sessions.pop(self.client_id, None)
                LOG.info("%s (%s) disconnected: %s", self.client_id, self.peer, reason)
                if not clean and self.will is not None:
                    await self.broker.route(self, self.will)
                if acks is not None:
                    # messages already accepted still reach Kinesis; only their PUBACKs are lost
                    acks.cancel()
            elif reason != "connection closed":
                LOG.info("connection from %s closed: %s", self.peer, reason)
            self.closed.set()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _refuse(self, code: int, why: str) -> bool:
        LOG.info("refused %s from %s: CONNACK %d (%s): %s", self.client_id or "a client", self.peer, code,
                 mqtt.CONNACK_NAMES[code], why)
        self.send(mqtt.connack(code))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        return False

    async def _connect(self, connect: mqtt.Connect) -> bool:
        self.client_id = connect.client_id
        if connect.protocol_level != 4:
            return await self._refuse(
                mqtt.UNACCEPTABLE_PROTOCOL_VERSION, f"protocol level {connect.protocol_level}; this broker speaks 3.1.1 (4)"
            )
        if connect.username is None or connect.password is None:
            return await self._refuse(mqtt.NOT_AUTHORIZED, "no user name and password (device id and secret)")
        device_id = connect.username
        try:
            secret = connect.password.decode("utf-8")
        except UnicodeDecodeError:
            return await self._refuse(mqtt.BAD_USERNAME_OR_PASSWORD, "the password is not UTF-8")
        if not rule.DEVICE_ID.match(device_id):
            return await self._refuse(mqtt.BAD_USERNAME_OR_PASSWORD, "the user name is not a device id")
        if not connect.client_id:
            if not connect.clean_session:
                return await self._refuse(mqtt.IDENTIFIER_REJECTED, "an empty client id needs a clean session")
            self.client_id = device_id
        if self.client_id != device_id:
            return await self._refuse(
                mqtt.IDENTIFIER_REJECTED, f"the client id must be the device id {device_id!r}"
            )
        if connect.will_topic is not None:
            if connect.will_qos == 2 or not mqtt.valid_topic_name(connect.will_topic) or not may_publish(
                device_id, connect.will_topic
            ):
                return await self._refuse(mqtt.NOT_AUTHORIZED, f"a will on {connect.will_topic!r} is not allowed")
            self.will = mqtt.Publish(connect.will_topic, connect.will_payload or b"", connect.will_qos)
        verdict = await self.broker.authenticator.authenticate(device_id, secret)
        if verdict is Verdict.UNAVAILABLE:
            return await self._refuse(mqtt.SERVER_UNAVAILABLE, "the auth API could not check the credentials")
        if verdict is Verdict.REFUSED:
            return await self._refuse(mqtt.BAD_USERNAME_OR_PASSWORD, "the auth API refused the device id and secret")
        previous = self.broker.sessions.get(self.client_id)
        if previous is not None:
            previous._taken_over = True
            LOG.info("%s connected again from %s: closing its older connection", self.client_id, self.peer)
            previous.writer.close()
        self.device_id = device_id
        self.broker.sessions[self.client_id] = self
        self.keep_alive = connect.keep_alive
        self.send(mqtt.connack(mqtt.ACCEPTED))
        LOG.info("%s connected from %s (keep alive %ss)", self.client_id, self.peer, connect.keep_alive)
        return True

    async def _serve(self) -> bool:
        """Reads packets until DISCONNECT (True) or the end of the connection (False)."""
        max_length = self.broker.config.max_payload + 1024
        idle_limit = self.keep_alive * 1.5 if self.keep_alive else None
        while True:
            try:
                packet = await asyncio.wait_for(mqtt.read_packet(self.reader, max_length), idle_limit)
            except TimeoutError:
                raise Disconnect(f"nothing received for {idle_limit:g} s (keep alive {self.keep_alive} s)") from None
            except mqtt.PacketTooLarge as error:
                raise Disconnect(f"refused a {error}: payloads are limited to {self.broker.config.max_payload} bytes") from None
            if packet is None:
                return False
            match packet.type:
                case mqtt.PUBLISH:
                    await self._publish(mqtt.parse_publish(packet))
                case mqtt.PUBACK:
                    mqtt.parse_packet_id(packet)  # a subscriber's ack of a QoS 1 delivery: nothing to do
                case mqtt.SUBSCRIBE:
                    self._subscribe(mqtt.parse_subscribe(packet))
                case mqtt.UNSUBSCRIBE:
                    unsubscribe = mqtt.parse_unsubscribe(packet)
                    for topic_filter in unsubscribe.topics:
                        self.subscriptions.pop(topic_filter, None)
                    self.send(mqtt.unsuback(unsubscribe.packet_id))
                case mqtt.PINGREQ:
                    self.send(mqtt.pingresp())
                case mqtt.DISCONNECT:
                    return True
                case mqtt.PUBREC | mqtt.PUBREL | mqtt.PUBCOMP:
                    raise Disconnect(f"{packet.name}: QoS 2 is not supported (as on AWS IoT)")
                case _:
                    raise Disconnect(f"unexpected {packet.name}")
            await self.writer.drain()

    async def _publish(self, message: mqtt.Publish) -> None:
        if not mqtt.valid_topic_name(message.topic):
            raise mqtt.ProtocolError(f"PUBLISH to {message.topic!r}, which is not a topic name")
        if message.qos == 2:
            raise Disconnect(f"refused a QoS 2 PUBLISH on {message.topic}: AWS IoT supports QoS 0 and 1")
        if len(message.payload) > self.broker.config.max_payload:
            raise Disconnect(
                f"refused a PUBLISH of {len(message.payload)} bytes on {message.topic}: "
                f"payloads are limited to {self.broker.config.max_payload} bytes"
            )
        if not may_publish(self.device_id, message.topic):
            raise Disconnect(
                f"refused a PUBLISH on {message.topic}: device {self.device_id} may only publish to "
                f"{telemetry_topic(self.device_id)}"
            )
        done = await self.broker.route(self, message)
        if message.qos == 1:
            self.acks.put_nowait((message.packet_id, done))

    def _subscribe(self, subscribe: mqtt.Subscribe) -> None:
        codes = []
        for topic_filter, qos in subscribe.topics:
            if mqtt.valid_topic_filter(topic_filter) and may_subscribe(self.device_id, topic_filter):
                granted = min(qos, 1)
                self.subscriptions[topic_filter] = granted
                codes.append(granted)
            else:
                LOG.info("%s may not subscribe to %r", self.client_id, topic_filter)
                codes.append(mqtt.SUBSCRIPTION_FAILURE)
        self.send(mqtt.suback(subscribe.packet_id, codes))

    async def _send_acks(self) -> None:
        """PUBACKs in the order of the PUBLISHes, each once its record is written."""
        while True:
            packet_id, done = await self.acks.get()
            await asyncio.shield(done)  # the record stays queued if this connection ends
            self.send(mqtt.puback(packet_id))


class Broker:
    def __init__(
        self,
        authenticator: DeviceAuthenticator,
        forwarder: Forwarder,
        config: BrokerConfig | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.authenticator = authenticator
        self.forwarder = forwarder
        self.config = config or BrokerConfig()
        self.now = now
        self.sessions: dict[str, Session] = {}
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._stats_task: asyncio.Task | None = None
        self.received = 0
        self.forwarded = 0
        self.rule_errors = 0

    async def start(self) -> None:
        self.forwarder.start()
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config.stats_interval:
            self._stats_task = asyncio.get_running_loop().create_task(self._stats())

    async def stop(self, drain_timeout: float = 5.0) -> None:
        if self._server:
            self._server.close()
        if self._stats_task:
            self._stats_task.cancel()
        for session in list(self.sessions.values()):
            session.writer.close()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2)
        if not await self.forwarder.drain(drain_timeout):
            LOG.warning("stopping with %d record(s) not yet in Kinesis", self.forwarder.pending)
        await self.forwarder.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await Session(self, reader, writer).run()
        finally:
            self._connections.discard(task)

    async def route(self, sender: Session, message: mqtt.Publish) -> asyncio.Future:
        """Delivers a message to the subscribers and through the telemetry rule; the
        returned future completes when the rule's record is in Kinesis."""
        self.received += 1
        for session in list(self.sessions.values()):
            granted = [qos for topic_filter, qos in session.subscriptions.items() if mqtt.topic_matches(topic_filter, message.topic)]
            if granted:
                session.deliver(message.topic, message.payload, min(max(granted), message.qos))
        try:
            result = rule.apply(message.topic, message.payload, self.now(), self.authenticator.org_of)
        except rule.RuleError as error:
            self.rule_errors += 1
            LOG.warning("telemetry rule failed for a message of %s on %s, not forwarded: %s",
                        sender.client_id, message.topic, error)
            result = None
        if result is None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        key, data = result
        self.forwarded += 1
        return await self.forwarder.submit(key, data)

    async def _stats(self) -> None:
        last = time.monotonic()
        received = 0
        while True:
            await asyncio.sleep(self.config.stats_interval)
            now = time.monotonic()
            if self.received != received:
                LOG.info(
                    "%d connection(s); %.1f msg/s; %d message(s), %d forwarded, %d rule error(s); "
                    "Kinesis: %d written in %d call(s), %d retried, %d pending",
                    len(self.sessions), (self.received - received) / (now - last), self.received, self.forwarded,
                    self.rule_errors, self.forwarder.written, self.forwarder.calls, self.forwarder.retries,
                    self.forwarder.pending,
                )
            last, received = now, self.received
