"""Fixtures of the IoT broker's tests: an in-process broker with fake credentials
and a fake Kinesis, paho-mqtt clients, and a raw MQTT socket for exact bytes."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as paho
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pharmaguard_iot import mqtt  # noqa: E402
from pharmaguard_iot.auth import DeviceAuthenticator, Verdict  # noqa: E402
from pharmaguard_iot.broker import MAX_PAYLOAD, Broker, BrokerConfig  # noqa: E402
from pharmaguard_iot.forwarder import Forwarder  # noqa: E402

SECRETS = {"truck-1": "secret-1", "truck-2": "secret-2"}


class FakeAuth:
    """The auth API: knows SECRETS; `unavailable` makes it fail."""

    def __init__(self):
        self.calls = 0
        self.unavailable = False

    def __call__(self, device_id: str, secret: str) -> Verdict | tuple[Verdict, str]:
        self.calls += 1
        if self.unavailable:
            return Verdict.UNAVAILABLE
        return (Verdict.ACCEPTED, "org-a") if SECRETS.get(device_id) == secret else Verdict.REFUSED


class FakeKinesis:
    """PutRecords that keeps what it is given. `hold()` makes calls wait until
    `release()`; `fail_calls` fails that many calls as a whole; `refuse(n)` fails
    the first n records of the next calls (ErrorCode)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records: list[tuple[str, bytes]] = []
        self.calls: list[list[tuple[str, bytes]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_calls = 0
        self.refusals = 0
        self.throttle_from: int | None = None
        self.active = 0
        self.latency = 0.0
        self.failed_once = False

    def hold(self):
        self.gate.clear()

    def release(self):
        self.gate.set()

    def refuse(self, n: int):
        self.refusals = n

    def throttle(self, from_index: int):
        """The next call's records from this index on are refused (a shard over its limit)."""
        self.throttle_from = from_index

    def __call__(self, records: Sequence[tuple[str, bytes]]) -> list[str | None]:
        with self.lock:
            self.active += 1
        try:
            return self._put(records)
        finally:
            with self.lock:
                self.active -= 1

    def _put(self, records: Sequence[tuple[str, bytes]]) -> list[str | None]:
        self.gate.wait(10)
        time.sleep(self.latency)
        with self.lock:
            self.calls.append(list(records))
            if self.fail_calls:
                self.fail_calls -= 1
                self.failed_once = True
                raise ConnectionError("kinesis is down")
            results: list[str | None] = []
            throttle_from, self.throttle_from = self.throttle_from, None
            for index, record in enumerate(records):
                if throttle_from is not None and index >= throttle_from:
                    results.append("ProvisionedThroughputExceededException: rate exceeded for shard")
                elif self.refusals:
                    self.refusals -= 1
                    results.append("ProvisionedThroughputExceededException: slow down")
                else:
                    self.records.append(record)
                    results.append(None)
            return results

    def wait_for(self, count: int, timeout: float = 5) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.records) >= count:
                    return list(self.records)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.records)} record(s) written, expected {count}")


class RunningBroker:
    """A broker on an ephemeral loopback port, its event loop in a thread."""

    def __init__(self, auth: FakeAuth, kinesis: FakeKinesis, max_payload: int = MAX_PAYLOAD):
        self.auth = auth
        self.kinesis = kinesis
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> Broker:
            forwarder = Forwarder(kinesis, linger=0, base_backoff=0.01, max_backoff=0.05)
            broker = Broker(
                DeviceAuthenticator(auth, ttl=300),
                forwarder,
                BrokerConfig(port=0, stats_interval=0, connect_timeout=0.5, max_payload=max_payload),
            )
            await broker.start()
            return broker

        self.broker = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5)
        self.port = self.broker.port

    def call(self, fn):
        """Runs a plain function on the broker's loop and returns its result."""

        async def run():
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def close(self):
        asyncio.run_coroutine_threadsafe(self.broker.stop(1), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def kinesis() -> FakeKinesis:
    return FakeKinesis()


@pytest.fixture
def auth() -> FakeAuth:
    return FakeAuth()


@pytest.fixture
def broker(auth, kinesis):
    running = RunningBroker(auth, kinesis)
    yield running
    kinesis.release()
    running.close()


class Device:
    """A paho-mqtt client (MQTT 3.1.1) that records what happens to it."""

    def __init__(self, port: int, client_id: str, username: str | None, password: str | None, keepalive: int = 30):
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack = threading.Event()
        self.reason = None
        self.disconnected = threading.Event()
        self.messages: list[paho.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.granted = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *args: self.disconnected.set()
        self.client.on_message = lambda client, userdata, message: self.messages.append(message)
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port, keepalive=keepalive)
        # our own network loop: paho's loop_start() reconnects, and a closed connection must stay closed
        self._running = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        assert self.connack.wait(5), "no CONNACK"

    def _spin(self):
        while self._running:
            if self.client.loop(timeout=0.02) != paho.MQTT_ERR_SUCCESS:
                time.sleep(0.01)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.connack.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted = [code.value for code in reason_codes]
        self.subscribed.set()

    @property
    def accepted(self) -> bool:
        return self.reason is not None and not self.reason.is_failure

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def close(self):
        self.client.disconnect()
        self._running = False
        self._thread.join(2)


@pytest.fixture
def devices():
    opened: list[Device] = []

    def connect(port: int, client_id: str, username: str | None, password: str | None, **kwargs) -> Device:
        device = Device(port, client_id, username, password, **kwargs)
        opened.append(device)
        return device

    yield connect
    for device in opened:
        device.close()


def raw_connect(port: int, connect: mqtt.Connect) -> tuple[socket.socket, bytes]:
    """Sends a CONNECT over a plain socket and returns the socket and the first 4
    bytes the broker answers (a CONNACK is exactly 4)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(mqtt.encode_connect(connect))
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            break
        answer += chunk
    return sock, answer


def closed_by_peer(sock: socket.socket, timeout: float = 5) -> bool:
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(1024)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
