"""Cost per million readings on AWS, from what an end-to-end run on the local
stack measured (bench/e2e/run writes localstack/.state/bench/e2e-<time>.json).

    localstack/.state/venv/bin/python bench/cost/estimate.py [REPORT] [--trucks 1000]

The run gives the requests, invocations, Lambda milliseconds, item sizes and
log bytes per reading stored; this prices them with the list below at two
reporting rates (1 reading/s and 1 reading/min per truck) for a fleet, and
next to one always-on server carrying the same load. docs/cost.md explains
each line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# AWS list prices, us-east-1, on-demand, in USD, as published on the services'
# pricing pages (read for the prices in effect in 2025; no free tier counted).
PRICES = {
    "kinesis_shard_hour": 0.015,
    "kinesis_put_unit_per_million": 0.014,  # 25 KB payload units
    "lambda_request_per_million": 0.20,
    "lambda_gb_second_arm64": 0.0000133334,
    "dynamodb_write_unit_per_million": 0.625,  # on-demand write request units (1 KB)
    "dynamodb_read_unit_per_million": 0.125,  # on-demand read request units (4 KB, strongly consistent)
    "sns_publish_per_million": 0.50,  # 64 KB chunks; deliveries to Lambda and SQS are free
    "iot_message_per_million": 1.00,  # 5 KB units, first billion a month
    "iot_rule_per_million": 0.15,
    "iot_action_per_million": 0.15,
    "iot_connection_minute_per_million": 0.08,
    "apigw_rest_request_per_million": 3.50,
    "cloudwatch_logs_ingest_per_gb": 0.50,
    "ses_per_thousand": 0.10,
    # the single-server comparison: one c7g.large (2 vCPU, 4 GiB) with a 20 GB gp3 volume
    "server_hour": 0.0725,
    "server_volume_gb_month": 0.08,
}
HOURS_PER_MONTH = 730
SERVER_VOLUME_GB = 20
# DynamoDB reads billed per request (the batch reads are priced per item).
DYNAMODB_READS = ("dynamodb.GetItem", "dynamodb.Query", "dynamodb.BatchGetItem", "dynamodb.Scan")


def monthly_readings(trucks: int, readings_per_second: float) -> float:
    return trucks * readings_per_second * 3600 * HOURS_PER_MONTH


# What the detector does once per shipment and batch (not per reading): read the
# shipment, the device and the tracking (three items of the batch reads) and save the
# tracking (a conditional put; a transaction when alarms change, counted as measured).
# Its own run time grows with the shipments too; ws-broadcast's does not (one message
# per batch). The template's batching window, seconds.
PER_SHIPMENT_BATCH_FUNCTIONS = ("anomaly-detector",)
BATCH_READ_UNITS = 2.5  # shipment and tracking strongly consistent (1 each), device eventually (0.5)
BATCHING_WINDOW_S = 1.0


def shipment_batches_per_reading(report: dict) -> float:
    """Shipment batches (one shipment's readings in one detector batch) per reading
    stored: from the detector's log lines, else from the tracking transactions (every
    save was one before saves without alarm changes became conditional puts)."""
    batches = report.get("detector_batches") or {}
    stored = report["readings"].get("readings_stored") or 0
    if batches.get("shipments") and stored:
        return batches["shipments"] / stored
    return report["usage"]["per_reading"]["requests"].get("dynamodb.TransactWriteItems", 0)


def shipment_batch_scale(measured: float, readings_per_second: float, window_s: float) -> float:
    """How many times more shipment batches a reading makes in the priced case than in
    the run, which had 1 / `measured` readings per shipment batch (a detector catching
    up takes many at once); a detector that keeps up gets a truck's readings of one
    batching window, at least one."""
    if measured <= 0:
        return 1.0
    priced = max(1.0, readings_per_second * window_s)
    return (1 / measured) / priced


def estimate(
    report: dict,
    trucks: int,
    readings_per_second: float,
    transport: str = "mqtt",
    window_s: float = BATCHING_WINDOW_S,
) -> dict:
    """Cost per million readings, per line, for `trucks` reporting at
    `readings_per_second` each, from the run's usage per reading, with the
    per-shipment-batch work scaled to a detector that keeps up with a batching
    window of `window_s` ([`shipment_batch_scale`])."""
    usage = report["usage"]
    measured = usage["per_reading"]
    shipment_batches = shipment_batches_per_reading(report)
    scale = shipment_batch_scale(shipment_batches, readings_per_second, window_s)
    priced_batches = shipment_batches * scale
    requests = dict(measured["requests"])

    def scaled(name: str) -> float:
        return scale if name.removeprefix("pharmaguard-local-") in PER_SHIPMENT_BATCH_FUNCTIONS else 1.0

    shares = {
        "requests": requests,
        "invocations": {name: count * scaled(name) for name, count in measured["invocations"].items()},
        "lambda_ms": {name: ms * scaled(name) for name, ms in measured["lambda_ms"].items()},
    }
    sizes = usage.get("item_sizes", {})
    history_kb = math.ceil((sizes.get("history_bytes", {}).get("p50") or 300) / 1024)
    tracking_kb = math.ceil((sizes.get("tracking_bytes", {}).get("p90") or 4000) / 1024)
    per_month = monthly_readings(trucks, readings_per_second)
    per_million = 1_000_000
    p = PRICES
    lines: dict[str, float] = {}

    # Kinesis, provisioned: one payload unit per record (each well under 25 KB);
    # shards for the fleet's rate at 1 000 records/s each, at least one
    shards = max(1, math.ceil(trucks * readings_per_second / 1000))
    lines["kinesis: PUT payload units"] = p["kinesis_put_unit_per_million"]
    lines["kinesis: shard hours"] = shards * HOURS_PER_MONTH * p["kinesis_shard_hour"] / per_month * per_million

    # Lambda: every function the run invoked, by invocations and milliseconds per reading
    memory = {name: entry.get("memory_mb") or 128 for name, entry in usage["invocations"].items()}
    for name, invocations in shares["invocations"].items():
        if transport == "mqtt" and name.endswith("telemetry-ingest"):
            continue
        gb_seconds = shares["lambda_ms"][name] / 1000 * memory[name] / 1024
        lines[f"lambda: {name.removeprefix('pharmaguard-local-')}"] = per_million * (
            invocations * p["lambda_request_per_million"] / per_million + gb_seconds * p["lambda_gb_second_arm64"]
        )

    # DynamoDB on demand: the history rows (one per reading, its size in KB); the
    # tracking saves (a conditional put, one unit per KB, per shipment batch) and the
    # transactions of alarm changes (two units per KB); other writes one unit each; the
    # batch reads per item, other reads one unit per request
    history_rows = report["readings"].get("history_rows") or 0
    stored = report["readings"].get("readings_stored") or 1
    write = p["dynamodb_write_unit_per_million"]
    # (an older report without the detector's shipment count: every save was a transaction)
    saves_counted = bool((report.get("detector_batches") or {}).get("shipments"))
    transactions = requests.get("dynamodb.TransactWriteItems", 0) if saves_counted else 0
    lines["dynamodb: history writes"] = history_rows / stored * history_kb * write
    lines["dynamodb: tracking saves"] = priced_batches * tracking_kb * write
    lines["dynamodb: alarm transactions"] = transactions * 2 * tracking_kb * write
    # the run's own tracking saves are its puts beyond the other writes
    puts = max(0.0, requests.get("dynamodb.PutItem", 0) - shipment_batches)
    other_writes = puts + sum(requests.get(op, 0) for op in ("dynamodb.UpdateItem", "dynamodb.DeleteItem"))
    lines["dynamodb: other writes"] = other_writes * write
    read = p["dynamodb_read_unit_per_million"]
    lines["dynamodb: batch reads"] = priced_batches * BATCH_READ_UNITS * read
    other_reads = sum(requests.get(op, 0) for op in DYNAMODB_READS if op != "dynamodb.BatchGetItem")
    lines["dynamodb: other reads"] = other_reads * read

    # SNS: alarm and position events (one request per message)
    publishes = requests.get("sns.Publish", 0) + requests.get("sns.PublishBatch", 0)
    lines["sns: publishes"] = publishes * p["sns_publish_per_million"]
    # SES: the alarm mails
    lines["ses: mails"] = requests.get("ses.SendEmail", 0) * p["ses_per_thousand"] * 1000
    # CloudWatch Logs: what the functions wrote
    log_bytes = sum(usage.get("log_bytes", {}).values())
    lines["cloudwatch logs"] = log_bytes / stored / 1e9 * p["cloudwatch_logs_ingest_per_gb"] * per_million

    platform = sum(lines.values())
    transport_lines: dict[str, float] = {}
    if transport == "mqtt":
        # one message per reading, the telemetry rule and its Kinesis action; each truck
        # connected all month
        connection_minutes = trucks * HOURS_PER_MONTH * 60
        transport_lines["iot core: messages"] = p["iot_message_per_million"]
        transport_lines["iot core: rule and action"] = p["iot_rule_per_million"] + p["iot_action_per_million"]
        transport_lines["iot core: connection minutes"] = (
            connection_minutes * p["iot_connection_minute_per_million"] / per_month
        )
    else:
        batch = report["run"].get("https_batch_readings") or 5
        transport_lines["api gateway: requests"] = p["apigw_rest_request_per_million"] / batch
    server_month = p["server_hour"] * HOURS_PER_MONTH + p["server_volume_gb_month"] * SERVER_VOLUME_GB
    return {
        "trucks": trucks,
        "readings_per_second": readings_per_second,
        "readings_per_month": per_month,
        "shards": shards,
        "platform": {name: round(value, 4) for name, value in lines.items()},
        "platform_total": round(platform, 4),
        "transport": {name: round(value, 4) for name, value in transport_lines.items()},
        "transport_total": round(sum(transport_lines.values()), 4),
        "total": round(platform + sum(transport_lines.values()), 4),
        "server_per_month": round(server_month, 2),
        "server_per_million": round(server_month / per_month * per_million, 4),
        "sizes_kb": {"history": history_kb, "tracking": tracking_kb},
        "shipment_batch_scale": round(scale, 3),
        "window_s": window_s,
    }


def latest_report() -> Path | None:
    reports = sorted((REPO / "localstack" / ".state" / "bench").glob("e2e-*.json"))
    return reports[-1] if reports else None


def print_estimates(path: Path, estimates: list[dict]) -> None:
    print(f"cost per million readings, USD, from {path.name} (prices: us-east-1 list, on demand)")
    for e in estimates:
        rate = "1 reading/s" if e["readings_per_second"] >= 1 else f"1 reading/{1 / e['readings_per_second']:.0f} s"
        print(
            f"\n{e['trucks']} trucks at {rate}: {e['readings_per_month'] / 1e6:,.1f} M readings a month, "
            f"{e['shards']} shard(s); per-shipment-batch work × {e['shipment_batch_scale']} of the run's "
            f"(batching window {e['window_s']:g} s)"
        )
        for name, value in e["platform"].items():
            print(f"  {name:<40} {value:>9.4f}")
        print(f"  {'platform total':<40} {e['platform_total']:>9.4f}")
        for name, value in e["transport"].items():
            print(f"  {name:<40} {value:>9.4f}")
        print(f"  {'with the transport':<40} {e['total']:>9.4f}")
        print(
            f"  one always-on server: ${e['server_per_month']:.2f} a month = "
            f"{e['server_per_million']:.4f} per million readings"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", help="an e2e report (default: the latest)")
    parser.add_argument("--trucks", type=int, default=1000)
    parser.add_argument("--window", type=float, default=BATCHING_WINDOW_S, help="the detector's batching window, s")
    args = parser.parse_args(argv)
    path = Path(args.report) if args.report else latest_report()
    if path is None or not path.exists():
        print("no e2e report: run bench/e2e/run first", file=sys.stderr)
        return 2
    report = json.loads(path.read_text())
    if not (report.get("usage") or {}).get("per_reading"):
        print(f"{path} has no usage figures (made before they were measured)", file=sys.stderr)
        return 2
    transport = report["run"].get("transport", "mqtt")
    estimates = [estimate(report, args.trucks, rate, transport, args.window) for rate in (1.0, 1 / 60)]
    print_estimates(path, estimates)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
