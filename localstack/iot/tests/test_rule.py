"""The telemetry topic rule: the local transformation is the template's SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pharmaguard_iot import rule

TEMPLATE = Path(__file__).resolve().parents[3] / "infra" / "template.yaml"
NOW = datetime(2026, 1, 1, 8, 30, 15, 123456, tzinfo=UTC)
TOPIC = "pharmaguard/devices/truck-7/telemetry"

# The fields of pharmaguard_domain::telemetry::Reading, as serialized.
READING_FIELDS = {
    "v", "reading_id", "device_id", "shipment_id", "ts", "lat", "lon",
    "temperature_c", "vibration_g", "received_at", "source", "sender",
}

DEVICE_READING = {
    "v": 1,
    "reading_id": "truck-7-0001",
    "shipment_id": "SHP-1",
    "ts": "2026-01-01T08:30:14Z",
    "lat": 52.37,
    "lon": 4.89,
    "temperature_c": 5.2,
    "vibration_g": 0.3,
}


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)


@pytest.fixture(scope="module")
def template_rule() -> dict:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    resource = template["Resources"]["TelemetryTopicRule"]
    return resource["Properties"]["TopicRulePayload"]


ORG_OF = {"truck-7": "org-a"}.get
SENDER = {"kind": "device", "device_id": "truck-7", "org_id": "org-a"}


def test_the_sender_is_the_device_of_the_topic_whatever_the_payload_claims():
    forged = {**DEVICE_READING, "sender": {"kind": "user", "user_id": "usr-x", "org_id": "org-b", "role": "ADMIN"}}
    _, data = rule.apply(TOPIC, json.dumps(forged).encode(), NOW, ORG_OF)
    assert json.loads(data)["sender"] == SENDER


def test_a_device_the_registry_has_no_organisation_for_fails_the_rule():
    with pytest.raises(rule.RuleError):
        rule.apply(TOPIC, json.dumps(DEVICE_READING).encode(), NOW, lambda device_id: None)


def test_the_template_runs_the_same_sql_and_partition_key(template_rule):
    assert template_rule["Sql"] == rule.SQL
    assert template_rule["AwsIotSqlVersion"] == rule.SQL_VERSION
    (action,) = template_rule["Actions"]
    assert action["Kinesis"]["PartitionKey"] == rule.PARTITION_KEY
    assert action["Kinesis"]["StreamName"] == "TelemetryStream"
    assert rule.TOPIC_FILTER in rule.SQL


def test_a_reading_becomes_the_ingest_record_format():
    key, data = rule.apply(TOPIC, json.dumps(DEVICE_READING).encode(), NOW, ORG_OF)
    record = json.loads(data)
    assert key == "truck-7"
    assert set(record) == READING_FIELDS
    assert record == {
        **DEVICE_READING,
        "device_id": "truck-7",
        "received_at": "2026-01-01T08:30:15.123Z",
        "source": "mqtt",
        "sender": SENDER,
    }


def test_the_topic_wins_over_what_the_device_claims():
    claimed = {**DEVICE_READING, "device_id": "truck-9", "source": "https", "received_at": "1999-01-01T00:00:00Z"}
    key, data = rule.apply(TOPIC, json.dumps(claimed).encode(), NOW, ORG_OF)
    record = json.loads(data)
    assert key == "truck-7"
    assert (record["device_id"], record["source"], record["received_at"]) == (
        "truck-7", "mqtt", "2026-01-01T08:30:15.123Z")


def test_the_payload_is_not_validated_by_the_rule():
    # the stream's consumer validates (and quarantines); the rules engine passes fields on
    key, data = rule.apply(TOPIC, b'{"temperature_c": 500, "extra": [1, 2]}', NOW, ORG_OF)
    assert json.loads(data) == {"temperature_c": 500, "extra": [1, 2], "device_id": "truck-7",
                                "received_at": "2026-01-01T08:30:15.123Z", "source": "mqtt",
                                "sender": SENDER}


def test_an_empty_payload_gets_only_the_rule_fields():
    _, data = rule.apply(TOPIC, b"", NOW, ORG_OF)
    assert json.loads(data) == {"device_id": "truck-7", "received_at": "2026-01-01T08:30:15.123Z", "source": "mqtt",
                                "sender": SENDER}


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b'{"lat": NaN}', b"[1, 2]", b"42", b'"text"', b"{"])
def test_a_payload_that_is_not_a_json_object_fails_the_rule(payload):
    with pytest.raises(rule.RuleError):
        rule.apply(TOPIC, payload, NOW, ORG_OF)


@pytest.mark.parametrize(
    "topic",
    ["pharmaguard/devices//telemetry", "pharmaguard/devices/a/b/telemetry", "pharmaguard/devices/truck-7/status",
     "other/devices/truck-7/telemetry", "pharmaguard/devices/truck-7/telemetry/x"],
)
def test_other_topics_are_not_the_rules(topic):
    assert rule.apply(topic, b"{}", NOW, ORG_OF) is None


def test_received_at_is_rfc3339_utc_with_milliseconds():
    assert rule.format_received_at(0) == "1970-01-01T00:00:00.000Z"
    assert rule.format_received_at(1767225600001) == "2026-01-01T00:00:00.001Z"
    assert rule.timestamp_ms(datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == 1767225600999
