"""Property: whatever the presence history, ``suppress_flicker`` keeps the roster built
downstream self-consistent and ends where PubNub ends.

Histories are drawn the way PubNub produces them (in timetoken order, with exact
occupancy), in virtual time, with individual events, interval events and duplicate
deliveries. Checked: every roster emitted downstream has ``occupancy == len(members)``
(held departures never make the count dip below the members shown), and after
completion the roster holds exactly the uuids PubNub holds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from rxpresence import PresenceEvent
from rxpresence.operators import suppress_flicker, to_roster

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed

ROOM = "room"
UUIDS = ["a", "b", "c", "d", "e"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Recorded[Any]], set[str]]:
    present: set[str] = set()
    messages: list[Recorded[Any]] = []
    t = 200
    for index in range(draw(st.integers(0, 25))):
        t += draw(st.integers(1, 4))
        tt = t * 10_000_000 + index
        kind = draw(st.sampled_from(["single", "single", "single", "interval"]))
        if kind == "interval":
            arrays: dict[str, list[str]] = {"join": [], "leave": [], "timeout": []}
            for uuid in draw(st.lists(st.sampled_from(UUIDS), unique=True, max_size=3)):
                if uuid in present:
                    present.discard(uuid)
                    arrays[draw(st.sampled_from(["leave", "timeout"]))].append(uuid)
                else:
                    present.add(uuid)
                    arrays["join"].append(uuid)
            event = PresenceEvent("interval", ROOM, None, len(present), t, tt, **arrays)
        else:
            uuid = draw(st.sampled_from(UUIDS))
            state = draw(st.sampled_from([None, {"s": 1}, {"s": 2}]))
            if uuid not in present:
                present.add(uuid)
                action = "join"
            elif draw(st.booleans()):
                action = "state-change"
            else:
                present.discard(uuid)
                action = draw(st.sampled_from(["leave", "timeout"]))
                state = None
            event = PresenceEvent(action, ROOM, uuid, len(present), t, tt, state)
        messages.append(on_next(t, event))
        if draw(st.integers(0, 4)) == 0:  # delivered again through a group
            messages.append(on_next(t, event.replace(subscription="group")))
    messages.append(on_completed(t + draw(st.integers(1, 8))))
    return messages, present


@settings(max_examples=150, deadline=None)
@given(
    histories(),
    st.sampled_from([("timeout",), ("leave",), ("leave", "timeout")]),
    st.sampled_from([1, 3, 5]),
)
def test_downstream_roster_stays_consistent(
    history: tuple[list[Recorded[Any]], set[str]], actions: tuple[str, ...], grace: int
) -> None:
    messages, present = history
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(messages)
    results = scheduler.start(
        lambda: xs.pipe(suppress_flicker(grace, actions=actions), to_roster(ROOM))
    )
    rosters = [m.value.value for m in results.messages if m.value.kind == "N"]
    for roster in rosters:
        assert roster.occupancy == len(roster), roster
    assert (rosters[-1].uuids if rosters else set()) == present
    assert results.messages[-1] == messages[-1]  # completion, after the flush
