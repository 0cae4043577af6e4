"""The broker with fake credentials and a fake Kinesis: what a device may do, and
that a QoS 1 PUBACK means the record is in Kinesis."""

from __future__ import annotations

import json
import socket
import time

import pytest
from conftest import SECRETS, FakeAuth, FakeKinesis, RunningBroker, closed_by_peer, raw_connect

from pharmaguard_iot import mqtt

TOPIC_1 = "pharmaguard/devices/truck-1/telemetry"
TOPIC_2 = "pharmaguard/devices/truck-2/telemetry"
READING = {"v": 1, "reading_id": "truck-1-0001", "ts": "2026-01-01T00:00:00Z", "lat": 52.5, "lon": 13.4,
           "temperature_c": 5.0, "vibration_g": 0.1}


def connect_code(broker, **fields) -> int:
    sock, answer = raw_connect(broker.port, mqtt.Connect(**{"clean_session": True, "keep_alive": 30, **fields}))
    sock.close()
    assert len(answer) == 4 and answer[:2] == b"\x20\x02", answer
    return answer[3]


def test_connack_return_codes(broker, auth):
    assert connect_code(broker, client_id="truck-1", username="truck-1", password=b"secret-1") == mqtt.ACCEPTED
    assert connect_code(broker, client_id="truck-1", username="truck-1", password=b"wrong") == mqtt.BAD_USERNAME_OR_PASSWORD
    assert connect_code(broker, client_id="nobody", username="nobody", password=b"x") == mqtt.BAD_USERNAME_OR_PASSWORD
    assert connect_code(broker, client_id="truck-1") == mqtt.NOT_AUTHORIZED
    assert connect_code(broker, client_id="truck-2", username="truck-1", password=b"secret-1") == mqtt.IDENTIFIER_REJECTED
    assert connect_code(broker, client_id="", username="truck-1", password=b"secret-1") == mqtt.ACCEPTED
    assert connect_code(broker, client_id="x", username="x", password=b"y", protocol_level=5) == (
        mqtt.UNACCEPTABLE_PROTOCOL_VERSION)
    assert connect_code(broker, client_id="truck-1", username="truck-1", password=b"secret-1",
                        will_topic=TOPIC_2, will_payload=b"{}") == mqtt.NOT_AUTHORIZED
    auth.unavailable = True
    assert connect_code(broker, client_id="truck-2", username="truck-2", password=b"secret-2") == mqtt.SERVER_UNAVAILABLE


def test_a_successful_check_is_cached(broker, auth):
    for _ in range(3):
        assert connect_code(broker, client_id="truck-1", username="truck-1", password=b"secret-1") == mqtt.ACCEPTED
    assert connect_code(broker, client_id="truck-1", username="truck-1", password=b"bad") == mqtt.BAD_USERNAME_OR_PASSWORD
    assert auth.calls == 2  # one success (then cached), one failure (never cached)


def test_paho_device_publishes_and_the_record_follows_the_rule(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    assert device.accepted
    info = device.publish(TOPIC_1, json.dumps({**READING, "device_id": "someone-else"}), qos=1)
    info.wait_for_publish(5)
    assert info.is_published()
    ((key, data),) = kinesis.records  # written before the PUBACK came back
    record = json.loads(data)
    assert key == "truck-1"
    assert record["device_id"] == "truck-1" and record["source"] == "mqtt"
    assert record["received_at"].endswith("Z") and record["reading_id"] == "truck-1-0001"


def test_paho_refused_credentials(broker, devices):
    device = devices(broker.port, "truck-1", "truck-1", "not the secret")
    assert not device.accepted
    assert device.reason.getName() == "Bad user name or password"


def test_puback_waits_for_kinesis_and_keeps_the_publish_order(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    kinesis.hold()
    infos = [device.publish(TOPIC_1, json.dumps({**READING, "reading_id": f"r{i}"}), qos=1) for i in range(5)]
    time.sleep(0.3)
    assert not any(info.is_published() for info in infos)
    kinesis.release()
    for info in infos:
        info.wait_for_publish(5)
    assert [json.loads(data)["reading_id"] for _, data in kinesis.wait_for(5)] == [f"r{i}" for i in range(5)]


def test_puback_waits_for_a_retried_record(broker, kinesis, devices):
    kinesis.fail_calls = 2
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    info = device.publish(TOPIC_1, json.dumps(READING), qos=1)
    info.wait_for_publish(5)
    assert info.is_published()
    assert len(kinesis.calls) == 3 and len(kinesis.records) == 1


def test_publishing_to_another_devices_topic_disconnects_and_forwards_nothing(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    device.publish(TOPIC_2, json.dumps(READING), qos=1)
    assert device.disconnected.wait(5)
    time.sleep(0.1)
    assert kinesis.records == []


@pytest.mark.parametrize("topic", ["pharmaguard/devices/truck-1/status", "$aws/things/truck-1/shadow/update", "other"])
def test_only_the_own_telemetry_topic_may_be_published_to(broker, kinesis, devices, topic):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    device.publish(topic, b"{}", qos=0)
    assert device.disconnected.wait(5)
    assert kinesis.records == []


def test_payloads_over_128_kib_are_refused(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    at_limit = json.dumps({**READING, "pad": "x" * (128 * 1024 - len(json.dumps(READING)) - 11)})
    assert len(at_limit) == 128 * 1024
    device.publish(TOPIC_1, at_limit, qos=1).wait_for_publish(5)
    assert len(kinesis.records) == 1
    device.publish(TOPIC_1, at_limit + " ", qos=1)
    assert device.disconnected.wait(5)
    assert len(kinesis.records) == 1


def test_a_huge_announced_packet_is_refused_unread(broker):
    sock, answer = raw_connect(broker.port, mqtt.Connect("truck-1", True, 30, username="truck-1", password=b"secret-1"))
    assert answer == b"\x20\x02\x00\x00"
    sock.sendall(b"\x30\xff\xff\xff\x7f")  # a PUBLISH of 256 MiB
    assert closed_by_peer(sock)


def test_a_payload_that_is_not_json_is_acknowledged_but_not_forwarded(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    info = device.publish(TOPIC_1, b"\x00garbage", qos=1)
    info.wait_for_publish(5)
    assert info.is_published()
    device.publish(TOPIC_1, json.dumps(READING), qos=1).wait_for_publish(5)
    assert len(kinesis.records) == 1  # only the JSON one
    assert broker.call(lambda: broker.broker.rule_errors) == 1


def test_qos_0_is_forwarded_too(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    device.publish(TOPIC_1, json.dumps(READING), qos=0)
    assert len(kinesis.wait_for(1)) == 1


def test_qos_2_is_refused(broker, kinesis, devices):
    device = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    device.publish(TOPIC_1, json.dumps(READING), qos=2)
    assert device.disconnected.wait(5)
    assert kinesis.records == []


def test_subscribers_within_their_own_topics(broker, devices):
    watcher = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    watcher.client.subscribe([("pharmaguard/devices/truck-1/#", 1), (TOPIC_2, 1), ("#", 0)])
    assert watcher.subscribed.wait(5)
    assert watcher.granted == [1, 0x80, 0x80]
    # a second connection of the same device takes over the first (as on AWS): use a fresh watcher
    publisher = devices(broker.port, "truck-2", "truck-2", SECRETS["truck-2"])
    publisher.publish(TOPIC_2, b"{}", qos=1).wait_for_publish(5)
    watcher.publish(TOPIC_1, json.dumps(READING), qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not watcher.messages and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [message.topic for message in watcher.messages] == [TOPIC_1]


def test_a_second_connection_of_a_device_closes_the_first(broker, devices):
    first = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    second = devices(broker.port, "truck-1", "truck-1", SECRETS["truck-1"])
    assert second.accepted
    assert first.disconnected.wait(5)


def test_ping_and_keep_alive(broker):
    sock, answer = raw_connect(broker.port, mqtt.Connect("truck-1", True, 1, username="truck-1", password=b"secret-1"))
    assert answer == b"\x20\x02\x00\x00"
    sock.sendall(b"\xc0\x00")  # PINGREQ
    assert sock.recv(2) == b"\xd0\x00"
    # then silence: closed after 1.5 x the keep alive
    started = time.monotonic()
    assert closed_by_peer(sock, timeout=5)
    assert 1.2 < time.monotonic() - started < 3


def test_a_client_that_never_connects_is_dropped(broker):
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    assert closed_by_peer(sock, timeout=5)  # connect_timeout is 0.5 s here


def test_small_payload_limit_is_configurable():
    kinesis = FakeKinesis()
    running = RunningBroker(FakeAuth(), kinesis, max_payload=10)
    try:
        sock, answer = raw_connect(running.port, mqtt.Connect("truck-1", True, 30, username="truck-1", password=b"secret-1"))
        assert answer == b"\x20\x02\x00\x00"
        sock.sendall(mqtt.publish(TOPIC_1, b"{}" + b" " * 20, qos=1, packet_id=1))
        assert closed_by_peer(sock)
        assert kinesis.records == []
    finally:
        running.close()


def test_a_fleet_of_100_devices_at_1_hz_with_a_slow_kinesis(auth, kinesis):
    """The fleet simulator's load: 100 devices, one QoS 1 reading a second each, while
    every PutRecords call takes 0.3 s. Every message is acknowledged within the run,
    and each device's records are in the stream in the order it sent them."""
    import asyncio

    fleet = {f"fleet-{n:03d}": f"secret-{n}" for n in range(100)}
    SECRETS.update(fleet)
    kinesis.latency = 0.3
    running = RunningBroker(auth, kinesis)
    seconds = 3

    async def device(device_id: str, secret: str, start: float) -> list[float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(mqtt.encode_connect(mqtt.Connect(device_id, True, 30, username=device_id, password=secret.encode())))
        assert await reader.readexactly(4) == b"\x20\x02\x00\x00"
        sent_at = {}

        async def read_acks() -> list[float]:
            latencies = []
            for _ in range(seconds):
                packet = await asyncio.wait_for(reader.readexactly(4), seconds + 5)
                assert packet[:2] == b"\x40\x02"
                latencies.append(time.monotonic() - sent_at[int.from_bytes(packet[2:], "big")])
            return latencies

        acks = asyncio.ensure_future(read_acks())
        for n in range(seconds):
            await asyncio.sleep(max(0.0, start + n - time.monotonic()))
            payload = json.dumps({**READING, "reading_id": f"{device_id}-{n}"}).encode()
            sent_at[n + 1] = time.monotonic()
            writer.write(mqtt.publish(f"pharmaguard/devices/{device_id}/telemetry", payload, qos=1, packet_id=n + 1))
        latencies = await acks
        writer.write(b"\xe0\x00")  # DISCONNECT
        writer.close()
        return latencies

    async def fleet_run():
        start = time.monotonic() + 0.5
        return await asyncio.gather(*(device(d, s, start + i / 100) for i, (d, s) in enumerate(fleet.items())))

    try:
        latencies = sorted(latency for each in asyncio.run(fleet_run()) for latency in each)
    finally:
        running.close()
        for device_id in fleet:
            SECRETS.pop(device_id)
    assert len(latencies) == 100 * seconds
    assert latencies[len(latencies) // 2] < 1.0, latencies  # median PUBACK, with 0.3 s per PutRecords
    order: dict[str, list[str]] = {}
    for key, data in kinesis.records:
        order.setdefault(key, []).append(json.loads(data)["reading_id"])
    assert order == {d: [f"{d}-{n}" for n in range(seconds)] for d in fleet}
    assert len(kinesis.calls) < 100 * seconds / 5  # batched: many devices per call
