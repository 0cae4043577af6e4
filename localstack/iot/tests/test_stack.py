"""End to end against the running local stack and its IoT broker (localstack/up
starts both): a device registered through the REST API publishes over MQTT and
its reading arrives in the telemetry stream in the HTTPS ingest's format."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import requests
from conftest import Device, closed_by_peer, raw_connect

from pharmaguard_iot import mqtt

STATE_DIR = Path(os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state")
IOT_HOST = os.environ.get("PHARMAGUARD_IOT_HOST", "127.0.0.1")
IOT_PORT = int(os.environ.get("PHARMAGUARD_IOT_PORT", "1883"))


class Stack:
    def __init__(self):
        outputs_file = STATE_DIR / "outputs.json"
        admin_file = STATE_DIR / "admin.json"
        if not outputs_file.exists() or not admin_file.exists():
            pytest.fail(f"no deployed local stack ({outputs_file} or {admin_file} missing): run localstack/up")
        self.outputs = json.loads(outputs_file.read_text())
        self.api = self.outputs["ApiBaseUrl"]
        self.stream = self.outputs["TelemetryStreamName"]
        self.kinesis = boto3.client(
            "kinesis", endpoint_url=self.outputs["AwsEndpointUrl"], region_name=self.outputs["Region"],
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        admin = json.loads(admin_file.read_text())
        login = requests.post(f"{self.api}/v1/auth/login", json={"email": admin["email"], "password": admin["password"]},
                              timeout=30)
        assert login.status_code == 200, login.text
        self.headers = {"authorization": f"Bearer {login.json()['access_token']}"}
        org = requests.post(f"{self.api}/v1/auth/organisations", headers=self.headers, timeout=30,
                            json={"name": f"IoT test {uuid.uuid4().hex[:6]}", "kind": "LOGISTICS_OPERATOR"})
        assert org.status_code == 201, org.text
        self.org_id = org.json()["id"]

    def register_device(self) -> tuple[str, str]:
        device_id = f"iot-test-{uuid.uuid4().hex[:10]}"
        response = requests.post(f"{self.api}/v1/auth/devices", headers=self.headers, timeout=30,
                                 json={"device_id": device_id, "name": "IoT broker test sensor", "org_id": self.org_id})
        assert response.status_code == 201, response.text
        return device_id, response.json()["secret"]

    def iterators(self) -> list[str]:
        """An iterator per shard, at the end of the stream (before anything is published)."""
        shards = self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        return [
            self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard["ShardId"],
                                            ShardIteratorType="LATEST")["ShardIterator"]
            for shard in shards
        ]

    def records_until(self, iterators: list[str], done, timeout: float = 15) -> list[dict]:
        """Reads the stream from the iterators until done(records) or the timeout."""
        records: list[dict] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, iterator in enumerate(iterators):
                answer = self.kinesis.get_records(ShardIterator=iterator, Limit=1000)
                iterators[index] = answer["NextShardIterator"]
                records.extend(answer["Records"])
            if done(records):
                return records
            time.sleep(0.2)
        return records


@pytest.fixture(scope="module")
def stack() -> Stack:
    try:
        sock, _ = raw_connect(IOT_PORT, mqtt.Connect("probe", True, 5))
        sock.close()
    except OSError as error:
        pytest.fail(f"the IoT broker is not listening on {IOT_HOST}:{IOT_PORT} ({error}): localstack/iot-broker start")
    return Stack()


def reading(device_id: str, n: int) -> dict:
    return {
        "v": 1,
        "reading_id": f"{device_id}-{n:04d}",
        "ts": (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "lat": 52.37,
        "lon": 4.89,
        "temperature_c": 5.2,
        "vibration_g": 0.3,
    }


def of_device(device_id: str):
    return lambda record: record["PartitionKey"] == device_id


def test_a_device_publishes_and_its_reading_reaches_the_stream(stack):
    device_id, secret = stack.register_device()
    iterators = stack.iterators()
    device = Device(IOT_PORT, device_id, device_id, secret)
    try:
        assert device.accepted, device.reason
        sent = {**reading(device_id, 1), "device_id": "claimed-by-payload"}
        before = datetime.now(UTC) - timedelta(seconds=1)
        info = device.publish(f"pharmaguard/devices/{device_id}/telemetry", json.dumps(sent), qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), "no PUBACK for a QoS 1 publish"
        after = datetime.now(UTC) + timedelta(seconds=1)
    finally:
        device.close()
    records = stack.records_until(iterators, lambda rs: any(map(of_device(device_id), rs)))
    mine = [record for record in records if of_device(device_id)(record)]
    assert len(mine) == 1, records
    data = json.loads(mine[0]["Data"])
    assert data == {
        **sent,
        "device_id": device_id,
        "source": "mqtt",
        "received_at": data["received_at"],
        "sender": {"kind": "device", "device_id": device_id, "org_id": data["sender"]["org_id"]},
    }
    assert data["sender"]["org_id"].startswith("org-"), data
    received_at = datetime.fromisoformat(data["received_at"])
    assert data["received_at"].endswith("Z") and before <= received_at <= after


def test_a_wrong_secret_is_refused(stack):
    device_id, _ = stack.register_device()
    sock, answer = raw_connect(IOT_PORT, mqtt.Connect(device_id, True, 30, username=device_id, password=b"not-the-secret"))
    try:
        assert answer == b"\x20\x02\x00\x04"  # CONNACK, bad user name or password
        assert closed_by_peer(sock)
    finally:
        sock.close()


def test_nothing_published_to_another_devices_topic_reaches_the_stream(stack):
    (mallory, mallory_secret), (victim, _) = stack.register_device(), stack.register_device()
    iterators = stack.iterators()
    intruder = Device(IOT_PORT, mallory, mallory, mallory_secret)
    try:
        assert intruder.accepted
        intruder.publish(f"pharmaguard/devices/{victim}/telemetry", json.dumps(reading(victim, 1)), qos=1)
        assert intruder.disconnected.wait(5), "the broker kept a device that published to another's topic"
    finally:
        intruder.close()
    # then a legitimate reading: once it is in the stream, the forged one would be too
    honest = Device(IOT_PORT, mallory, mallory, mallory_secret)
    try:
        honest.publish(f"pharmaguard/devices/{mallory}/telemetry", json.dumps(reading(mallory, 2)), qos=1).wait_for_publish(10)
    finally:
        honest.close()
    records = stack.records_until(iterators, lambda rs: any(map(of_device(mallory), rs)))
    assert any(map(of_device(mallory), records))
    assert not [record for record in records if victim.encode() in record["Data"] or record["PartitionKey"] == victim]
