"""MQTT 3.1.1 packets and topics (pharmaguard_iot.mqtt)."""

from __future__ import annotations

import asyncio

import pytest

from pharmaguard_iot import mqtt


def read(data: bytes, max_length: int = 1 << 20) -> mqtt.Packet | None:
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await mqtt.read_packet(reader, max_length)

    return asyncio.run(go())


def test_connect_round_trip():
    sent = mqtt.Connect("truck-1", True, 30, username="truck-1", password=b"s3cret",
                        will_topic="pharmaguard/devices/truck-1/telemetry", will_payload=b"{}", will_qos=1)
    packet = read(mqtt.encode_connect(sent))
    assert packet.type == mqtt.CONNECT
    assert mqtt.parse_connect(packet) == sent


def test_connect_of_another_protocol_level_reports_it():
    packet = read(mqtt.encode_connect(mqtt.Connect("x", True, 10, protocol_level=5)))
    assert mqtt.parse_connect(packet).protocol_level == 5


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x04MQTT\x04\x01\x00\x1e\x00\x01x",  # reserved flag
        b"\x00\x04MQTT\x04\x42\x00\x1e\x00\x01x",  # password without user name
        b"\x00\x04MQTT\x04\x02\x00\x1e\x00\x05x",  # client id longer than the packet
        b"\x00\x04HTTP\x04\x02\x00\x1e\x00\x01x",  # not MQTT
    ],
)
def test_malformed_connects_are_protocol_errors(body):
    with pytest.raises(mqtt.ProtocolError):
        mqtt.parse_connect(mqtt.Packet(mqtt.CONNECT, 0, body))


def test_publish_round_trip_and_qos_flags():
    packet = read(mqtt.publish("a/b", b"payload", qos=1, packet_id=7))
    message = mqtt.parse_publish(packet)
    assert (message.topic, message.payload, message.qos, message.packet_id) == ("a/b", b"payload", 1, 7)
    assert mqtt.parse_publish(read(mqtt.publish("a/b", b"", qos=0))).packet_id is None
    with pytest.raises(mqtt.ProtocolError):
        mqtt.parse_publish(mqtt.Packet(mqtt.PUBLISH, 0x06, b"\x00\x01a\x00\x01"))  # QoS 3


def test_remaining_length_uses_up_to_four_bytes():
    payload = bytes(200_000)
    packet = read(mqtt.publish("t", payload))
    assert mqtt.parse_publish(packet).payload == payload
    with pytest.raises(mqtt.ProtocolError):
        read(b"\x30\xff\xff\xff\xff\x01")


def test_a_packet_over_the_limit_is_refused_before_its_body_is_read():
    with pytest.raises(mqtt.PacketTooLarge) as error:
        read(b"\x30\xff\xff\x7f", max_length=1000)  # announces 2 MiB, sends nothing more
    assert error.value.length == 2_097_151


def test_subscribe_and_answers():
    body = b"\x00\x05" + b"\x00\x03a/#\x01" + b"\x00\x01b\x00"
    subscribe = mqtt.parse_subscribe(mqtt.Packet(mqtt.SUBSCRIBE, 0x02, body))
    assert subscribe.packet_id == 5 and subscribe.topics == [("a/#", 1), ("b", 0)]
    with pytest.raises(mqtt.ProtocolError):
        mqtt.parse_subscribe(mqtt.Packet(mqtt.SUBSCRIBE, 0x00, body))
    assert mqtt.connack(mqtt.BAD_USERNAME_OR_PASSWORD) == b"\x20\x02\x00\x04"
    assert mqtt.puback(258) == b"\x40\x02\x01\x02"
    assert mqtt.suback(5, [1, 0x80]) == b"\x90\x04\x00\x05\x01\x80"
    assert mqtt.pingresp() == b"\xd0\x00"


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+/+/telemetry", "pharmaguard/devices/t/telemetry", True),
        ("#", "$SYS/x", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_matching(topic_filter, topic, matches):
    assert mqtt.topic_matches(topic_filter, topic) is matches


def test_topic_validity():
    assert mqtt.valid_topic_filter("a/+/#")
    assert not mqtt.valid_topic_filter("a/#/b")
    assert not mqtt.valid_topic_filter("a/b+")
    assert not mqtt.valid_topic_filter("")
    assert mqtt.valid_topic_name("a/b")
    assert not mqtt.valid_topic_name("a/+")
