"""End-to-end benchmark of the local stack (run it through bench/e2e/run).

A fresh fleet (tools/fleet-sim, its own world) sends readings for some
minutes, with duplicates, malformed records and scripted incidents; an SQS
queue subscribed to the alarm topic records every alarm event with its SNS
timestamp. When the pipeline has drained, it compares the readings accepted
with the history rows stored, counts duplicate alarms, and measures the
latency from the reading that caused an alarm to its event and to its mail.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analysis  # noqa: E402
import live  # noqa: E402
from analysis import iso, parse_time, percentiles  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BROKER_STATS = re.compile(
    r"^(\S+) INFO\s+pharmaguard\.iot\.broker: (\d+) connection\(s\); ([\d.]+) msg/s; (\d+) message\(s\), "
    r"(\d+) forwarded, (\d+) rule error\(s\); Kinesis: (\d+) written in (\d+) call\(s\), (\d+) retried, (\d+) pending"
)
RULE_FAILED = re.compile(r"telemetry rule failed for a message of (\S+) ")


def now() -> datetime:
    return datetime.now(timezone.utc)


def say(text: str) -> None:
    print(f"e2e: {text}", flush=True)


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600:02}:{seconds // 60 % 60:02}:{seconds % 60:02}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/e2e/run",
        description="End-to-end benchmark on the local stack: readings accepted = readings stored, "
        "no duplicate alarms, latency from reading to alarm event and to email.",
    )
    parser.add_argument("--trucks", type=int, default=100, help="trucks (default 100)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the trucks send (default 10)")
    parser.add_argument("--rate-hz", type=float, default=1.0, help="readings per second per truck (default 1)")
    parser.add_argument("--transport", choices=("mqtt", "https"), default="mqtt", help="default mqtt, as devices")
    parser.add_argument("--duplicate-rate", type=float, default=0.01, help="share of readings resent (default 0.01)")
    parser.add_argument("--malformed-rate", type=float, default=0.001, help="share of malformed records (default 0.001)")
    parser.add_argument("--seed", type=int, default=20261121, help="fleet-sim's seed (cargo, routes, sensors)")
    parser.add_argument(
        "--incidents",
        choices=("auto", "none"),
        default="auto",
        help="auto: crashes, compressor failures, open doors and a silence on chosen trucks (default)",
    )
    parser.add_argument("--incident", action="append", default=[], help="an extra fleet-sim incident, e.g. crash@3+60")
    parser.add_argument("--drain-timeout", type=float, default=900, help="longest wait for the pipeline, s (900)")
    parser.add_argument("--settle", type=float, default=90, help="stop waiting after this long without progress, s (90)")
    parser.add_argument("--keep-shipments", action="store_true", help="leave the run's shipments IN_TRANSIT")
    parser.add_argument("--no-build", action="store_true", help="use the fleet-sim binary as built")
    parser.add_argument("--state-dir", default=str(REPO / "localstack" / ".state"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.trucks <= 1000:
        parser.error("--trucks: 1 to 1000")
    if args.minutes <= 0:
        parser.error("--minutes: more than 0")
    return args


class Stack:
    """The deployed local stack: its outputs and SDK clients."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.outputs_file = state_dir / "outputs.json"
        self.outputs = json.loads(self.outputs_file.read_text())
        self.endpoint = self.outputs.get("AwsEndpointUrl") or "http://127.0.0.1:4566"
        self.region = self.outputs.get("Region") or "eu-central-1"
        config = Config(retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=10, read_timeout=120)
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=self.region
        )
        self.sqs = session.client("sqs", endpoint_url=self.endpoint, config=config)
        self.sns = session.client("sns", endpoint_url=self.endpoint, config=config)
        self.dynamodb = session.client("dynamodb", endpoint_url=self.endpoint, config=config)

    def output(self, name: str) -> str:
        value = self.outputs.get(name)
        if not value:
            raise SystemExit(f"e2e: the stack has no output {name}; redeploy it (infra/deploy)")
        return value

    def ses_messages(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.endpoint}/_aws/ses", timeout=60) as reply:
            return json.loads(reply.read()).get("messages", [])

    def queue_depth(self, url: str) -> int | None:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
                attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
            )
        except Exception:  # noqa: BLE001 - a figure, not a failure
            return None


class AlarmListener(threading.Thread):
    """An SQS queue subscribed to the alarm topic (SNS envelope, not raw: its
    `Timestamp` is when SNS published), drained continuously."""

    def __init__(self, stack: Stack, run_id: str):
        super().__init__(daemon=True)
        self.stack = stack
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.envelopes: list[tuple[dict, datetime]] = []
        self.errors = 0
        name = f"pharmaguard-bench-e2e-{run_id}"
        self.queue_url = stack.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.queue_arn = stack.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        topic = stack.output("AlarmEventsTopicArn")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        stack.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        self.subscription = stack.sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=self.queue_arn, ReturnSubscriptionArn=True
        )["SubscriptionArn"]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                reply = self.stack.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except Exception:  # noqa: BLE001 - keep listening through a slow moment
                self.errors += 1
                time.sleep(1)
                continue
            received = now()
            messages = reply.get("Messages", [])
            for message in messages:
                try:
                    envelope = json.loads(message["Body"])
                except ValueError:
                    continue
                with self.lock:
                    self.envelopes.append((envelope, received))
            if messages:
                try:
                    self.stack.sqs.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                    )
                except Exception:  # noqa: BLE001 - a redelivery is deduplicated by event id
                    self.errors += 1

    def deliveries(self, shipments: set[str]) -> list[analysis.Delivery]:
        with self.lock:
            envelopes = list(self.envelopes)
        found = []
        for envelope, received in envelopes:
            delivery = analysis.parse_delivery(envelope, received)
            if delivery and delivery.shipment_id in shipments:
                found.append(delivery)
        return found

    def close(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(timeout=10)
        for call in (
            lambda: self.stack.sns.unsubscribe(SubscriptionArn=self.subscription),
            lambda: self.stack.sqs.delete_queue(QueueUrl=self.queue_url),
        ):
            try:
                call()
            except Exception as error:  # noqa: BLE001
                say(f"cleaning up: {error}")


class Sampler(threading.Thread):
    """Every 10 s: the load average, and how old the newest stored reading
    of a few trucks is (the pipeline's lag)."""

    def __init__(self, stack: Stack, readings_table: str, probes: list[str], started: float, listener: AlarmListener):
        super().__init__(daemon=True)
        self.stack = stack
        self.table = readings_table
        self.probes = probes  # partition keys
        self.started = started
        self.listener = listener
        self.stop = threading.Event()
        self.samples: list[dict] = []
        self.phase = "sending"  # then "draining": the lag means nothing once the trucks stop

    def newest(self, pk: str) -> datetime | None:
        try:
            reply = self.stack.dynamodb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="sk",
                ScanIndexForward=False,
                Limit=1,
            )
        except Exception:  # noqa: BLE001
            return None
        items = reply.get("Items", [])
        return parse_time(items[0]["sk"]["S"].split("#", 1)[0]) if items else None

    def run(self) -> None:
        ticks = 0
        while not self.stop.wait(10):
            ticks += 1
            load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
            at = now()
            phase = self.phase
            lags = []
            if phase == "sending":
                lags = [(at - t).total_seconds() for t in (self.newest(pk) for pk in self.probes) if t]
            sample = {"at": iso(at), "phase": phase, "load1": load[0], "lag_s": round(max(lags), 1) if lags else None}
            self.samples.append(sample)
            if ticks % 3 == 0:
                with self.listener.lock:
                    events = len(self.listener.envelopes)
                lag = (
                    f"; newest stored reading of the probed trucks is {sample['lag_s']:.0f} s old"
                    if sample["lag_s"] is not None
                    else ""
                )
                say(
                    f"+{clock(time.monotonic() - self.started)} load {load[0]:.2f}{lag}; "
                    f"alarm deliveries so far {events}"
                )


def read_from(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def fleet_sim(args: argparse.Namespace, state_dir: Path, extra: list[str], log, echo) -> tuple[int, list[str]]:
    """Runs fleet-sim with `extra` options; its stderr goes to `log` and,
    filtered by `echo`, to stdout. Returns its exit code and stderr lines."""
    binary = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "fleet-sim"
    command = [
        str(binary),
        "--outputs",
        str(state_dir / "outputs.json"),
        "--admin",
        str(state_dir / "admin.json"),
        "--trucks",
        str(args.trucks),
        "--rate-hz",
        str(args.rate_hz),
        "--seed",
        str(args.seed),
        "--transport",
        args.transport,
        *extra,
    ]
    log.write("$ " + " ".join(command) + "\n")
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip("\n")
            lines.append(line)
            log.write(line + "\n")
            log.flush()
            if echo(line):
                print(line, flush=True)
        return process.wait(), lines
    except KeyboardInterrupt:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def echo_run_line(line: str) -> bool:
    """What of fleet-sim's stderr to show: progress, incidents, arrivals and
    problems; not the logins or the set-up listing of every truck."""
    if not line.startswith("fleet-sim:") or line.startswith("fleet-sim: log in"):
        return False
    return not re.match(r"^fleet-sim: truck\s+\d+ \S+ \S+ .*km\)", line)


class Readings:
    """Counts the history rows of the run's shipments and devices."""

    def __init__(self, stack: Stack, table: str, partitions: list[str], since: datetime):
        self.stack = stack
        self.table = table
        self.partitions = partitions
        self.since = since.strftime("%Y-%m-%dT%H:%M:%S.000000000Z")

    def _query(self, pk: str, **extra) -> list[dict]:
        pages = []
        start = None
        while True:
            request = dict(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk >= :since",
                ExpressionAttributeValues={":pk": {"S": pk}, ":since": {"S": self.since}},
                **extra,
            )
            if start:
                request["ExclusiveStartKey"] = start
            reply = self.stack.dynamodb.query(**request)
            pages.append(reply)
            start = reply.get("LastEvaluatedKey")
            if not start:
                return pages

    def count(self) -> int:
        return sum(page.get("Count", 0) for pk in self.partitions for page in self._query(pk, Select="COUNT"))

    def ids(self) -> tuple[int, int, list[str]]:
        """(rows, distinct reading ids, reading ids stored more than once)."""
        rows = 0
        seen: dict[str, int] = {}
        for pk in self.partitions:
            for page in self._query(pk, ProjectionExpression="sk"):
                for item in page.get("Items", []):
                    rows += 1
                    reading_id = item["sk"]["S"].split("#", 1)[1]
                    seen[reading_id] = seen.get(reading_id, 0) + 1
        return rows, len(seen), sorted(r for r, n in seen.items() if n > 1)


def item_sizes(stack: Stack, readings_table: str, tracking_table: str, shipments: set[str]) -> dict:
    """The billed sizes of the run's items (docs/cost.md): the trackings of up to
    ten shipments and the history rows of one, in bytes."""
    sample = sorted(shipments)[:10]
    tracking = []
    for shipment in sample:
        reply = stack.dynamodb.get_item(
            TableName=tracking_table, Key={"pk": {"S": f"SHIP#{shipment}"}, "sk": {"S": "TRACKING"}}
        )
        if "Item" in reply:
            tracking.append(float(analysis.item_size(reply["Item"])))
    history = []
    if sample:
        reply = stack.dynamodb.query(
            TableName=readings_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SHIP#{sample[0]}"}},
            Limit=100,
        )
        history = [float(analysis.item_size(item)) for item in reply.get("Items", [])]
    return {"tracking_bytes": percentiles(tracking), "history_bytes": percentiles(history)}


def log_sizes(directory: Path) -> dict[str, int]:
    """The size of each function's log file (what it wrote goes to CloudWatch Logs on AWS)."""
    return {path.stem: path.stat().st_size for path in directory.glob("*.log")} if directory.is_dir() else {}


def alarm_items(stack: Stack, table: str, shipments: set[str]) -> list[dict]:
    items = []
    for shipment in sorted(shipments):
        start = None
        while True:
            request = dict(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :alarm)",
                ExpressionAttributeValues={":pk": {"S": f"SHIP#{shipment}"}, ":alarm": {"S": "ALARM#"}},
            )
            if start:
                request["ExclusiveStartKey"] = start
            reply = stack.dynamodb.query(**request)
            for item in reply.get("Items", []):
                items.append({k: v.get("S", v.get("N")) for k, v in item.items() if "S" in v or "N" in v})
            start = reply.get("LastEvaluatedKey")
            if not start:
                break
    return items


def run_mails(stack: Stack, before: set[str], shipments: set[str]) -> list[analysis.Mail]:
    mails = []
    for message in stack.ses_messages():
        if message.get("Id") in before:
            continue
        mail = analysis.parse_mail(message)
        if mail and analysis.shipment_of_alarm(mail.alarm_id) in shipments:
            mails.append(mail)
    return mails


def api_call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def operator_token(stack: Stack, world: dict) -> str | None:
    """An access token of the operator's manager (the shipper of every
    shipment of the world), or `None` when the login fails."""
    manager = next(
        (u for u in world.get("organisations", {}).get("operator", {}).get("users", []) if u["role"] == "MANAGER"),
        None,
    )
    if manager is None:
        return None
    status, body = api_call(
        stack.output("ApiBaseUrl"),
        "POST",
        "/v1/auth/login",
        body={"email": manager["email"], "password": manager["password"]},
    )
    return body.get("access_token") if status == 200 else None


def start_push_listener(stack: Stack, world_file: Path) -> live.PushListener | None:
    """The dashboard's WebSocket connection of the run, connected (or
    `None`, said, when it cannot be had)."""
    world = json.loads(world_file.read_text())
    token = operator_token(stack, world)
    if token is None:
        say("cannot log in as the operator's manager: no WebSocket latency this run")
        return None
    listener = live.PushListener(stack.output("WebSocketUrl"), token)
    listener.start()
    if not listener.connected.wait(30):
        say(f"the WebSocket gateway did not take the connection ({listener.last_error}): no push latency this run")
        listener.stop()
        return None
    return listener


def deliver_shipments(stack: Stack, world_file: Path) -> tuple[int, int]:
    """Marks the run's shipments still on their way DELIVERED (as the
    operator's manager), so their silent devices raise no offline alarms
    later. Returns (delivered, failed)."""
    world = json.loads(world_file.read_text())
    base = stack.output("ApiBaseUrl")
    token = operator_token(stack, world)
    if token is None:
        say("cannot log in as the operator's manager; the run's shipments stay IN_TRANSIT")
        return 0, 0
    delivered = failed = 0
    for truck in world.get("trucks", {}).values():
        shipment = truck.get("shipment")
        if not shipment:
            continue
        status, body = api_call(base, "GET", f"/v1/shipments/{shipment['id']}", token)
        if status != 200 or body.get("state") not in ("IN_TRANSIT", "DISPATCHED"):
            continue
        status, _ = api_call(
            base, "POST", f"/v1/shipments/{shipment['id']}/deliver", token, {"version": body.get("version", 1)}
        )
        if status == 200:
            delivered += 1
        else:
            failed += 1
    return delivered, failed


def broker_figures(lines: list[str], devices: set[str]) -> dict:
    stats = []
    dropped = 0
    for line in lines:
        match = BROKER_STATS.match(line)
        if match:
            values = [int(v) if v.isdigit() else v for v in match.groups()]
            stats.append(
                {
                    "at": values[0],
                    "connections": values[1],
                    "msg_per_s": float(values[2]),
                    "messages": values[3],
                    "forwarded": values[4],
                    "rule_errors": values[5],
                    "written": values[6],
                    "calls": values[7],
                    "retried": values[8],
                    "pending": values[9],
                }
            )
            continue
        failed = RULE_FAILED.search(line)
        if failed and failed.group(1) in devices:
            dropped += 1
    return {
        "malformed_not_forwarded": dropped,
        "max_pending": max((s["pending"] for s in stats), default=None),
        "max_msg_per_s": max((s["msg_per_s"] for s in stats), default=None),
        "kinesis_retries": (stats[-1]["retried"] - stats[0]["retried"]) if len(stats) > 1 else None,
        "stats_lines": len(stats),
    }


def print_report(report: dict) -> None:
    r = report["readings"]
    a = report["alarms"]
    lat = a["latency_s"]
    run = report["run"]

    def figure(stats: dict) -> str:
        if not stats.get("count"):
            return "none"
        return (
            f"p50 {stats['p50']:.2f}  p90 {stats['p90']:.2f}  p99 {stats['p99']:.2f}  "
            f"max {stats['max']:.2f}  (n={stats['count']})"
        )

    lines = [
        "",
        f"End to end on the local stack — {run['trucks']} trucks at {run['rate_hz']} Hz for "
        f"{run['minutes']} min over {run['transport']} (seed {run['seed']})",
        f"  sent for {run['sending_s']:.0f} s, pipeline drained {run['drain_s']:.0f} s later "
        f"({'complete' if run['drained'] else 'NOT complete: ' + run['drain_end']}); "
        f"load average (1 min) while sending: mean {run['load1_mean']}, max {run['load1_max']}; "
        f"newest stored reading while sending: {figure(run['stored_lag_s'])} s old",
        f"  incidents: {', '.join(run['incidents']) or 'none'}",
        "",
        "Readings",
        f"  records sent {r['records_sent']} (duplicates {r['duplicates_sent']}, malformed {r['malformed_sent']}); "
        f"acknowledged {r['records_acknowledged']}, failed {r['records_failed']}",
        f"  readings sent (distinct ids) {r['readings_sent']}; accepted "
        f"{r['readings_accepted'] if r['readings_accepted'] is not None else '≥ ' + str(r['readings_accepted_at_least'])}; "
        f"stored {r['readings_stored']} (history rows {r['history_rows']}, extra rows {r['extra_rows']})",
        f"  duplicates sent {r['duplicates_sent']} → extra rows {r['extra_rows']}; malformed sent {r['malformed_sent']} → "
        + (
            f"not forwarded by the broker {r['malformed_not_forwarded_by_broker']}"
            if r["transport"] == "mqtt"
            else f"rejected by the API {r['malformed_rejected_by_api']}"
        )
        + f", rejected-telemetry queue +{r['rejected_telemetry_queue_growth']}",
        f"  verdict: {r['verdict']}",
        "",
        "Alarms",
        f"  events {a['events']['distinct']} distinct ({a['events']['deliveries']} deliveries, "
        f"{a['events']['sns_redeliveries']} SNS redeliveries): "
        + ", ".join(f"{k} {v}" for k, v in a["events"]["by_kind"].items()),
        f"  expected transitions {a['expected']['transitions']}, matched {a['expected']['matched']}, "
        f"missing {len(a['expected']['missing'])}",
        f"  duplicate alarms {a['duplicate_alarms']['count']}; unexpected raises {len(a['unexpected_raises'])}; "
        f"offline raises after the trucks stopped {len(a['offline_after_run_end'])}",
        f"  alarm items {a['alarm_items']['count']}, raised without an item {len(a['alarm_items']['raised_without_item'])}",
        "",
        "Latency, seconds (reading ts = the device's measurement time)",
        f"  reading ts → alarm event (SNS publish) {figure(lat['reading_ts_to_event'])}",
        f"  received_at → alarm event              {figure(lat['received_at_to_event'])}",
        f"  reading ts → event in the queue        {figure(lat['reading_ts_to_queue'])}",
        f"  reading ts → email (SES, whole s)      {figure(lat['reading_ts_to_email'])}",
        f"  alarm event → email                    {figure(lat['event_to_email'])}",
        f"  offline due → event / → email          {figure(lat['offline_due_to_event'])} / "
        f"{figure(lat['offline_due_to_email'])}",
        f"  mails {a['mails']['mails']} for {a['mails']['mailed_events']} MAJOR/CRITICAL events; "
        f"events without mail {len(a['mails']['events_without_mail'])}",
        "",
    ]
    for kind, stats in lat["by_kind_reading_ts_to_event"].items():
        lines.insert(-1, f"    {kind}: {figure(stats)}")
    ws = report.get("websocket") or {}
    if ws:
        lines += [
            f"WebSocket pushes to the operator's manager: {ws['distinct']} distinct ({ws['pushes']} in all, "
            f"connection drops {ws['drops']}): "
            + ", ".join(f"{kind} {n}" for kind, n in ws["by_type"].items()),
            f"  reading ts → position on the map       {figure(ws['reading_ts_to_position_push'])}",
            f"  alarm event → push                     {figure(ws['event_to_push'])}",
            f"  reading ts → alarm push                {figure(ws['reading_ts_to_alarm_push'])}",
            "",
        ]
    lines += batch_lines(report.get("detector_batches") or {})
    lines += usage_lines(report.get("usage") or {})
    print("\n".join(lines), flush=True)


def batch_lines(batches: dict) -> list[str]:
    """Where the detector's batches spent their time."""
    if not batches.get("batches"):
        return []
    size = batches["records_per_batch"]
    lines = [
        f"Detector batches: {batches['batches']} of {batches['records']} records "
        f"(per batch p50 {size.get('p50')}, max {size.get('max')})",
        "  phase                     ms per record   per batch p50 / p99 / max ms   (shipment parts are sums)",
    ]
    for name, phase in batches["phases"].items():
        per = phase["per_batch"]
        lines.append(
            f"  {name.removesuffix('_ms'):<24} {phase['ms_per_record'] or 0:>12.3f}   "
            f"{per.get('p50')} / {per.get('p99')} / {per.get('max')}"
        )
    if batches.get("hops"):
        lines.append("  the batch's slowest record, ms       per batch p50 / p99 / max")
        for name, stats in batches["hops"].items():
            lines.append(
                f"  {analysis.HOPS[name]:<36} {stats.get('p50')} / {stats.get('p99')} / {stats.get('max')}"
            )
    return lines + [""]


def usage_lines(usage: dict) -> list[str]:
    """The requests and invocations of the run, per reading stored (docs/cost.md)."""
    shares = usage.get("per_reading") or {}
    if not shares:
        return []
    lines = ["Usage per reading stored (requests LocalStack served; invocations and their duration)"]
    for name, count in shares["requests"].items():
        errors = usage["requests"][name]["errors"]
        lines.append(f"  {name:<42} {count:>9.4f}" + (f"  ({errors} errors)" if errors else ""))
    for name, count in shares["invocations"].items():
        entry = usage["invocations"][name]
        lines.append(
            f"  λ {name:<40} {count:>9.4f} invocations, {shares['lambda_ms'][name]:.3f} ms "
            f"(p50 {entry.get('p50')} ms, p99 {entry.get('p99')} ms, {entry.get('memory_mb')} MB)"
        )
    return lines + [""]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    state_dir = Path(args.state_dir)
    stack = Stack(state_dir)
    bench_dir = state_dir / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    run_id = now().strftime("%Y%m%dT%H%M%SZ")
    world_file = bench_dir / f"fleet-{run_id}.json"
    log_path = bench_dir / f"fleet-{run_id}.log"
    readings_table = stack.output("ReadingsTableName")
    alarms_table = stack.output("AlarmsTableName")
    rejected_queue = stack.output("RejectedTelemetryQueueUrl")
    broker_log = state_dir / "logs" / "iot-broker.log"
    localstack_log = state_dir / "logs" / "localstack.log"
    detector_log = state_dir / "logs" / "lambda" / f"{stack.output('AnomalyDetectorFunctionName')}.log"

    if not args.no_build:
        say("building fleet-sim")
        subprocess.run(["cargo", "build", "--quiet", "-p", "fleet-sim"], cwd=REPO, check=True)

    log = log_path.open("w")
    say(f"setting up a fresh world of {args.trucks} trucks (state {world_file.relative_to(REPO) if world_file.is_relative_to(REPO) else world_file})")
    setup_started = time.monotonic()
    code, setup_lines = fleet_sim(
        args,
        state_dir,
        ["--state", str(world_file), "--summary", str(bench_dir / f"setup-{run_id}.json"), "--setup-only"],
        log,
        lambda line: echo_run_line(line) and "truck " not in line,
    )
    if code != 0:
        say(f"fleet-sim could not set up the world (exit {code}); see {log_path}")
        return 1
    setup_s = time.monotonic() - setup_started
    trucks = analysis.parse_setup_lines(setup_lines)
    profiles = {}
    for truck in trucks.values():
        profiles[truck.profile] = profiles.get(truck.profile, 0) + 1
    say(f"world ready in {setup_s:.0f} s: {len(trucks)} trucks ({', '.join(f'{k} {v}' for k, v in sorted(profiles.items()))})")

    seconds = args.minutes * 60
    incidents = (analysis.plan_incidents(list(trucks.values()), seconds) if args.incidents == "auto" else []) + list(
        args.incident
    )
    say(f"incidents: {' '.join(incidents) or 'none'}")

    listener = AlarmListener(stack, run_id)
    listener.start()
    pushes = start_push_listener(stack, world_file)
    ses_before = {m.get("Id") for m in stack.ses_messages()}
    rejected_before = stack.queue_depth(rejected_queue)
    broker_offset = file_size(broker_log)
    localstack_offset = file_size(localstack_log)
    detector_offset = file_size(detector_log)
    logs_before = log_sizes(detector_log.parent)
    probes = [f"SHIP#{t.shipment_id}" for t in sorted(trucks.values(), key=lambda t: t.number)[:3]]
    started = time.monotonic()
    sampler = Sampler(stack, readings_table, probes, started, listener)
    sampler.start()
    summary_file = bench_dir / f"summary-{run_id}.json"
    interrupted = False
    report: dict = {}
    try:
        say(
            f"sending for {args.minutes:g} min: {args.trucks} trucks × {args.rate_hz:g} Hz over {args.transport}, "
            f"duplicates {args.duplicate_rate:g}, malformed {args.malformed_rate:g}"
        )
        extra = [
            "--state",
            str(world_file),
            "--summary",
            str(summary_file),
            "--duration",
            f"{seconds:g}s",
            "--duplicate-rate",
            str(args.duplicate_rate),
            "--malformed-rate",
            str(args.malformed_rate),
        ]
        for incident in incidents:
            extra += ["--incident", incident]
        code, _ = fleet_sim(args, state_dir, extra, log, echo_run_line)
        sending_s = time.monotonic() - started
        sampler.phase = "draining"
        if code != 0 or not summary_file.exists():
            say(f"fleet-sim failed (exit {code}); see {log_path}")
            return 1
        summary = json.loads(summary_file.read_text())
        sent_end = parse_time(summary.get("ended_at")) or now()
        shipments = {s["shipment_id"] for s in summary.get("shipments", [])}
        devices = {t["device_id"] for t in summary.get("per_truck", [])}
        partitions = [f"SHIP#{s}" for s in sorted(shipments)] + [f"DEVICE#{d}" for d in sorted(devices)]
        run_start = parse_time(summary.get("started_at")) or now()
        readings = Readings(stack, readings_table, partitions, run_start - timedelta(seconds=5))
        totals = summary.get("totals", {})
        readings_sent = totals.get("sent", 0) - totals.get("duplicates", 0) - totals.get("malformed", 0)
        expected = summary.get("expected_alarms", [])
        offline_due = [parse_time(e.get("due_at")) for e in expected if e.get("due_at")]
        last_due = max((d for d in offline_due if d), default=None)

        # ---- drain: until the history holds every reading, the expected alarms are out
        # and mailed, or nothing moved for --settle seconds, or --drain-timeout
        say(f"sent {totals.get('sent')} records; waiting for the pipeline ({readings_sent} readings to store)")
        drain_started = time.monotonic()
        last_progress = drain_started
        previous = None
        drained = False
        drain_end = "timeout"
        while True:
            stored = readings.count()
            deliveries = listener.deliveries(shipments)
            event_ids = {d.event_id for d in deliveries}
            mailable = {d.event_id for d in deliveries if analysis.is_mailed(d)}
            mails = run_mails(stack, ses_before, shipments)
            mailed = {m.event_id for m in mails}
            missing_expected = analysis.analyse_alarms(deliveries, expected, [], [], sent_end)["expected"]["missing"]
            state = (stored, len(event_ids), len(mails))
            if state != previous:
                last_progress = time.monotonic()
                previous = state
            waited = time.monotonic() - drain_started
            say(
                f"drain +{clock(waited)}: stored {stored} of {readings_sent} readings; alarm events {len(event_ids)} "
                f"(expected missing {len(missing_expected)}); mails {len(mails)} "
                f"(events not mailed yet {len(mailable - mailed)})"
            )
            due_passed = last_due is None or now() > last_due + timedelta(seconds=90)
            if stored >= readings_sent and not missing_expected and mailable <= mailed and due_passed:
                drained, drain_end = True, "complete"
                # a little longer for SNS redeliveries and late mails
                time.sleep(10)
                break
            if time.monotonic() - last_progress > args.settle and due_passed:
                drain_end = f"no progress for {args.settle:.0f} s"
                break
            if waited > args.drain_timeout:
                drain_end = f"timeout after {args.drain_timeout:.0f} s"
                break
            time.sleep(15)
        drain_s = time.monotonic() - drain_started
        sampler.stop.set()

        # ---- the figures
        say("counting the stored readings, the alarms and the mails")
        rows, distinct, twice = readings.ids()
        deliveries = listener.deliveries(shipments)
        mails = run_mails(stack, ses_before, shipments)
        items = alarm_items(stack, alarms_table, shipments)
        broker = broker_figures(read_from(broker_log, broker_offset), devices) if args.transport == "mqtt" else {}
        rejected_after = stack.queue_depth(rejected_queue)
        rejected_delta = (
            rejected_after - rejected_before if rejected_after is not None and rejected_before is not None else None
        )
        readings_report = analysis.analyse_readings(
            summary,
            {"rows": rows, "distinct": distinct},
            broker.get("malformed_not_forwarded"),
            rejected_delta,
            drained,
        )
        readings_report["reading_ids_stored_twice"] = twice[:20]
        alarms_report = analysis.analyse_alarms(deliveries, expected, items, mails, sent_end)
        # the pushes of the run's shipments, those fleet-sim started during the run included
        run_pushes = [p for p in pushes.stop() if p.shipment_id in shipments] if pushes else []
        websocket_report = dict(live.push_latency(run_pushes, deliveries), drops=pushes.drops) if pushes else {}
        # what the run cost: the requests and invocations from the start of sending to the
        # end of the drain (the stack's own background work, such as the offline check, included)
        usage_report = analysis.usage(read_from(localstack_log, localstack_offset), run_start, now())
        usage_report["per_reading"] = analysis.per_reading(usage_report, distinct)
        batches_report = analysis.batch_phases(read_from(detector_log, detector_offset))
        usage_report["item_sizes"] = item_sizes(stack, readings_table, stack.output("TrackingTableName"), shipments)
        usage_report["log_bytes"] = {
            name: size - logs_before.get(name, 0)
            for name, size in sorted(log_sizes(detector_log.parent).items())
            if size > logs_before.get(name, 0)
        }
        loads = [s["load1"] for s in sampler.samples if s["phase"] == "sending"]
        drain_loads = [s["load1"] for s in sampler.samples if s["phase"] == "draining"]
        lags = [s["lag_s"] for s in sampler.samples if s["lag_s"] is not None]
        report = {
            "run": {
                "id": run_id,
                "trucks": args.trucks,
                "rate_hz": args.rate_hz,
                "minutes": args.minutes,
                "transport": args.transport,
                "seed": args.seed,
                "duplicate_rate": args.duplicate_rate,
                "malformed_rate": args.malformed_rate,
                "incidents": incidents,
                "profiles": profiles,
                "setup_s": round(setup_s, 1),
                "sending_s": round(sending_s, 1),
                "started_at": summary.get("started_at"),
                "ended_at": summary.get("ended_at"),
                "drain_s": round(drain_s, 1),
                "drained": drained,
                "drain_end": drain_end,
                "load1_mean": round(sum(loads) / len(loads), 2) if loads else None,
                "load1_max": max(loads) if loads else None,
                "load1_max_draining": max(drain_loads) if drain_loads else None,
                "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
                "stored_lag_s": percentiles(lags),
                "samples": sampler.samples,
                "broker": broker,
                "listener_errors": listener.errors,
                "fleet_sim_totals": totals,
                "files": {
                    "world": str(world_file),
                    "summary": str(summary_file),
                    "log": str(log_path),
                },
            },
            "readings": readings_report,
            "alarms": alarms_report,
            "websocket": websocket_report,
            "usage": usage_report,
            "detector_batches": batches_report,
        }
        out = bench_dir / f"e2e-{run_id}.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print_report(report)
        say(f"report written to {out}")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        sampler.stop.set()
        listener.close()
        if pushes:
            pushes.stopping.set()
        log.close()
        if not args.keep_shipments and world_file.exists():
            delivered, failed = deliver_shipments(stack, world_file)
            say(f"marked {delivered} of the run's shipments DELIVERED" + (f" ({failed} failed)" if failed else ""))
    if interrupted:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
