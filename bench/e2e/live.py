"""The last hop of the benchmark: what the dashboard sees. A WebSocket
connection as the operator's manager (the shipper of every shipment of the
run) records when each push arrives; `push_latency` turns that into the
latency of reading → position on the map, alarm event → push and reading →
alarm push."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from analysis import Delivery, parse_time, percentiles


@dataclass
class Push:
    """One message the WebSocket gateway pushed, as much of it as the
    latency needs."""

    type: str
    id: str
    shipment_id: str
    reading_ts: datetime | None  # a position's latest reading (`data.latest.ts`)
    arrived_at: datetime


def parse_push(raw: str | bytes, arrived_at: datetime) -> Push | None:
    """A pushed frame (`docs/websocket-protocol.md`); `None` for replies
    (pong, subscribed) and anything unreadable."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(message, dict) or "id" not in message:
        return None
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    latest = data.get("latest") if isinstance(data.get("latest"), dict) else {}
    return Push(
        type=str(message.get("type", "")),
        id=str(message.get("id", "")),
        shipment_id=str(message.get("shipment_id", "")),
        reading_ts=parse_time(latest.get("ts")),
        arrived_at=arrived_at,
    )


class PushListener(threading.Thread):
    """Holds one WebSocket connection open (again after a drop) and keeps
    every push with its arrival time."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url = f"{url}?token={token}"
        self.lock = threading.Lock()
        self.pushes: list[Push] = []
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.drops = 0
        self.last_error: str | None = None

    def run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        import websockets

        while not self.stopping.is_set():
            try:
                async with websockets.connect(self.url, max_size=None, open_timeout=30) as socket:
                    self.connected.set()
                    while not self.stopping.is_set():
                        try:
                            raw = await asyncio.wait_for(socket.recv(), timeout=1)
                        except TimeoutError:
                            continue
                        push = parse_push(raw, datetime.now(timezone.utc))
                        if push:
                            with self.lock:
                                self.pushes.append(push)
            except Exception as error:  # noqa: BLE001 - a dropped connection is counted and reopened
                self.drops += 1
                self.last_error = str(error)
                await asyncio.sleep(1)

    def stop(self) -> list[Push]:
        self.stopping.set()
        self.join(timeout=5)
        with self.lock:
            return list(self.pushes)


def push_latency(pushes: list[Push], deliveries: list[Delivery]) -> dict:
    """Seconds from a position's reading to its push (each position once),
    from an alarm event's SNS publish to its push, and from the alarm's
    reading to its push (not DEVICE_OFFLINE's: the schedule raises it); the
    counts of pushes by type."""
    first: dict[str, Push] = {}
    for push in pushes:
        if push.id not in first or push.arrived_at < first[push.id].arrived_at:
            first[push.id] = push
    published = {d.event_id: d for d in deliveries}
    position = [
        (p.arrived_at - p.reading_ts).total_seconds()
        for p in first.values()
        if p.type == "tracking.updated" and p.reading_ts
    ]
    event_to_push, reading_to_push = [], []
    for push in first.values():
        delivery = published.get(push.id)
        if not push.type.startswith("alarm.") or delivery is None:
            continue
        if delivery.published_at:
            event_to_push.append((push.arrived_at - delivery.published_at).total_seconds())
        # DEVICE_OFFLINE comes from the schedule, not from a reading (its context holds the last one)
        if delivery.reading_ts and delivery.alarm_type != "DEVICE_OFFLINE":
            reading_to_push.append((push.arrived_at - delivery.reading_ts).total_seconds())
    types: dict[str, int] = {}
    for push in first.values():
        types[push.type] = types.get(push.type, 0) + 1
    return {
        "pushes": len(pushes),
        "distinct": len(first),
        "by_type": dict(sorted(types.items())),
        "reading_ts_to_position_push": percentiles(position),
        "event_to_push": percentiles(event_to_push),
        "reading_ts_to_alarm_push": percentiles(reading_to_push),
    }
