"""The pure part of the end-to-end benchmark: the incident plan, parsing the
alarm events and the mails, matching them to the readings that caused them,
and the figures (counts, duplicates, latency percentiles). No I/O here; the
tests in test_analysis.py cover it."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# The platform's defaults (shared/domain/src/coldchain): a device in transit is
# offline after 10 minutes without a reading; the offline check runs every minute.
OFFLINE_AFTER = timedelta(minutes=10)
# Alarm events the emailer mails: raises and escalations at these severities,
# and the all-clear of an alarm that had one of them.
MAILED_SEVERITIES = ("MAJOR", "CRITICAL")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time (any number of fractional digits; `Z` or an offset)
    as an aware UTC datetime; a time without an offset is taken as UTC."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", value)
    if match:
        head, fraction, rest = match.groups()
        if fraction:
            fraction = fraction[:7]  # Python keeps microseconds
        value = head + (fraction or "") + rest
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def iso(at: datetime | None) -> str | None:
    """A datetime as RFC 3339 UTC with milliseconds."""
    if at is None:
        return None
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentiles(values: list[float]) -> dict:
    """count, min, p50, p90, p99 and max of `values` (nearest rank: the
    smallest value with at least p % of the values at or below it), and the mean."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "min": round(ordered[0], 3),
        "p50": round(rank(50), 3),
        "p90": round(rank(90), 3),
        "p99": round(rank(99), 3),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


# ------------------------------------------------------------------ incidents


@dataclass
class TruckInfo:
    """A truck as fleet-sim set it up: its number, device, shipment, profile
    and route length."""

    number: int
    device_id: str
    shipment_id: str
    profile: str
    route_km: float = 0.0


SETUP_LINE = re.compile(
    r"^fleet-sim: truck\s+(\d+) (\S+) (\S+) .* \((REFRIGERATED|FROZEN|CONTROLLED_ROOM|[A-Z_]+), (\d+) km\)"
)


def parse_setup_lines(lines: list[str]) -> dict[int, TruckInfo]:
    """The trucks of fleet-sim's set-up listing
    (`fleet-sim: truck  3 <device> <shipment> A → B (FROZEN, 120 km)`)."""
    trucks = {}
    for line in lines:
        match = SETUP_LINE.match(line.strip())
        if match:
            number, device, shipment, profile, km = match.groups()
            trucks[int(number)] = TruckInfo(int(number), device, shipment, profile, float(km))
    return trucks


def plan_incidents(trucks: list[TruckInfo], seconds: float) -> list[str]:
    """Scripted incidents (fleet-sim `--incident` values) that make alarms
    within a run of `seconds`, on trucks with long routes (so they are still
    on their way), each truck at most once:

    - crashes, spread over the run: SHOCK (CRITICAL, mailed) at once;
    - compressor failures from the start, on frozen cargo first: the cargo
      leaves −25…−15 °C after about 4.5 min and TEMPERATURE_EXCURSION (MAJOR,
      mailed) follows the 10 min alarm delay, at about 14.5 min; before that
      the trend raises PRE_EXCURSION (WARNING) within a few minutes;
    - one compressor failure on refrigerated cargo (out of 2–8 °C after about
      6 min, excursion alarm after another 15 min);
    - open doors on refrigerated cargo: PRE_EXCURSION within minutes;
    - one silence from 15 s (runs of 8 min or more): DEVICE_OFFLINE (MAJOR,
      mailed) due 10 min after the last reading, raised by the next offline
      check.
    """
    n = len(trucks)
    if n == 0:
        return []
    ordered = sorted(trucks, key=lambda t: (-t.route_km, t.number))
    used: set[int] = set()

    def take(profiles: tuple[str, ...], count: int) -> list[TruckInfo]:
        chosen = []
        for wanted in profiles:
            for truck in ordered:
                if len(chosen) == count:
                    return chosen
                if truck.number not in used and truck.profile == wanted:
                    used.add(truck.number)
                    chosen.append(truck)
        for truck in ordered:  # any profile when the wanted ones ran out
            if len(chosen) == count:
                break
            if truck.number not in used:
                used.add(truck.number)
                chosen.append(truck)
        return chosen

    plan = []
    crashes = max(1, n // 30)
    for i, truck in enumerate(take(("REFRIGERATED", "CONTROLLED_ROOM", "FROZEN"), crashes)):
        at = int(seconds * (i + 1) / (crashes + 1))
        plan.append(f"crash@{truck.number}+{at}")
    if n >= 2:
        for truck in take(("FROZEN",), max(1, n // 50)):
            plan.append(f"compressor-failure@{truck.number}+0")
    if n >= 3:
        for truck in take(("REFRIGERATED",), 1):
            plan.append(f"compressor-failure@{truck.number}+0")
    if n >= 4:
        for truck in take(("REFRIGERATED",), max(1, n // 50)):
            plan.append(f"door-open@{truck.number}+10")
    if n >= 5 and seconds >= 8 * 60:
        for truck in take(("REFRIGERATED", "FROZEN", "CONTROLLED_ROOM"), 1):
            plan.append(f"silence@{truck.number}+15")
    return plan


# ------------------------------------------------------------------ alarm events


@dataclass
class Delivery:
    """One SNS delivery of an alarm event to the benchmark's queue."""

    event_id: str
    event_type: str
    alarm_id: str
    alarm_type: str
    severity: str
    shipment_id: str
    published_at: datetime | None
    received_at: datetime | None  # when the benchmark's queue gave it
    reading_ts: datetime | None
    reading_received_at: datetime | None
    reading_id: str | None
    occurred_at: datetime | None


def parse_delivery(envelope: dict, received_at: datetime | None) -> Delivery | None:
    """The SNS envelope (JSON of the SQS body) of an alarm event; `None` when
    it is not one."""
    import json

    try:
        event = json.loads(envelope.get("Message") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(event, dict) or not str(event.get("event_type", "")).startswith("alarm."):
        return None
    alarm = event.get("alarm") or {}
    shipment = event.get("shipment") or {}
    context = event.get("context") or {}
    return Delivery(
        event_id=str(event.get("event_id", "")),
        event_type=str(event.get("event_type", "")),
        alarm_id=str(alarm.get("alarm_id", "")),
        alarm_type=str(alarm.get("alarm_type", "")),
        severity=str(alarm.get("severity", "")),
        shipment_id=str(shipment.get("shipment_id") or alarm.get("shipment_id") or ""),
        published_at=parse_time(envelope.get("Timestamp")),
        received_at=received_at,
        reading_ts=parse_time(context.get("reading_ts")),
        reading_received_at=parse_time(context.get("received_at")),
        reading_id=context.get("reading_id"),
        occurred_at=parse_time(event.get("occurred_at")),
    )


def is_mailed(delivery: Delivery) -> bool:
    """Whether the emailer mails this event (raised, escalated or cleared at
    MAJOR or CRITICAL; acknowledgements never)."""
    return delivery.event_type in ("alarm.raised", "alarm.escalated", "alarm.cleared") and (
        delivery.severity in MAILED_SEVERITIES
    )


# ------------------------------------------------------------------ mails

# See parse_mail.
MAIL_TIMESTAMP_CORRECTION = timedelta(milliseconds=500)
MAIL_ALARM_ID = re.compile(r"^\s*Alarm id:\s*(\S+)\s*$", re.MULTILINE)
MAIL_SEVERITY = re.compile(r"^\s*Severity:\s*(\S+)\s*$", re.MULTILINE)
MAIL_TRANSITION = re.compile(r"^\s*Transition:.*\((alarm\.[a-z]+)\)", re.MULTILINE)


@dataclass
class Mail:
    """One mail the emailer sent (as LocalStack's SES keeps it)."""

    message_id: str
    event_id: str
    alarm_id: str
    to: str
    sent_at: datetime | None  # LocalStack's timestamp (whole seconds) + 0.5 s


def parse_mail(message: dict) -> Mail | None:
    """A mail of `GET /_aws/ses` tied to its alarm event: the body names the
    alarm id, the severity and the transition (`alarm.raised`, ...), which
    make the event id (`<alarm id>:RAISED`, `:ESCALATED:<severity>`, `:CLEARED`).
    Reminders of unacknowledged alarms (`[REMINDER n] …`) are no event's mail:
    `None`."""
    if str(message.get("Subject") or "").startswith("[REMINDER"):
        return None  # a step of an escalation chain, not the mail of an event
    body = message.get("Body") or {}
    text = body.get("text_part") or ""
    alarm = MAIL_ALARM_ID.search(text)
    transition = MAIL_TRANSITION.search(text)
    severity = MAIL_SEVERITY.search(text)
    if not (alarm and transition):
        return None
    alarm_id = alarm.group(1)
    kind = transition.group(1)
    if kind == "alarm.raised":
        event_id = f"{alarm_id}:RAISED"
    elif kind == "alarm.escalated":
        event_id = f"{alarm_id}:ESCALATED:{severity.group(1) if severity else ''}"
    elif kind == "alarm.cleared":
        event_id = f"{alarm_id}:CLEARED"
    else:
        event_id = f"{alarm_id}:ACKNOWLEDGED"
    destination = message.get("Destination") or {}
    to = ",".join(destination.get("ToAddresses") or [])
    # LocalStack stamps a mail in whole seconds, truncated: it was sent within
    # the second after; take the middle of it
    sent_at = parse_time(message.get("Timestamp"))
    if sent_at is not None and sent_at.microsecond == 0:
        sent_at += MAIL_TIMESTAMP_CORRECTION
    return Mail(
        message_id=str(message.get("Id", "")),
        event_id=event_id,
        alarm_id=alarm_id,
        to=to,
        sent_at=sent_at,
    )


def shipment_of_alarm(alarm_id: str) -> str:
    """The shipment of an alarm id (`<shipment id>#<type>#<raised, epoch ms>`)."""
    return alarm_id.split("#", 1)[0]


# ------------------------------------------------------------------ the figures


def analyse_alarms(
    deliveries: list[Delivery],
    expected: list[dict],
    alarm_items: list[dict],
    mails: list[Mail],
    run_end: datetime | None,
) -> dict:
    """The alarm part of the report.

    - `deliveries`: every SNS delivery of the run's shipments (an event id
      seen twice is an SNS redelivery, counted apart and dropped);
    - `expected`: fleet-sim's `expected_alarms` (the readings after which its
      own copy of the rules raised or escalated an alarm);
    - `alarm_items`: the alarms table's items of the run's shipments;
    - `mails`: the mails of the run's shipments;
    - `run_end`: when the trucks stopped (offline alarms due later come from
      the end of the run, not from an incident).
    """
    by_id: dict[str, Delivery] = {}
    copies: Counter[str] = Counter()
    for delivery in deliveries:
        copies[delivery.event_id] += 1
        first = by_id.get(delivery.event_id)
        if first is None or (
            delivery.published_at and first.published_at and delivery.published_at < first.published_at
        ):
            by_id[delivery.event_id] = delivery
    events = list(by_id.values())
    redelivered = {event_id: n for event_id, n in copies.items() if n > 1}

    by_type = Counter(e.event_type for e in events)
    by_alarm_type = Counter(f"{e.event_type} {e.alarm_type} {e.severity}" for e in events)

    # raises per (shipment, alarm type) against what the rules expect
    raised: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for event in events:
        if event.event_type == "alarm.raised":
            raised[(event.shipment_id, event.alarm_type)].append(event)
    expected_raises: Counter[tuple[str, str]] = Counter(
        (e["shipment_id"], e["alarm_type"]) for e in expected if e.get("transition") == "RAISED"
    )
    duplicate_raises = []
    unexpected_raises = []
    after_run = []
    for key, found in sorted(raised.items()):
        want = expected_raises.get(key, 0)
        if want == 0:
            for event in found:
                if (
                    event.alarm_type == "DEVICE_OFFLINE"
                    and run_end is not None
                    and event.reading_ts is not None
                    and event.reading_ts + OFFLINE_AFTER > run_end
                ):
                    after_run.append(event.event_id)  # the trucks stopped with the run
                else:
                    unexpected_raises.append(event.event_id)
        elif len(found) > want:
            extra = sorted(found, key=lambda e: e.occurred_at or datetime.min.replace(tzinfo=timezone.utc))
            duplicate_raises.extend(e.event_id for e in extra[want:])

    # the expected transitions, matched by event id (offline: by shipment and type)
    matched, missing = [], []
    for want in expected:
        if want.get("alarm_id"):
            if want.get("transition") == "ESCALATED":
                event_id = f"{want['alarm_id']}:ESCALATED:{want['severity']}"
            else:
                event_id = f"{want['alarm_id']}:RAISED"
            (matched if event_id in by_id else missing).append(event_id)
        else:
            key = (want["shipment_id"], want["alarm_type"])
            hits = [e.event_id for e in raised.get(key, [])]
            label = f"{want['shipment_id']}#{want['alarm_type']} due {want.get('due_at')}"
            (matched if hits else missing).append(hits[0] if hits else label)

    # the alarms table: one item per alarm id; every raised alarm should have one
    items_by_key: Counter[tuple[str, str]] = Counter()
    item_ids = set()
    for item in alarm_items:
        items_by_key[(item.get("shipment_id", ""), item.get("alarm_type", ""))] += 1
        item_ids.add(item.get("alarm_id"))
    raised_ids = {e.alarm_id for e in events if e.event_type == "alarm.raised"}
    duplicate_items = {
        f"{shipment}#{alarm_type}": n
        for (shipment, alarm_type), n in items_by_key.items()
        if n > max(1, expected_raises.get((shipment, alarm_type), 0))
    }

    # latency: reading-caused events vs the offline check's
    reading_caused = [
        e
        for e in events
        if not (e.alarm_type == "DEVICE_OFFLINE" and e.event_type in ("alarm.raised", "alarm.escalated"))
        and e.event_type != "alarm.acknowledged"
    ]
    from_ts = [
        (e.published_at - e.reading_ts).total_seconds() for e in reading_caused if e.published_at and e.reading_ts
    ]
    from_received = [
        (e.published_at - e.reading_received_at).total_seconds()
        for e in reading_caused
        if e.published_at and e.reading_received_at
    ]
    to_queue = [
        (e.received_at - e.reading_ts).total_seconds() for e in reading_caused if e.received_at and e.reading_ts
    ]
    offline = []
    for e in events:
        if e.alarm_type == "DEVICE_OFFLINE" and e.event_type == "alarm.raised" and e.published_at and e.reading_ts:
            offline.append((e.published_at - (e.reading_ts + OFFLINE_AFTER)).total_seconds())

    latency_by_kind = {}
    for kind in sorted({(e.event_type, e.alarm_type) for e in reading_caused}):
        values = [
            (e.published_at - e.reading_ts).total_seconds()
            for e in reading_caused
            if (e.event_type, e.alarm_type) == kind and e.published_at and e.reading_ts
        ]
        latency_by_kind[f"{kind[0]} {kind[1]}"] = percentiles(values)

    # mails: each mail against its event's causing reading
    mailed_events = [e for e in events if is_mailed(e)]
    mails_by_event: dict[str, list[Mail]] = defaultdict(list)
    for mail in mails:
        mails_by_event[mail.event_id].append(mail)
    mail_latency, mail_latency_offline, event_to_mail = [], [], []
    for event in mailed_events:
        for mail in mails_by_event.get(event.event_id, []):
            if mail.sent_at is None:
                continue
            if event.alarm_type == "DEVICE_OFFLINE" and event.event_type != "alarm.cleared":
                if event.reading_ts:
                    mail_latency_offline.append((mail.sent_at - (event.reading_ts + OFFLINE_AFTER)).total_seconds())
            elif event.reading_ts:
                mail_latency.append((mail.sent_at - event.reading_ts).total_seconds())
            if event.published_at:
                event_to_mail.append((mail.sent_at - event.published_at).total_seconds())
    unmailed = [e.event_id for e in mailed_events if not mails_by_event.get(e.event_id)]
    mails_per_event = Counter(len(mails_by_event.get(e.event_id, [])) for e in mailed_events)
    mails_twice = {
        event_id: [m.to for m in found]
        for event_id, found in mails_by_event.items()
        if len({m.to for m in found}) < len(found)
    }
    mails_without_event = sorted({m.event_id for m in mails} - set(by_id))

    return {
        "events": {
            "distinct": len(events),
            "deliveries": len(deliveries),
            "sns_redeliveries": sum(n - 1 for n in redelivered.values()),
            "redelivered_event_ids": sorted(redelivered),
            "by_event_type": dict(sorted(by_type.items())),
            "by_kind": dict(sorted(by_alarm_type.items())),
        },
        "expected": {
            "transitions": len(expected),
            "matched": len(matched),
            "missing": missing,
        },
        "duplicate_alarms": {
            "second_raise_for_same_incident": duplicate_raises,
            "alarm_items_beyond_expected": duplicate_items,
            "count": len(duplicate_raises) + len(duplicate_items),
        },
        "unexpected_raises": unexpected_raises,
        "offline_after_run_end": after_run,
        "alarm_items": {
            "count": len(alarm_items),
            "raised_without_item": sorted(raised_ids - item_ids),
        },
        "latency_s": {
            "reading_ts_to_event": percentiles(from_ts),
            "received_at_to_event": percentiles(from_received),
            "reading_ts_to_queue": percentiles(to_queue),
            "by_kind_reading_ts_to_event": latency_by_kind,
            "offline_due_to_event": percentiles(offline),
            "reading_ts_to_email": percentiles(mail_latency),
            "offline_due_to_email": percentiles(mail_latency_offline),
            "event_to_email": percentiles(event_to_mail),
        },
        "mails": {
            "mailed_events": len(mailed_events),
            "mails": sum(len(mails_by_event.get(e.event_id, [])) for e in mailed_events),
            "events_without_mail": unmailed,
            "mails_per_event": {str(k): v for k, v in sorted(mails_per_event.items())},
            "same_recipient_twice": mails_twice,
            "mails_without_event": mails_without_event,
        },
    }


def analyse_readings(
    summary: dict,
    stored: dict,
    malformed_dropped: int | None,
    rejected_queue_delta: int | None,
    drained: bool = True,
) -> dict:
    """The readings part of the report.

    - `summary`: fleet-sim's summary (`totals`: sent, accepted, rejected,
      failed, duplicates, malformed);
    - `stored`: {"rows": history rows of the run's shipments and devices,
      "distinct": distinct reading ids among them};
    - `malformed_dropped`: malformed MQTT messages the broker did not forward
      (its "telemetry rule failed" lines for the run's devices);
    - `rejected_queue_delta`: growth of the rejected-telemetry queue;
    - `drained`: whether the pipeline caught up before the benchmark stopped
      waiting (if not, a reading not stored may still be on its way).

    Every record fleet-sim sends is a reading (its first send: a new reading
    id), a duplicate (the same reading again) or a malformed record. So the
    readings sent = sent − duplicates − malformed, each with its own id. A
    record counts as accepted when the transport acknowledged it; `failed` ones
    were not (given up, or still unacknowledged when the run ended).
    """
    totals = summary.get("totals", {})
    sent = totals.get("sent", 0)
    duplicates = totals.get("duplicates", 0)
    malformed = totals.get("malformed", 0)
    failed = totals.get("failed", 0)
    accepted = totals.get("accepted", 0)
    rejected = totals.get("rejected", 0)
    transport = summary.get("transport")
    readings_sent = sent - duplicates - malformed
    # a failed record may have been a reading: at least this many readings were acknowledged
    # (over MQTT the broker acknowledges malformed messages too, over HTTPS the API rejects them)
    accepted_readings_min = max(0, readings_sent - failed)
    rows = stored.get("rows", 0)
    distinct = stored.get("distinct", 0)
    exact = failed == 0
    lost_at_least = max(0, accepted_readings_min - distinct)
    if distinct == readings_sent and rows == distinct:
        verdict = "every reading sent was stored exactly once" + (
            "" if exact else f" (so every accepted one, whatever the {failed} unacknowledged records were)"
        )
    elif lost_at_least > 0 and not drained:
        verdict = (
            f"NOT DRAINED: at least {lost_at_least} acknowledged readings were not stored yet "
            "when the benchmark stopped waiting"
        )
    elif lost_at_least > 0:
        verdict = f"LOST: at least {lost_at_least} acknowledged readings are not stored"
    elif rows > distinct:
        verdict = f"EXTRA ROWS: {rows - distinct} readings are stored more than once"
    elif distinct > readings_sent:
        verdict = f"UNKNOWN ROWS: {distinct - readings_sent} more readings stored than sent"
    else:
        verdict = (
            f"stored {distinct} of {readings_sent} readings sent; the {readings_sent - distinct} missing "
            f"may be among the {failed} records never acknowledged"
        )
    return {
        "transport": transport,
        "records_sent": sent,
        "records_acknowledged": accepted,
        "records_failed": failed,
        "records_rejected_by_api": rejected,
        "readings_sent": readings_sent,
        "readings_accepted": readings_sent if exact else None,
        "readings_accepted_at_least": accepted_readings_min,
        "readings_stored": distinct,
        "history_rows": rows,
        "extra_rows": rows - distinct,
        "accepted_not_stored_at_least": lost_at_least,
        "stored_minus_sent": distinct - readings_sent,
        "duplicates_sent": duplicates,
        "malformed_sent": malformed,
        "malformed_rejected_by_api": rejected if transport == "https" else None,
        "malformed_not_forwarded_by_broker": malformed_dropped if transport == "mqtt" else None,
        "rejected_telemetry_queue_growth": rejected_queue_delta,
        "verdict": verdict,
    }


# ------------------------------------------------------------------ usage (what a run cost)

# LocalStack's log: every AWS request it served, and (from the host executor) every
# invocation's REPORT line, each stamped with LocalStack's UTC clock.
REQUEST_LINE = re.compile(r"^(\S+)\s+\w+\s+---\s+\[[^\]]*\]\s+localstack\.request\.aws\s*: AWS (\S+) => (\d+)")
REPORT_LINE = re.compile(r"^(\S+)\s.*\[([^\]\s]+)\] REPORT RequestId: \S+\s+Duration: ([\d.]+) ms(?:\s+Memory Size: (\d+) MB)?")


def usage(lines: list[str], since: datetime, until: datetime) -> dict:
    """The requests LocalStack served between `since` and `until`, per
    `service.Operation` (count, and how many answered an error), and the
    function invocations in that time, per function (count, duration
    percentiles in ms, total ms, memory size)."""
    requests: dict[str, dict] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    memory: dict[str, int] = {}
    for line in lines:
        request = REQUEST_LINE.match(line)
        report = None if request else REPORT_LINE.match(line)
        match = request or report
        if not match:
            continue
        at = parse_time(match.group(1))
        if at is None or not since <= at <= until:
            continue
        if request:
            entry = requests.setdefault(request.group(2), {"count": 0, "errors": 0})
            entry["count"] += 1
            entry["errors"] += int(request.group(3)) >= 400
        else:
            durations[report.group(2)].append(float(report.group(3)))
            if report.group(4):
                memory[report.group(2)] = int(report.group(4))
    invocations = {
        name: {**percentiles(values), "total_ms": round(sum(values), 1), "memory_mb": memory.get(name)}
        for name, values in sorted(durations.items())
    }
    return {"requests": dict(sorted(requests.items())), "invocations": invocations}


def per_reading(usage_report: dict, readings: int) -> dict:
    """`usage` divided by the readings stored: requests and invocations per
    reading, and Lambda milliseconds per reading (per function)."""
    if readings <= 0:
        return {}
    return {
        "requests": {name: round(entry["count"] / readings, 4) for name, entry in usage_report["requests"].items()},
        "invocations": {
            name: round(entry["count"] / readings, 4) for name, entry in usage_report["invocations"].items()
        },
        "lambda_ms": {
            name: round(entry["total_ms"] / readings, 4) for name, entry in usage_report["invocations"].items()
        },
    }


# ------------------------------------------------------------------ the detector's batches

PHASES = (
    "decode_ms",
    "lookup_ms",
    "history_ms",
    "shipments_ms",
    "tracking_load_ms",
    "rules_ms",
    "events_ms",
    "tracking_save_ms",
    "position_ms",
)
# How long a batch's slowest record took to reach the detector (its log line).
HOPS = {
    "ingest_ms": "broker or API → stream",
    "stream_ms": "stream → detector",
}


def batch_phases(lines: list[str]) -> dict:
    """Where the detector's batches spent their time, from its "telemetry batch
    processed" log lines (JSON): batches, records, and per phase the total ms,
    ms per record and the per-batch percentiles."""
    batches: list[dict] = []
    for line in lines:
        start = line.find("{")
        if start < 0 or "telemetry batch processed" not in line:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        fields = entry.get("fields", entry)
        if fields.get("message") == "telemetry batch processed":
            batches.append(fields)
    records = sum(int(b.get("records") or 0) for b in batches)
    phases = {}
    for name in PHASES:
        values = [float(b[name]) for b in batches if isinstance(b.get(name), (int, float))]
        if values:
            phases[name] = {
                "total_ms": round(sum(values), 1),
                "ms_per_record": round(sum(values) / records, 4) if records else None,
                "per_batch": percentiles(values),
            }
    hops = {}
    for name in HOPS:
        values = [float(b[name]) for b in batches if isinstance(b.get(name), (int, float))]
        if values:
            hops[name] = percentiles(values)
    return {
        "batches": len(batches),
        "records": records,
        # one shipment's readings in one batch: a tracking read and save each
        "shipments": sum(int(b.get("shipments") or 0) for b in batches),
        "records_per_batch": percentiles([float(b.get("records") or 0) for b in batches]),
        "phases": phases,
        "hops": hops,
    }


def item_size(value: dict) -> int:
    """The size DynamoDB bills a low-level item (`{"name": {"S": "…"}, …}`) at,
    in bytes: the attribute names plus their values (strings and binaries by
    length, numbers about one byte per two digits plus one, maps and lists 3
    bytes plus one per element and their contents, booleans and nulls 1)."""

    def attribute(av: dict) -> int:
        (kind, inner), = av.items()
        if kind == "S":
            return len(inner.encode())
        if kind == "N":
            digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
            return (digits + 1) // 2 + 1
        if kind == "B":
            return len(inner)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + attribute(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(attribute(v) + 1 for v in inner)
        if kind in ("SS", "NS", "BS"):
            return sum(attribute({kind[0]: v}) for v in inner)
        return 0

    return sum(len(name.encode()) + attribute(av) for name, av in value.items())
