"""The `@connections` management API through the AWS SDK's client (boto3's
apigatewaymanagementapi, SigV4-signed, as the functions call it) and raw HTTP
where headers matter, with WebSocket clients on the other end."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import requests
from botocore.exceptions import ClientError
from conftest import GOOD_TOKEN, RawClient, close_code, management_client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


@contextlib.contextmanager
def client(gateway, fake):
    """A connected WebSocket client and its connection id."""
    before = len(fake.events("ws-connect"))
    with connect(f"{gateway.url}?token={GOOD_TOKEN}", open_timeout=5, close_timeout=2) as ws:
        deadline = time.monotonic() + 5
        while len(fake.events("ws-connect")) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        yield ws, fake.events("ws-connect")[before]["requestContext"]["connectionId"]


def error_of(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"].get("Message", "")


def test_post_sends_the_data_to_the_client(gateway, fake, management):
    with client(gateway, fake) as (ws, connection_id):
        event = {"v": 1, "type": "tracking.updated", "id": "S-1:v3", "shipment_id": "S-1", "data": {"mkt_c": 5.4}}
        answer = management.post_to_connection(ConnectionId=connection_id, Data=json.dumps(event).encode())
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        message = ws.recv(timeout=5)
        assert isinstance(message, str) and json.loads(message) == event
        management.post_to_connection(ConnectionId=connection_id, Data="ünïcödé ✓".encode())
        assert ws.recv(timeout=5) == "ünïcödé ✓"
        management.post_to_connection(ConnectionId=connection_id, Data=b"\xff\x00 not utf-8")
        assert ws.recv(timeout=5) == b"\xff\x00 not utf-8"  # binary when it cannot be text


def test_a_message_of_128_kb_reaches_the_client_in_frames_of_at_most_32_kb(gateway, management):
    raw = RawClient(gateway.port)
    assert raw.status == 101
    (connection_id,) = gateway.connection_ids()
    # a two-byte character across each 32 KB boundary: frames never cut a character
    data = ("x" * (32 * 1024 - 1) + "é") * 3 + "x" * (128 * 1024 - 3 * (32 * 1024 + 1))
    assert len(data.encode()) == 128 * 1024
    management.post_to_connection(ConnectionId=connection_id, Data=data.encode())
    frames = []
    while not frames or not frames[-1][0]:
        frames.append(raw.read_frame())
    assert [opcode for _, opcode, _ in frames] == [0x1] + [0x0] * (len(frames) - 1)  # text, then continuations
    assert all(len(payload) <= 32 * 1024 for _, _, payload in frames) and len(frames) == 5
    for _, _, payload in frames:
        payload.decode("utf-8")  # each frame holds whole characters
    assert b"".join(payload for _, _, payload in frames).decode() == data
    raw.close()


def test_post_over_128_kb_is_payload_too_large(gateway, fake, management):
    with client(gateway, fake) as (ws, connection_id):
        status, code, _ = error_of(lambda: management.post_to_connection(
            ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1)))
        assert (status, code) == (413, "PayloadTooLargeException")
        management.post_to_connection(ConnectionId=connection_id, Data=b"still open")
        assert ws.recv(timeout=5) == "still open"


def test_get_describes_the_connection(gateway, fake, management):
    with client(gateway, fake) as (ws, connection_id):
        first = management.get_connection(ConnectionId=connection_id)
        connected_at = fake.events("ws-connect")[0]["requestContext"]["connectedAt"]
        assert first["ConnectedAt"] == datetime.fromtimestamp(connected_at / 1000, UTC)
        assert first["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": ws.request.headers["User-Agent"]}
        time.sleep(0.05)
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        ws.recv(timeout=5)
        later = management.get_connection(ConnectionId=connection_id)
        assert later["LastActiveAt"] > first["LastActiveAt"] >= first["ConnectedAt"]
        assert later["ConnectedAt"] == first["ConnectedAt"]


def test_delete_closes_the_connection_and_invokes_disconnect(gateway, fake, management):
    with client(gateway, fake) as (ws, connection_id):
        answer = management.delete_connection(ConnectionId=connection_id)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1000
    event = fake.wait_for("ws-disconnect")
    assert event["requestContext"]["connectionId"] == connection_id
    assert (event["requestContext"]["disconnectStatusCode"], event["requestContext"]["disconnectReason"]) == (
        1000, "Connection Closed Normally")
    for call in (management.get_connection, management.delete_connection):
        assert error_of(lambda: call(ConnectionId=connection_id))[:2] == (410, "GoneException")
    assert error_of(lambda: management.post_to_connection(ConnectionId=connection_id, Data=b"x"))[:2] == (
        410, "GoneException")


def test_gone_connections(gateway, fake, management):
    assert error_of(lambda: management.get_connection(ConnectionId="SOqGjdZioAMCEeg="))[:2] == (410, "GoneException")
    with client(gateway, fake) as (ws, connection_id):
        ws.close()
    fake.wait_for("ws-disconnect")
    status, code, message = error_of(lambda: management.post_to_connection(ConnectionId=connection_id, Data=b"x"))
    assert (status, code) == (410, "GoneException") and connection_id in message


def test_a_connection_is_gone_while_connect_runs(gateway, fake):
    """As on AWS: $connect's function cannot post to the connection it is deciding on."""
    seen = {}

    def connect_and_post(event):
        connection_id = event["requestContext"]["connectionId"]
        management = management_client(gateway.endpoint)
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=b"too early")
            seen["post"] = "accepted"
        except ClientError as error:
            seen["post"] = error.response["Error"]["Code"]
        return {"statusCode": 200}

    fake.handlers["ws-connect"] = connect_and_post
    with client(gateway, fake) as (ws, connection_id):
        assert seen["post"] == "GoneException"
        management_client(gateway.endpoint).post_to_connection(ConnectionId=connection_id, Data=b"now")
        assert ws.recv(timeout=5) == "now"


def test_functions_may_call_back_while_their_route_runs(gateway, fake):
    """ws-message answering through @connections (as ws-message does) while the gateway waits for it."""

    def reply_through_connections(event):
        management_client(gateway.endpoint).post_to_connection(
            ConnectionId=event["requestContext"]["connectionId"], Data=b'{"v":1,"type":"subscribed"}')
        return {"statusCode": 200}

    fake.handlers["ws-message"] = reply_through_connections
    with client(gateway, fake) as (ws, _):
        ws.send(json.dumps({"v": 1, "action": "subscribe", "shipment_id": "S-1"}))
        assert json.loads(ws.recv(timeout=5)) == {"v": 1, "type": "subscribed"}


def test_requests_need_a_signature_and_the_stage(gateway, fake):
    with client(gateway, fake) as (ws, connection_id):
        url = f"{gateway.endpoint}/@connections/{quote(connection_id, safe='')}"
        unsigned = requests.post(url, data=b"x", timeout=5)
        assert unsigned.status_code == 403
        assert unsigned.headers["x-amzn-ErrorType"] == "ForbiddenException"
        assert unsigned.json() == {"message": "Missing Authentication Token"}
        signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/eu-central-1/execute-api/aws4_request, "
                                   "SignedHeaders=host, Signature=0"}
        assert requests.post(url, data=b"signed", headers=signed, timeout=5).status_code == 200
        assert ws.recv(timeout=5) == "signed"
        wrong_stage = url.replace("/local/", "/prod/")
        answer = requests.post(wrong_stage, data=b"x", headers=signed, timeout=5)
        assert answer.status_code == 403 and answer.headers["x-amzn-ErrorType"] == "ForbiddenException"
        gone = requests.get(f"{gateway.endpoint}/@connections/nope", headers=signed, timeout=5)
        assert gone.status_code == 410 and gone.headers["x-amzn-ErrorType"] == "GoneException"
        assert "message" in gone.json()
        # '@' may come percent-encoded too
        encoded = requests.get(url.replace("@connections", "%40connections"), headers=signed, timeout=5)
        assert encoded.status_code == 200 and set(encoded.json()) == {"connectedAt", "identity", "lastActiveAt"}
        assert requests.put(url, data=b"x", headers=signed, timeout=5).status_code == 403


def test_many_posts_over_one_kept_alive_connection(gateway, fake, management):
    with client(gateway, fake) as (ws, connection_id):
        threads = [threading.Thread(target=lambda i=i: management.post_to_connection(
            ConnectionId=connection_id, Data=f"message {i}".encode())) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        received = {ws.recv(timeout=5) for _ in range(50)}
        assert received == {f"message {i}" for i in range(50)}


def test_a_client_that_does_not_read_gets_limit_exceeded(make_gateway, fake):
    running = make_gateway(send_buffer_limit=64 * 1024)
    raw = RawClient(running.port)  # never reads
    raw.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    (connection_id,) = running.connection_ids()
    management = management_client(running.endpoint)
    codes = []
    for _ in range(200):
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * 100 * 1024)
        except ClientError as error:
            codes.append((error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]))
            break
    assert codes == [(429, "LimitExceededException")]
    raw.close()


def test_delete_sends_a_normal_close_frame(gateway, management):
    raw = RawClient(gateway.port)
    (connection_id,) = gateway.connection_ids()
    management.delete_connection(ConnectionId=connection_id)
    # gone at once, even though this client has not answered the close frame yet
    assert error_of(lambda: management.get_connection(ConnectionId=connection_id))[:2] == (410, "GoneException")
    fin, opcode, payload = raw.read_frame()
    assert opcode == 0x8 and close_code(payload) == 1000
    raw.close()
