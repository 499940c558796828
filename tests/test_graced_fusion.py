"""The hub's fused graced rosters equal the operator pipeline they replace.

``presence.roster(c, grace=g)`` folds flicker suppression into the channel registry's
reducer, with one timer queue for the whole hub. The property here: for any stream of
events (joins, leaves, timeouts, state changes, interval arrays, duplicates, timetokens
out of order, resync events from here-now snapshots, several channels and graces, in
virtual time), it emits exactly what

    presence.events | for_channel(c) | suppress_flicker(g, initial=...) | to_roster(c)

emits: the same snapshots (members, states, occupancy, timetoken) at the same virtual
times. The fused stream also emits when a snapshot marks it synced or stale; those
emissions change none of the compared fields and are left out.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from event_strategies import presence_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reactivex.testing import TestScheduler
from roster_model import plain_state

from rxpresence import (
    FakeHereNow,
    HereNowPage,
    PresenceEvent,
    PresenceStreams,
    ResyncSettings,
    Roster,
)
from rxpresence.operators import for_channel, suppress_flicker, to_roster

CHANNELS = ["room", "lobby"]
UUIDS = ["a", "b", "c", "d"]
STATES: list[dict[str, Any] | None] = [None, {"s": 1}, {"s": 2}]
GRACES = [1.0, 2.5, 5.0]
GAPS = [0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 4.0, 6.0]
SETTINGS = ResyncSettings(settle=0, cache_ttl=0, retry_jitter=0, drift_events=0)

View = tuple[tuple[tuple[str, Any], ...], int, int]
Marks = tuple[int | None, float | None]


def view(roster: Roster) -> View:
    members = tuple(sorted((m.uuid, plain_state(m.state)) for m in roster))
    return members, roster.occupancy, roster.timetoken


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[float, str, Any]]:
    """A timeline of pushed events and here-now answers, at increasing virtual times."""
    events = presence_events(
        CHANNELS,
        UUIDS,
        STATES,
        max_timetoken=30,
        max_occupancy=4,
        interval_subscriptions=[None, "group"],
    )
    out: list[tuple[float, str, Any]] = []
    t = 1.0
    for _ in range(draw(st.integers(0, 40))):
        t += draw(st.sampled_from(GAPS))
        kind = draw(st.sampled_from(["event"] * 6 + ["again", "resync-event", "snapshot"]))
        if kind == "snapshot":
            channel = draw(st.sampled_from(CHANNELS))
            table = draw(
                st.dictionaries(st.sampled_from(UUIDS), st.sampled_from(STATES), max_size=4)
            )
            out.append((t, "snapshot", (channel, table)))
            continue
        event = draw(events)
        if kind == "resync-event":
            event = event.replace(source="resync")
        out.append((t, "event", event))
        if kind == "again":  # a group subscription delivers it once more
            out.append((t, "event", event.replace(subscription="group")))
    return out


def _record(into: list[Any], scheduler: TestScheduler, roster: Roster) -> None:
    into.append((scheduler.clock, view(roster), (roster.synced_at, roster.stale_since)))


def _without_marks(emitted: list[tuple[float, View, Marks]]) -> list[tuple[float, View]]:
    """The emissions events made: a sync or stale mark changes the marks, not the view."""
    kept: list[tuple[float, View]] = []
    marks: Marks = (None, None)
    for time, seen, now in emitted:
        if not (kept and now != marks and kept[-1][1] == seen):
            kept.append((time, seen))
        marks = now
    return kept


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps())
def test_fused_graced_rosters_equal_the_operator_pipeline(
    timeline: list[tuple[float, str, Any]],
) -> None:
    scheduler = TestScheduler()
    here_now = FakeHereNow(auto=False)
    hub = PresenceStreams(None, scheduler=scheduler, here_now=here_now, resync=SETTINGS)
    fused: dict[tuple[str, float], list[tuple[float, View, Marks]]] = {}
    piped: dict[tuple[str, float], list[tuple[float, View, Marks]]] = {}
    for channel in CHANNELS:
        for grace in GRACES:
            key = (channel, grace)
            fused[key], piped[key] = [], []
            hub.roster(channel, grace=grace).subscribe(partial(_record, fused[key], scheduler))
            start = hub.current(channel)
            piped[key].append((scheduler.clock, view(start), (None, None)))  # the seed
            hub.events.pipe(
                for_channel(channel),
                suppress_flicker(grace, scheduler=scheduler, initial=start),
                to_roster(channel, initial=start),
            ).subscribe(partial(_record, piped[key], scheduler))
    for t, kind, payload in timeline:
        scheduler.advance_to(t)
        if kind == "event":
            hub.push(payload)
            continue
        channel, table = payload
        pending = [i for i, (r, _) in enumerate(here_now.pending) if r.channel == channel]
        if pending:
            here_now.respond(pending[0], HereNowPage(len(table), table))
        else:
            hub.resync(channel)  # answered at a later snapshot step
    scheduler.advance_to(timeline[-1][0] + max(GRACES) + 1 if timeline else 10)
    for key in fused:
        assert _without_marks(fused[key]) == [(t, v) for t, v, _ in piped[key]], key
    hub.close()


def test_the_comparison_sees_holds_and_releases() -> None:
    # Guards the property against comparing empty streams: a held timeout, released.
    scheduler = TestScheduler()
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    seen: list[tuple[float, View, Marks]] = []
    hub.roster("room", grace=5).subscribe(partial(_record, seen, scheduler))
    scheduler.advance_to(1)
    hub.push(PresenceEvent("join", "room", "a", 1, 1, 10))
    scheduler.advance_to(2)
    hub.push(PresenceEvent("timeout", "room", "a", 0, 2, 20))
    scheduler.advance_to(10)
    assert [(t, v[0]) for t, v in _without_marks(seen)] == [
        (0.0, ()),
        (1.0, (("a", None),)),
        (7.0, ()),
    ]
    hub.close()
