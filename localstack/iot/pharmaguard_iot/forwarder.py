"""Writes the rule's records to the telemetry stream without losing one and in
order per device.

Each accepted message is queued under its partition key (the device id). A
`PutRecords` call takes the oldest records of each device, at most
`per_device` of them and in the order they came, and a device has one call in
flight at a time, so its records reach the stream in order (Kinesis writes a
call's records in order; the HTTPS ingest relies on the same). A device's
records wait for the previous call to end, so a device that publishes faster
than one call's time still gets through (up to `per_device` records a call).
Batches respect Kinesis' limits (500 records, 5 MiB) and up to
`max_concurrency` calls run at once.

One case can reorder: Kinesis refuses a record of a call but writes a later
record of the same device in that call. Throttling refuses the rest of the
shard's records of the call, so it does not happen in practice; `per_device=1`
rules it out at the price of one record per device per call.

A record Kinesis refuses (throttling, internal failure: its `ErrorCode`) is
retried with exponential backoff (50 ms doubling up to 5 s, with jitter) until
it is written; meanwhile that device's later records wait behind it. A call
that fails as a whole (connection refused, a timeout, the stream missing while
the stack is redeployed, ...) pauses every call with the same backoff, and
until a call succeeds again only one call at a time goes out: a struggling
Kinesis (kinesis-local slows down under load) gets no pile of retries. Each record's future completes when Kinesis has
it; the broker sends a QoS 1 PUBACK only then.

`max_pending` bounds the records held: a publisher waits (the broker stops
reading its socket) while the forwarder is full.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .stack import OutputsFile

LOG = logging.getLogger("pharmaguard.iot.forwarder")

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024

# put_records(records) -> one entry per record: None when written, else the reason it was not.
PutRecords = Callable[[Sequence[tuple[str, bytes]]], list[str | None]]


@dataclass
class _Item:
    key: str
    data: bytes
    future: asyncio.Future
    attempts: int = 0
    not_before: float = 0.0
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data) + len(self.key.encode("utf-8"))


class Forwarder:
    def __init__(
        self,
        put_records: PutRecords,
        *,
        max_pending: int = 20_000,
        max_concurrency: int = 2,
        per_device: int = 10,
        linger: float = 0.01,
        base_backoff: float = 0.05,
        max_backoff: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._put_records = put_records
        self._max_concurrency = max_concurrency
        self._per_device = per_device
        self._linger = linger
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._queues: dict[str, deque[_Item]] = {}
        self._in_flight: set[str] = set()
        self._capacity = asyncio.Semaphore(max_pending)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="kinesis")
        self._task: asyncio.Task | None = None
        self._sends: set[asyncio.Task] = set()
        self.pending = 0
        self._failures_in_a_row = 0
        self._paused_until = 0.0
        # counters, for the log and the tests
        self.written = 0
        self.calls = 0
        self.retries = 0

    # -------------------------------------------------------------------- public

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="forwarder")

    async def submit(self, key: str, data: bytes) -> asyncio.Future:
        """Queues one record; waits while the forwarder is full. The returned future
        completes when Kinesis has the record."""
        await self._capacity.acquire()
        future = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(_Item(key, data, future))
        self.pending += 1
        self._idle.clear()
        self._wake.set()
        return future

    async def drain(self, timeout: float) -> bool:
        """Waits until every queued record is written (True) or the timeout passes."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._sends):
            await asyncio.gather(task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -------------------------------------------------------------------- internals

    def _ready(self, now: float) -> list[_Item]:
        """The next call's records: the oldest (up to `per_device`) of each device
        that has no call in flight and whose oldest record is not waiting to be retried."""
        batch: list[_Item] = []
        size = 0
        for key, queue in self._queues.items():
            if key in self._in_flight or queue[0].not_before > now:
                continue
            for index, item in enumerate(queue):
                if index == self._per_device or len(batch) == MAX_RECORDS_PER_CALL:
                    break
                if batch and size + item.size > MAX_BYTES_PER_CALL:
                    break
                batch.append(item)
                size += item.size
            if len(batch) == MAX_RECORDS_PER_CALL:
                break
        return batch

    def _next_retry_in(self, now: float) -> float | None:
        waits = [
            queue[0].not_before - now
            for key, queue in self._queues.items()
            if key not in self._in_flight and queue[0].not_before > now
        ]
        return max(min(waits), 0.001) if waits else None

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            self._in_flight.update(item.key for item in batch)
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _next_batch(self) -> list[_Item]:
        lingered = False
        while True:
            self._wake.clear()
            now = self._clock()
            if self._failures_in_a_row and (self._in_flight or now < self._paused_until):
                # Kinesis is failing: one call at a time, after the pause
                timeout = max(self._paused_until - now, 0.001) if not self._in_flight else None
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            batch = self._ready(now)
            if batch and (lingered or len(batch) >= MAX_RECORDS_PER_CALL or not self._linger):
                return batch
            if batch:
                # let a few more devices' records join this call
                lingered = True
                await asyncio.sleep(self._linger)
                continue
            timeout = self._next_retry_in(now)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _send(self, batch: list[_Item]) -> None:
        try:
            records = [(item.key, item.data) for item in batch]
            self.calls += 1
            try:
                results = await asyncio.get_running_loop().run_in_executor(self._executor, self._put_records, records)
                if len(results) != len(batch):
                    raise RuntimeError(f"PutRecords answered {len(results)} results for {len(batch)} records")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - every failure is retried
                self._failures_in_a_row += 1
                delay = self._backoff(self._failures_in_a_row)
                self._paused_until = self._clock() + delay
                self.retries += len(batch)
                if self._failures_in_a_row in (1, 2, 5) or self._failures_in_a_row % 10 == 0:
                    LOG.warning(
                        "PutRecords of %d record(s) failed (%d in a row), retrying in %.2f s: %s",
                        len(batch), self._failures_in_a_row, delay, error,
                    )
                return
            if self._failures_in_a_row:
                LOG.info("PutRecords works again after %d failed call(s)", self._failures_in_a_row)
                self._failures_in_a_row = 0
            now = self._clock()
            refused = []
            for item, error in zip(batch, results):
                if error is None:
                    self._written(item)
                else:
                    refused.append(error)
                    item.attempts += 1
                    # the device's oldest record decides when its next call may go
                    queue = self._queues[item.key]
                    queue[0].not_before = max(queue[0].not_before, now + self._backoff(item.attempts))
            if refused:
                self.retries += len(refused)
                LOG.warning("PutRecords: %d of %d record(s) refused, retrying them: %s", len(refused), len(batch), refused[0])
        finally:
            for item in batch:
                self._in_flight.discard(item.key)
            self._slots.release()
            self._wake.set()

    def _backoff(self, attempt: int) -> float:
        return min(self._max_backoff, self._base_backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _written(self, item: _Item) -> None:
        queue = self._queues[item.key]
        if queue[0] is item:
            queue.popleft()
        else:  # written after an older record of its device that was refused
            queue.remove(item)
        if not queue:
            del self._queues[item.key]
        self.pending -= 1
        self.written += 1
        self._capacity.release()
        if not item.future.done():
            item.future.set_result(None)
        if self.pending == 0:
            self._idle.set()


class KinesisSink:
    """`PutRecords` into the stack's telemetry stream (the stream named in
    outputs.json at the time of each call), with LocalStack's test credentials."""

    def __init__(self, outputs: OutputsFile, max_connections: int = 4):
        self._outputs = outputs
        self._max_connections = max_connections
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], object] = {}

    def _client(self, endpoint_url: str, region: str):
        with self._lock:
            key = (endpoint_url, region)
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[key] = boto3.session.Session().client(
                    "kinesis",
                    endpoint_url=endpoint_url,
                    region_name=region,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                    config=Config(
                        connect_timeout=2,
                        # a call that times out may still be written: keep that (a duplicate) rare
                        read_timeout=30,
                        retries={"mode": "standard", "max_attempts": 1},  # the forwarder retries
                        max_pool_connections=self._max_connections,
                    ),
                )
            return self._clients[key]

    def __call__(self, records: Sequence[tuple[str, bytes]]) -> list[str | None]:
        outputs = self._outputs.current()
        client = self._client(outputs.endpoint_url, outputs.region)
        response = client.put_records(
            StreamName=outputs.stream_name,
            Records=[{"PartitionKey": key, "Data": data} for key, data in records],
        )
        return [
            f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}" if entry.get("ErrorCode") else None
            for entry in response["Records"]
        ]
