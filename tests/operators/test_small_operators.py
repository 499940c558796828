"""for_channel, expand_intervals, roster_diffs and to_occupancy in virtual time."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ROOM, ev
from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from rxpresence import Member, PresenceEvent, Roster, RosterDiff
from rxpresence.operators import (
    expand_intervals,
    for_channel,
    roster_diffs,
    to_occupancy,
    to_roster,
)

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def run(*messages: Recorded[Any], operators: tuple[Any, ...]) -> list[Recorded[Any]]:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(*messages)

    def create() -> Observable[Any]:
        return xs.pipe(*operators)

    results = scheduler.start(create)
    ends = [int(m.time) for m in messages if m.value.kind in ("C", "E")]
    assert xs.subscriptions == [subscribe(200, ends[0] if ends else 1000)]
    return results.messages


# -- for_channel ---------------------------------------------------------------------------


def test_for_channel_keeps_its_channels_and_subscriptions() -> None:
    a = ev("join", "u", 210, 1, channel="a")
    b = ev("join", "u", 220, 1, channel="b")
    c = ev("join", "u", 230, 1, channel="c")
    via_group = ev("join", "u", 240, 1, channel="d", subscription="g")
    via_wildcard = ev("join", "u", 250, 1, channel="x.1", subscription="x.*")
    assert run(
        on_next(210, a),
        on_next(220, b),
        on_next(230, c),
        on_next(240, via_group),
        on_next(250, via_wildcard),
        on_completed(300),
        operators=(for_channel("a", "c", "g", "x.*"),),
    ) == [
        on_next(210, a),
        on_next(230, c),
        on_next(240, via_group),
        on_next(250, via_wildcard),
        on_completed(300),
    ]


def test_for_channel_forwards_errors() -> None:
    error = RuntimeError("boom")
    assert run(on_error(210, error), operators=(for_channel("a"),)) == [on_error(210, error)]


@pytest.mark.parametrize("channels", [(), ("",), ("a", None)])
def test_for_channel_needs_channel_names(channels: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="channel"):
        for_channel(*channels)


# -- expand_intervals ----------------------------------------------------------------------


def test_expand_intervals_emits_one_event_per_uuid() -> None:
    interval = ev(
        "interval", None, 220, 4, subscription="g", join=["b", "c"], leave=["d"], timeout=["e"]
    )

    def single(action: str, uuid: str) -> PresenceEvent:
        return ev(action, uuid, 220, 4, subscription="g").replace(source="interval")

    join = ev("join", "a", 210, 1)
    assert run(
        on_next(210, join),
        on_next(220, interval),
        on_completed(300),
        operators=(expand_intervals(),),
    ) == [
        on_next(210, join),
        on_next(220, single("join", "b")),
        on_next(220, single("join", "c")),
        on_next(220, single("leave", "d")),
        on_next(220, single("timeout", "e")),
        on_completed(300),
    ]


def test_expand_intervals_passes_an_interval_without_arrays_unchanged() -> None:
    refresh = ev("interval", None, 220, 40, here_now_refresh=True)  # type: ignore[arg-type]
    bare = ev("interval", None, 230, 41)
    assert run(on_next(220, refresh), on_next(230, bare), operators=(expand_intervals(),)) == [
        on_next(220, refresh),
        on_next(230, bare),
    ]


def test_expand_intervals_tags_its_events() -> None:
    interval = ev("interval", None, 220, 1, join=["b"])
    [message] = run(on_next(220, interval), operators=(expand_intervals(),))
    assert message.value.value.source == "interval"


def test_expanded_events_build_the_same_roster() -> None:
    events = (
        on_next(210, ev("join", "a", 210, 1, state={"s": 1})),
        on_next(220, ev("interval", None, 220, 3, join=["a", "b", "c"], timeout=["c"])),
        on_next(230, ev("interval", None, 230, 1, leave=["b"])),
    )
    direct = run(*events, operators=(to_roster(ROOM),))
    expanded = run(*events, operators=(expand_intervals(), to_roster(ROOM)))
    assert direct[-1] == expanded[-1]
    assert direct[-1].value.value.uuids == {"a"}
    # The interval's join of "a" (present already) keeps a's state either way.
    assert dict(direct[-1].value.value["a"].state) == {"s": 1}


# -- roster_diffs --------------------------------------------------------------------------


def m(uuid: str, state: Any = None) -> Member:
    return Member(uuid, state)


def test_roster_diffs_between_consecutive_snapshots() -> None:
    r1 = Roster(ROOM, [m("a")])
    r2 = Roster(ROOM, [m("a"), m("b")])
    r3 = Roster(ROOM, [m("a"), m("b")], occupancy=5)  # occupancy only: no diff
    r4 = Roster(ROOM, [m("a", {"s": 1}), m("c")])
    assert run(
        on_next(210, r1),
        on_next(220, r2),
        on_next(230, r3),
        on_next(240, r4),
        on_completed(300),
        operators=(roster_diffs(),),
    ) == [
        on_next(210, RosterDiff(joined=(m("a"),))),
        on_next(220, RosterDiff(joined=(m("b"),))),
        on_next(240, RosterDiff(joined=(m("c"),), left=(m("b"),), updated=(m("a", {"s": 1}),))),
        on_completed(300),
    ]


def test_roster_diffs_skips_a_first_empty_roster() -> None:
    assert run(
        on_next(210, Roster(ROOM)),
        on_next(220, Roster(ROOM, [m("a")])),
        operators=(roster_diffs(),),
    ) == [on_next(220, RosterDiff(joined=(m("a"),)))]


def test_roster_diffs_pairs_snapshots_per_channel() -> None:
    assert run(
        on_next(210, Roster(ROOM, [m("a")])),
        on_next(220, Roster("lobby", [m("b")])),
        on_next(230, Roster(ROOM, [m("a"), m("c")])),
        operators=(roster_diffs(),),
    ) == [
        on_next(210, RosterDiff(joined=(m("a"),))),
        on_next(220, RosterDiff(joined=(m("b"),))),
        on_next(230, RosterDiff(joined=(m("c"),))),
    ]


# -- to_occupancy ---------------------------------------------------------------------------


def test_to_occupancy_of_events_skips_repeats() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 2)),
        on_next(230, ev("state-change", "b", 230, 2, state={"s": 1})),
        on_next(240, ev("interval", None, 240, 7)),
        on_next(250, ev("leave", "a", 250, 1)),
        on_next(260, ev("leave", "b", 260, 1)),
        on_completed(300),
        operators=(to_occupancy(),),
    ) == [
        on_next(210, 1),
        on_next(220, 2),
        on_next(240, 7),
        on_next(250, 1),
        on_completed(300),
    ]


def test_to_occupancy_of_rosters() -> None:
    assert run(
        on_next(210, Roster(ROOM, [m("a")])),
        on_next(220, Roster(ROOM, [m("a"), m("b")])),
        on_next(230, Roster(ROOM, [m("a"), m("c")])),
        on_next(240, Roster(ROOM, [m("a")], occupancy=4)),
        operators=(to_occupancy(),),
    ) == [on_next(210, 1), on_next(220, 2), on_next(240, 4)]


def test_to_occupancy_of_rosters_ignores_stale_events() -> None:
    # A late, older event carries an outdated count; the roster keeps the newest one.
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 2)),
        on_next(230, ev("leave", "c", 205, 7)),
        operators=(to_roster(ROOM), to_occupancy()),
    ) == [on_next(210, 1), on_next(220, 2)]
