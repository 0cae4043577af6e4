"""ferrokinesis behind LocalStack's Kinesis endpoint (pharmaguard_localstack.kinesis_backend):
the command line and settings without LocalStack, then streams, records, iterators and
fault injection through the running local stack."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cbor2
import pytest

from conftest import ENDPOINT, REGION, client
from pharmaguard_localstack.kinesis_backend import (
    FerrokinesisSettings,
    by_stream_name,
    chosen_backend,
    ferrokinesis_command,
    ferrokinesis_log_level,
    millis_behind_latest,
    operations_taking_name_or_arn,
    settings_from_config,
)

STATE_DIR = Path(os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state")


def stack_backend() -> str:
    """The Kinesis server the running local stack was started with: PHARMAGUARD_KINESIS in
    the environment of the LocalStack listening on ENDPOINT (localstack/start sets it), else
    in the tests' own environment, else start's default."""
    try:
        pid = (STATE_DIR / "localstack.pid").read_text().strip()
        variables = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
    except OSError:
        variables = {}
    if variables.get("GATEWAY_LISTEN", "").rsplit(":", 1)[-1] == ENDPOINT.rsplit(":", 1)[-1]:
        return variables.get("PHARMAGUARD_KINESIS", "kinesis-local")
    return os.environ.get("PHARMAGUARD_KINESIS", "ferrokinesis")


ferrokinesis_only = pytest.mark.skipif(stack_backend() != "ferrokinesis", reason="LocalStack forwards to kinesis-local")

SETTINGS = FerrokinesisSettings(binary="/opt/ferrokinesis", latency_ms=0, shard_limit=100, log_level="info")


# --- without LocalStack -------------------------------------------------------------------------


@pytest.mark.without_stack
def test_the_command_line_names_port_account_region_and_no_delays():
    command = ferrokinesis_command(SETTINGS, 4711, "000000000000", "eu-central-1")

    assert command[0] == "/opt/ferrokinesis"
    options = dict(zip(command[1::2], command[2::2]))
    assert options == {
        "--port": "4711",
        "--account-id": "000000000000",
        "--region": "eu-central-1",
        "--create-stream-ms": "0",
        "--delete-stream-ms": "0",
        "--update-stream-ms": "0",
        "--shard-limit": "100",
        "--log-level": "info",
        "--log-format": "plain",
    }


@pytest.mark.without_stack
def test_the_latency_setting_becomes_the_stream_state_delays():
    command = ferrokinesis_command(FerrokinesisSettings("/opt/fk", 500, 10, "warn"), 1, "111111111111", "us-east-1")

    options = dict(zip(command[1::2], command[2::2]))
    assert options["--create-stream-ms"] == options["--delete-stream-ms"] == options["--update-stream-ms"] == "500"


@pytest.mark.without_stack
@pytest.mark.parametrize(
    ("localstack", "ferrokinesis"),
    [("info", "info"), ("DEBUG", "debug"), ("warning", "warn"), ("WARN", "warn"), ("trace-internal", "trace"), ("error", "error"), ("", "info"), (None, "info"), ("verbose", "info")],
)
def test_localstack_log_levels_become_ferrokinesis_levels(localstack, ferrokinesis):
    assert ferrokinesis_log_level(localstack) == ferrokinesis


@pytest.mark.without_stack
def test_the_backend_setting_chooses_and_defaults_to_localstacks_own():
    assert chosen_backend({"PHARMAGUARD_KINESIS": "ferrokinesis"}) == "ferrokinesis"
    assert chosen_backend({"PHARMAGUARD_KINESIS": " Kinesis-Local "}) == "kinesis-local"
    assert chosen_backend({}) == "kinesis-local"


@pytest.mark.without_stack
def test_an_unknown_backend_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="use one of ferrokinesis, kinesis-local"):
        chosen_backend({"PHARMAGUARD_KINESIS": "kinesalite"})


@pytest.mark.without_stack
def test_a_missing_binary_is_an_error_saying_to_run_setup(tmp_path: Path):
    with pytest.raises(ValueError, match="run localstack/setup"):
        settings_from_config({"PHARMAGUARD_FERROKINESIS_BIN": str(tmp_path / "nothing")})


@pytest.mark.without_stack
def test_millis_behind_latest_is_the_age_of_the_last_record_while_more_follow():
    now = datetime(2026, 12, 4, 1, 30, tzinfo=timezone.utc)

    assert millis_behind_latest(now - timedelta(seconds=2.5), True, now) == 2500
    assert millis_behind_latest(now - timedelta(seconds=2.5), False, now) == 0
    # a record that arrived this very millisecond, with more after it: behind, not caught up
    assert millis_behind_latest(now, True, now) == 1


@pytest.mark.without_stack
def test_a_stream_named_by_arn_is_forwarded_by_its_name():
    arn = "arn:aws:kinesis:eu-central-1:000000000000:stream/telemetry-x"

    assert by_stream_name({"StreamARN": arn, "Limit": 10}) == {"StreamName": "telemetry-x", "Limit": 10}
    assert by_stream_name({"StreamName": "a", "Limit": 10}) == {"StreamName": "a", "Limit": 10}
    # both (AWS refuses that) or an ARN that is no stream's: passed on as they are, for the server to answer
    assert by_stream_name({"StreamName": "a", "StreamARN": arn}) == {"StreamName": "a", "StreamARN": arn}
    assert by_stream_name({"StreamARN": "arn:aws:kinesis:eu-central-1:0:nothing"}) == {"StreamARN": "arn:aws:kinesis:eu-central-1:0:nothing"}


@pytest.mark.without_stack
def test_the_operations_that_take_a_name_or_an_arn_come_from_the_service_model():
    from localstack.aws.spec import load_service

    operations = operations_taking_name_or_arn(load_service("kinesis"))

    assert {"DescribeStream", "DescribeStreamSummary", "GetShardIterator", "ListShards", "DeleteStream", "PutRecords"} <= set(operations)
    assert "GetRecords" not in operations  # its iterator names the stream
    assert "RegisterStreamConsumer" not in operations  # ARN only


# --- through the running local stack ------------------------------------------------------------


@pytest.fixture
def stream():
    """A fresh 4-shard stream, deleted afterwards."""
    kinesis = client("kinesis")
    name = f"kinesis-backend-test-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=4)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    yield name
    kinesis.delete_stream(StreamName=name)


def ferrokinesis_ports() -> list[int]:
    """The ports of the ferrokinesis processes running on this machine."""
    ports = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"/ferrokinesis") and b"--port" in args:
            ports.append(int(args[args.index(b"--port") + 1]))
    return ports


def streams_at(port: int) -> list[str]:
    """ListStreams asked of a ferrokinesis directly, not through LocalStack."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Kinesis_20131202.ListStreams",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20261204/{REGION}/kinesis/aws4_request, SignedHeaders=host, Signature=0",
            "X-Amz-Date": "20261204T000000Z",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["StreamNames"]
    except OSError:
        return []


@ferrokinesis_only
def test_streams_created_through_localstack_live_in_a_ferrokinesis(stream):
    holders = [port for port in ferrokinesis_ports() if stream in streams_at(port)]

    assert len(holders) == 1, f"stream {stream} in ferrokinesis processes on ports {holders} of {ferrokinesis_ports()}"


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def test_records_are_routed_by_partition_key_in_increasing_sequence(stream):
    kinesis = client("kinesis")
    records = [{"Data": f"reading-{i}".encode(), "PartitionKey": f"truck-{i % 16}"} for i in range(64)]

    answer = kinesis.put_records(StreamName=stream, Records=records)

    assert answer["FailedRecordCount"] == 0
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])) for s in shards}
    by_shard: dict[str, list[tuple[int, bytes]]] = {}
    for record, entry in zip(records, answer["Records"]):
        low, high = ranges[entry["ShardId"]]
        assert low <= hash_key(record["PartitionKey"]) <= high, f"{record['PartitionKey']} in {entry['ShardId']}"
        by_shard.setdefault(entry["ShardId"], []).append((int(entry["SequenceNumber"]), record["Data"]))
    assert len(by_shard) > 1
    for shard, written in by_shard.items():
        assert [n for n, _ in written] == sorted({n for n, _ in written}), f"sequence numbers of {shard}"
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        read = kinesis.get_records(ShardIterator=iterator, Limit=100)
        assert [r["Data"] for r in read["Records"]] == [data for _, data in written]
        assert read["MillisBehindLatest"] == 0


def test_iterators_start_where_they_say(stream):
    kinesis = client("kinesis")
    written = [kinesis.put_record(StreamName=stream, PartitionKey="truck-7", Data=f"r{i}".encode()) for i in range(3)]
    shard = written[0]["ShardId"]

    def first_data(kind: str, **start) -> list[bytes]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType=kind, **start)["ShardIterator"]
        return [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]

    assert first_data("TRIM_HORIZON") == [b"r0", b"r1", b"r2"]
    assert first_data("AT_SEQUENCE_NUMBER", StartingSequenceNumber=written[1]["SequenceNumber"]) == [b"r1", b"r2"]
    assert first_data("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=written[1]["SequenceNumber"]) == [b"r2"]
    latest = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []
    kinesis.put_record(StreamName=stream, PartitionKey="truck-7", Data=b"r3")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=latest)["Records"]] == [b"r3"]


def test_millis_behind_latest_counts_from_the_records_read():
    kinesis = client("kinesis")
    name = f"kinesis-backend-test-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    try:
        shard = kinesis.put_record(StreamName=name, PartitionKey="a", Data=b"old")["ShardId"]
        time.sleep(1.5)
        kinesis.put_record(StreamName=name, PartitionKey="a", Data=b"new")
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        first = kinesis.get_records(ShardIterator=iterator, Limit=1)
        rest = kinesis.get_records(ShardIterator=first["NextShardIterator"])
    finally:
        kinesis.delete_stream(StreamName=name)

    assert first["MillisBehindLatest"] >= 1000
    assert rest["MillisBehindLatest"] == 0


@ferrokinesis_only  # kinesis-local answers 0 behind records that arrived in the tip's millisecond
def test_a_reader_that_pages_until_caught_up_reads_every_record(stream):
    """As the anomaly detector's test harness reads a shard: pages until MillisBehindLatest is 0,
    which AWS answers only when no record follows."""
    kinesis = client("kinesis")
    written = kinesis.put_records(StreamName=stream, Records=[{"Data": f"r{i}".encode(), "PartitionKey": "truck-3"} for i in range(25)])
    shard = written["Records"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    read, pages = [], 0
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=10)
        read += [r["Data"] for r in page["Records"]]
        pages += 1
        if not page["Records"] or page["MillisBehindLatest"] == 0:
            break
        iterator = page["NextShardIterator"]

    assert read == [f"r{i}".encode() for i in range(25)]
    assert pages == 3


def test_a_cloudformation_stream_takes_and_returns_records():
    cfn = client("cloudformation")
    kinesis = client("kinesis")
    name = f"kinesis-backend-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Telemetry": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 2}}},
        "Outputs": {"Name": {"Value": {"Ref": "Telemetry"}}, "Arn": {"Value": {"Fn::GetAtt": ["Telemetry", "Arn"]}}},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    try:
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
        summary = kinesis.describe_stream_summary(StreamARN=outputs["Arn"])["StreamDescriptionSummary"]
        assert summary["StreamName"] == outputs["Name"]
        assert summary["OpenShardCount"] == 2
        assert summary["StreamARN"] == outputs["Arn"]
        assert f":kinesis:{REGION}:000000000000:stream/" in outputs["Arn"]

        put = kinesis.put_record(StreamARN=outputs["Arn"], PartitionKey="truck-1", Data=b'{"t":4.2}')
        iterator = kinesis.get_shard_iterator(
            StreamARN=outputs["Arn"], ShardId=put["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=put["SequenceNumber"]
        )["ShardIterator"]
        assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, StreamARN=outputs["Arn"])["Records"]] == [b'{"t":4.2}']
    finally:
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert outputs["Name"] not in kinesis.list_streams()["StreamNames"]


def cbor_call(operation: str, body: dict) -> bytes:
    """One Kinesis call through LocalStack in CBOR, as the AWS Java SDK makes it: the
    answer's CBOR bytes."""
    request = urllib.request.Request(
        ENDPOINT,
        data=cbor2.dumps(body),
        headers={
            "Content-Type": "application/x-amz-cbor-1.1",
            "X-Amz-Target": f"Kinesis_20131202.{operation}",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20261204/{REGION}/kinesis/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/x-amz-cbor")
        return answer.read()


def test_cbor_requests_are_answered_in_cbor(stream):
    put = cbor2.loads(cbor_call("PutRecord", {"StreamName": stream, "PartitionKey": "truck-1", "Data": b"\x00binary\xff"}))
    iterator = cbor2.loads(
        cbor_call(
            "GetShardIterator",
            {"StreamName": stream, "ShardId": put["ShardId"], "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": put["SequenceNumber"]},
        )
    )["ShardIterator"]

    records = cbor_call("GetRecords", {"ShardIterator": iterator})

    # not decoded with cbor2: LocalStack writes the arrival timestamp as epoch milliseconds
    # under CBOR's epoch tag (the AWS SDKs' convention for Kinesis), which cbor2 reads as seconds
    assert b"\x00binary\xff" in records and put["SequenceNumber"].encode() in records


def set_config(variable: str, value) -> None:
    request = urllib.request.Request(
        f"{ENDPOINT}/_localstack/config",
        data=json.dumps({"variable": variable, "value": value}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except urllib.error.HTTPError as error:
        pytest.fail(f"/_localstack/config refused {variable} ({error.code}): start LocalStack with ENABLE_CONFIG_UPDATES=1 (localstack/start sets it)")


def test_fault_injection_refuses_records_with_provisioned_throughput_exceeded(stream):
    kinesis = client("kinesis")
    set_config("KINESIS_ERROR_PROBABILITY", 1.0)
    try:
        answer = kinesis.put_records(StreamName=stream, Records=[{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(3)])
        with pytest.raises(kinesis.exceptions.ProvisionedThroughputExceededException):
            kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"x")
    finally:
        set_config("KINESIS_ERROR_PROBABILITY", 0.0)

    assert [r["ErrorCode"] for r in answer["Records"]] == ["ProvisionedThroughputExceededException"] * 3
    # LocalStack's injected answer says 1 whatever the number of refused records.
    assert answer["FailedRecordCount"] >= 1
    assert kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"x")["SequenceNumber"]
