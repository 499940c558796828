"""Property: ``to_roster`` agrees with a small dict-based model of the roster rules.

The model keeps uuid -> (state, timetoken of the last event applied) for members and
uuid -> timetoken for departed uuids (tombstones, also for departures of uuids never
seen); an event older than either is ignored. Sequences mix channels, interval arrays,
duplicates (the same event again, as a group subscription delivers it) and
out-of-order timetokens.
"""

from __future__ import annotations

from typing import Any

from event_strategies import delivered_again, presence_events
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.subject import Subject
from roster_model import ChannelModel
from roster_model import plain_state as _plain

from rxpresence import PresenceEvent, Roster
from rxpresence.operators import expand_intervals, to_roster

ROOM = "room"
UUIDS = ["a", "b", "c", "d"]
STATES: list[dict[str, Any] | None] = [None, {"s": 1}, {"s": 2}]


class Model(ChannelModel):
    """The shared reference model, for the one channel these sequences are about."""

    def apply(self, e: PresenceEvent) -> None:
        if e.channel == ROOM:
            super().apply(e)


def _view(roster: Roster) -> tuple[dict[str, Any], int]:
    return {m.uuid: _plain(m.state) for m in roster}, roster.occupancy


def sequences() -> st.SearchStrategy[list[PresenceEvent]]:
    """Events mostly of the room, some redelivered later by a group subscription."""
    events = presence_events(
        [ROOM, ROOM, ROOM, "lobby"], UUIDS, STATES, max_timetoken=12, max_occupancy=4
    )
    return delivered_again(events, max_size=30, max_copies=5, subscription="group")


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_to_roster_matches_the_model(seq: list[PresenceEvent]) -> None:
    source: Subject[PresenceEvent] = Subject()
    emitted: list[Roster] = []
    source.pipe(to_roster(ROOM)).subscribe(emitted.append)
    model = Model()
    reference = Roster(ROOM)
    last = model.view()
    for event in seq:
        count = len(emitted)
        source.on_next(event)
        model.apply(event)
        now = model.view()
        # Emitted exactly when apply returns a new snapshot; and always on a real change.
        new = reference.apply(event)
        assert len(emitted) == count + (new is not reference), event
        if now != last:
            assert len(emitted) == count + 1, f"no emission on {event!r}"
        if len(emitted) > count:
            assert _view(emitted[-1]) == now
        reference, last = new, now


@settings(max_examples=150, deadline=None)
@given(sequences())
def test_roster_apply_matches_the_model_and_never_mutates(seq: list[PresenceEvent]) -> None:
    model = Model()
    roster = Roster(ROOM)
    snapshots: list[tuple[Roster, tuple[dict[str, Any], int]]] = []
    for event in seq:
        roster = roster.apply(event)
        model.apply(event)
        snapshots.append((roster, _view(roster)))
        assert {m.uuid: (_plain(m.state), m.timetoken) for m in roster} == {
            u: (_plain(s), tt) for u, (s, tt) in model.members.items()
        }
        assert roster.occupancy == model.occupancy
    for snapshot, seen in snapshots:
        assert _view(snapshot) == seen


@settings(max_examples=100, deadline=None)
@given(sequences())
def test_expanded_intervals_give_the_same_rosters(seq: list[PresenceEvent]) -> None:
    source: Subject[PresenceEvent] = Subject()
    direct: list[Roster] = []
    expanded: list[Roster] = []
    source.pipe(to_roster(ROOM)).subscribe(direct.append)
    source.pipe(expand_intervals(), to_roster(ROOM)).subscribe(expanded.append)
    for event in seq:
        source.on_next(event)
        final_direct = _view(direct[-1]) if direct else ({}, 0)
        final_expanded = _view(expanded[-1]) if expanded else ({}, 0)
        assert final_direct == final_expanded
