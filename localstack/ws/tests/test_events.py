"""The events the gateway sends the functions and how it reads their answers,
against the shapes API Gateway documents (developer guide, "Input format of a
Lambda function for proxy integration for WebSocket APIs")."""

from __future__ import annotations

import base64
import json
import re

import pytest

from pharmaguard_ws import events
from pharmaguard_ws.events import ConnectionInfo, MalformedAnswer

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{14}=$")
NOW = 1707502303420  # 2024-02-09T18:11:43.420Z
INFO = ConnectionInfo(
    connection_id="SOqGjdZioAMCEeg=",
    connected_at=1707502303419,
    stage="local",
    domain_name="127.0.0.1:4600",
    api_id="abcd123456",
    source_ip="192.0.2.1",
    user_agent="Mozilla/5.0",
)

# requestContext keys of API Gateway's documented samples, per event type
CONTEXT_KEYS = {
    "routeKey", "eventType", "extendedRequestId", "requestTime", "messageDirection", "stage",
    "connectedAt", "requestTimeEpoch", "identity", "requestId", "domainName", "connectionId", "apiId",
}


def test_ids_look_like_api_gateways():
    ids = {events.new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(ID.match(value) for value in ids), [value for value in ids if not ID.match(value)][:5]
    assert events.new_id(lambda n: bytes(range(1, n + 1))) == "AQIDBAUGBwgJCgs="


def test_request_time_is_clf_in_utc_with_english_months():
    assert events.request_time(NOW) == "09/Feb/2024:18:11:43 +0000"
    assert events.request_time(1735689599999) == "31/Dec/2024:23:59:59 +0000"
    assert events.iso_time(NOW) == "2024-02-09T18:11:43.420Z"
    assert events.iso_time(1735689600000) == "2025-01-01T00:00:00.000Z"


def test_connect_event():
    headers = [("Host", "127.0.0.1:4600"), ("Sec-WebSocket-Key", "k"), ("Sec-WebSocket-Version", "13"),
               ("User-Agent", "Mozilla/5.0"), ("Cookie", "a=1"), ("Cookie", "b=2"),
               ("X-Forwarded-For", "198.51.100.7")]
    event = events.connect_event(INFO, "QQGAoEcsoAMF09A=", NOW, headers,
                                 [("token", "abc"), ("tag", "x"), ("tag", "y"), ("empty", "")], 4600)
    assert set(event) == {"headers", "multiValueHeaders", "queryStringParameters",
                          "multiValueQueryStringParameters", "requestContext", "isBase64Encoded"}
    assert event["queryStringParameters"] == {"token": "abc", "tag": "y", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"token": ["abc"], "tag": ["x", "y"], "empty": [""]}
    assert event["headers"]["Host"] == "127.0.0.1:4600"
    assert event["headers"]["Cookie"] == "b=2" and event["multiValueHeaders"]["Cookie"] == ["a=1", "b=2"]
    # API Gateway's own headers replace the client's
    assert event["headers"]["X-Forwarded-For"] == "192.0.2.1"
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["192.0.2.1"]
    assert event["headers"]["X-Forwarded-Port"] == "4600" and event["headers"]["X-Forwarded-Proto"] == "http"
    assert re.match(r"^Root=1-65c66adf-[0-9a-f]{24}$", event["headers"]["X-Amzn-Trace-Id"])
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert set(context) == CONTEXT_KEYS
    assert context == {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": "QQGAoEcsoAMF09A=",
        "requestTime": "09/Feb/2024:18:11:43 +0000",
        "messageDirection": "IN",
        "stage": "local",
        "connectedAt": 1707502303419,
        "requestTimeEpoch": NOW,
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "Mozilla/5.0"},
        "requestId": "QQGAoEcsoAMF09A=",
        "domainName": "127.0.0.1:4600",
        "connectionId": "SOqGjdZioAMCEeg=",
        "apiId": "abcd123456",
    }


def test_connect_event_without_a_query_string_has_no_query_fields():
    event = events.connect_event(INFO, "r", NOW, [("Host", "h")], [], 4600)
    assert "queryStringParameters" not in event and "multiValueQueryStringParameters" not in event


def test_message_events():
    text = events.message_event(INFO, "subscribe", "IU3kkGyEoAMFwZQ=", "U_vNtdtRIAMCIoA=", NOW,
                                '{"v":1,"action":"subscribe","shipment_id":"S-1"}')
    assert text["body"] == '{"v":1,"action":"subscribe","shipment_id":"S-1"}' and text["isBase64Encoded"] is False
    assert set(text) == {"requestContext", "body", "isBase64Encoded"}
    context = text["requestContext"]
    assert set(context) == CONTEXT_KEYS | {"messageId"}
    assert context["routeKey"] == "subscribe" and context["eventType"] == "MESSAGE"
    assert context["messageId"] == "U_vNtdtRIAMCIoA=" and context["requestId"] == "IU3kkGyEoAMFwZQ="
    assert isinstance(context["connectedAt"], int) and isinstance(context["requestTimeEpoch"], int)

    binary = events.message_event(INFO, "$default", "r", "m", NOW, b"\x00\xffbinary")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x00\xffbinary"


def test_disconnect_event():
    event = events.disconnect_event(INFO, "r", NOW, 1005, events.REASON_NO_STATUS)
    assert event["headers"] == {"Host": "127.0.0.1:4600", "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    assert event["multiValueHeaders"]["Host"] == ["127.0.0.1:4600"]
    context = event["requestContext"]
    assert set(context) == CONTEXT_KEYS | {"disconnectStatusCode", "disconnectReason"}
    assert context["routeKey"] == "$disconnect" and context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 1005
    assert context["disconnectReason"] == "Client-side close frame status not set"


def test_events_are_json_with_the_numbers_the_rust_event_types_need():
    # aws_lambda_events' ApiGatewayWebsocketProxyRequestContext: connectedAt and
    # requestTimeEpoch are required i64, disconnectStatusCode an optional i64
    for event in (
        events.connect_event(INFO, "r", NOW, [], [], 4600),
        events.message_event(INFO, "ping", "r", "m", NOW, "{}"),
        events.disconnect_event(INFO, "r", NOW, 1000, events.REASON_DELETED),
    ):
        context = json.loads(json.dumps(event))["requestContext"]
        assert type(context["connectedAt"]) is int and type(context["requestTimeEpoch"]) is int
    assert type(events.disconnect_event(INFO, "r", NOW, 1001, "x")["requestContext"]["disconnectStatusCode"]) is int


ROUTES = {"subscribe": "f", "unsubscribe": "f", "ping": "f", "$default": "f", "$connect": "c"}


@pytest.mark.parametrize(("body", "route"), [
    ('{"action": "subscribe", "shipment_id": "S-1"}', "subscribe"),
    ('{"v": 1, "action": "ping"}', "ping"),
    ('{"action": "publish"}', "$default"),  # no such route
    ('{"action": "$connect"}', "$default"),  # reserved route keys are not selectable
    ('{"action": 7}', "$default"),
    ('{"Action": "ping"}', "$default"),  # JSON paths are case-sensitive
    ('["ping"]', "$default"),
    ("ping", "$default"),
    ("", "$default"),
    (b'{"action": "ping"}', "$default"),  # a binary message is not JSON to the selection expression
])
def test_route_selection(body, route):
    assert events.select_route(body, ROUTES) == route


def test_route_selection_without_default():
    routes = {"ping": "f"}
    assert events.select_route('{"action": "ping"}', routes) == "ping"
    assert events.select_route('{"action": "7"}', {"7": "f"}) == "7"
    assert events.select_route('{"action": 7}', {"7": "f"}) == "7"
    assert events.select_route('{"action": "nope"}', routes) is None


def test_connect_answers():
    ok = events.connect_answer({"statusCode": 200})
    assert ok.accepted and ok.body == b"" and ok.headers == {}
    refused = events.connect_answer({"statusCode": 401, "body": '{"message":"Unauthorized"}'})
    assert not refused.accepted and refused.status == 401 and refused.body == b'{"message":"Unauthorized"}'
    assert events.connect_answer({"statusCode": "403"}).status == 403
    with_protocol = events.connect_answer({"statusCode": 200, "headers": {"sec-websocket-protocol": "v1"}})
    assert with_protocol.header("Sec-WebSocket-Protocol") == "v1"
    assert events.connect_answer({"statusCode": 400, "body": base64.b64encode(b"\x01").decode(),
                                  "isBase64Encoded": True}).body == b"\x01"
    for malformed in (None, "ok", [], {}, {"statusCode": "ok"}, {"statusCode": 99}, {"statusCode": True},
                      {"statusCode": 200, "headers": []},
                      {"statusCode": 200, "body": "%%%", "isBase64Encoded": True}):
        with pytest.raises(MalformedAnswer):
            events.connect_answer(malformed)


def test_route_replies():
    assert events.route_reply({"statusCode": 200, "body": '{"v":1,"type":"pong"}'}) == '{"v":1,"type":"pong"}'
    assert events.route_reply({"body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}) == b"\x00\x01"
    for nothing in (None, {}, {"statusCode": 200}, {"body": ""}, {"body": None}, {"body": 3}, "text", [1]):
        assert events.route_reply(nothing) is None


def test_gateway_messages():
    assert json.loads(events.gateway_message("Internal server error", "SOqGjdZioAMCEeg=", "SOqIDEacoAMFaHQ=")) == {
        "message": "Internal server error", "connectionId": "SOqGjdZioAMCEeg=", "requestId": "SOqIDEacoAMFaHQ="}
