"""The gateway with a fake Lambda, through real WebSocket clients (the `websockets`
library, and raw frames where the bytes matter): the handshake decided by
`$connect`, routing, API Gateway's limits and timeouts, and `$disconnect`."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import time

import pytest
from conftest import GOOD_TOKEN, ROUTES, RawClient, close_code
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from pharmaguard_ws.invoker import Invocation, InvokeFailed

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{14}=$")


def open_client(running, token: str = GOOD_TOKEN, **kwargs):
    return connect(f"{running.url}?token={token}", open_timeout=5, close_timeout=2, **kwargs)


def closed(ws, timeout: float = 5) -> ConnectionClosed:
    """Waits until the gateway closes the connection; returns how."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=timeout)
    return info.value


def refusal(running, **kwargs) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        open_client(running, **kwargs)
    return info.value


# ------------------------------------------------------------------ handshake

def test_connect_invokes_connect_with_api_gateways_event(gateway, fake):
    with open_client(gateway, additional_headers={"Origin": "http://localhost:5173"},
                     user_agent_header="pharmaguard-test/1") as ws:
        event = fake.wait_for("ws-connect")
        context = event["requestContext"]
        assert context["routeKey"] == "$connect" and context["eventType"] == "CONNECT"
        assert ID.match(context["connectionId"]) and ID.match(context["requestId"])
        assert context["stage"] == "local" and context["domainName"] == f"127.0.0.1:{gateway.port}"
        assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "pharmaguard-test/1"}
        assert abs(context["connectedAt"] - time.time() * 1000) < 5000
        assert event["queryStringParameters"] == {"token": GOOD_TOKEN}
        assert event["headers"]["Origin"] == "http://localhost:5173"
        assert event["headers"]["Sec-WebSocket-Version"] == "13"
        assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
        assert gateway.connection_ids() == [context["connectionId"]]
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"v": 1, "type": "pong"}


def test_a_refusing_connect_refuses_the_handshake_with_its_status_and_body(gateway, fake):
    error = refusal(gateway, token="wrong")
    assert error.response.status_code == 401
    assert json.loads(error.response.body) == {"message": "Unauthorized"}
    fake.handlers["ws-connect"] = lambda event: {"statusCode": 403}
    assert refusal(gateway).response.status_code == 403
    assert gateway.connection_ids() == []
    assert fake.events("ws-disconnect") == []  # a connection that never opened is never disconnected


@pytest.mark.parametrize(("answer", "status"), [
    (Invocation(payload={"errorMessage": "boom", "errorType": "Panic"}, error="Unhandled"), 502),
    ({"body": "no status code"}, 502),
    (None, 502),
])
def test_a_failing_connect_refuses_the_handshake(gateway, fake, answer, status):
    fake.handlers["ws-connect"] = lambda event: answer
    error = refusal(gateway)
    assert error.response.status_code == status
    assert json.loads(error.response.body) == {"message": "Internal server error"}


def test_connect_that_cannot_be_invoked_is_a_502(gateway, fake):
    def missing(event):
        raise InvokeFailed("Function not found: ws-connect")

    fake.handlers["ws-connect"] = missing
    assert refusal(gateway).response.status_code == 502


def test_connect_that_outlives_the_integration_timeout_is_a_504(make_gateway, fake):
    running = make_gateway(integration_timeout=0.3)
    fake.delay["ws-connect"] = 2
    error = refusal(running)
    assert error.response.status_code == 504
    assert json.loads(error.response.body) == {"message": "Endpoint request timed out"}


def test_only_the_stage_is_served(gateway, fake):
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{gateway.port}/prod?token={GOOD_TOKEN}", open_timeout=5)
    assert info.value.response.status_code == 403
    with connect(f"ws://127.0.0.1:{gateway.port}/local/?token={GOOD_TOKEN}", open_timeout=5):
        pass
    assert len(fake.events("ws-connect")) == 1


def test_the_subprotocol_connect_returns_is_confirmed(gateway, fake):
    fake.handlers["ws-connect"] = lambda event: {
        "statusCode": 200, "headers": {"Sec-WebSocket-Protocol": event["headers"]["Sec-WebSocket-Protocol"]}}
    with open_client(gateway, subprotocols=["pharmaguard.v1"]) as ws:
        assert ws.subprotocol == "pharmaguard.v1"


def raw_answer(port: int, request: bytes) -> str:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request)
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    return answer.decode("latin-1")


def test_handshakes_that_are_not_websocket_are_refused(gateway, fake):
    head = b"GET /local HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    answer = raw_answer(gateway.port, head + b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
                                             b"Sec-WebSocket-Version: 8\r\n\r\n")
    assert answer.startswith("HTTP/1.1 426") and "Sec-WebSocket-Version: 13" in answer
    answer = raw_answer(gateway.port, head + b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert answer.startswith("HTTP/1.1 400") and "Sec-WebSocket-Key" in answer
    answer = raw_answer(gateway.port, b"GET /local HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                      b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert answer.startswith("HTTP/1.1 400") and "Connection: Upgrade" in answer
    answer = raw_answer(gateway.port, b"GET /local?token=" + b"t" * 5000 + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert answer.startswith("HTTP/1.1 414")
    assert fake.calls == []


def test_without_deployed_functions_handshakes_are_refused_with_a_reason(make_gateway, fake):
    running = make_gateway(routes={})
    error = refusal(running)
    assert error.response.status_code == 503
    assert "WsConnectFunctionName" in json.loads(error.response.body)["message"]
    assert fake.calls == []


# ------------------------------------------------------------------ routes

def test_messages_go_to_the_route_their_action_names(gateway, fake):
    with open_client(gateway) as ws:
        connection_id = fake.wait_for("ws-connect")["requestContext"]["connectionId"]
        ws.send(json.dumps({"v": 1, "action": "subscribe", "shipment_id": "S-1"}))
        ws.send(json.dumps({"v": 1, "action": "publish"}))
        ws.send("not json")
        ws.send(b"\x00\x01binary")
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"v": 1, "type": "pong"}
        deadline = time.monotonic() + 5
        while len(fake.events("ws-message")) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    by_body = {event["body"]: event for event in fake.events("ws-message")}
    subscribe = by_body['{"v": 1, "action": "subscribe", "shipment_id": "S-1"}']
    assert subscribe["requestContext"]["routeKey"] == "subscribe"
    assert subscribe["requestContext"]["eventType"] == "MESSAGE"
    assert subscribe["requestContext"]["connectionId"] == connection_id
    assert ID.match(subscribe["requestContext"]["messageId"]) and subscribe["isBase64Encoded"] is False
    assert by_body['{"v": 1, "action": "publish"}']["requestContext"]["routeKey"] == "$default"
    assert by_body["not json"]["requestContext"]["routeKey"] == "$default"
    binary = by_body[base64.b64encode(b"\x00\x01binary").decode()]
    assert binary["isBase64Encoded"] is True and binary["requestContext"]["routeKey"] == "$default"
    assert by_body['{"v": 1, "action": "ping"}']["requestContext"]["routeKey"] == "ping"
    message_ids = {event["requestContext"]["messageId"] for event in fake.events("ws-message")}
    assert len(message_ids) == 5


def test_a_failing_route_sends_api_gateways_error_message(gateway, fake):
    fake.handlers["ws-message"] = lambda event: Invocation(payload={"errorMessage": "boom"}, error="Unhandled")
    with open_client(gateway) as ws:
        connection_id = fake.wait_for("ws-connect")["requestContext"]["connectionId"]
        ws.send(json.dumps({"v": 1, "action": "subscribe", "shipment_id": "S-1"}))
        error = json.loads(ws.recv(timeout=5))
        assert error["message"] == "Internal server error"
        assert error["connectionId"] == connection_id
        assert error["requestId"] == fake.events("ws-message")[0]["requestContext"]["requestId"]
        ws.send(json.dumps({"v": 1, "action": "ping"}))  # the connection stays open
        assert json.loads(ws.recv(timeout=5))["message"] == "Internal server error"


def test_a_route_that_times_out_sends_the_timeout_message(make_gateway, fake):
    running = make_gateway(integration_timeout=0.3)
    fake.delay["ws-message"] = 2
    with open_client(running) as ws:
        ws.send(json.dumps({"v": 1, "action": "ping"}))
        assert json.loads(ws.recv(timeout=5))["message"] == "Endpoint request timed out"


def test_without_a_default_route_unknown_actions_are_forbidden(make_gateway, fake):
    running = make_gateway(routes={k: v for k, v in ROUTES.items() if k != "$default"})
    with open_client(running) as ws:
        ws.send(json.dumps({"action": "publish"}))
        assert json.loads(ws.recv(timeout=5))["message"] == "Forbidden"
    assert fake.events("ws-message") == []


def test_a_binary_answer_is_sent_as_a_binary_message(gateway, fake):
    fake.handlers["ws-message"] = lambda event: {"statusCode": 200, "isBase64Encoded": True,
                                                 "body": base64.b64encode(b"\x00\xff").decode()}
    with open_client(gateway) as ws:
        ws.send("{}")
        assert ws.recv(timeout=5) == b"\x00\xff"


# ------------------------------------------------------------------ limits

def test_a_frame_over_32_kb_closes_with_1009(gateway, fake):
    with open_client(gateway, max_size=None) as ws:
        ws.send("x" * (32 * 1024 + 1))  # one frame
        assert closed(ws).rcvd.code == 1009
    event = fake.wait_for("ws-disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1009
    assert event["requestContext"]["disconnectReason"] == "Message too big"
    assert fake.events("ws-message") == []


def test_a_message_of_128_kb_in_32_kb_frames_goes_through_whole(gateway, fake):
    payload = json.dumps({"action": "subscribe", "pad": ""})[:-2]
    payload += "y" * (128 * 1024 - len(payload) - 2) + '"}'
    assert len(payload) == 128 * 1024
    with open_client(gateway) as ws:
        ws.send([payload[start:start + 32 * 1024] for start in range(0, len(payload), 32 * 1024)])  # 4 frames
        ws.send("x" * (32 * 1024))  # exactly one full frame
        deadline = time.monotonic() + 5
        while len(fake.events("ws-message")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    bodies = sorted(len(event["body"]) for event in fake.events("ws-message"))
    assert bodies == [32 * 1024, 128 * 1024]
    assert any(event["requestContext"]["routeKey"] == "subscribe" for event in fake.events("ws-message"))


def test_a_message_over_128_kb_closes_with_1009_even_in_small_frames(gateway, fake):
    with open_client(gateway) as ws:
        ws.send(["z" * 16 * 1024 for _ in range(8)] + ["z"])
        assert closed(ws).rcvd.code == 1009
    assert fake.wait_for("ws-disconnect")["requestContext"]["disconnectStatusCode"] == 1009
    assert fake.events("ws-message") == []


def test_idle_connections_are_closed_after_the_idle_timeout(make_gateway, fake):
    running = make_gateway(idle_timeout=0.6)
    with open_client(running) as ws:
        for _ in range(4):  # data messages keep it open past the timeout
            time.sleep(0.3)
            ws.send(json.dumps({"v": 1, "action": "ping"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "pong"
        ws.ping().wait(5)  # control frames do not count
        started = time.monotonic()
        assert closed(ws).rcvd.code == 1001
        assert 0.3 < time.monotonic() - started < 2
    event = fake.wait_for("ws-disconnect")
    assert (event["requestContext"]["disconnectStatusCode"], event["requestContext"]["disconnectReason"]) == (
        1001, "Going away")


def test_connections_end_at_the_maximum_age_however_active(make_gateway, fake):
    running = make_gateway(max_age=1.0)
    with open_client(running) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.send(json.dumps({"v": 1, "action": "ping"}))
                ws.recv(timeout=5)
                time.sleep(0.1)
        assert info.value.rcvd.code == 1001
        assert 0.9 < time.monotonic() - started < 3
    assert fake.wait_for("ws-disconnect")["requestContext"]["disconnectStatusCode"] == 1001


# ------------------------------------------------------------------ closing

def test_disconnect_gets_the_clients_close_code_and_reason(gateway, fake):
    with open_client(gateway) as ws:
        connection_id = fake.wait_for("ws-connect")["requestContext"]["connectionId"]
        ws.close(4000, "leaving the dashboard")
    event = fake.wait_for("ws-disconnect")
    context = event["requestContext"]
    assert context["connectionId"] == connection_id and context["eventType"] == "DISCONNECT"
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (4000, "leaving the dashboard")
    assert event["headers"]["Host"] == f"127.0.0.1:{gateway.port}"
    assert gateway.connection_ids() == []


def test_a_close_frame_without_a_code_and_a_dropped_connection(gateway, fake):
    raw = RawClient(gateway.port)
    assert raw.status == 101
    raw.send_frame(0x8, b"")
    fin, opcode, payload = raw.read_frame()
    assert (fin, opcode, payload) == (True, 0x8, b"")  # the gateway answers the close as it came
    raw.close()
    first = fake.wait_for("ws-disconnect")["requestContext"]
    assert (first["disconnectStatusCode"], first["disconnectReason"]) == (1005, "Client-side close frame status not set")

    dropped = RawClient(gateway.port)
    dropped.close()  # no close frame
    second = fake.wait_for("ws-disconnect", lambda e: e["requestContext"]["connectionId"] != first["connectionId"])
    assert second["requestContext"]["disconnectStatusCode"] == 1006


def test_ping_frames_are_answered(gateway):
    raw = RawClient(gateway.port)
    raw.send_frame(0x9, b"are you there")
    assert raw.read_frame() == (True, 0xA, b"are you there")
    raw.close()


def test_protocol_errors_close_the_connection(gateway, fake):
    raw = RawClient(gateway.port)
    raw.send_frame(0x1, b"\xff\xfe not utf-8")
    fin, opcode, payload = raw.read_frame()
    assert opcode == 0x8 and close_code(payload) == 1007
    raw.close()
    assert fake.wait_for("ws-disconnect")["requestContext"]["disconnectStatusCode"] == 1007


def test_stopping_the_gateway_closes_every_connection_and_invokes_disconnect(gateway, fake):
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_client(gateway)) for _ in range(3)]
        gateway.stop()
        for ws in clients:
            assert closed(ws).rcvd.code == 1001
    assert len(fake.events("ws-disconnect")) == 3
