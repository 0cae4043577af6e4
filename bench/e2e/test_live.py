"""Tests of the WebSocket hop's pure part:
localstack/.state/venv/bin/python -m pytest bench/e2e -q -p no:cacheprovider"""

import json
from datetime import datetime, timedelta, timezone

import live
from analysis import Delivery

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)


def frame(kind: str, event_id: str, shipment: str = "shp-1", ts: str | None = None) -> str:
    data = {"event_type": kind}
    if ts:
        data["latest"] = {"reading_id": "r", "ts": ts}
    return json.dumps({"v": 1, "type": kind, "id": event_id, "shipment_id": shipment, "data": data})


def delivery(event_id: str, published: datetime, reading_ts: datetime) -> Delivery:
    return Delivery(
        event_id=event_id,
        event_type="alarm.raised",
        alarm_id="a",
        alarm_type="SHOCK",
        severity="CRITICAL",
        shipment_id="shp-1",
        published_at=published,
        received_at=None,
        reading_ts=reading_ts,
        reading_received_at=None,
        reading_id="r",
        occurred_at=None,
    )


def test_frames_are_read_and_replies_ignored():
    push = live.parse_push(frame("tracking.updated", "shp-1:v3", ts="2026-11-21T10:00:00Z"), T0)
    assert (push.type, push.id, push.shipment_id, push.reading_ts) == ("tracking.updated", "shp-1:v3", "shp-1", T0)
    assert live.parse_push('{"v":1,"type":"pong"}', T0) is None
    assert live.parse_push("not json", T0) is None
    assert live.parse_push("[1, 2]", T0) is None


def test_latency_of_positions_and_alarm_pushes_counts_each_push_once():
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    pushes = [
        live.parse_push(frame("tracking.updated", "shp-1:v2", ts="2026-11-21T10:00:00Z"), at(1.5)),
        live.parse_push(frame("tracking.updated", "shp-1:v2", ts="2026-11-21T10:00:00Z"), at(9)),  # again
        live.parse_push(frame("tracking.updated", "shp-1:v3", ts="2026-11-21T10:00:01Z"), at(3)),
        live.parse_push(frame("alarm.raised", "a:RAISED"), at(4)),
        live.parse_push(frame("alarm.raised", "unknown:RAISED"), at(4)),
    ]
    report = live.push_latency(pushes, [delivery("a:RAISED", at(3.5), at(1))])
    assert (report["pushes"], report["distinct"]) == (5, 4)
    assert report["by_type"] == {"alarm.raised": 2, "tracking.updated": 2}
    position = report["reading_ts_to_position_push"]
    assert (position["count"], position["min"], position["max"]) == (2, 1.5, 2.0)
    assert report["event_to_push"]["max"] == 0.5
    assert report["reading_ts_to_alarm_push"]["max"] == 3.0
