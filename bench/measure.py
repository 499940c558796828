"""Measurements: interleaved timing rounds, retained memory, concurrent feeds."""

from __future__ import annotations

import gc
import itertools
import json
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import contenders
from workload import (
    CHANNEL,
    TT0,
    Capture,
    NoopListener,
    Workload,
    feed_body,
    feed_body_queued,
    sdk_worker,
    uuid_of,
)

import rxpresence as rxp

# -- timing -----------------------------------------------------------------------------

CHUNK = 500  # events per timed slice; contenders take turns slice by slice


def time_events(contender: contenders.Contender, events: list[Any]) -> float:
    """Seconds to feed ``events`` to ``contender``."""
    presence = contender.presence
    if contender.tick is None:
        start = time.perf_counter()
        for event in events:
            presence(None, event)
        return time.perf_counter() - start
    tick = contender.tick
    second = -1
    start = time.perf_counter()
    for event in events:
        if event.timestamp != second:
            second = event.timestamp
            tick(second)
        presence(None, event)
    return time.perf_counter() - start


def time_bodies(worker: Any, bodies: list[bytes], *, queued: bool = True) -> float:
    """Seconds for the SDK to parse ``bodies`` and hand every message to ``worker``.

    ``queued``: through the worker's queue, as in a client; else straight from the
    parsed envelope to the worker (the parsing alone).
    """
    feed = feed_body_queued if queued else feed_body
    start = time.perf_counter()
    for body in bodies:
        feed(worker, body)
    return time.perf_counter() - start


@dataclass
class SizeResult:
    """Per-event seconds and per-round ratios for one population size."""

    size: int
    events: int
    naive_events: int
    per_event: dict[str, list[float]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    def add(self, table: dict[str, list[float]], key: str, value: float) -> None:
        table.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self.ratios[key])

    def per_event_median(self, key: str) -> float:
        return statistics.median(self.per_event[key])


# The contenders of one round: name -> factory (fresh state, prefilled, untimed).
_FACTORIES: dict[str, Callable[[list[Any]], contenders.Contender]] = {
    "f1": contenders.f1,
    "store": contenders.store,
    "write": contenders.one_write,
    "hub": contenders.hub,
    "hub3": lambda prefill: contenders.hub(prefill, subscribers=3),
    "grace": contenders.hub_grace,
    "naive": contenders.naive,
}


def measure_size(
    work: Workload,
    rounds: int,
    naive_events: int,
    progress: Callable[[str], None],
) -> SizeResult:
    """Time every contender over the same events, ``rounds`` times from fresh state.

    Within a round the contenders take turns on slices of ``CHUNK`` events (their
    order rotating from slice to slice), so a burst of load from elsewhere on the
    machine hits them all alike; each slice starts after a young-generation
    collection, each round after a full one. The SDK chain is timed the same way on
    slices of subscribe responses, alone and with rxpresence's listener attached.
    """
    result = SizeResult(work.size, len(work.stream), naive_events)
    prefill = work.sdk_events("prefill")  # shared, untimed: becomes the roster's keys
    bodies = work.bodies("stream")
    names = list(_FACTORIES)
    for r in range(rounds):
        progress(f"U={work.size:,} round {r + 1}/{rounds}")
        built = {name: factory(prefill) for name, factory in _FACTORIES.items()}
        streams = {
            name: work.sdk_events("stream", naive_events if name == "naive" else None)
            for name in names
        }
        spent = dict.fromkeys(names, 0.0)
        naive_f1 = 0.0  # F1's time over the events the naive pipeline got
        gc.collect()
        for k, start in enumerate(range(0, len(work.stream), CHUNK)):
            order = names[k % len(names) :] + names[: k % len(names)]
            for name in order:
                chunk = streams[name][start : start + CHUNK]
                if not chunk:
                    continue
                gc.collect(0)
                seconds = time_events(built[name], chunk)
                spent[name] += seconds
                if name == "f1" and start < naive_events:
                    naive_f1 += seconds * len(streams["naive"][start : start + CHUNK]) / len(chunk)
        finals = (
            {name: built[name].result() for name in names if name not in ("grace", "write")}
            if r == 0
            else {}
        )
        del built, streams

        chain = _time_sdk_chain(prefill, bodies, finals if r == 0 else None)
        n = len(work.stream)
        for name in names:
            count = naive_events if name == "naive" else n
            result.add(result.per_event, name, spent[name] / count)
        for name, seconds in chain.items():
            result.add(result.per_event, name, seconds / n)
        f1 = spent["f1"]
        for name in ("store", "write", "hub", "hub3", "grace"):
            result.add(result.ratios, name, spent[name] / f1)
        result.add(result.ratios, "naive", spent["naive"] / naive_f1)
        result.add(result.ratios, "hub3/hub", spent["hub3"] / spent["hub"])
        result.add(result.ratios, "sdk+rx/sdk", chain["sdk+rx"] / chain["sdk"])
        result.add(result.ratios, "parse+rx/parse", chain["parse+rx"] / chain["parse"])
        for name in ("sdk+f1", "sdk+store", "sdk+write"):
            result.add(result.ratios, f"{name}/sdk", chain[name] / chain["sdk"])
        if r == 0:
            result.mismatches = _check_agreement(work, prefill, finals, naive_events)
    return result


def _time_sdk_chain(
    prefill: list[Any],
    bodies: list[bytes],
    finals: dict[str, dict[str, Any]] | None,
) -> dict[str, float]:
    """Seconds for the SDK alone and with rxpresence, taking turns on slices.

    Keys: ``sdk`` and ``sdk+rx`` through the worker's queue (the path of a client),
    ``parse`` and ``parse+rx`` without it (the parsing alone, for orientation), and,
    through the queue too, ``sdk+f1``, ``sdk+store`` and ``sdk+write`` (the floor of
    one map lookup and write per event): where the SDK's own work runs between two
    events, the caches are cold, and per-event costs differ from the loops above.
    """
    attached = contenders.hub(prefill)
    parsed = contenders.hub(prefill)
    runs = [
        ("sdk", sdk_worker(NoopListener()), True),
        ("sdk+rx", sdk_worker(attached.presence.__self__), True),  # the hub's listener
        ("parse", sdk_worker(NoopListener()), False),
        ("parse+rx", sdk_worker(parsed.presence.__self__), False),
        ("sdk+f1", sdk_worker(contenders.f1(prefill).presence.__self__), True),
        ("sdk+store", sdk_worker(contenders.Callback(contenders.store(prefill))), True),
        ("sdk+write", sdk_worker(contenders.Callback(contenders.one_write(prefill))), True),
    ]
    spent = dict.fromkeys((name for name, _, _ in runs), 0.0)
    per = max(1, CHUNK // 100)
    gc.collect()
    for k, start in enumerate(range(0, len(bodies), per)):
        shift = k % len(runs)
        for name, worker, queued in runs[shift:] + runs[:shift]:
            gc.collect(0)
            spent[name] += time_bodies(worker, bodies[start : start + per], queued=queued)
    if finals is not None:
        finals["sdk+rx"] = attached.result()
    return spent


def _check_agreement(
    work: Workload,
    prefill: list[Any],
    finals: dict[str, dict[str, Any]],
    naive_events: int,
) -> list[str]:
    """Every contender that saw the whole stream must end with the same users."""
    out = []
    reference = finals["f1"]
    for name in ("store", "hub", "hub3", "sdk+rx"):
        if finals[name] != reference:
            out.append(name)
    if naive_events < len(work.stream):
        check = contenders.f1(prefill)
        for event in work.sdk_events("stream", naive_events):
            check.presence(None, event)
        reference = check.result()
    if finals["naive"] != reference:
        out.append("naive")
    return out


# -- memory ---------------------------------------------------------------------------


@dataclass
class MemoryResult:
    size: int
    bytes_per_member: float
    breakdown: dict[str, float]
    snapshot_bytes: int


def _join_bodies(first: int, count: int, tt: int) -> list[bytes]:
    """Bodies of ``count`` joins of distinct uuids, no state (the members to weigh)."""
    out = []
    for start in range(first, first + count, 100):
        messages = []
        for i in range(start, min(start + 100, first + count)):
            messages.append(
                {
                    "a": "4",
                    "f": 0,
                    "p": {"t": str(tt + i * 10), "r": 12},
                    "k": "sub-c-bench",
                    "c": f"{CHANNEL}-pnpres",
                    "d": {
                        "action": "join",
                        "uuid": uuid_of(i),
                        "timestamp": 1_700_000_000 + i // 1_000,
                        "occupancy": i + 1,
                    },
                }
            )
        body = {"t": {"t": str(tt + (first + count) * 10), "r": 12}, "m": messages}
        out.append(json.dumps(body).encode())
    return out


def measure_memory(size: int) -> MemoryResult:
    """Bytes the hub retains per member, and per extra snapshot after one change.

    Joins go through the SDK's parsing into the hub while tracemalloc traces, so the
    uuid strings and ints the SDK allocated and the roster keeps are counted; the SDK
    objects themselves are dropped before measuring.
    """
    gc.collect()
    tracemalloc.start()
    try:
        streams = rxp.PresenceStreams(None)
        subscription = streams.roster(CHANNEL).subscribe(contenders.listener)
        worker = sdk_worker(streams._listener)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for body in _join_bodies(0, size, TT0):
            feed_body(worker, body)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        roster = streams.current(CHANNEL)
        assert len(roster) == size, len(roster)
        per_member = (after - before) / size
        uuid = uuid_of(size // 2)
        entry = roster._entries[uuid]  # a packed int: timetoken << 32 | joined_at
        breakdown = {
            "uuid string": float(sys.getsizeof(roster[uuid].uuid)),
            "entry (timetoken and joined_at packed in one int)": float(sys.getsizeof(entry)),
        }
        breakdown["trie entry (the rest)"] = per_member - sum(breakdown.values())

        # One more member joins while the old snapshot is kept: what does keeping it cost?
        old = roster
        (extra_body,) = _join_bodies(size, 1, TT0 + 10 * size)
        feed_body(worker, extra_body)
        del roster
        gc.collect()
        both = tracemalloc.get_traced_memory()[0]
        del old
        gc.collect()
        only_new = tracemalloc.get_traced_memory()[0]
        subscription.dispose()
        streams.close()
    finally:
        tracemalloc.stop()
    return MemoryResult(size, per_member, breakdown, both - only_new)


# -- concurrency ------------------------------------------------------------------------


@dataclass
class ConcurrencyResult:
    threads: int
    per_thread: int
    lost: int
    bad_snapshots: int


def measure_concurrency(per_thread: int, threads: int = 2) -> ConcurrencyResult:
    """Threads feed joins of distinct uuids through the SDK listener at once."""
    streams = rxp.PresenceStreams(None)
    sizes: list[int] = []
    subscription = streams.roster(CHANNEL).subscribe(lambda r: sizes.append(len(r)))
    feeds = []
    for t in range(threads):
        captured: list[Any] = []
        worker = sdk_worker(Capture(captured))
        for body in _join_bodies(t * per_thread, per_thread, TT0):
            feed_body(worker, body)
        feeds.append(captured)
    barrier = threading.Barrier(threads)
    presence = streams._listener.presence

    def feed(events: list[Any]) -> None:
        barrier.wait()
        for event in events:
            presence(None, event)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        workers = [threading.Thread(target=feed, args=(events,)) for events in feeds]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    final = len(streams.current(CHANNEL))
    bad = sum(1 for a, b in itertools.pairwise(sizes) if b != a + 1)
    subscription.dispose()
    streams.close()
    return ConcurrencyResult(threads, per_thread, threads * per_thread - final, bad)


# -- real timers --------------------------------------------------------------------------


@dataclass
class TimerResult:
    held: int
    rounds: int
    ratio: float  # per held timeout: a thread per timer / the hub's timer thread
    hub_us: float
    per_timer_us: float
    hub_threads: int  # most threads the hub's own timers started
    per_timer_threads: int


def _held_timeouts(scheduler: Any, held: int) -> tuple[float, int]:
    """Seconds to push ``held`` timeouts (each held for 60 s) and threads started."""
    streams = rxp.PresenceStreams(None, scheduler=scheduler, here_now=None)
    streams.roster(CHANNEL, grace=60).subscribe(lambda roster: None)
    for i in range(held):
        streams.push(rxp.PresenceEvent("join", CHANNEL, uuid_of(i), i + 1, 1, TT0 + i))
    timeouts = [
        rxp.PresenceEvent("timeout", CHANNEL, uuid_of(i), held - 1 - i, 2, TT0 + held + i)
        for i in range(held)
    ]
    before = threading.active_count()
    gc.collect()
    start = time.perf_counter()
    for event in timeouts:
        streams.push(event)
    spent = time.perf_counter() - start
    started = threading.active_count() - before
    streams.close()  # cancels the holds: their threads (if any) end
    return spent, started


def measure_timers(held: int, rounds: int) -> TimerResult:
    """Held timeouts with real timers: the hub's timer thread vs a thread per timer.

    The grace figures above run in virtual time; this is what a busy channel's timeouts
    cost the SDK's thread with real clocks. ``TimeoutScheduler`` (RxPY's default for
    timers) starts an OS thread for each held departure.
    """
    from reactivex.scheduler import TimeoutScheduler

    ratios: list[float] = []
    hub: list[float] = []
    per_timer: list[float] = []
    threads = [0, 0]
    for r in range(rounds):
        order: list[Any] = [None, TimeoutScheduler.singleton()]
        if r % 2:
            order.reverse()
        spent: dict[str, float] = {}
        for scheduler in order:
            seconds, started = _held_timeouts(scheduler, held)
            key = "hub" if scheduler is None else "per-timer"
            spent[key] = seconds
            slot = 0 if scheduler is None else 1
            threads[slot] = max(threads[slot], started)
        ratios.append(spent["per-timer"] / spent["hub"])
        hub.append(spent["hub"] / held)
        per_timer.append(spent["per-timer"] / held)
    return TimerResult(
        held,
        rounds,
        statistics.median(ratios),
        statistics.median(hub) * 1e6,
        statistics.median(per_timer) * 1e6,
        threads[0],
        threads[1],
    )
