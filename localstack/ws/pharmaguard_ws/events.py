"""What API Gateway's WebSocket API sends its Lambda proxy integrations, and how it
reads their answers. Pure: no I/O, clocks and random ids are passed in.

Event shapes (as in the API Gateway developer guide, "Input format of a Lambda
function for proxy integration for WebSocket APIs"):

- CONNECT (`$connect`): `headers` and `multiValueHeaders` (the client's handshake
  headers plus `X-Forwarded-For`, `X-Forwarded-Port`, `X-Forwarded-Proto` and
  `X-Amzn-Trace-Id`), `queryStringParameters` and `multiValueQueryStringParameters`
  when the URL has a query string, `requestContext`, `isBase64Encoded: false`;
- MESSAGE (a route key or `$default`): `requestContext` with a `messageId`, `body`
  (the message; base64 for a binary message) and `isBase64Encoded`;
- DISCONNECT (`$disconnect`): API Gateway's fixed headers, `requestContext` with
  `disconnectStatusCode` and `disconnectReason`.

`requestContext` always carries `routeKey`, `eventType`, `connectionId`,
`connectedAt` and `requestTimeEpoch` (epoch milliseconds, numbers), `requestTime`
(`09/Feb/2024:18:11:43 +0000`), `requestId` and `extendedRequestId`,
`messageDirection: "IN"`, `stage`, `domainName`, `apiId` and `identity`
(`sourceIp`, `userAgent`).

Ids look like API Gateway's: 11 random bytes in URL-safe base64, 16 characters
ending in `=` (`SOqGjdZioAMCEeg=`); a client must URL-encode them in
`@connections` paths.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Close codes and $disconnect reasons.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006
MESSAGE_TOO_BIG = 1009

REASON_NO_STATUS = "Client-side close frame status not set"
REASON_DELETED = "Connection Closed Normally"
REASON_GOING_AWAY = "Going away"
REASON_TOO_BIG = "Message too big"
REASON_ABNORMAL = "Connection closed abnormally (no close frame)"


def new_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A connection, request or message id as API Gateway makes them (never
    starting with `-` or `_`, so that it cannot pass for a command-line option)."""
    while True:
        candidate = base64.urlsafe_b64encode(random_bytes(11)).decode("ascii")
        if candidate[0] not in "-_":
            return candidate


def trace_id(now_ms: int) -> str:
    """An `X-Amzn-Trace-Id` header value (`Root=1-<epoch s, hex>-<96 random bits>`)."""
    return f"Root=1-{now_ms // 1000:08x}-{secrets.token_hex(12)}"


def request_time(now_ms: int) -> str:
    """`requestTime`: CLF format in UTC, English month names whatever the locale."""
    moment = datetime.fromtimestamp(now_ms / 1000, UTC)
    return f"{moment.day:02d}/{MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


def iso_time(epoch_ms: int) -> str:
    """ISO 8601 with milliseconds, as the `@connections` GET answers."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@dataclass(frozen=True)
class ConnectionInfo:
    """What API Gateway knows of a connection from its handshake."""

    connection_id: str
    connected_at: int  # epoch ms
    stage: str
    domain_name: str
    api_id: str
    source_ip: str
    user_agent: str | None = None


def _identity(info: ConnectionInfo) -> dict[str, str]:
    identity = {"sourceIp": info.source_ip}
    if info.user_agent is not None:
        identity["userAgent"] = info.user_agent
    return identity


def request_context(info: ConnectionInfo, route_key: str, event_type: str, request_id: str, now_ms: int) -> dict:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now_ms),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at,
        "requestTimeEpoch": now_ms,
        "identity": _identity(info),
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    }


def _single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views of repeated names: the last value, and all of them."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(
    info: ConnectionInfo,
    request_id: str,
    now_ms: int,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    forwarded_port: int,
) -> dict:
    """The `$connect` event. `headers` are the handshake's headers as the client
    sent them (original case); `query` the decoded query string parameters."""
    added = [
        ("X-Amzn-Trace-Id", trace_id(now_ms)),
        ("X-Forwarded-For", info.source_ip),
        ("X-Forwarded-Port", str(forwarded_port)),
        ("X-Forwarded-Proto", "http"),
    ]
    replaced = {name.lower() for name, _ in added}
    single_headers, multi_headers = _single_and_multi(
        [(name, value) for name, value in headers if name.lower() not in replaced] + added
    )
    event: dict[str, Any] = {"headers": single_headers, "multiValueHeaders": multi_headers}
    query = list(query)
    if query:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = _single_and_multi(query)
    event["requestContext"] = request_context(info, "$connect", "CONNECT", request_id, now_ms)
    event["isBase64Encoded"] = False
    return event


def message_event(
    info: ConnectionInfo, route_key: str, request_id: str, message_id: str, now_ms: int, data: str | bytes
) -> dict:
    """A MESSAGE event for `route_key`: a text message as is, a binary one in base64."""
    context = request_context(info, route_key, "MESSAGE", request_id, now_ms)
    context = {"routeKey": route_key, "messageId": message_id, **context}
    if isinstance(data, str):
        return {"requestContext": context, "body": data, "isBase64Encoded": False}
    return {"requestContext": context, "body": base64.b64encode(data).decode("ascii"), "isBase64Encoded": True}


def disconnect_event(info: ConnectionInfo, request_id: str, now_ms: int, status_code: int, reason: str) -> dict:
    """The `$disconnect` event; API Gateway sends these fixed headers, not the client's."""
    headers = {"Host": info.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = request_context(info, "$disconnect", "DISCONNECT", request_id, now_ms)
    context = {"routeKey": "$disconnect", "disconnectStatusCode": status_code, **context,
               "disconnectReason": reason}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def select_route(data: str | bytes, routes: Mapping[str, str]) -> str | None:
    """The route selection expression `$request.body.action`: a JSON object's
    `action` naming a route selects it; anything else goes to `$default`. None
    when nothing matches and there is no `$default` route."""
    key: str | None = None
    if isinstance(data, str):
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if isinstance(body, dict):
            action = body.get("action")
            if isinstance(action, str):
                key = action
            elif isinstance(action, (int, float)) and not isinstance(action, bool):
                key = json.dumps(action)
    if key is not None and key in routes and not key.startswith("$"):
        return key
    return "$default" if "$default" in routes else None


def gateway_message(message: str, connection_id: str, request_id: str) -> str:
    """The message API Gateway itself sends a client when a route fails
    (`Internal server error`), times out (`Endpoint request timed out`) or does
    not exist (`Forbidden`)."""
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id})


class MalformedAnswer(Exception):
    """A `$connect` answer API Gateway cannot use (no integer `statusCode`)."""


@dataclass(frozen=True)
class ConnectAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def _body_bytes(answer: Mapping[str, Any]) -> bytes:
    body = answer.get("body")
    if not isinstance(body, str) or not body:
        return b""
    if answer.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedAnswer("isBase64Encoded is true but the body is not base64") from None
    return body.encode("utf-8")


def connect_answer(payload: Any) -> ConnectAnswer:
    """Reads a `$connect` function's answer: its `statusCode` decides (2xx
    accepts); `headers` (e.g. `Sec-WebSocket-Protocol`) and `body` go to the client."""
    if not isinstance(payload, dict):
        raise MalformedAnswer(f"the answer is {type(payload).__name__}, not an object with a statusCode")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedAnswer(f"statusCode {status!r} is not an HTTP status")
    headers = payload.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise MalformedAnswer("headers is not an object")
    return ConnectAnswer(status, {str(k): str(v) for k, v in headers.items()}, _body_bytes(payload))


def route_reply(payload: Any) -> str | bytes | None:
    """What a route's answer sends back to the client: its `body` (text, or
    bytes when `isBase64Encoded`), or nothing."""
    if not isinstance(payload, dict) or not isinstance(payload.get("body"), str) or not payload["body"]:
        return None
    data = _body_bytes(payload)
    if payload.get("isBase64Encoded") is True:
        return data
    return payload["body"]
