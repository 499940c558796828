"""rxpresence.aio.values: the latest and buffer policies, completion, errors, disposal."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import reactivex as rx
from reactivex import operators as ops
from reactivex.subject import Subject

import rxpresence as rxp
from rxpresence import aio
from rxpresence._views import state_view


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_buffer_keeps_every_value_in_order_and_completion_ends_the_loop() -> None:
    async def main() -> list[int]:
        return [v async for v in aio.values(rx.of(1, 2, 3))]

    assert run(main()) == [1, 2, 3]


def test_an_error_is_raised_in_the_loop_after_the_values_before_it() -> None:
    async def main() -> list[int]:
        got: list[int] = []
        source = rx.concat(rx.of(1, 2), rx.throw(KeyError("boom")))
        with pytest.raises(KeyError, match="boom"):
            async for value in aio.values(source):
                got.append(value)
        return got

    assert run(main()) == [1, 2]


def test_overflow_ends_the_iteration_naming_the_bound_never_a_silent_drop() -> None:
    subject: Subject[int] = Subject()

    async def main() -> list[int]:
        values = aio.values(subject, maxsize=3)
        subject_on_next_soon(subject, 0)
        got = [await values.__anext__()]  # subscribed now
        for i in range(1, 6):
            subject.on_next(i)  # 1, 2, 3 fit; 4 overflows
        assert not subject.observers  # disposed at the overflow
        with pytest.raises(aio.BufferOverflowError, match="more than 3 values"):
            async for value in values:
                got.append(value)
        return got

    assert run(main()) == [0, 1, 2, 3]


def test_latest_keeps_only_the_newest_value() -> None:
    subject: Subject[int] = Subject()

    async def main() -> list[int]:
        values = aio.values(subject, latest=True)
        subject_on_next_soon(subject, 0)
        got = [await values.__anext__()]
        for i in range(1, 100):
            subject.on_next(i)  # the consumer is busy: only 99 will be seen
        got.append(await values.__anext__())
        subject.on_completed()
        got += [v async for v in values]
        return got

    assert run(main()) == [0, 99]


def test_the_hubs_state_streams_default_to_latest_and_the_rest_to_buffer() -> None:
    hub = rxp.PresenceStreams(None)
    try:
        states = [
            hub.roster("room"),
            hub.roster("room", grace=5),
            hub.occupancy("room"),
            hub.rosters(),
            hub.where_is("bob"),
            hub.users("room", key=lambda uuid, state: uuid),
            hub.own_presence("room"),
        ]
        assert all(aio.values(s).latest for s in states)
        others = [hub.events, hub.joins, hub.status, hub.roster("room").pipe(ops.skip(1))]
        assert not any(aio.values(o).latest for o in others)
        assert aio.values(hub.roster("room"), latest=False).latest is False
    finally:
        hub.close()


def test_a_slow_consumer_never_blocks_the_producers_thread_nor_grows_memory() -> None:
    subject: Subject[int] = Subject()
    view = state_view(subject)

    async def main() -> list[int]:
        values = aio.values(view)
        subject_on_next_soon(subject, -1)
        got = [await values.__anext__()]
        producer = threading.Thread(target=lambda: [subject.on_next(i) for i in range(10_000)])
        producer.start()
        producer.join(10)  # the loop does not run meanwhile: nobody consumes
        assert not producer.is_alive()
        assert len(values._buffer) == 1
        got.append(await values.__anext__())
        return got

    assert run(main()) == [-1, 9_999]


def test_values_from_another_thread_wake_the_consumer() -> None:
    subject: Subject[int] = Subject()

    async def main() -> list[int]:
        values = aio.values(subject)

        def produce() -> None:
            for i in range(50):
                subject.on_next(i)
            subject.on_completed()

        async def start() -> None:
            while not subject.observers:
                await asyncio.sleep(0.001)
            threading.Thread(target=produce).start()

        starter = asyncio.get_running_loop().create_task(start())
        got = [v async for v in values]
        await starter
        return got

    assert run(main()) == list(range(50))


def test_cancelling_the_consuming_task_disposes_the_subscription() -> None:
    subject: Subject[int] = Subject()

    async def main() -> None:
        got: list[int] = []

        async def consume() -> None:
            async for value in aio.values(subject):
                got.append(value)
                await asyncio.sleep(3600)  # busy elsewhere when cancelled

        task = asyncio.get_running_loop().create_task(consume())
        while not subject.observers:
            await asyncio.sleep(0.001)
        subject.on_next(1)
        while not got:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not subject.observers

    run(main())


def test_aclose_and_async_with_dispose() -> None:
    subject: Subject[int] = Subject()

    async def main() -> None:
        async with aio.values(subject) as values:
            subject_on_next_soon(subject, 7)
            assert await values.__anext__() == 7
            assert subject.observers
        assert not subject.observers
        with pytest.raises(StopAsyncIteration):
            await values.__anext__()

    run(main())


def subject_on_next_soon(subject: Subject[int], value: int) -> None:
    asyncio.get_running_loop().call_soon(subject.on_next, value)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([1, 2],), {}, TypeError, "needs an Observable"),
        ((rx.of(1),), {"latest": "yes"}, TypeError, "latest must be"),
        ((rx.of(1),), {"maxsize": 0}, ValueError, "maxsize must be a positive int"),
        ((rx.of(1),), {"maxsize": True}, ValueError, "maxsize must be a positive int"),
    ],
)
def test_bad_arguments(args: Any, kwargs: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        aio.values(*args, **kwargs)
