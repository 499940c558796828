"""Measurements in one process: interleaved timing rounds, retained memory, concurrent feeds."""

from __future__ import annotations

import gc
import itertools
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import contenders
from workload import (
    CHANNEL,
    TT0,
    Capture,
    ChannelsWorkload,
    NoopListener,
    Workload,
    bodies_of,
    feed_body,
    feed_body_queued,
    sdk_worker,
    uuid_of,
)

import rxpresence as rxp

Progress = Callable[[str], None]

# -- timing -----------------------------------------------------------------------------

CHUNK = 500  # events per timed slice; contenders take turns slice by slice


def _clock_cost() -> float:
    """Seconds two back-to-back readings of the thread's CPU clock add to a slice."""
    clock = time.thread_time
    readings = []
    for _ in range(201):
        start = clock()
        readings.append(clock() - start)
    return statistics.median(readings)


# Loops are timed on the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID): time spent
# waiting for a core while other work runs on the machine does not count, so a busy
# machine stretches no slice. Reading it is a system call (a few microseconds on a
# busy VM), measured once and taken off every slice.
cpu_clock = time.thread_time
CLOCK_COST = _clock_cost()


def time_events(contender: contenders.Contender, events: list[Any]) -> float:
    """CPU seconds of this thread to feed ``events`` to ``contender``."""
    presence = contender.presence
    clock = cpu_clock
    if contender.tick is None:
        start = clock()
        for event in events:
            presence(None, event)
        return max(0.0, clock() - start - CLOCK_COST)
    tick = contender.tick
    second = -1
    start = clock()
    for event in events:
        if event.timestamp != second:
            second = event.timestamp
            tick(second)
        presence(None, event)
    return max(0.0, clock() - start - CLOCK_COST)


def time_bodies(worker: Any, bodies: list[bytes], *, queued: bool = True) -> float:
    """CPU seconds for the SDK to parse ``bodies`` and hand every message to ``worker``.

    ``queued``: through the worker's queue, as in a client; else straight from the
    parsed envelope to the worker (the parsing alone).
    """
    feed = feed_body_queued if queued else feed_body
    start = cpu_clock()
    for body in bodies:
        feed(worker, body)
    return max(0.0, cpu_clock() - start - CLOCK_COST)


def take_turns(
    built: dict[str, contenders.Contender],
    streams: dict[str, list[Any]],
    slice_of: dict[str, int],
) -> dict[str, list[float]]:
    """Feed every contender its stream, slice by slice, taking turns.

    Slice ``k`` of every contender runs before slice ``k + 1`` of any, in an order that
    rotates from slice to slice, so a burst of load from elsewhere on the machine hits
    them all alike; each slice starts after a young-generation collection.

    Returns:
        name -> seconds of each of its slices, in order.
    """
    names = list(built)
    slices = max(-(-len(streams[n]) // slice_of[n]) for n in names)
    spent: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for k in range(slices):
        shift = k % len(names)
        for name in names[shift:] + names[:shift]:
            size = slice_of[name]
            chunk = streams[name][k * size : (k + 1) * size]
            if chunk:
                gc.collect(0)
                spent[name].append(time_events(built[name], chunk))
    return spent


@dataclass
class SizeResult:
    """Per-event seconds and per-round ratios for one population size and mix."""

    size: int
    mix: str
    events: int
    naive_events: int
    changing: float  # share of the stream's events that change the roster
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
FACTORIES: dict[str, Callable[[list[Any]], contenders.Contender]] = {
    "f1": contenders.f1,
    "store": contenders.store,
    "write": contenders.one_write,
    "hub": contenders.hub,
    "hub3": lambda prefill: contenders.hub(prefill, subscribers=3),
    "grace": contenders.hub_grace,
    "naive": contenders.naive,
}
# Those whose roster must end equal to F1's (grace holds timeouts back by design; the
# one-write floor keeps no roster).
_AGREEING = ("store", "hub", "hub3", "naive")


def measure_size(
    work: Workload,
    rounds: int,
    naive_events: int,
    progress: Progress,
    names: list[str],
    chain: bool,
) -> SizeResult:
    """Time the ``names`` contenders over the same events, ``rounds`` times afresh.

    Within a round the contenders take turns on slices of ``CHUNK`` events (see
    :func:`take_turns`), each round after a full collection. With ``chain``, the SDK's
    chain is timed the same way on slices of subscribe responses, alone and with each
    listener attached (see :func:`_time_sdk_chain`).
    """
    n = len(work.stream)
    result = SizeResult(work.size, work.mix, n, naive_events, work.changing / n)
    prefill = work.sdk_events("prefill")  # shared, untimed: becomes the roster's keys
    bodies = work.bodies("stream") if chain else []
    for r in range(rounds):
        progress(f"{work.mix} U={work.size:,}: round {r + 1}/{rounds}")
        built = {name: FACTORIES[name](prefill) for name in names}
        streams = {
            name: work.sdk_events("stream", naive_events if name == "naive" else None)
            for name in names
        }
        slices = take_turns(built, streams, dict.fromkeys(names, CHUNK))
        spent = {name: sum(seconds) for name, seconds in slices.items()}
        finals = (
            {name: built[name].result() for name in names if name in (*_AGREEING, "f1")}
            if r == 0
            else {}
        )
        del built, streams
        for name in names:
            count = naive_events if name == "naive" else n
            result.add(result.per_event, name, spent[name] / count)
        f1 = spent["f1"]
        for name in names:
            if name not in ("f1", "naive"):
                result.add(result.ratios, name, spent[name] / f1)
        if "naive" in names:
            # F1's time over the events the naive pipeline got: its first slices.
            whole, part = divmod(naive_events, CHUNK)
            naive_f1 = sum(slices["f1"][:whole])
            if part:
                naive_f1 += slices["f1"][whole] * part / CHUNK
            result.add(result.ratios, "naive", spent["naive"] / naive_f1)
        if "hub3" in names:
            result.add(result.ratios, "hub3/hub", spent["hub3"] / spent["hub"])
        if "grace" in names:
            result.add(result.ratios, "grace/hub", spent["grace"] / spent["hub"])
        result.add(result.ratios, "hub/write", spent["hub"] / spent["write"])
        if chain:
            timed = _time_sdk_chain(prefill, bodies, finals if r == 0 else None)
            for name, seconds in timed.items():
                result.add(result.per_event, name, seconds / n)
            sdk = timed["sdk"]
            result.add(result.ratios, "sdk+rx/sdk", timed["sdk+rx"] / sdk)
            result.add(result.ratios, "parse+rx/parse", timed["parse+rx"] / timed["parse"])
            for name in ("sdk+f1", "sdk+store", "sdk+write"):
                result.add(result.ratios, f"{name}/sdk", timed[name] / sdk)
            added = (timed["sdk+rx"] - sdk) / (timed["sdk+write"] - sdk)
            result.add(result.ratios, "rx added/write added", added)
        if r == 0:
            result.mismatches = _check_agreement(work, prefill, finals, naive_events)
    return result


def _time_sdk_chain(
    prefill: list[Any],
    bodies: list[bytes],
    finals: dict[str, dict[str, Any]] | None,
) -> dict[str, float]:
    """Seconds for the SDK alone and with each listener, taking turns on slices.

    Keys: ``sdk`` and ``sdk+rx`` through the worker's queue (the path of a client),
    ``parse`` and ``parse+rx`` without it (the parsing alone, for orientation), and,
    through the queue too, ``sdk+f1``, ``sdk+store`` and ``sdk+write`` (the floor of
    one map lookup and write per event): where the SDK's own work runs between two
    events, the caches are cold, and per-event costs differ from the loops above.
    """
    rx = contenders.hub(prefill)
    parsed = contenders.hub(prefill)
    runs = [
        ("sdk", sdk_worker(NoopListener()), True),
        ("sdk+rx", sdk_worker(contenders.Callback(rx)), True),  # the hub's SDK listener
        ("parse", sdk_worker(NoopListener()), False),
        ("parse+rx", sdk_worker(contenders.Callback(parsed)), False),
        ("sdk+f1", sdk_worker(contenders.Callback(contenders.f1(prefill))), True),
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
        finals["sdk+rx"] = rx.result()
    rx.close()
    parsed.close()
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
    for name in (*_AGREEING, "sdk+rx"):
        if name != "naive" and name in finals and finals[name] != reference:
            out.append(name)
    if "naive" in finals:
        if naive_events < len(work.stream):
            check = contenders.f1(prefill)
            for event in work.sdk_events("stream", naive_events):
                check.presence(None, event)
            reference = check.result()
        if finals["naive"] != reference:
            out.append("naive")
    return out


# -- per-event cost against what the app observes ---------------------------------------


@dataclass
class Setup:
    """One contender of :func:`measure_per_event`: how to build it, and its events."""

    factory: Callable[[list[Any]], contenders.Contender]
    prefill: list[Any]
    stream: Callable[[int], list[Any]]  # fresh SDK objects, at most that many, each call


def measure_per_event(
    setups: dict[str, Setup],
    rounds: int,
    progress: Progress,
    label: str,
    seconds: float = 0.3,
    slices: int = 10,
) -> dict[str, list[float]]:
    """Seconds per event of each setup, per round, the setups taking turns.

    Setups whose events cost very different amounts (a path that rescans 50,000
    members against one that does not) get different numbers of events: a first,
    untimed probe estimates each one's cost per event, and each is then given about
    ``seconds`` of events per round (at least 10, at most its whole stream), cut in
    ``slices`` slices. Every round builds each setup afresh.
    """
    counts = {name: _events_for(setup, seconds) for name, setup in setups.items()}
    out: dict[str, list[float]] = {name: [] for name in setups}
    for r in range(rounds):
        progress(f"{label}: round {r + 1}/{rounds}")
        built = {name: setup.factory(setup.prefill) for name, setup in setups.items()}
        streams = {name: setup.stream(counts[name]) for name, setup in setups.items()}
        size = {name: max(1, -(-len(streams[name]) // slices)) for name in setups}
        spent = take_turns(built, streams, size)
        for name in setups:
            out[name].append(sum(spent[name]) / len(streams[name]))
        for contender in built.values():
            contender.close()
        del built, streams
    return out


def _events_for(setup: Setup, seconds: float, most: int = 1_000_000) -> int:
    """How many events of ``setup`` take about ``seconds`` (a short untimed probe)."""
    events = setup.stream(most)
    if seconds == float("inf"):
        return len(events)
    contender = setup.factory(setup.prefill)
    try:
        done, spent = 0, 0.0
        while done < min(20, len(events)) and spent < 0.05:
            spent += time_events(contender, events[done : done + 1])
            done += 1
    finally:
        contender.close()
    return max(10, min(len(events), int(seconds * done / max(spent, 1e-9))))


# -- memory ---------------------------------------------------------------------------


@dataclass
class MemoryResult:
    size: int
    bytes_per_member: float
    breakdown: dict[str, float]
    snapshot_bytes: int


def _join_bodies(first: int, count: int, tt: int) -> list[bytes]:
    """Bodies of ``count`` joins of distinct uuids, no state (the members to weigh)."""
    messages = [
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
        for i in range(first, first + count)
    ]
    return bodies_of(messages)


@contextmanager
def _tracing() -> Iterator[None]:
    gc.collect()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _traced_bytes() -> int:
    """Bytes traced now, after a full collection (what is retained, not garbage)."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _fed_hub(
    bodies: list[bytes], observe: Callable[[rxp.PresenceStreams], Any]
) -> tuple[rxp.PresenceStreams, Any, Any, int]:
    """A hub observed by ``observe``, fed ``bodies`` through the SDK while tracing.

    Returns:
        The hub, what ``observe`` returned (a subscription), the SDK worker feeding
        the hub, and the bytes retained by the feeding.
    """
    streams, client = contenders.attached()
    kept = observe(streams)
    worker = client.worker()
    before = _traced_bytes()
    for body in bodies:
        feed_body(worker, body)
    return streams, kept, worker, _traced_bytes() - before


def measure_memory(size: int) -> MemoryResult:
    """Bytes the hub retains per member, and per extra snapshot after one change.

    Joins go through the SDK's parsing into the hub while tracemalloc traces, so the
    uuid strings and ints the SDK allocated and the roster keeps are counted; the SDK
    objects themselves are dropped before measuring.
    """
    bodies = _join_bodies(0, size, TT0)
    (extra_body,) = _join_bodies(size, 1, TT0 + 10 * size)
    with _tracing():
        streams, subscription, worker, retained = _fed_hub(
            bodies, lambda hub: hub.roster(CHANNEL).subscribe(contenders.listener)
        )
        roster = streams.current(CHANNEL)
        assert len(roster) == size, len(roster)
        per_member = retained / size
        uuid_bytes = float(sys.getsizeof(roster[uuid_of(size // 2)].uuid))
        breakdown = {
            "uuid string": uuid_bytes,
            "the rest (the member's entry, its share of the map)": per_member - uuid_bytes,
        }

        # One more member joins while the old snapshot is kept: what does keeping it cost?
        old = roster
        feed_body(worker, extra_body)
        del roster
        both = _traced_bytes()
        del old
        only_new = _traced_bytes()
        subscription.dispose()
        streams.close()
    return MemoryResult(size, per_member, breakdown, both - only_new)


@dataclass
class ChannelMemory:
    channels: int
    members: int
    per_channel: float  # bytes retained per channel and its members, nothing observed
    rosters_added: float  # bytes more per channel with rosters() observed


def measure_channel_memory(channels: int, members: int) -> ChannelMemory:
    """Bytes per channel of ``members`` members, and what ``rosters()`` adds per channel.

    The joins of every channel go through the SDK's parsing into a hub (as in
    :func:`measure_memory`) while tracemalloc traces: once with nothing observed, once
    with one subscriber on ``rosters()`` from the start.
    """
    bodies = bodies_of(ChannelsWorkload.build(channels, members, 0).prefill)
    retained = []
    for observe in (
        lambda hub: None,
        lambda hub: hub.rosters().subscribe(contenders.listener),
    ):
        with _tracing():
            streams, kept, _, grown = _fed_hub(bodies, observe)
            retained.append(grown / channels)
            if kept is not None:
                kept.dispose()
            streams.close()
    return ChannelMemory(channels, members, retained[0], retained[1] - retained[0])


# -- concurrency ------------------------------------------------------------------------


@dataclass
class ConcurrencyResult:
    threads: int
    per_thread: int
    lost: int
    bad_snapshots: int


def measure_concurrency(per_thread: int, threads: int = 2) -> ConcurrencyResult:
    """Threads feed joins of distinct uuids through the SDK listener at once."""
    streams, client = contenders.attached()
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
    presence = client.presence

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
    ratios: list[float]  # per held timeout: TimeoutScheduler / the hub's timer thread
    hub: list[float]  # seconds per held timeout, per round
    timeout_scheduler: list[float]
    hub_threads: int  # most threads the hub's own timers started
    timeout_scheduler_threads: int


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
    """Held timeouts with real timers: the hub's timer thread vs RxPY's TimeoutScheduler.

    The grace figures above run in virtual time; this is what a busy channel's timeouts
    cost the SDK's thread with real clocks. ``TimeoutScheduler`` (RxPY's default for
    timers) starts an OS thread per scheduled item; the hub keeps its held departures
    in one timer heap with one scheduled item for the earliest deadline, so on either
    scheduler 2,000 held timeouts take one timer, not 2,000 threads.
    """
    from reactivex.scheduler import TimeoutScheduler

    ratios: list[float] = []
    hub: list[float] = []
    timeout_scheduler: list[float] = []
    threads = [0, 0]
    for r in range(rounds):
        order: list[Any] = [None, TimeoutScheduler.singleton()]
        if r % 2:
            order.reverse()
        spent: dict[str, float] = {}
        for scheduler in order:
            seconds, started = _held_timeouts(scheduler, held)
            key = "hub" if scheduler is None else "timeout-scheduler"
            spent[key] = seconds
            slot = 0 if scheduler is None else 1
            threads[slot] = max(threads[slot], started)
        ratios.append(spent["timeout-scheduler"] / spent["hub"])
        hub.append(spent["hub"] / held)
        timeout_scheduler.append(spent["timeout-scheduler"] / held)
    return TimerResult(
        held,
        rounds,
        ratios,
        hub,
        timeout_scheduler,
        threads[0],
        threads[1],
    )
