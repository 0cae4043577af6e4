"""The telemetry topic rule, as AWS IoT Core runs it (`TelemetryTopicRule` in
infra/template.yaml), written as a function.

A device publishes one reading as a JSON object on
`pharmaguard/devices/{device id}/telemetry`:

    {"v": 1, "reading_id": "truck-7-0001", "shipment_id": "SHP-1", "ts": "2026-01-01T00:00:00Z",
     "lat": 52.37, "lon": 4.89, "temperature_c": 5.2, "vibration_g": 0.3}

The rule's SQL keeps every field of it (`*`) and adds, after them, `device_id`
from the topic, `received_at` (RFC 3339, UTC, milliseconds, from the rules
engine's clock), `source: "mqtt"` and `sender`: who sent it, the device of the
topic (`{"kind": "device", "device_id", "org_id"}`, the organisation from the
thing's `org_id` attribute in the registry, `get_registry_data`). Later items of
a SELECT list win over the keys `*` brings, so a `device_id` (or `received_at`,
`source`, `sender`) the device put in its payload is replaced. The device policy
lets a device publish on its own topic only, so the topic says who sent it. The result is one Kinesis record of the same format
the HTTPS ingest writes (`pharmaguard_domain::telemetry::Reading`), with
partition key = the device id.

The rules engine does not validate readings: the consumer of the stream does
(and quarantines what it cannot use). Two cases never reach the stream:

- a payload that is not JSON: `*` is then the raw bytes, and `SELECT *, … AS …`
  cannot add fields to them (AWS IoT documentation, "Working with binary
  payloads": only `SELECT *` alone, or functions only, work on binary
  payloads), so the rule fails for that message and no record is written; the
  message itself was accepted by the broker (and acknowledged);
- a JSON payload that is not an object (an array, a number, ...): there is no
  object to add the fields to; it is treated as the binary case.

An empty payload counts as an empty JSON object (the rules engine adds the
fields to it), so its record holds only `device_id`, `received_at` and `source`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

TOPIC_PREFIX = "pharmaguard/devices/"
TOPIC_SUFFIX = "/telemetry"
TOPIC_FILTER = "pharmaguard/devices/+/telemetry"

# The rule's SQL, exactly as the template declares it (tests/test_rule.py checks that).
SQL = (
    "SELECT *, topic(3) AS device_id, "
    "parse_time(\"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\", timestamp(), 'UTC') AS received_at, "
    "'mqtt' AS source, "
    "{'kind': 'device', 'device_id': topic(3), "
    "'org_id': get_registry_data('DescribeThing', topic(3), '${TelemetryRuleRole.Arn}').attributes.org_id} AS sender "
    "FROM 'pharmaguard/devices/+/telemetry'"
)
SQL_VERSION = "2016-03-23"
PARTITION_KEY = "${topic(3)}"
SOURCE = "mqtt"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Device ids (as the auth API registers them): 1-64 of A-Z a-z 0-9 _ . : -
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class RuleError(Exception):
    """The rule cannot process the message (AWS runs the rule's error action)."""


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def device_of_topic(topic: str) -> str | None:
    """The device id of a telemetry topic (`topic(3)`), or None when the topic is
    not one the rule selects."""
    if not (topic.startswith(TOPIC_PREFIX) and topic.endswith(TOPIC_SUFFIX)):
        return None
    device_id = topic[len(TOPIC_PREFIX) : -len(TOPIC_SUFFIX)]
    if not device_id or "/" in device_id:
        return None
    return device_id


def timestamp_ms(now: datetime) -> int:
    """`timestamp()`: milliseconds since the epoch."""
    return (now - EPOCH) // timedelta(milliseconds=1)


def format_received_at(millis: int) -> str:
    """`parse_time("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", millis, 'UTC')`."""
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def apply(topic: str, payload: bytes, now: datetime, org_of=lambda device_id: None) -> tuple[str, bytes] | None:
    """Runs the rule on one message: `None` when the topic is not the rule's,
    else the partition key and the record's data. `org_of` is the thing
    registry: the organisation of a device. Raises `RuleError` when the payload
    is not a JSON object, or the registry has no organisation for the device."""
    device_id = device_of_topic(topic)
    if device_id is None:
        return None
    if payload.strip() == b"":
        document: object = {}
    else:
        try:
            document = json.loads(payload, parse_constant=_not_json)
        except (UnicodeDecodeError, ValueError) as error:
            raise RuleError(f"the payload is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise RuleError(f"the payload is JSON but not an object ({type(document).__name__})")
    record = dict(document)
    record["device_id"] = device_id
    record["received_at"] = format_received_at(timestamp_ms(now))
    record["source"] = SOURCE
    org_id = org_of(device_id)
    if not org_id:
        raise RuleError(f"the registry has no org_id for device {device_id!r}")
    record["sender"] = {"kind": "device", "device_id": device_id, "org_id": org_id}
    return device_id, json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
