"""The console model: flicker counting, records, statuses, snapshots.

Flickers reach the model from the hub (``PresenceStreams.flickers``), so the flicker tests
bind a hub in virtual time as the console does and push events into it.
"""

from __future__ import annotations

from typing import Any

from reactivex.testing import TestScheduler

from rxpresence import (
    ConnectionStatus,
    ErrorReport,
    Member,
    PresenceEvent,
    PresenceStreams,
    Roster,
)
from rxpresence._console._bind import Binding
from rxpresence._console._model import (
    ConsoleModel,
    EventRecord,
    FlickerRecord,
    NoticeRecord,
    ViewHeader,
    interval_text,
    state_text,
)

HEADER = ViewHeader("test", "nowhere")


class Clock:
    """A settable clock for both the monotonic and the wall time."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def model(grace: float = 5.0, record: bool = True) -> tuple[ConsoleModel, Clock]:
    clock = Clock()
    return ConsoleModel(grace, record=record, monotonic=clock, wall=clock), clock


_tt = iter(range(17_000_000_000_000_000, 18_000_000_000_000_000, 10))


def event(
    action: str, uuid: str | None = "alice", channel: str = "room", **fields: Any
) -> PresenceEvent:
    fields.setdefault("occupancy", 1)
    fields.setdefault("timestamp", 1_700_000_000)
    return PresenceEvent(action, channel, uuid, timetoken=next(_tt), **fields)


def bound(grace: float = 5.0) -> tuple[ConsoleModel, PresenceStreams, TestScheduler]:
    """A model fed by a hub in virtual time, watching ``room``, as the console binds it."""
    scheduler = TestScheduler()
    m = ConsoleModel(grace, record=True, monotonic=lambda: scheduler.clock, wall=lambda: 0.0)
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    Binding(hub, m, ["room"])
    return m, hub, scheduler


def at(seconds: float, action: str, uuid: str | None = "alice", **fields: Any) -> PresenceEvent:
    """An event of ``room`` whose timetoken says it happened ``seconds`` in."""
    fields.setdefault("occupancy", 1)
    tt = 17_000_000_000_000_000 + int(seconds * 10**7)
    return PresenceEvent(action, "room", uuid, timetoken=tt, **fields)


def test_a_rejoin_within_the_grace_period_is_a_flicker() -> None:
    m, hub, scheduler = bound(grace=5)
    hub.push(at(0, "join"))
    hub.push(at(1, "timeout"))
    scheduler.advance_to(2.5)
    hub.push(at(3.5, "join"))
    assert m.flickers == 1
    flicker = [r for r in m.take_records() if isinstance(r, FlickerRecord)]
    assert [(f.channel, f.uuid, f.gap) for f in flicker] == [("room", "alice", 2.5)]
    state = m.snapshot(HEADER)
    assert state.channels[0].flickers == 1
    assert [e.action for e in state.log] == ["join", "timeout", "join", "flicker"]


def test_a_late_rejoin_a_leave_or_no_grace_is_not_a_flicker() -> None:
    m, hub, scheduler = bound(grace=5)
    hub.push(at(0, "join"))
    hub.push(at(1, "timeout"))
    scheduler.advance_to(6.5)  # released: alice was shown leaving
    hub.push(at(6.5, "join"))
    hub.push(at(7, "leave"))  # leaves are not held
    hub.push(at(8, "join"))
    hub.push(at(9, "timeout", "bob"))  # never seen joining: nothing to hide
    hub.push(at(9.5, "join", "bob"))
    assert m.flickers == 0

    off, hub, _ = bound(grace=0)
    hub.push(at(0, "join"))
    hub.push(at(1, "timeout"))
    hub.push(at(2, "join"))
    assert off.flickers == 0


def test_interval_arrays_count_too() -> None:
    m, hub, scheduler = bound(grace=5)
    hub.push(at(0, "interval", None, join=["a", "b"], occupancy=30))
    hub.push(at(1, "interval", None, timeout=["a", "b"], occupancy=28))
    scheduler.advance_to(2)
    hub.push(at(3, "interval", None, join=["b", "c"], occupancy=30))
    assert m.flickers == 1
    view = m.snapshot(HEADER).channels[0]
    assert view.interval_mode
    assert view.events == 3


def test_resync_events_are_logged_but_counted_apart() -> None:
    m, _ = model(grace=5)
    m.on_event(event("timeout"))
    m.on_event(event("join", source="resync"))
    assert m.flickers == 0
    assert m.counts() == {"timeout": 1, "resync": 1}
    state = m.snapshot(HEADER)
    assert state.channels[0].events == 1
    assert state.log[-1].detail == "(resync from here-now)"


def test_rosters_held_members_and_occupancies() -> None:
    m, _ = model(grace=5)
    m.add_channel("room")
    assert m.snapshot(HEADER).channels[0].occupancy is None
    raw = Roster("room", [Member("bob", None, 1)], occupancy=1)
    graced = Roster("room", [Member("alice", {"status": "away"}, 1), Member("bob", None, 1)])
    m.on_roster(raw)
    m.on_graced(graced)
    [view] = m.snapshot(HEADER).channels
    assert (view.occupancy, view.smoothed) == (1, 2)
    assert [(v.uuid, v.held) for v in view.members] == [("alice", True), ("bob", False)]
    assert m.shown_rosters() == {"room": graced}


def test_without_grace_the_raw_roster_is_shown() -> None:
    m, _ = model(grace=0)
    raw = Roster("room", [Member("bob")])
    m.on_roster(raw)
    assert m.shown_rosters() == {"room": raw}
    assert m.snapshot(HEADER).channels[0].members[0].held is False


def test_statuses_and_errors() -> None:
    m, _ = model()
    assert m.snapshot(HEADER).connection == "connecting"
    m.on_status(ConnectionStatus("PNConnectedCategory"))
    assert (m.snapshot(HEADER).connection, m.snapshot(HEADER).connected) == ("connected", True)
    m.on_status(ConnectionStatus("PNAcknowledgmentCategory"))  # a leave's answer: no news
    m.on_status(ConnectionStatus("PNUnexpectedDisconnectCategory", error=True))
    state = m.snapshot(HEADER)
    assert (state.connection, state.connected) == ("connection lost, retrying", False)
    m.on_error(ErrorReport("event", ValueError("bad occupancy")))
    records = m.take_records()
    assert [(r.kind, r.text) for r in records if isinstance(r, NoticeRecord)] == [
        ("status", "connected"),
        ("status", "connection lost, retrying"),
        ("error", "event: ValueError: bad occupancy"),
    ]
    assert len(m.statuses()) == 3


def test_records_only_when_asked_for() -> None:
    m, _ = model(record=False)
    m.on_event(event("join"))
    assert m.take_records() == []
    r, _ = model(record=True)
    r.on_event(event("join"))
    [record] = r.take_records()
    assert isinstance(record, EventRecord) and record.event.uuid == "alice"
    assert r.take_records() == []


def test_events_per_second_over_a_window() -> None:
    m, clock = model()
    clock.now += 10
    for _ in range(10):
        m.on_event(event("state-change", state={"n": 1}))
    assert m.snapshot(HEADER).channels[0].rate == 2.0  # 10 events over a 5 s window
    clock.now += 6
    assert m.snapshot(HEADER).channels[0].rate == 0.0


def test_state_and_interval_texts() -> None:
    assert state_text(None) == ""
    assert state_text({"status": "away", "typing": True, "seat": 4}) == "status=away typing seat=4"
    assert state_text({"status": "away", "typing": True}, compact=True) == "away typing"
    assert state_text({"a": None, "b": False}) == "a=null b=false"
    assert state_text({"note": "x" * 100}, limit=10) == "note=xxxx…"
    m, _ = model()
    m.on_event(event("state-change", state={}))
    assert m.snapshot(HEADER).log[-1].detail == "state cleared"
    big = event("interval", None, join=["a", "b", "c", "d", "e", "f"], timeout=["z"])
    assert interval_text(big) == "joined a,b,c,d +2; timed out z"
    assert "here-now" in interval_text(event("interval", None))


def quiet(occupancy: int = 30, channel: str = "stadium") -> PresenceEvent:
    return event("interval", None, channel, occupancy=occupancy)


def test_repeated_intervals_without_names_are_said_once() -> None:
    m, clock = model()
    m.on_event(quiet())
    for _ in range(2):
        clock.now += 2
        m.on_event(quiet())
    m.on_event(event("state-change", "fan-01", "stadium", state={"s": 1}, occupancy=30))
    clock.now += 2
    m.on_event(quiet())
    state = m.snapshot(HEADER)
    assert [(e.action, e.detail) for e in state.log] == [
        ("interval", "no names (4 in a row): nothing changed, or a here-now refresh"),
        ("state-change", "s=1"),
    ]
    assert state.log[0].wall == 1000.0  # the line keeps its place and time
    records = [r for r in m.take_records() if isinstance(r, EventRecord)]
    assert [r.repeat for r in records] == [False, True, True, False, True]
    # Still events PubNub sent: counted as such.
    assert m.counts() == {"interval": 4, "state-change": 1}
    assert state.channels[0].events == 5


def test_a_change_of_situation_gets_a_new_line() -> None:
    m, _ = model()
    m.on_event(quiet(30))
    m.on_event(quiet(31))  # the occupancy changed: a here-now refresh, not nothing
    m.on_event(quiet(31))
    m.on_event(event("interval", None, "stadium", join=["fan-40"], occupancy=32))
    m.on_event(quiet(32))
    m.on_event(event("join", "fan-41", "stadium", occupancy=33))
    m.on_event(quiet(33))
    m.on_event(quiet(33, channel="arena"))  # another channel: its own line
    m.on_event(quiet(33))
    details = [(e.channel, e.detail) for e in m.snapshot(HEADER).log]
    no_names = "no names: nothing changed, or a here-now refresh"
    twice = "no names (2 in a row): nothing changed, or a here-now refresh"
    assert details == [
        ("stadium", no_names),
        ("stadium", twice),
        ("stadium", "joined fan-40"),
        ("stadium", no_names),
        ("stadium", ""),
        ("stadium", twice),
        ("arena", no_names),
    ]
    repeats = [r.repeat for r in m.take_records() if isinstance(r, EventRecord)]
    assert repeats == [False, False, True, False, False, False, False, False, True]


def test_a_repeat_whose_line_scrolled_away_gets_a_new_line() -> None:
    clock = Clock()
    m = ConsoleModel(5, record=True, log_size=3, monotonic=clock, wall=clock)
    m.on_event(quiet())
    for i in range(3):
        m.on_event(event("join", f"u{i}", "lobby"))
    m.on_event(quiet())
    assert [e.detail for e in m.snapshot(HEADER).log][-1] == (
        "no names: nothing changed, or a here-now refresh"
    )
    assert [r.repeat for r in m.take_records() if isinstance(r, EventRecord)][-1] is False
