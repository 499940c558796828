"""Plain and JSON lines, and when a roster line is due."""

from __future__ import annotations

import io
import json

from rxpresence import ConnectionStatus, Member, PresenceEvent, Roster
from rxpresence._console._lines import RosterTracker, event_json, plain_line, roster_json
from rxpresence._console._model import ConsoleModel, EventRecord, FlickerRecord, NoticeRecord
from rxpresence._console._output import JsonDisplay, PlainDisplay

START = 1_700_000_000.0


def test_plain_lines() -> None:
    join = PresenceEvent("join", "lobby", "alice", 3, state={"status": "away"})
    assert plain_line(EventRecord(join, START + 3.25), START) == (
        "   3.2s  lobby        join         alice          occupancy 3  status=away"
    )
    timeout = PresenceEvent("timeout", "lobby", "fran", 2)
    assert plain_line(EventRecord(timeout, START), START).endswith(
        "timeout      fran           occupancy 2  no heartbeat: timed out"
    )
    interval = PresenceEvent("interval", "stadium", None, 30, join=["a", "b"], leave=["c"])
    assert plain_line(EventRecord(interval, START), START).endswith(
        "occupancy 30  joined a,b; left c"
    )
    resync = PresenceEvent("leave", "lobby", "ghost", 1, source="resync")
    assert plain_line(EventRecord(resync, START), START).endswith("(resync from here-now)")
    assert plain_line(FlickerRecord("lobby", "fran", 2.04, START + 1), START) == (
        "   1.0s  lobby        flicker      fran           "
        "back 2.0 s after its timeout: hidden by the grace period"
    )
    assert plain_line(NoticeRecord("status", "connected", START), START).endswith(
        "status       connected"
    )


def test_event_json() -> None:
    event = PresenceEvent("state-change", "lobby", "alice", 2, 1700, 17, {"mood": "busy"})
    line = event_json(event)
    assert next(iter(line)) == "type"
    assert line == {"type": "event", **event.to_dict()}
    assert line["state"] == {"mood": "busy"}


def test_roster_json_compares_with_the_previous_line() -> None:
    before = Roster("lobby", [Member("alice"), Member("bob", {"s": 1})])
    after = Roster("lobby", [Member("bob", {"s": 2}), Member("carol")], occupancy=2)
    assert roster_json(after, before) == {
        "type": "roster",
        "channel": "lobby",
        "occupancy": 2,
        "uuids": ["bob", "carol"],
        "states": {"bob": {"s": 2}},
        "joined": ["carol"],
        "left": ["alice"],
        "updated": ["bob"],
    }
    assert roster_json(before)["joined"] == ["alice", "bob"]


def test_roster_tracker_emits_changes_only() -> None:
    tracker = RosterTracker()
    assert tracker.changes({"lobby": Roster("lobby")}) == []  # an empty start is no news
    one = Roster("lobby", [Member("alice", None, 1, 10)])
    [line] = tracker.changes({"lobby": one})
    assert line["joined"] == ["alice"]
    # Bookkeeping only (a newer timetoken for the same member): no line.
    refreshed = Roster("lobby", [Member("alice", None, 1, 20)])
    assert tracker.changes({"lobby": refreshed}) == []
    busy = Roster("lobby", [Member("alice", {"mood": "busy"}, 1, 30)])
    [line] = tracker.changes({"lobby": busy, "other": Roster("other")})
    assert line["updated"] == ["alice"]
    more = Roster("lobby", [Member("alice", {"mood": "busy"}, 1, 30)], occupancy=5)
    assert tracker.changes({"lobby": more})[0]["occupancy"] == 5


def test_json_display_writes_events_then_rosters_and_notices_apart() -> None:
    model = ConsoleModel(0, record=True)
    out, err = io.StringIO(), io.StringIO()
    display = JsonDisplay(out, err, model, "rxpresence watch")
    model.on_roster(Roster("lobby", [Member("alice")]))
    model.on_event(PresenceEvent("join", "lobby", "alice", 1))
    model.on_status(ConnectionStatus("PNConnectedCategory"))
    display.tick()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["event", "roster"]
    assert err.getvalue() == "rxpresence watch: status: connected\n"
    display.close()
    assert len(out.getvalue().splitlines()) == 2


def test_plain_display() -> None:
    model = ConsoleModel(5, record=True, wall=lambda: START + 1)
    out = io.StringIO()
    display = PlainDisplay(out, model, START)
    model.on_event(PresenceEvent("leave", "lobby", "bob", 0))
    display.tick()
    assert out.getvalue() == ("   1.0s  lobby        leave        bob            occupancy 0\n")


def test_plain_lines_skip_repeated_intervals_json_lines_keep_them() -> None:
    quiet = PresenceEvent("interval", "stadium", None, 30)
    plain_model = ConsoleModel(5, record=True, wall=lambda: START)
    json_model = ConsoleModel(5, record=True, wall=lambda: START)
    plain, out, err = io.StringIO(), io.StringIO(), io.StringIO()
    plain_display = PlainDisplay(plain, plain_model, START)
    json_display = JsonDisplay(out, err, json_model, "rxpresence watch")
    for _ in range(3):
        plain_model.on_event(quiet)
        json_model.on_event(quiet)
        plain_display.tick()
        json_display.tick()
    assert plain.getvalue().splitlines() == [
        "   0.0s  stadium      interval                    occupancy 30  "
        "no names: nothing changed, or a here-now refresh"
    ]
    assert [json.loads(line)["action"] for line in out.getvalue().splitlines()] == ["interval"] * 3
