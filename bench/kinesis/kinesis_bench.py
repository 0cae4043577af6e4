"""Local Kinesis servers side by side: the same load and the same semantic checks
against each candidate, started standalone on a free loopback port.

Load: a fresh 1-shard stream, ``PutRecords`` of 500 records of about 250 bytes
until the shard holds ``--records`` records. At the fill levels ``--levels`` it
times the next ``PutRecords`` call and a ``GetRecords`` (Limit 500) from a
TRIM_HORIZON, a LATEST and an AFTER_SEQUENCE_NUMBER iterator (the last 500
records: where a consumer that keeps up reads). A candidate whose call takes
longer than ``--give-up`` seconds is stopped there.

Semantics: records routed by partition key over 4 shards (MD5 of the key in
the shard's hash key range), sequence numbers increasing per shard, the
iterator types, streams named by ``StreamARN``, ``MillisBehindLatest``, a request in CBOR (as the AWS Java SDK
sends it), and how a record over the shard's write limit is reported.

``--sustain SECONDS`` instead writes ``--rate`` records/s (1 000) for that long into
one shard while one consumer reads it, and reports the call times and how long
records took from their PutRecords to being read.

Run by ``bench/kinesis/run``, which says where the candidates are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

ACCOUNT = "000000000000"
REGION = "eu-central-1"
BATCH = 500
# Shaped like a telemetry reading; with the partition key about 250 bytes per record.
READING = (
    '{"device_id":"truck-%03d","shipment_id":"shp-7f3a9c2e","recorded_at":"2026-12-04T01:20:00.000Z",'
    '"temperature_c":4.25,"humidity_pct":61.5,"door_open":false,"battery_pct":87,'
    '"lat":52.520008,"lon":13.404954,"seq":%08d,"source":"https","pad":"%s"}'
)


KINDS = ("kinesis-local", "ferrokinesis", "endpoint")


@dataclass
class Candidate:
    name: str
    kind: str  # one of KINDS
    path: str  # main.js, the binary, or the URL of a running Kinesis endpoint (LocalStack's)


@dataclass
class Level:
    records: int
    put_s: float | None = None
    trim_horizon_s: float | None = None
    latest_s: float | None = None
    after_sequence_s: float | None = None


@dataclass
class LoadResult:
    levels: list[Level] = field(default_factory=list)
    records: int = 0
    put_seconds: float = 0.0
    failed_records: int = 0
    gave_up: str = ""

    @property
    def records_per_second(self) -> float:
        return self.records / self.put_seconds if self.put_seconds else 0.0


# --- the servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(candidate: Candidate, port: int, enforce_limits: bool = False) -> tuple[list[str], dict]:
    """The command line and environment that start ``candidate`` on ``port``, with
    no simulated delays and no persistence (as the local stack runs them)."""
    env = dict(os.environ, AWS_ACCOUNT_ID=ACCOUNT, AWS_REGION=REGION)
    if candidate.kind == "ferrokinesis":
        command = [
            candidate.path,
            "--port", str(port),
            "--account-id", ACCOUNT,
            "--region", REGION,
            "--create-stream-ms", "0",
            "--delete-stream-ms", "0",
            "--update-stream-ms", "0",
            "--log-level", "warn",
            "--enforce-limits", "true" if enforce_limits else "false",
        ]
        return command, env
    durations = [
        "CREATE_STREAM_DURATION", "DELETE_STREAM_DURATION", "REGISTER_STREAM_CONSUMER_DURATION",
        "MERGE_SHARDS_DURATION", "SPLIT_SHARD_DURATION", "UPDATE_SHARD_COUNT_DURATION",
    ]
    env.update({name: "0ms" for name in durations})
    env.update(
        KINESIS_MOCK_PLAIN_PORT=str(port),
        KINESIS_MOCK_TLS_PORT=str(free_port()),
        KINESIS_MOCK_CERT_PATH=str(Path(candidate.path).parent / "server.json"),
        SHOULD_PERSIST_DATA="false",
        LOG_LEVEL="WARN",
    )
    return ["node", candidate.path], env


class Endpoint:
    """A Kinesis endpoint that runs already (LocalStack's): nothing to start or stop."""

    def __init__(self, candidate: Candidate):
        self.candidate = candidate
        self.endpoint = candidate.path

    def client(self, read_timeout: float = 120):
        return kinesis_client(self.endpoint, read_timeout)

    def stop(self) -> None:
        pass


def kinesis_client(endpoint: str, read_timeout: float):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5),
    )


def connect(candidate: Candidate):
    return Endpoint(candidate) if candidate.kind == "endpoint" else Server(candidate)


class Server:
    def __init__(self, candidate: Candidate, enforce_limits: bool = False):
        self.candidate = candidate
        self.port = free_port()
        command, env = server_command(candidate, self.port, enforce_limits)
        self.log = open(Path(os.environ.get("BENCH_DIR", ".")) / f"{candidate.name}.log", "a")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_until_listening()

    def wait_until_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.candidate.name} exited with {self.process.returncode}; see {self.log.name}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise SystemExit(f"{self.candidate.name} did not listen on port {self.port} within {timeout} s; see {self.log.name}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, read_timeout: float = 120):
        return kinesis_client(self.endpoint, read_timeout)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


RUN = uuid.uuid4().hex[:6]


def create_stream(kinesis, prefix: str, shards: int) -> str:
    """A fresh stream named after ``prefix`` and this run, once it is ACTIVE."""
    name = f"{prefix}-{RUN}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + 30
    while kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"stream {name} did not become ACTIVE within 30 s")
        time.sleep(0.05)
    return name


def batch(start: int, size: int = BATCH) -> list[dict]:
    records = []
    for seq in range(start, start + size):
        data = READING % (seq % 100, seq, "x" * 8)
        records.append({"Data": data.encode(), "PartitionKey": f"truck-{seq % 100:03d}"})
    return records


# --- the load ------------------------------------------------------------------------------------


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def first_shard(kinesis, stream: str) -> str:
    return kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]


def iterator_of(kinesis, stream: str, shard: str, kind: str, sequence: str | None = None) -> str:
    args = {"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind}
    if sequence:
        args["StartingSequenceNumber"] = sequence
    return kinesis.get_shard_iterator(**args)["ShardIterator"]


def time_reads(kinesis, stream: str, shard: str, level: Level, tail_sequence: str | None) -> None:
    """Times one GetRecords (Limit 500) per iterator type at this fill level."""
    read = lambda it: kinesis.get_records(ShardIterator=it, Limit=BATCH)  # noqa: E731
    level.trim_horizon_s, _ = timed(lambda: read(iterator_of(kinesis, stream, shard, "TRIM_HORIZON")))
    level.latest_s, _ = timed(lambda: read(iterator_of(kinesis, stream, shard, "LATEST")))
    if tail_sequence:
        level.after_sequence_s, _ = timed(
            lambda: read(iterator_of(kinesis, stream, shard, "AFTER_SEQUENCE_NUMBER", tail_sequence))
        )


def run_load(server: Server, total: int, levels: list[int], give_up: float) -> LoadResult:
    kinesis = server.client()
    stream = create_stream(kinesis, "bench-load", 1)
    shard = first_shard(kinesis, stream)
    result = LoadResult()
    sequences: list[str] = []  # the last sequence number of each call
    pending = sorted(levels)
    # The last call is the one made at `total` records (the shard ends with one batch more).
    while result.records <= total:
        level = Level(result.records) if pending and result.records >= pending[0] else None
        if level:
            pending.pop(0)
            # the newest 500 records: after the last sequence number of the call before the last one
            time_reads(kinesis, stream, shard, level, sequences[-2] if len(sequences) >= 2 else None)
            result.levels.append(level)
        try:
            seconds, answer = timed(lambda: kinesis.put_records(StreamName=stream, Records=batch(result.records)))
        except Exception as error:  # noqa: BLE001 - a timeout or a dead server ends this candidate's run
            result.gave_up = f"PutRecords failed at {result.records} records: {error}"
            break
        result.put_seconds += seconds
        result.failed_records += answer["FailedRecordCount"]
        result.records += BATCH - answer["FailedRecordCount"]
        sequences.append(answer["Records"][-1].get("SequenceNumber", sequences[-1] if sequences else ""))
        if level:
            level.put_s = seconds
        if seconds > give_up:
            result.gave_up = f"stopped at {result.records} records: one PutRecords took {seconds:.1f} s (> {give_up:g} s)"
            break
        if result.records // 10_000 != (result.records - BATCH) // 10_000:
            print(f"  {server.candidate.name}: {result.records} records, last call {seconds * 1000:.0f} ms", file=sys.stderr)
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def record_seq(data: bytes) -> int:
    start = data.index(b'"seq":') + len(b'"seq":')
    return int(data[start : start + 8])


def read_until(kinesis, stream: str, shard: str, total: int, sent_at: dict[int, float], lags: list[float], deadline: float) -> None:
    """A consumer as LocalStack's poller is one: pages from TRIM_HORIZON, waits 0.2 s when
    caught up; notes each record's time from the start of its PutRecords to being read
    (by the writer's clock: servers' arrival timestamps may be whole seconds)."""
    iterator = iterator_of(kinesis, stream, shard, "TRIM_HORIZON")
    while len(lags) < total and time.monotonic() < deadline:
        page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        now = time.monotonic()
        lags.extend(now - sent_at[record_seq(record["Data"]) // BATCH] for record in page["Records"])
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            time.sleep(0.2)


def run_sustained(server, rate: int, seconds: int) -> dict:
    """``rate`` records/s for ``seconds`` s (a PutRecords of 500 every 500/rate s) into one
    shard, read at the same time by one consumer."""
    kinesis = server.client()
    stream = create_stream(kinesis, "bench-sustain", 1)
    shard = first_shard(kinesis, stream)
    total = rate * seconds // BATCH * BATCH
    lags: list[float] = []
    sent_at: dict[int, float] = {}
    reader = threading.Thread(target=read_until, args=(server.client(), stream, shard, total, sent_at, lags, time.monotonic() + seconds + 120))
    reader.start()
    calls, failed, started = [], 0, time.monotonic()
    for index in range(total // BATCH):
        time.sleep(max(0.0, started + index * BATCH / rate - time.monotonic()))
        sent_at[index] = time.monotonic()
        duration, answer = timed(lambda: kinesis.put_records(StreamName=stream, Records=batch(index * BATCH)))
        calls.append(duration)
        failed += answer["FailedRecordCount"]
    sending = time.monotonic() - started
    reader.join()
    return {
        "records": total,
        "refused": failed,
        "sending_s": sending,
        # the last call is due at seconds - 500/rate: sending takes longer only if calls fell behind
        "kept_the_rate": sending <= seconds,
        "put_p50_s": percentile(calls, 0.5),
        "put_p95_s": percentile(calls, 0.95),
        "put_max_s": max(calls),
        "read": len(lags),
        "read_lag_p50_s": percentile(lags, 0.5),
        "read_lag_p95_s": percentile(lags, 0.95),
        "read_lag_max_s": max(lags, default=0.0),
    }


def print_sustained(name: str, result: dict, rate: int, seconds: int) -> None:
    print(f"\n{name}: {rate} records/s for {seconds} s into one shard, one consumer reading\n")
    print("| sent | kept the rate | refused | PutRecords p50 / p95 / max | read | PutRecords start → read p50 / p95 / max |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {result['records']} in {result['sending_s']:.1f} s | {'yes' if result['kept_the_rate'] else 'no'} | {result['refused']} "
        f"| {seconds_text(result['put_p50_s'])} / {seconds_text(result['put_p95_s'])} / {seconds_text(result['put_max_s'])} "
        f"| {result['read']} | {seconds_text(result['read_lag_p50_s'])} / {seconds_text(result['read_lag_p95_s'])} / {seconds_text(result['read_lag_max_s'])} |"
    )


# --- semantics -----------------------------------------------------------------------------------


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def shard_for(shards: list[dict], partition_key: str) -> str:
    key = hash_key(partition_key)
    for shard in shards:
        key_range = shard["HashKeyRange"]
        if int(key_range["StartingHashKey"]) <= key <= int(key_range["EndingHashKey"]):
            return shard["ShardId"]
    return "none"


def check_routing(kinesis, stream: str) -> tuple[str, dict[str, list[tuple[int, str]]]]:
    """Puts 200 records with 20 keys; each key must land in the shard its MD5 hash selects."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    written: dict[str, list[tuple[int, str]]] = {}
    wrong = 0
    for start in (0, 100):
        records = [{"Data": f"r{i}".encode(), "PartitionKey": f"truck-{i % 20}"} for i in range(start, start + 100)]
        answer = kinesis.put_records(StreamName=stream, Records=records)
        for record, entry in zip(records, answer["Records"]):
            wrong += entry["ShardId"] != shard_for(shards, record["PartitionKey"])
            written.setdefault(entry["ShardId"], []).append((int(entry["SequenceNumber"]), record["Data"].decode()))
    verdict = f"ok: {len(written)} of {len(shards)} shards used" if not wrong else f"{wrong} of 200 records in another shard than their hash key's"
    return verdict, written


def check_sequences(kinesis, stream: str, written: dict[str, list[tuple[int, str]]]) -> str:
    """Sequence numbers must increase per shard, and GetRecords must return that order."""
    problems = []
    for shard, records in written.items():
        numbers = [number for number, _ in records]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            problems.append(f"{shard}: not increasing in write order")
        read = kinesis.get_records(ShardIterator=iterator_of(kinesis, stream, shard, "TRIM_HORIZON"), Limit=1000)["Records"]
        if [r["Data"].decode() for r in read] != [data for _, data in records]:
            problems.append(f"{shard}: read back in another order")
    return "ok" if not problems else "; ".join(problems)


def check_iterators(kinesis, stream: str, written: dict[str, list[tuple[int, str]]]) -> str:
    shard, records = max(written.items(), key=lambda item: len(item[1]))
    (first_seq, first_data), (second_seq, second_data) = records[0], records[1]
    get = lambda it: kinesis.get_records(ShardIterator=it, Limit=10)["Records"]  # noqa: E731
    at_timestamp = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() - 3600
    )["ShardIterator"]
    outcomes = {
        "TRIM_HORIZON": get(iterator_of(kinesis, stream, shard, "TRIM_HORIZON"))[:1],
        "AT_TIMESTAMP": get(at_timestamp)[:1],
        "AT_SEQUENCE_NUMBER": get(iterator_of(kinesis, stream, shard, "AT_SEQUENCE_NUMBER", str(second_seq)))[:1],
        "AFTER_SEQUENCE_NUMBER": get(iterator_of(kinesis, stream, shard, "AFTER_SEQUENCE_NUMBER", str(first_seq)))[:1],
    }
    expected = {"TRIM_HORIZON": first_data, "AT_TIMESTAMP": first_data, "AT_SEQUENCE_NUMBER": second_data, "AFTER_SEQUENCE_NUMBER": second_data}
    problems = [kind for kind, got in outcomes.items() if [r["Data"].decode() for r in got] != [expected[kind]]]
    latest = iterator_of(kinesis, stream, shard, "LATEST")
    if get(latest):
        problems.append("LATEST returned old records")
    key = next(f"truck-{i}" for i in range(20) if shard_for(kinesis.list_shards(StreamName=stream)["Shards"], f"truck-{i}") == shard)
    kinesis.put_record(StreamName=stream, PartitionKey=key, Data=b"after-latest")
    if [r["Data"] for r in get(latest)] != [b"after-latest"]:
        problems.append("LATEST missed the new record")
    return "ok (TRIM_HORIZON, AT_TIMESTAMP, AT_/AFTER_SEQUENCE_NUMBER, LATEST)" if not problems else "wrong: " + ", ".join(problems)


def check_arrival_timestamps(written: dict[str, list[tuple[int, str]]], kinesis, stream: str) -> str:
    """Whether ``ApproximateArrivalTimestamp`` has milliseconds (AWS) or whole seconds."""
    shard = next(iter(written))
    records = kinesis.get_records(ShardIterator=iterator_of(kinesis, stream, shard, "TRIM_HORIZON"), Limit=100)["Records"]
    fractions = {record["ApproximateArrivalTimestamp"].microsecond for record in records}
    return "milliseconds" if fractions != {0} else f"whole seconds ({len(records)} records, none with milliseconds)"


def check_stream_arn(kinesis, stream: str) -> str:
    """The operations LocalStack's CloudFormation and event source mappings call with a
    ``StreamARN`` instead of a ``StreamName``."""
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    calls = {
        "DescribeStreamSummary": lambda: kinesis.describe_stream_summary(StreamARN=arn),
        "DescribeStream": lambda: kinesis.describe_stream(StreamARN=arn),
        "ListShards": lambda: kinesis.list_shards(StreamARN=arn),
        "GetShardIterator": lambda: kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard, ShardIteratorType="LATEST"),
        "PutRecord": lambda: kinesis.put_record(StreamARN=arn, PartitionKey="a", Data=b"by-arn"),
    }
    refused = []
    for operation, call in calls.items():
        try:
            call()
        except kinesis.exceptions.ClientError as error:
            refused.append(f"{operation} ({error.response['Error']['Code']})")
    return "ok (" + ", ".join(calls) + ")" if not refused else "refused: " + ", ".join(refused)


def check_millis_behind(kinesis) -> str:
    """Two records 2 s apart: reading the first should be about 2 000 ms behind, the tip 0."""
    stream = create_stream(kinesis, "bench-behind", 1)
    shard = first_shard(kinesis, stream)
    kinesis.put_record(StreamName=stream, PartitionKey="a", Data=b"old")
    time.sleep(2)
    kinesis.put_record(StreamName=stream, PartitionKey="a", Data=b"new")
    first = kinesis.get_records(ShardIterator=iterator_of(kinesis, stream, shard, "TRIM_HORIZON"), Limit=1)
    rest = kinesis.get_records(ShardIterator=first["NextShardIterator"], Limit=10)
    return f"{first.get('MillisBehindLatest', 'absent')} ms after the first record, {rest.get('MillisBehindLatest', 'absent')} ms at the tip"


def check_cbor(server: Server) -> str:
    """A ListStreams and a PutRecord in CBOR, as the AWS Java SDK sends them by default."""
    import cbor2

    def call(target: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            server.endpoint,
            data=cbor2.dumps(body),
            headers={
                "Content-Type": "application/x-amz-cbor-1.1",
                "X-Amz-Target": f"Kinesis_20131202.{target}",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20261204/{REGION}/kinesis/aws4_request, SignedHeaders=host, Signature=0",
                "X-Amz-Date": "20261204T000000Z",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, cbor2.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, {"error": error.read()[:200]}

    status, answer = call("PutRecord", {"StreamName": f"bench-behind-{RUN}", "PartitionKey": "c", "Data": b"cbor"})
    if status != 200 or "SequenceNumber" not in answer:
        return f"refused: {status} {answer}"
    return "ok (PutRecord answered in CBOR)"


def check_write_limit(candidate: Candidate) -> str:
    """Three PutRecords of 500 to one shard at once (1 500 records in well under a second,
    over AWS's 1 000 records/s per shard): what does a refused record look like?"""
    server = Server(candidate, enforce_limits=True)
    try:
        kinesis = server.client()
        stream = create_stream(kinesis, "bench-limit", 1)
        answers = [kinesis.put_records(StreamName=stream, Records=batch(i * BATCH)) for i in range(3)]
    finally:
        server.stop()
    failed = sum(a["FailedRecordCount"] for a in answers)
    if not failed:
        return "never refuses a record (no shard limits)"
    codes = sorted({r["ErrorCode"] for a in answers for r in a["Records"] if r.get("ErrorCode")})
    counted = sum(1 for a in answers for r in a["Records"] if r.get("ErrorCode"))
    consistent = "= the failed entries" if counted == failed else f"but {counted} entries have an ErrorCode"
    return f"{failed} of 1500 refused ({', '.join(codes)}), FailedRecordCount {consistent}"


def run_semantics(server: Server) -> dict[str, str]:
    kinesis = server.client()
    stream = create_stream(kinesis, "bench-semantics", 4)
    results = {}
    results["routing by partition key"], written = check_routing(kinesis, stream)
    results["sequence numbers per shard"] = check_sequences(kinesis, stream, written)
    results["shard iterators"] = check_iterators(kinesis, stream, written)
    results["stream named by StreamARN"] = check_stream_arn(kinesis, stream)
    results["ApproximateArrivalTimestamp"] = check_arrival_timestamps(written, kinesis, stream)
    results["MillisBehindLatest"] = check_millis_behind(kinesis)
    results["CBOR requests"] = check_cbor(server)
    return results


# --- the report ----------------------------------------------------------------------------------


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def print_report(candidates: list[Candidate], loads: dict[str, LoadResult], semantics: dict[str, dict[str, str]]) -> None:
    names = [c.name for c in candidates]
    header = "| |" + "|".join(f" {n} " for n in names) + "|"
    rule = "|---|" + "---|" * len(names)
    print("\nPutRecords (500 records) / GetRecords (Limit 500: TRIM_HORIZON, LATEST, AFTER_SEQUENCE_NUMBER) per call, by records in the shard\n")
    print(header)
    print(rule)
    levels = sorted({level.records for load in loads.values() for level in load.levels})
    for records in levels:
        row = []
        for name in names:
            level = next((lv for lv in loads[name].levels if lv.records == records), None)
            row.append(
                "not reached"
                if level is None
                else f"{seconds_text(level.put_s)} / {seconds_text(level.trim_horizon_s)}, {seconds_text(level.latest_s)}, {seconds_text(level.after_sequence_s)}"
            )
        print(f"| {records:,} |".replace(",", " ") + "|".join(f" {cell} " for cell in row) + "|")
    print("| records/s (PutRecords time only) |" + "|".join(f" {loads[n].records_per_second:,.0f} ".replace(",", " ") for n in names) + "|")
    print("| records written |" + "|".join(f" {loads[n].records} ({loads[n].failed_records} refused) " for n in names) + "|")
    print("| gave up |" + "|".join(f" {loads[n].gave_up or 'no'} " for n in names) + "|")
    print("\nSemantics\n")
    print(header)
    print(rule)
    for check in dict.fromkeys(check for results in semantics.values() for check in results):
        print(f"| {check} |" + "|".join(f" {semantics[n].get(check, '—')} " for n in names) + "|")


def sustain(args) -> None:
    figures = {}
    for candidate in args.candidates:
        print(f"==> {candidate.name}", file=sys.stderr)
        server = connect(candidate)
        try:
            figures[candidate.name] = run_sustained(server, args.rate, args.sustain)
        finally:
            server.stop()
        print_sustained(candidate.name, figures[candidate.name], args.rate, args.sustain)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def parse_candidate(text: str) -> Candidate:
    name, kind, path = text.split(":", 2)
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown kind {kind!r} in {text!r}: use one of {', '.join(KINDS)}")
    return Candidate(name, kind, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", type=parse_candidate, help="NAME:KIND:PATH (KIND: kinesis-local, ferrokinesis, or endpoint with a URL as PATH)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--levels", default="0,1000,10000,50000,100000")
    parser.add_argument("--give-up", type=float, default=10.0, help="stop a candidate once one PutRecords takes longer (s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--sustain", type=int, metavar="SECONDS", help="instead: RATE records/s for SECONDS s with a consumer reading")
    parser.add_argument("--rate", type=int, default=1000, help="records/s for --sustain")
    args = parser.parse_args()
    if args.sustain:
        sustain(args)
        return
    levels = [int(level) for level in args.levels.split(",")]
    loads, semantics = {}, {}
    for candidate in args.candidates:
        print(f"==> {candidate.name}", file=sys.stderr)
        server = connect(candidate)
        try:
            semantics[candidate.name] = run_semantics(server)
            loads[candidate.name] = run_load(server, args.records, levels, args.give_up)
        finally:
            server.stop()
        if candidate.kind != "endpoint":  # the server is started with its limits on for this
            semantics[candidate.name]["records over the write limit"] = check_write_limit(candidate)
    print_report(args.candidates, loads, semantics)
    if args.json:
        figures = {name: {"load": load.__dict__ | {"levels": [lv.__dict__ for lv in load.levels]}, "semantics": semantics[name]} for name, load in loads.items()}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
