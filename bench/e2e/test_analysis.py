"""Tests of the benchmark's pure part:
localstack/.state/venv/bin/python -m pytest bench/e2e -q -p no:cacheprovider"""

import json
from datetime import datetime, timedelta, timezone

import analysis
from analysis import Delivery, Mail, TruckInfo

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)


def test_times_in_every_form_the_stack_writes():
    assert analysis.parse_time("2026-11-21T10:00:00.371189413Z") == T0.replace(microsecond=371189)
    assert analysis.parse_time("2026-11-21T10:00:00Z") == T0
    assert analysis.parse_time("2026-11-21T10:00:00") == T0  # LocalStack's SES: UTC without an offset
    assert analysis.parse_time("2026-11-21T11:00:00.5+01:00") == T0.replace(microsecond=500000)
    assert analysis.parse_time("2026-11-21T10:00:00.000000000Z") == T0  # the history's sort keys
    assert analysis.parse_time(None) is None
    assert analysis.parse_time("soon") is None
    assert analysis.iso(T0.replace(microsecond=123456)) == "2026-11-21T10:00:00.123Z"


def test_percentiles_take_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    stats = analysis.percentiles(values)
    assert (stats["count"], stats["min"], stats["p50"], stats["p90"], stats["p99"], stats["max"]) == (
        100,
        1,
        50,
        90,
        99,
        100,
    )
    assert stats["mean"] == 50.5
    assert analysis.percentiles([3.0])["p99"] == 3.0
    assert analysis.percentiles([]) == {"count": 0}


def test_the_setup_listing_gives_profiles_and_route_lengths():
    lines = [
        "fleet-sim: 3 trucks, 1 reading(s)/s each over mqtt, seed 7; setting up the world at http://x",
        "fleet-sim: truck  1 fleet-ab12-truck-01 shp-1 Pharma Hub Rotterdam → Charité Berlin (REFRIGERATED, 650 km)",
        "fleet-sim: truck 12 fleet-ab12-truck-12 shp-12 Venlo hub → Uniklinik Köln (FROZEN, 74 km), resumed",
        "  Lowlands Pharma Logistics   MANAGER   manager@x   secret",
    ]
    trucks = analysis.parse_setup_lines(lines)
    assert sorted(trucks) == [1, 12]
    assert trucks[1] == TruckInfo(1, "fleet-ab12-truck-01", "shp-1", "REFRIGERATED", 650.0)
    assert (trucks[12].profile, trucks[12].route_km, trucks[12].shipment_id) == ("FROZEN", 74.0, "shp-12")


def fleet(n):
    profiles = ["REFRIGERATED"] * 7 + ["FROZEN"] * 2 + ["CONTROLLED_ROOM"]
    return [TruckInfo(i, f"d{i}", f"s{i}", profiles[i % 10], float(10 + i)) for i in range(1, n + 1)]


def test_the_incident_plan_of_a_full_run():
    plan = analysis.plan_incidents(fleet(100), 600)
    kinds = [p.split("@")[0] for p in plan]
    assert kinds.count("crash") == 3
    assert kinds.count("compressor-failure") == 3
    assert kinds.count("door-open") == 2
    assert kinds.count("silence") == 1
    trucks = [int(p.split("@")[1].split("+")[0]) for p in plan]
    assert len(set(trucks)) == len(trucks), "one incident per truck"
    crash_times = [int(p.split("+")[1]) for p in plan if p.startswith("crash")]
    assert crash_times == [150, 300, 450]
    profiles = {t.number: t.profile for t in fleet(100)}
    frozen = [p for p in plan if p.startswith("compressor-failure")][:2]
    assert all(profiles[int(p.split("@")[1].split("+")[0])] == "FROZEN" for p in frozen)
    # the longest routes first: truck 98 has the longest frozen route
    assert frozen[0] == "compressor-failure@98+0"


def test_short_runs_and_small_fleets_get_what_fits():
    assert analysis.plan_incidents([], 60) == []
    assert analysis.plan_incidents(fleet(1), 60) == ["crash@1+30"]
    plan = analysis.plan_incidents(fleet(10), 60)
    assert not any(p.startswith("silence") for p in plan), "a silence needs 10 min to raise an alarm"
    assert len(plan) == 4


def envelope(event_id, event_type, alarm_type, severity, shipment, published, reading_ts, received=None):
    alarm_id = event_id.split(":")[0]
    body = {
        "v": 1,
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": analysis.iso(reading_ts),
        "alarm": {"alarm_id": alarm_id, "alarm_type": alarm_type, "severity": severity, "shipment_id": shipment},
        "shipment": {"shipment_id": shipment},
        "context": {
            "reading_ts": analysis.iso(reading_ts),
            "received_at": analysis.iso(received or reading_ts + timedelta(milliseconds=200)),
            "reading_id": "r",
        },
    }
    return {"Type": "Notification", "Message": json.dumps(body), "Timestamp": analysis.iso(published)}


def delivery(*args, **kwargs):
    parsed = analysis.parse_delivery(envelope(*args, **kwargs), args[5] + timedelta(milliseconds=50))
    assert parsed is not None
    return parsed


def test_an_alarm_event_envelope_is_parsed():
    d = delivery("s1#SHOCK#1:RAISED", "alarm.raised", "SHOCK", "CRITICAL", "s1", T0 + timedelta(seconds=3), T0)
    assert (d.event_id, d.alarm_id, d.alarm_type, d.severity, d.shipment_id) == (
        "s1#SHOCK#1:RAISED",
        "s1#SHOCK#1",
        "SHOCK",
        "CRITICAL",
        "s1",
    )
    assert d.published_at - d.reading_ts == timedelta(seconds=3)
    assert analysis.is_mailed(d)
    assert analysis.parse_delivery({"Message": "not json"}, None) is None
    assert analysis.parse_delivery({"Message": json.dumps({"event_type": "shipment.created"})}, None) is None


MAIL_TEXT = """MAJOR alarm on shipment shp-1: COVID-19 vaccine (600 units).

What happened
  Alarm: Device offline (DEVICE_OFFLINE)
  Severity: CRITICAL
  Transition: escalated from MAJOR (alarm.escalated) at 2026-11-21T10:54:36.371189413Z
  Detail: no reading for 22 min
  Alarm id: shp-1#DEVICE_OFFLINE#1795258440000
"""


def test_a_mail_is_tied_to_its_event():
    mail = analysis.parse_mail(
        {
            "Id": "m-1",
            "Destination": {"ToAddresses": ["manager@x"]},
            "Subject": "[CRITICAL] ...",
            "Body": {"text_part": MAIL_TEXT},
            "Timestamp": "2026-11-21T10:00:07",
        }
    )
    assert mail == Mail(
        "m-1",
        "shp-1#DEVICE_OFFLINE#1795258440000:ESCALATED:CRITICAL",
        "shp-1#DEVICE_OFFLINE#1795258440000",
        "manager@x",
        T0 + timedelta(seconds=7.5),
    )
    raised = analysis.parse_mail({"Body": {"text_part": MAIL_TEXT.replace("escalated from MAJOR (alarm.escalated)", "raised (alarm.raised)")}})
    assert raised.event_id == "shp-1#DEVICE_OFFLINE#1795258440000:RAISED"
    cleared = analysis.parse_mail({"Body": {"text_part": MAIL_TEXT.replace("(alarm.escalated)", "(alarm.cleared)")}})
    assert cleared.event_id.endswith(":CLEARED")
    assert analysis.parse_mail({"Body": {"text_part": "hello"}}) is None
    reminder = {"Subject": "[REMINDER 1] [CRITICAL] Device offline ...", "Body": {"text_part": MAIL_TEXT}}
    assert analysis.parse_mail(reminder) is None
    assert analysis.shipment_of_alarm("shp-1#SHOCK#17") == "shp-1"


def test_alarm_figures_tell_redeliveries_duplicates_and_latency_apart():
    shock = "s1#SHOCK#1"
    deliveries = [
        delivery(f"{shock}:RAISED", "alarm.raised", "SHOCK", "CRITICAL", "s1", T0 + timedelta(seconds=2), T0),
        # SNS delivered the same event again: not a second alarm
        delivery(f"{shock}:RAISED", "alarm.raised", "SHOCK", "CRITICAL", "s1", T0 + timedelta(seconds=5), T0),
        # a second shock alarm for the same crash: a duplicate alarm
        delivery("s1#SHOCK#2:RAISED", "alarm.raised", "SHOCK", "CRITICAL", "s1", T0 + timedelta(seconds=9), T0 + timedelta(seconds=1)),
        delivery("s2#PRE_EXCURSION#5:RAISED", "alarm.raised", "PRE_EXCURSION", "WARNING", "s2", T0 + timedelta(seconds=4), T0),
        # the trucks stopped at T0 + 60 s: offline 10 min later is the end of the run
        delivery("s3#DEVICE_OFFLINE#9:RAISED", "alarm.raised", "DEVICE_OFFLINE", "MAJOR", "s3", T0 + timedelta(minutes=11), T0 + timedelta(seconds=59)),
        # the silence incident's offline alarm, 20 s after it was due
        delivery("s4#DEVICE_OFFLINE#9:RAISED", "alarm.raised", "DEVICE_OFFLINE", "MAJOR", "s4", T0 + timedelta(minutes=10, seconds=20), T0),
    ]
    expected = [
        {"shipment_id": "s1", "alarm_type": "SHOCK", "severity": "CRITICAL", "transition": "RAISED", "alarm_id": shock},
        {"shipment_id": "s2", "alarm_type": "PRE_EXCURSION", "severity": "WARNING", "transition": "RAISED", "alarm_id": "s2#PRE_EXCURSION#5"},
        {"shipment_id": "s4", "alarm_type": "DEVICE_OFFLINE", "severity": "MAJOR", "transition": "RAISED", "alarm_id": None, "due_at": "x"},
        {"shipment_id": "s5", "alarm_type": "SHOCK", "severity": "CRITICAL", "transition": "RAISED", "alarm_id": "s5#SHOCK#3"},
    ]
    items = [
        {"shipment_id": "s1", "alarm_type": "SHOCK", "alarm_id": shock},
        {"shipment_id": "s1", "alarm_type": "SHOCK", "alarm_id": "s1#SHOCK#2"},
        {"shipment_id": "s2", "alarm_type": "PRE_EXCURSION", "alarm_id": "s2#PRE_EXCURSION#5"},
    ]
    mails = [
        Mail("m1", f"{shock}:RAISED", shock, "a@x", T0 + timedelta(seconds=4)),
        Mail("m2", f"{shock}:RAISED", shock, "b@x", T0 + timedelta(seconds=6)),
        Mail("m3", "s4#DEVICE_OFFLINE#9:RAISED", "s4#DEVICE_OFFLINE#9", "a@x", T0 + timedelta(minutes=10, seconds=25)),
    ]
    report = analysis.analyse_alarms(deliveries, expected, items, mails, T0 + timedelta(seconds=60))
    assert report["events"]["distinct"] == 5
    assert report["events"]["sns_redeliveries"] == 1
    assert report["duplicate_alarms"]["second_raise_for_same_incident"] == ["s1#SHOCK#2:RAISED"]
    assert report["duplicate_alarms"]["alarm_items_beyond_expected"] == {"s1#SHOCK": 2}
    assert report["duplicate_alarms"]["count"] == 2
    assert report["offline_after_run_end"] == ["s3#DEVICE_OFFLINE#9:RAISED"]
    assert report["unexpected_raises"] == []
    assert report["expected"]["matched"] == 3
    assert report["expected"]["missing"] == ["s5#SHOCK#3:RAISED"]
    assert report["alarm_items"]["raised_without_item"] == ["s3#DEVICE_OFFLINE#9", "s4#DEVICE_OFFLINE#9"]
    latency = report["latency_s"]
    # the first copy of an event counts; offline raises are measured from when they were due
    assert latency["reading_ts_to_event"]["count"] == 3
    assert (latency["reading_ts_to_event"]["min"], latency["reading_ts_to_event"]["max"]) == (2, 8)
    assert latency["offline_due_to_event"]["count"] == 2
    assert latency["reading_ts_to_email"] == analysis.percentiles([4.0, 6.0])
    assert latency["offline_due_to_email"] == analysis.percentiles([25.0])
    assert report["mails"]["mailed_events"] == 4  # two shocks, two offline (MAJOR and up)
    assert sorted(report["mails"]["events_without_mail"]) == ["s1#SHOCK#2:RAISED", "s3#DEVICE_OFFLINE#9:RAISED"]


def test_readings_accepted_against_stored():
    summary = {"transport": "mqtt", "totals": {"sent": 1060, "accepted": 1060, "failed": 0, "duplicates": 10, "malformed": 50}}
    report = analysis.analyse_readings(summary, {"rows": 1000, "distinct": 1000}, 50, 0)
    assert (report["readings_sent"], report["readings_accepted"], report["readings_stored"]) == (1000, 1000, 1000)
    assert report["extra_rows"] == 0
    assert report["verdict"] == "every reading sent was stored exactly once"
    assert report["malformed_not_forwarded_by_broker"] == 50

    # unacknowledged at the end: the accepted readings are only bounded
    summary["totals"]["failed"] = 7
    report = analysis.analyse_readings(summary, {"rows": 990, "distinct": 990}, 50, 0)
    assert report["readings_accepted"] is None
    assert report["readings_accepted_at_least"] == 993
    assert report["accepted_not_stored_at_least"] == 3
    assert report["verdict"].startswith("LOST: at least 3 ")
    report = analysis.analyse_readings(summary, {"rows": 990, "distinct": 990}, 50, 0, drained=False)
    assert report["verdict"].startswith("NOT DRAINED: at least 3 ")
    report = analysis.analyse_readings(summary, {"rows": 995, "distinct": 995}, 50, 0)
    assert report["verdict"].startswith("stored 995 of 1000 readings sent; the 5 missing may be among the 7")
    report = analysis.analyse_readings(summary, {"rows": 1000, "distinct": 1000}, 50, 0)
    assert report["verdict"].startswith("every reading sent was stored exactly once (so every accepted one")
    report = analysis.analyse_readings(summary, {"rows": 1002, "distinct": 1000}, 50, 0)
    assert report["verdict"].startswith("EXTRA ROWS: 2 ")


def test_usage_counts_requests_and_invocations_in_the_window():
    lines = [
        "2026-11-21T09:59:59.000  INFO --- [et.reactor-0] localstack.request.aws     : AWS kinesis.PutRecords => 200",
        "2026-11-21T10:00:01.000  INFO --- [et.reactor-0] localstack.request.aws     : AWS kinesis.PutRecords => 200",
        "2026-11-21T10:00:02.000  INFO --- [et.reactor-1] localstack.request.aws     : AWS dynamodb.BatchWriteItem => 200",
        "2026-11-21T10:00:03.000  INFO --- [et.reactor-1] localstack.request.aws     : AWS dynamodb.BatchWriteItem => 400",
        "2026-11-21T10:00:04.000  INFO --- [   Thread-9] pharmaguard_localstack.host_executor : "
        "[pharmaguard-local-detector] REPORT RequestId: 1f\tDuration: 12.50 ms\tMemory Size: 256 MB",
        "2026-11-21T10:00:05.000  INFO --- [   Thread-9] pharmaguard_localstack.host_executor : "
        "[pharmaguard-local-detector] REPORT RequestId: 2f\tDuration: 7.50 ms\tMemory Size: 256 MB",
        "2026-11-21T10:00:06.000  INFO --- [   Thread-9] pharmaguard_localstack.host_executor : "
        "[pharmaguard-local-detector] handling 3f",
        "2026-11-21T10:01:01.000  INFO --- [et.reactor-0] localstack.request.aws     : AWS kinesis.PutRecords => 200",
    ]
    report = analysis.usage(lines, T0, T0 + timedelta(minutes=1))
    assert report["requests"] == {
        "dynamodb.BatchWriteItem": {"count": 2, "errors": 1},
        "kinesis.PutRecords": {"count": 1, "errors": 0},
    }
    detector = report["invocations"]["pharmaguard-local-detector"]
    assert (detector["count"], detector["total_ms"], detector["memory_mb"], detector["p50"]) == (2, 20.0, 256, 7.5)
    shares = analysis.per_reading(report, 4)
    assert shares["requests"]["dynamodb.BatchWriteItem"] == 0.5
    assert shares["invocations"]["pharmaguard-local-detector"] == 0.5
    assert shares["lambda_ms"]["pharmaguard-local-detector"] == 5.0
    assert analysis.per_reading(report, 0) == {}


def test_batch_phases_add_up_the_detector_log_lines():
    def line(records, decode, history):
        fields = {"message": "telemetry batch processed", "records": records, "decode_ms": decode, "history_ms": history}
        return "START x\n" if records is None else json.dumps({"level": "INFO", "fields": fields})

    lines = [line(100, 2.0, 30.0), "not json {", line(300, 6.0, 90.0), '{"fields": {"message": "other"}}']
    report = analysis.batch_phases(lines)
    assert (report["batches"], report["records"]) == (2, 400)
    assert report["phases"]["decode_ms"]["total_ms"] == 8.0
    assert report["phases"]["history_ms"]["ms_per_record"] == 0.3
    assert report["phases"]["history_ms"]["per_batch"]["max"] == 90.0
    assert "rules_ms" not in report["phases"]
    assert analysis.batch_phases([])["batches"] == 0
    hop = {"message": "telemetry batch processed", "records": 5, "ingest_ms": 40.0, "stream_ms": 900.0}
    report = analysis.batch_phases([json.dumps({"fields": hop}), lines[0]])
    assert report["hops"]["stream_ms"]["max"] == 900.0
    assert report["hops"]["ingest_ms"]["count"] == 1, "batches without the field do not count"


def test_item_sizes_follow_dynamodbs_rules():
    assert analysis.item_size({"pk": {"S": "SHIP#1"}}) == 2 + 6
    assert analysis.item_size({"n": {"N": "123.45"}}) == 1 + 4  # 5 digits → 3 + 1
    assert analysis.item_size({"ok": {"BOOL": True}, "x": {"NULL": True}}) == 3 + 2
    nested = {"m": {"M": {"a": {"S": "xy"}, "l": {"L": [{"N": "1"}, {"S": "z"}]}}}}
    # m: 1 + (3 + (a: 1 + 2 + 1) + (l: 1 + (3 + (1+1) + 1 + (1) + 1) + 1))
    assert analysis.item_size(nested) == 1 + 3 + 4 + (1 + 3 + 2 + 1 + 1 + 1 + 1)
