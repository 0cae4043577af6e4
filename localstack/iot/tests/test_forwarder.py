"""The forwarder: every record reaches Kinesis, in order per device."""

from __future__ import annotations

import asyncio

from conftest import FakeKinesis

from pharmaguard_iot.forwarder import MAX_RECORDS_PER_CALL, Forwarder


class WatchedForwarder(Forwarder):
    """Counts the calls it decided to send, knowing Kinesis was failing, while
    another call was still out. Watched where the decision is made (the event
    loop), not where Kinesis sees the call: a call sent just before the failure
    was known may reach Kinesis' thread after it, and that is no overlap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sending = 0
        self.overlaps_while_failing = 0

    async def _next_batch(self):
        batch = await super()._next_batch()
        if self._failures_in_a_row and self.sending:
            self.overlaps_while_failing += 1
        self.sending += 1
        return batch

    async def _send(self, batch):
        try:
            await super()._send(batch)
        finally:
            self.sending -= 1


def run(coroutine_fn, kinesis: FakeKinesis, **options):
    async def go():
        forwarder = WatchedForwarder(kinesis, **{"linger": 0.002, "base_backoff": 0.005, "max_backoff": 0.02, **options})
        forwarder.start()
        try:
            return await coroutine_fn(forwarder)
        finally:
            kinesis.release()
            await forwarder.close()

    return asyncio.run(go())


def per_device(records):
    order: dict[str, list[bytes]] = {}
    for key, data in records:
        order.setdefault(key, []).append(data)
    return order


async def submit_all(forwarder, records):
    futures = [await forwarder.submit(key, data) for key, data in records]
    await asyncio.wait_for(asyncio.gather(*futures), 5)


def interleaved(devices: int, each: int):
    return [(f"truck-{d}", f"{d}-{i}".encode()) for i in range(each) for d in range(devices)]


def test_records_keep_their_order_per_device_within_and_across_calls():
    kinesis = FakeKinesis()
    kinesis.hold()  # let a backlog build up: calls then carry several records per device
    records = interleaved(devices=4, each=25)

    async def go(forwarder):
        futures = [await forwarder.submit(key, data) for key, data in records]
        kinesis.release()
        await asyncio.wait_for(asyncio.gather(*futures), 5)

    run(go, kinesis, per_device=10)
    assert per_device(kinesis.records) == per_device(records)
    largest = max(len(device_records) for call in kinesis.calls for device_records in per_device(call).values())
    assert largest == 10  # a call carries up to per_device records of a device


def test_a_throttled_call_is_retried_in_order():
    kinesis = FakeKinesis()
    kinesis.hold()
    kinesis.throttle(from_index=7)  # the first call is refused from its 8th record on
    records = interleaved(devices=3, each=10)

    async def go(forwarder):
        futures = [await forwarder.submit(key, data) for key, data in records]
        kinesis.release()
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        return forwarder.retries

    assert run(go, kinesis) > 0
    assert len(kinesis.records) == len(records)
    assert per_device(kinesis.records) == per_device(records)


def test_with_one_record_per_device_and_call_any_refusal_keeps_the_order():
    kinesis = FakeKinesis()
    kinesis.refuse(5)  # the first five records Kinesis sees are refused, whatever follows
    records = interleaved(devices=3, each=10)

    async def go(forwarder):
        await submit_all(forwarder, records)
        return forwarder.retries

    assert run(go, kinesis, per_device=1) == 5
    assert len(kinesis.records) == len(records)
    assert per_device(kinesis.records) == per_device(records)
    for call in kinesis.calls:
        keys = [key for key, _ in call]
        assert len(keys) == len(set(keys)), call


def test_failed_calls_are_retried_and_futures_wait_for_kinesis():
    kinesis = FakeKinesis()
    kinesis.fail_calls = 3

    async def go(forwarder):
        future = await forwarder.submit("truck-1", b"r1")
        await asyncio.wait_for(future, 5)
        return forwarder.calls

    assert run(go, kinesis) == 4
    assert kinesis.records == [("truck-1", b"r1")]


def test_while_calls_fail_only_one_goes_out_at_a_time():
    kinesis = FakeKinesis()
    kinesis.fail_calls = 6
    kinesis.latency = 0.01
    records = interleaved(devices=50, each=4)

    async def go(forwarder):
        futures = []
        for key, data in records:
            futures.append(await forwarder.submit(key, data))
            await asyncio.sleep(0.0005)  # keep records coming while the calls fail
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        return forwarder.overlaps_while_failing

    assert run(go, kinesis, max_concurrency=4) == 0
    assert kinesis.failed_once and kinesis.fail_calls == 0
    assert per_device(kinesis.records) == per_device(records)


def test_a_future_completes_only_once_kinesis_has_the_record():
    kinesis = FakeKinesis()
    kinesis.hold()

    async def go(forwarder):
        future = await forwarder.submit("truck-1", b"r1")
        await asyncio.sleep(0.2)
        assert not future.done()
        assert kinesis.records == []
        kinesis.release()
        await asyncio.wait_for(future, 5)
        return kinesis.records

    assert run(go, kinesis) == [("truck-1", b"r1")]


def test_a_full_forwarder_makes_publishers_wait():
    kinesis = FakeKinesis()
    kinesis.hold()

    async def go(forwarder):
        await forwarder.submit("a", b"1")
        await forwarder.submit("b", b"2")
        third = asyncio.ensure_future(forwarder.submit("c", b"3"))
        await asyncio.sleep(0.1)
        assert not third.done()
        kinesis.release()
        await asyncio.wait_for(await asyncio.wait_for(third, 5), 5)
        assert await forwarder.drain(5)

    run(go, kinesis, max_pending=2)
    assert sorted(kinesis.records) == [("a", b"1"), ("b", b"2"), ("c", b"3")]


def test_calls_stay_within_kinesis_limits():
    kinesis = FakeKinesis()
    records = [(f"truck-{d}", b"x") for d in range(1200)]
    run(lambda forwarder: submit_all(forwarder, records), kinesis)
    assert len(kinesis.records) == 1200
    assert max(len(call) for call in kinesis.calls) <= MAX_RECORDS_PER_CALL
