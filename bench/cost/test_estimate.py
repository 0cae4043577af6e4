"""Tests of the cost arithmetic:
localstack/.state/venv/bin/python -m pytest bench/cost -q -p no:cacheprovider"""

import estimate

REPORT = {
    "run": {"transport": "mqtt"},
    "readings": {"history_rows": 1000, "readings_stored": 1000},
    # 200 shipment batches for 1000 readings: 5 readings per shipment and batch
    "detector_batches": {"batches": 4, "records": 1000, "shipments": 200},
    "usage": {
        "per_reading": {
            "requests": {
                "dynamodb.BatchWriteItem": 0.04,
                "dynamodb.PutItem": 0.21,
                "dynamodb.TransactWriteItems": 0.01,
                "dynamodb.BatchGetItem": 0.012,
                "dynamodb.Query": 0.4,
                "sns.Publish": 0.2,
            },
            "invocations": {"pharmaguard-local-anomaly-detector": 0.01, "pharmaguard-local-telemetry-ingest": 0.2},
            "lambda_ms": {"pharmaguard-local-anomaly-detector": 0.5, "pharmaguard-local-telemetry-ingest": 1.0},
        },
        "invocations": {
            "pharmaguard-local-anomaly-detector": {"memory_mb": 512},
            "pharmaguard-local-telemetry-ingest": {"memory_mb": 256},
        },
        "item_sizes": {"history_bytes": {"p50": 400}, "tracking_bytes": {"p90": 3000}},
        "log_bytes": {"pharmaguard-local-anomaly-detector": 100_000},
    },
}


def test_each_line_is_priced_per_million_readings():
    e = estimate.estimate(REPORT, trucks=1000, readings_per_second=1.0)
    p = estimate.PRICES
    assert e["shards"] == 1
    assert e["platform"]["dynamodb: history writes"] == round(1 * p["dynamodb_write_unit_per_million"], 4)
    # the run had 5 readings per shipment batch; keeping up at 1 Hz with a 1 s window: 1,
    # so the per-shipment-batch work is 5 times the run's
    assert e["shipment_batch_scale"] == 5.0
    # 0.2 × 5 saves per reading, a conditional put of 3 KB each: 3 units
    assert e["platform"]["dynamodb: tracking saves"] == round(1.0 * 3 * 0.625, 4)
    # the alarm changes as measured, 2 units per KB
    assert e["platform"]["dynamodb: alarm transactions"] == round(0.01 * 2 * 3 * 0.625, 4)
    # the run's puts beyond its 0.2 saves per reading are other writes
    assert abs(e["platform"]["dynamodb: other writes"] - 0.01 * 0.625) < 1e-3
    # three items (2.5 units) per save; the queries as measured
    assert e["platform"]["dynamodb: batch reads"] == round(1.0 * 2.5 * 0.125, 4)
    assert e["platform"]["dynamodb: other reads"] == round(0.4 * 0.125, 4)
    assert e["platform"]["sns: publishes"] == 0.1
    # 0.01 × 5 invocations and 0.5 × 5 ms at 512 MB per reading
    detector = 0.05 * 0.20 + 2.5 / 1000 * 0.5 * p["lambda_gb_second_arm64"] * 1e6
    assert e["platform"]["lambda: anomaly-detector"] == round(detector, 4)
    assert "lambda: telemetry-ingest" not in e["platform"], "over MQTT the ingest function is not on the path"
    # 100 kB of logs for 1000 readings: 100 bytes a reading
    assert e["platform"]["cloudwatch logs"] == round(100 / 1e9 * 0.5 * 1e6, 4)
    assert abs(e["total"] - (e["platform_total"] + e["transport_total"])) < 1e-3


def test_a_slower_fleet_pays_more_per_reading_for_what_runs_all_the_time():
    fast = estimate.estimate(REPORT, trucks=1000, readings_per_second=1.0)
    slow = estimate.estimate(REPORT, trucks=1000, readings_per_second=1 / 60)
    # one shard either way: 60 times fewer readings share it
    assert abs(slow["platform"]["kinesis: shard hours"] - fast["platform"]["kinesis: shard hours"] * 60) < 0.01
    assert slow["server_per_million"] > fast["server_per_million"] * 59
    assert slow["transport"]["iot core: connection minutes"] > fast["transport"]["iot core: connection minutes"]
    assert estimate.estimate(REPORT, trucks=3000, readings_per_second=1.0)["shards"] == 3
    # a 10 s window gives 10 readings per shipment batch at 1 Hz: half the run's work
    assert estimate.estimate(REPORT, 1000, 1.0, window_s=10)["shipment_batch_scale"] == 0.5
