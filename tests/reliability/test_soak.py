"""Soak: a million simulated events through one detached hub, in virtual time.

The simulator (:mod:`rxpresence.simulate`) plays three channels: one always announced,
one crossing PubNub's announce max (20) now and then, one crowd in interval mode. Half
the sessions are flaky, so timeouts followed by a rejoin (flickers) are common. A few
seeded laps of ``LAP_SECONDS`` are generated once and replayed one after the other, each
shifted in time (timetokens keep increasing), until ``--soak-events`` events were pushed.

Every lap is checked against the simulator's ground truth:

* at the end of the lap the raw roster of every channel holds exactly the uuids the
  simulator says are present (and their states, on the announced channel);
* after a quiet period longer than the grace, the flicker-suppressed roster equals the
  raw one and no timer is left in the scheduler (no held departure, no leaked timer);
* then everyone left is sent a leave (closing time), so the next lap starts empty.

Memory: after a warm-up, ``sys.getallocatedblocks()`` is sampled at checkpoints (after a
full collection) and must stay flat over the whole run. The last two laps also run
under ``tracemalloc``: a snapshot after the first of them and one at the end must show
no growth between them, and what the two laps allocated that is still alive must be
small. Tracing the whole run would cost about five times as much.
At the end ``close()`` completes every stream, drops every observer and starts no thread.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from functools import partial
from typing import Any

from reactivex.testing import TestScheduler

from rxpresence import Action, PresenceEvent, PresenceStreams, Roster
from rxpresence.simulate import ChannelProfile, Simulation, SimulationConfig, simulate

GRACE = 5.0
LAP_SECONDS = 600.0
SEEDS = (11, 12, 13)
ANNOUNCED = "soak-small"

PROFILES = (
    ChannelProfile(
        ANNOUNCED,
        arrival_rate=2.0,
        session_seconds=20,
        initial_members=8,
        state_change_rate=1 / 15,
        flaky_fraction=0.5,
        drop_every=8,
        drop_seconds=(0.5, 8.0),
        announce_max=1000,
        return_fraction=0.5,
    ),
    ChannelProfile(
        "soak-edge",
        arrival_rate=1.0,
        session_seconds=20,
        initial_members=18,
        state_change_rate=1 / 20,
        flaky_fraction=0.4,
        drop_every=10,
        drop_seconds=(0.5, 8.0),
        return_fraction=0.3,
        interval=5.0,
    ),
    ChannelProfile(
        "soak-crowd",
        arrival_rate=5.0,
        session_seconds=30,
        initial_members=150,
        state_change_rate=1 / 30,
        flaky_fraction=0.4,
        drop_every=10,
        drop_seconds=(0.5, 8.0),
        return_fraction=0.3,
        interval=5.0,
        state_on_join=False,
    ),
)

# Allocated-block growth allowed between the first checkpoint after warm-up and any later
# one. A leak of one block per event would be ~900,000 blocks over the default run.
BLOCKS_SLACK = 20_000
# Bytes allocated during the two traced laps and still alive at the end. What legitimately
# stays is the rosters' departure tombstones (two bounded generations) and their ints, and
# the flicker suppressors' bounded tables of departed uuids.
TRACED_SLACK = 1024 * 1024
# Growth allowed between the snapshot after the first traced lap and the final one.
SNAPSHOT_SLACK = 256 * 1024


def _plain(roster: Roster, *, states: bool) -> dict[str, Any]:
    if states:
        return {m.uuid: (dict(m.state) if m.state else None) for m in roster}
    return dict.fromkeys(roster.uuids)


def _truth(sim: Simulation, channel: str, *, states: bool) -> dict[str, Any]:
    members = sim.members(channel, sim.duration)
    if states:
        return {u: (dict(s) if s else None) for u, s in members.items()}
    return dict.fromkeys(members)


class Lap:
    """One generated lap: its events and ground truth at its end."""

    def __init__(self, seed: int) -> None:
        self.sim = simulate(SimulationConfig(PROFILES), duration=LAP_SECONDS, seed=seed)
        self.events = self.sim.events
        self.truth = {c: _truth(self.sim, c, states=c == ANNOUNCED) for c in self.sim.channels}
        # Timeouts followed by a rejoin within the grace: what suppression must hide.
        self.hidden_flickers = sum(
            1
            for f in self.sim.flickers
            if f.action is Action.TIMEOUT and f.announced and f.gap < GRACE
        )


def shifted(events: list[tuple[float, PresenceEvent]], seconds: float) -> Iterator[Any]:
    """The events ``seconds`` later: offsets, timestamps and timetokens."""
    tt_shift = round(seconds * 10**7)
    whole = int(seconds)
    for offset, event in events:
        # _replace builds the tuple without re-validating fields already validated.
        yield (
            offset + seconds,
            event._replace(timetoken=event.timetoken + tt_shift, timestamp=event.timestamp + whole),
        )


def test_a_million_events_keep_rosters_true_and_memory_flat(soak_events: int, figures: Any) -> None:
    threads_before = threading.active_count()
    laps = [Lap(seed) for seed in SEEDS]
    channels = laps[0].sim.channels
    scheduler = TestScheduler()
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    graced: dict[str, Roster] = {}
    completed: list[str] = []
    for channel in channels:
        hub.roster(channel, grace=GRACE).subscribe(
            partial(graced.__setitem__, channel),
            on_completed=partial(completed.append, channel),
        )
        hub.roster(channel).subscribe(on_completed=partial(completed.append, channel))
    delivered = [0]

    def count(_: PresenceEvent) -> None:
        delivered[0] += 1

    hub.events.subscribe(count)
    errors: list[Any] = []
    hub.errors.subscribe(errors.append)
    observers = len(hub._registry._events.observers)

    pushed = lap_count = hidden = 0
    base = 0.0
    tt_gap = 0
    warm_up = max(soak_events // 10, 20_000)
    lap_events = sum(len(lap.events) for lap in laps) // len(laps)
    # The last two laps, give or take one, and never before the warm-up ends.
    trace_from = max(soak_events - 2 * lap_events, warm_up)
    first_snapshot: tracemalloc.Snapshot | None = None
    checkpoints: list[tuple[int, int]] = []
    next_checkpoint = warm_up
    checkpoint_every = max(soak_events // 12, 10_000)
    tracing = False
    max_timers = 0
    started = time.perf_counter()
    traced_laps_after_snapshot = 0
    # Until enough events were pushed, and a traced lap has run after the first snapshot.
    while pushed < soak_events or traced_laps_after_snapshot == 0:
        lap = laps[lap_count % len(laps)]
        lap_count += 1
        hidden += lap.hidden_flickers
        for at, event in shifted(lap.events, base):
            scheduler.advance_to(at)
            hub.push(event)
        pushed += len(lap.events)
        max_timers = max(max_timers, len(scheduler._queue))

        # End of the lap: the raw rosters are the simulator's truth.
        for channel in channels:
            roster = hub.current(channel)
            states = channel == ANNOUNCED
            assert _plain(roster, states=states) == lap.truth[channel], (lap_count, channel)
            assert roster.occupancy == len(lap.truth[channel]), (lap_count, channel)
        # A quiet period longer than the grace: suppressed equals raw, nothing is held.
        end = base + LAP_SECONDS
        scheduler.advance_to(end + GRACE + 1)
        assert len(scheduler._queue) == 0, "timers left after the quiet period"
        for channel in channels:
            raw = hub.current(channel)
            assert _plain(graced[channel], states=True) == _plain(raw, states=True)
            assert graced[channel].occupancy == raw.occupancy
        # Closing time: everyone still present leaves, the next lap starts empty.
        tt = round((lap.sim.config.start + end + GRACE + 1) * 10**7) + tt_gap
        for channel in channels:
            remaining = sorted(hub.current(channel).uuids)
            for left, uuid in enumerate(remaining, 1):
                tt += 1
                hub.push(
                    PresenceEvent("leave", channel, uuid, len(remaining) - left, tt // 10**7, tt)
                )
                pushed += 1
            assert len(hub.current(channel)) == 0 and len(graced[channel]) == 0
        base = end + GRACE + 2

        if pushed >= next_checkpoint:
            gc.collect()
            checkpoints.append((pushed, sys.getallocatedblocks()))
            next_checkpoint = pushed + checkpoint_every
        if first_snapshot is not None:
            traced_laps_after_snapshot += 1
        elif tracing:
            gc.collect()
            first_snapshot = tracemalloc.take_snapshot()
        if not tracing and pushed >= trace_from:
            gc.collect()
            tracemalloc.start()
            tracing = True
    elapsed = time.perf_counter() - started

    gc.collect()
    checkpoints.append((pushed, sys.getallocatedblocks()))
    retained = tracemalloc.get_traced_memory()[0] if tracing else 0
    last_snapshot = tracemalloc.take_snapshot() if tracing else None
    tracemalloc.stop()
    assert first_snapshot is not None and last_snapshot is not None
    diff = last_snapshot.compare_to(first_snapshot, "lineno")
    snapshot_growth = sum(stat.size_diff for stat in diff)

    assert delivered[0] == pushed, "events lost on the way to subscribers"
    assert errors == []
    assert len(hub._registry._events.observers) == observers, "subscriptions leaked"
    hub.close()
    assert sorted(completed) == sorted([*channels, *channels])
    assert len(hub._registry._events.observers) == 0
    assert threading.active_count() == threads_before

    base_blocks = checkpoints[0][1]
    growth = max(blocks for _, blocks in checkpoints) - base_blocks
    figures.update(
        events=pushed,
        laps=lap_count,
        seconds=round(elapsed, 1),
        events_per_second=round(pushed / elapsed),
        timeout_flickers_within_grace=hidden,
        max_pending_timers=max_timers,
        blocks_after_warm_up=base_blocks,
        block_growth=growth,
        traced_retained_bytes=retained,
        snapshot_growth_bytes=snapshot_growth,
        events_lost=pushed - delivered[0],
    )
    assert growth < BLOCKS_SLACK, f"allocated blocks grew by {growth}: {checkpoints}"
    assert retained < TRACED_SLACK, f"{retained} bytes retained: {diff[:5]}"
    assert snapshot_growth < SNAPSHOT_SLACK, f"grew by {snapshot_growth} bytes: {diff[:5]}"
