"""MQTT 3.1.1 (OASIS standard, protocol level 4): the packets a broker reads and
writes, and topic names and filters.

Only what the broker needs: it decodes CONNECT, PUBLISH, PUBACK, SUBSCRIBE,
UNSUBSCRIBE, PINGREQ and DISCONNECT, and encodes CONNACK, PUBLISH, PUBACK,
SUBACK, UNSUBACK and PINGRESP. QoS 2 packets are recognised so that they can
be refused. Every malformed packet raises `ProtocolError`; the broker closes
the connection on it, as the standard requires.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

# Control packet types (the high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PACKET_NAMES = {
    CONNECT: "CONNECT",
    CONNACK: "CONNACK",
    PUBLISH: "PUBLISH",
    PUBACK: "PUBACK",
    PUBREC: "PUBREC",
    PUBREL: "PUBREL",
    PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT",
}

# CONNACK return codes.
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_USERNAME_OR_PASSWORD = 4
NOT_AUTHORIZED = 5

CONNACK_NAMES = {
    ACCEPTED: "accepted",
    UNACCEPTABLE_PROTOCOL_VERSION: "unacceptable protocol version",
    IDENTIFIER_REJECTED: "identifier rejected",
    SERVER_UNAVAILABLE: "server unavailable",
    BAD_USERNAME_OR_PASSWORD: "bad user name or password",
    NOT_AUTHORIZED: "not authorized",
}

# SUBACK return code of a refused subscription.
SUBSCRIPTION_FAILURE = 0x80

MAX_REMAINING_LENGTH = 268_435_455


class ProtocolError(Exception):
    """The peer broke the protocol; the connection must be closed."""


class PacketTooLarge(ProtocolError):
    """A packet longer than the broker accepts (its length is known, its body unread)."""

    def __init__(self, packet_type: int, length: int, limit: int):
        super().__init__(f"{PACKET_NAMES.get(packet_type, packet_type)} of {length} bytes (limit {limit})")
        self.packet_type = packet_type
        self.length = length
        self.limit = limit


@dataclass
class Packet:
    """A packet as read: its type, the flags of its first byte and its body."""

    type: int
    flags: int
    body: bytes

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, f"type {self.type}")


@dataclass
class Connect:
    client_id: str
    clean_session: bool
    keep_alive: int
    username: str | None = None
    password: bytes | None = None
    will_topic: str | None = None
    will_payload: bytes | None = None
    will_qos: int = 0
    will_retain: bool = False
    protocol_name: str = "MQTT"
    protocol_level: int = 4


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass
class Subscribe:
    packet_id: int
    topics: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Unsubscribe:
    packet_id: int
    topics: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ reading


async def read_packet(reader: asyncio.StreamReader, max_length: int) -> Packet | None:
    """Reads one packet; `None` at a clean end of stream before a packet starts.

    Raises `PacketTooLarge` (without reading the body) when the remaining length
    exceeds `max_length`, and `ProtocolError` for a malformed length.
    """
    first = await reader.read(1)
    if not first:
        return None
    length = 0
    multiplier = 1
    for _ in range(4):
        byte = await reader.readexactly(1)
        length += (byte[0] & 0x7F) * multiplier
        if not byte[0] & 0x80:
            break
        multiplier *= 128
    else:
        raise ProtocolError("malformed remaining length")
    packet_type, flags = first[0] >> 4, first[0] & 0x0F
    if length > max_length:
        raise PacketTooLarge(packet_type, length, max_length)
    body = await reader.readexactly(length) if length else b""
    return Packet(packet_type, flags, body)


class _Cursor:
    """Reads the fields of a packet body, raising `ProtocolError` past its end."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("packet shorter than its fields")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("!H", self.take(2))[0]

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("a string is not valid UTF-8") from error
        if "\x00" in text:
            raise ProtocolError("a string contains U+0000")
        return text

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def parse_connect(packet: Packet) -> Connect:
    """The CONNECT packet's fields. The protocol level is returned, not checked:
    the broker answers an unknown one with CONNACK return code 1."""
    if packet.flags != 0:
        raise ProtocolError("CONNECT with reserved flags set")
    cursor = _Cursor(packet.body)
    protocol_name = cursor.string()
    protocol_level = cursor.u8()
    if protocol_name not in ("MQTT", "MQIsdp"):
        raise ProtocolError(f"unknown protocol name {protocol_name!r}")
    connect_flags = cursor.u8()
    keep_alive = cursor.u16()
    if protocol_level != 4:
        # Not 3.1.1: its fields may differ; report the level and stop here.
        return Connect("", True, keep_alive, protocol_name=protocol_name, protocol_level=protocol_level)
    if connect_flags & 0x01:
        raise ProtocolError("CONNECT with the reserved flag set")
    clean_session = bool(connect_flags & 0x02)
    will_flag = bool(connect_flags & 0x04)
    will_qos = (connect_flags >> 3) & 0x03
    will_retain = bool(connect_flags & 0x20)
    password_flag = bool(connect_flags & 0x40)
    username_flag = bool(connect_flags & 0x80)
    if not will_flag and (will_qos or will_retain):
        raise ProtocolError("will QoS or retain without a will")
    if will_qos == 3:
        raise ProtocolError("will QoS 3")
    if password_flag and not username_flag:
        raise ProtocolError("a password without a user name")
    client_id = cursor.string()
    connect = Connect(client_id, clean_session, keep_alive, protocol_name=protocol_name, protocol_level=4)
    if will_flag:
        connect.will_topic = cursor.string()
        connect.will_payload = cursor.binary()
        connect.will_qos = will_qos
        connect.will_retain = will_retain
    if username_flag:
        connect.username = cursor.string()
    if password_flag:
        connect.password = cursor.binary()
    if cursor.remaining():
        raise ProtocolError("CONNECT longer than its fields")
    return connect


def parse_publish(packet: Packet) -> Publish:
    qos = (packet.flags >> 1) & 0x03
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    dup = bool(packet.flags & 0x08)
    if qos == 0 and dup:
        raise ProtocolError("PUBLISH with QoS 0 and DUP set")
    cursor = _Cursor(packet.body)
    topic = cursor.string()
    packet_id = None
    if qos:
        packet_id = cursor.u16()
        if packet_id == 0:
            raise ProtocolError("PUBLISH with packet identifier 0")
    return Publish(topic, cursor.rest(), qos, bool(packet.flags & 0x01), dup, packet_id)


def parse_subscribe(packet: Packet) -> Subscribe:
    if packet.flags != 0x02:
        raise ProtocolError("SUBSCRIBE with wrong flags")
    cursor = _Cursor(packet.body)
    subscribe = Subscribe(cursor.u16())
    while cursor.remaining():
        topic = cursor.string()
        options = cursor.u8()
        if options & 0xFC or (options & 0x03) == 3:
            raise ProtocolError("SUBSCRIBE with a malformed requested QoS")
        subscribe.topics.append((topic, options & 0x03))
    if not subscribe.topics:
        raise ProtocolError("SUBSCRIBE without a topic filter")
    return subscribe


def parse_unsubscribe(packet: Packet) -> Unsubscribe:
    if packet.flags != 0x02:
        raise ProtocolError("UNSUBSCRIBE with wrong flags")
    cursor = _Cursor(packet.body)
    unsubscribe = Unsubscribe(cursor.u16())
    while cursor.remaining():
        unsubscribe.topics.append(cursor.string())
    if not unsubscribe.topics:
        raise ProtocolError("UNSUBSCRIBE without a topic filter")
    return unsubscribe


def parse_packet_id(packet: Packet) -> int:
    """The packet identifier of a PUBACK (and of the QoS 2 packets)."""
    if len(packet.body) != 2:
        raise ProtocolError(f"{packet.name} of {len(packet.body)} bytes")
    return struct.unpack("!H", packet.body)[0]


# ------------------------------------------------------------------------------ writing


def _remaining_length(n: int) -> bytes:
    if n > MAX_REMAINING_LENGTH:
        raise ValueError(f"packet body of {n} bytes")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(packet_type: int, flags: int, body: bytes) -> bytes:
    return bytes([(packet_type << 4) | flags]) + _remaining_length(len(body)) + body


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def connack(return_code: int, session_present: bool = False) -> bytes:
    return _packet(CONNACK, 0, bytes([1 if session_present else 0, return_code]))


def puback(packet_id: int) -> bytes:
    return _packet(PUBACK, 0, struct.pack("!H", packet_id))


def suback(packet_id: int, return_codes: list[int]) -> bytes:
    return _packet(SUBACK, 0, struct.pack("!H", packet_id) + bytes(return_codes))


def unsuback(packet_id: int) -> bytes:
    return _packet(UNSUBACK, 0, struct.pack("!H", packet_id))


def pingresp() -> bytes:
    return _packet(PINGRESP, 0, b"")


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None, retain: bool = False) -> bytes:
    flags = (qos << 1) | (1 if retain else 0)
    body = _string(topic)
    if qos:
        if not packet_id:
            raise ValueError("a QoS 1 or 2 PUBLISH needs a packet identifier")
        body += struct.pack("!H", packet_id)
    return _packet(PUBLISH, flags, body + payload)


def encode_connect(connect: Connect) -> bytes:
    """A CONNECT packet (for tests and tools; the broker only reads them)."""
    flags = 0x02 if connect.clean_session else 0
    payload = _string(connect.client_id)
    if connect.will_topic is not None:
        flags |= 0x04 | (connect.will_qos << 3) | (0x20 if connect.will_retain else 0)
        payload += _string(connect.will_topic) + struct.pack("!H", len(connect.will_payload or b"")) + (
            connect.will_payload or b""
        )
    if connect.username is not None:
        flags |= 0x80
        payload += _string(connect.username)
    if connect.password is not None:
        flags |= 0x40
        payload += struct.pack("!H", len(connect.password)) + connect.password
    body = _string(connect.protocol_name) + bytes([connect.protocol_level, flags]) + struct.pack("!H", connect.keep_alive)
    return _packet(CONNECT, 0, body + payload)


# ------------------------------------------------------------------------------ topics


def valid_topic_name(topic: str) -> bool:
    """A topic name a client may publish to: not empty, no wildcard."""
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_topic_filter(topic_filter: str) -> bool:
    """A subscription's topic filter: `+` fills a whole level, `#` only the last one."""
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a topic name matches a (valid) topic filter. Topics starting with `$`
    match no filter starting with a wildcard."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)
