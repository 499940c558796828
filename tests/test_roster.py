"""Roster.apply, the pure reducer behind every roster, and the snapshot API."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest
from event_strategies import presence_events
from hypothesis import given, settings
from hypothesis import strategies as st

from rxpresence import Member, PresenceEvent, Roster, RosterDiff

ROOM = "room"


def ev(
    action: str,
    uuid: str | None,
    tt: int,
    occupancy: int = 0,
    *,
    channel: str = ROOM,
    state: dict[str, Any] | None = None,
    subscription: str | None = None,
    **arrays: list[str],
) -> PresenceEvent:
    return PresenceEvent(
        action, channel, uuid, occupancy, tt // 10, tt, state, subscription, **arrays
    )


def fold(*events: PresenceEvent, start: Roster | None = None) -> Roster:
    return reduce(Roster.apply, events, start or Roster(ROOM))


def states(roster: Roster) -> dict[str, Any]:
    return {m.uuid: None if m.state is None else dict(m.state) for m in roster}


def test_join_adds_the_member_with_the_event_state() -> None:
    roster = fold(ev("join", "a", 10, 1), ev("join", "b", 20, 2, state={"mood": "ok"}))
    assert states(roster) == {"a": None, "b": {"mood": "ok"}}
    assert roster["b"] == Member("b", {"mood": "ok"}, joined_at=2, timetoken=20)
    assert roster.occupancy == 2
    assert roster.timetoken == 20


@pytest.mark.parametrize("departure", ["leave", "timeout"])
def test_leave_and_timeout_remove_the_member(departure: str) -> None:
    roster = fold(ev("join", "a", 10, 1), ev("join", "b", 20, 2), ev(departure, "a", 30, 1))
    assert roster.uuids == {"b"}
    assert "a" not in roster
    assert roster.get("a") is None
    assert roster.occupancy == 1


def test_state_change_replaces_the_state() -> None:
    roster = fold(
        ev("join", "a", 10, 1, state={"mood": "ok", "extra": 1}),
        ev("state-change", "a", 20, 1, state={"mood": "away"}),
    )
    assert states(roster) == {"a": {"mood": "away"}}
    assert roster["a"].joined_at == 1  # still the join's


def test_state_change_for_an_unknown_uuid_adds_it() -> None:
    roster = fold(ev("state-change", "a", 10, 1, state={"mood": "ok"}))
    assert states(roster) == {"a": {"mood": "ok"}}


def test_join_without_state_clears_the_known_state() -> None:
    roster = fold(ev("join", "a", 10, 1, state={"mood": "ok"}), ev("join", "a", 20, 1))
    assert states(roster) == {"a": None}
    assert roster["a"].timetoken == 20
    assert roster["a"].joined_at == fold(ev("join", "a", 10, 1))["a"].joined_at


def test_interval_join_keeps_the_known_state() -> None:
    roster = fold(
        ev("join", "a", 10, 1, state={"mood": "ok"}),
        ev("interval", None, 20, 2, join=["a", "b"]),
    )
    assert states(roster) == {"a": {"mood": "ok"}, "b": None}
    expanded = fold(ev("join", "a", 10, 1, state={"mood": "ok"})).apply(
        ev("join", "a", 20, 2).replace(source="interval")
    )
    assert states(expanded) == {"a": {"mood": "ok"}}


def test_interval_arrays_are_applied() -> None:
    roster = fold(
        ev("join", "a", 10, 1),
        ev("join", "b", 20, 2),
        ev("interval", None, 30, 3, join=["c", "d"], leave=["a"]),
        ev("interval", None, 40, 2, timeout=["c"]),
    )
    assert roster.uuids == {"b", "d"}
    assert roster["d"] == Member("d", None, joined_at=3, timetoken=30)
    assert roster.occupancy == 2


def test_interval_without_arrays_changes_occupancy_only() -> None:
    before = fold(ev("join", "a", 10, 1))
    after = before.apply(ev("interval", None, 20, 40))
    assert after.members == before.members
    assert after.occupancy == 40


def test_a_second_join_never_duplicates() -> None:
    roster = fold(ev("join", "a", 10, 1), ev("join", "a", 20, 1), ev("join", "a", 30, 2))
    assert len(roster) == 1
    assert list(roster) == [Member("a", None, joined_at=1, timetoken=30)]


def test_events_of_other_channels_do_not_touch_the_roster() -> None:
    roster = fold(ev("join", "a", 10, 1))
    for event in (
        ev("leave", "a", 20, 0, channel="lobby"),
        ev("join", "b", 20, 5, channel="lobby"),
        ev("interval", None, 20, 9, channel="lobby", timeout=["a"]),
    ):
        assert roster.apply(event) is roster


def test_an_older_event_for_a_uuid_is_ignored() -> None:
    roster = fold(ev("join", "a", 20, 1, state={"v": 2}))
    assert roster.apply(ev("leave", "a", 10, 0)) is roster
    assert roster.apply(ev("state-change", "a", 15, 1, state={"v": 1})) is roster
    assert roster.apply(ev("interval", None, 15, 0, timeout=["a"])) is roster
    gone = roster.apply(ev("timeout", "a", 30, 0))
    assert gone.apply(ev("join", "a", 25, 1)) is gone
    assert gone.apply(ev("state-change", "a", 25, 1, state={})) is gone
    assert gone.apply(ev("interval", None, 25, 1, join=["a"])) is gone


def test_an_older_event_does_not_take_over_the_occupancy() -> None:
    roster = fold(ev("join", "a", 20, 1), ev("join", "b", 5, 7))  # b is new but late
    assert roster.uuids == {"a", "b"}
    assert roster.occupancy == 1
    assert roster.timetoken == 20


def test_an_exact_duplicate_is_applied_once() -> None:
    join = ev("join", "a", 10, 1)
    leave = ev("leave", "a", 20, 0)
    once = fold(join)
    assert once.apply(join.replace(subscription="group")) is once
    left = once.apply(leave)
    assert left.apply(leave.replace(subscription="group")) is left
    assert left.apply(join) is left  # the join again, after the leave: older, ignored
    interval = ev("interval", None, 30, 2, join=["b"], timeout=["c"])
    after = left.apply(interval)
    assert after.apply(interval.replace(subscription="group")) is after


def test_apply_returns_self_when_nothing_changed() -> None:
    roster = fold(ev("join", "a", 10, 1))
    assert roster.apply(ev("join", "a", 10, 1)) is roster
    # A departure of an unknown uuid is remembered (to order later events) only once.
    remembered = roster.apply(ev("leave", "nobody", 10, 1))
    assert remembered == roster
    assert remembered.apply(ev("leave", "nobody", 10, 1)) is remembered


def test_snapshots_are_never_mutated() -> None:
    first = fold(ev("join", "a", 10, 1, state={"v": 1}))
    members, occupancy, timetoken = dict(first.members), first.occupancy, first.timetoken
    later = fold(
        ev("state-change", "a", 20, 1, state={"v": 2}),
        ev("join", "b", 30, 2),
        ev("interval", None, 40, 1, join=["c"], timeout=["a", "b"]),
        ev("timeout", "c", 50, 0),
        start=first,
    )
    assert len(later) == 0
    assert dict(first.members) == members
    assert (first.occupancy, first.timetoken) == (occupancy, timetoken)
    assert states(first) == {"a": {"v": 1}}


def test_snapshot_state_is_read_only() -> None:
    roster = fold(ev("join", "a", 10, 1, state={"v": 1}))
    with pytest.raises(TypeError):
        roster.members["b"] = Member("b")  # type: ignore[index]
    with pytest.raises(TypeError):
        roster["a"].state["v"] = 2  # type: ignore[index]


def test_a_join_older_than_a_departure_of_an_unknown_uuid_is_ignored() -> None:
    roster = fold(ev("leave", "a", 50, 0), ev("join", "a", 30, 1))
    assert "a" not in roster


# -- construction, diff and the rest of the snapshot API -------------------------------------


def test_constructor() -> None:
    roster = Roster(ROOM, [Member("a"), Member("b", {"s": 1})])
    assert roster.channel == ROOM
    assert roster.occupancy == 2
    assert Roster(ROOM, {"a": Member("a")}, occupancy=5).occupancy == 5
    with pytest.raises(ValueError, match="channel"):
        Roster("")
    with pytest.raises(TypeError, match="Member"):
        Roster(ROOM, ["a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="occupancy"):
        Roster(ROOM, occupancy=-1)


def test_equality_ignores_the_timetoken() -> None:
    assert Roster(ROOM, [Member("a")], timetoken=5) == Roster(ROOM, [Member("a")])
    assert Roster(ROOM, [Member("a")]) != Roster(ROOM, [Member("a")], occupancy=3)
    assert Roster(ROOM) != Roster("lobby")


def test_diff() -> None:
    old = Roster(ROOM, [Member("a"), Member("b", {"s": 1}), Member("c")])
    new = Roster(ROOM, [Member("a"), Member("b", {"s": 2}), Member("d")])
    assert old.diff(new) == RosterDiff(
        joined=(Member("d"),), left=(Member("c"),), updated=(Member("b", {"s": 2}),)
    )
    assert not old.diff(old)
    assert not RosterDiff()


def test_with_sync_and_with_stale() -> None:
    roster = fold(ev("join", "a", 10, 1, state={"s": 1}), ev("join", "b", 20, 2))
    synced = roster.with_sync(
        [Member("a", {"s": 1}, 99, 99), Member("c")], occupancy=2, timetoken=25
    )
    assert synced.uuids == {"a", "c"}
    assert synced["a"].joined_at == 1  # unchanged member keeps its join time
    assert synced.synced_at == 25 and not synced.stale
    stale = synced.with_stale(1234.5)
    assert stale.stale and stale.stale_since == 1234.5
    assert stale.with_stale(1234.5) is stale
    assert not synced.stale


# -- the encoding behind the snapshots ---------------------------------------------------


def test_members_is_a_read_only_mapping_without_departures() -> None:
    roster = fold(
        ev("join", "a", 10, 1),
        ev("join", "b", 20, 2, state={"s": 1}),
        ev("join", "c", 30, 3),
        ev("leave", "c", 40, 2),
        ev("timeout", "ghost", 50, 2),
    )
    members = roster.members
    assert len(members) == len(roster) == 2
    assert sorted(members) == ["a", "b"]
    assert "c" not in members and "ghost" not in members and "zed" not in members
    assert members.get("c") is None and members.get("c", 7) == 7
    with pytest.raises(KeyError):
        members["c"]
    with pytest.raises(KeyError):
        roster["ghost"]
    assert roster.get("c") is None
    assert dict(members.items()) == {"a": roster["a"], "b": roster["b"]}
    assert list(members.values()) == list(roster)
    assert members == {"a": Member("a", None, 1, 10), "b": Member("b", {"s": 1}, 2, 20)}
    assert roster.uuids == frozenset(members.keys()) == {"a", "b"}


@pytest.mark.parametrize(
    "member",
    [
        Member("a", None, 0, 0),
        Member("a", None, 1_700_000_000, 17_300_000_000_000_000),
        Member("a", None, 2**32, 5),  # joined_at too large to pack
        Member("a", None, -1, 5),
        Member("a", {"s": 1}, 3, 5),
    ],
)
def test_a_member_reads_back_exactly_as_it_was_given(member: Member) -> None:
    roster = Roster(ROOM, [member])
    assert roster["a"] == member
    assert type(roster["a"].joined_at) is int and roster["a"].joined_at == member.joined_at
    assert list(roster) == [member]
    # ... and survives events that only move its timetoken.
    later = member.timetoken + 10
    moved = roster.apply(ev("interval", None, later, 1, join=["a"]))
    assert moved["a"] == member._replace(timetoken=later)


def test_rosters_compare_by_members_whatever_their_history() -> None:
    direct = Roster(ROOM, [Member("a", None, 1, 10), Member("b", {"s": 1}, 2, 20)])
    folded = fold(
        ev("join", "a", 10, 2),
        ev("join", "b", 20, 2, state={"s": 1}),
        ev("join", "gone", 25, 3),
        ev("leave", "gone", 30, 2),  # leaves a tombstone behind: not a member
    )
    assert folded == direct
    assert folded != Roster(ROOM, [Member("a", None, 1, 10), Member("b", {"s": 2}, 2, 20)])
    # A non-int joined_at is kept as given and still compares by value.
    odd = Roster(ROOM, [Member("a", None, True, 10), Member("b", {"s": 1}, 2, 20)])  # type: ignore[arg-type]
    assert odd == direct


def test_departures_are_remembered_for_two_generations_then_forgotten() -> None:
    roster = fold(ev("join", "stay", 1, 1))
    tt = 10
    # Far more departures of distinct uuids than members: memory must stay bounded.
    for i in range(5_000):
        roster = roster.apply(ev("leave", f"u{i}", tt, 1))
        tt += 10
    assert len(roster) == 1
    assert len(roster._entries) <= 2 * 1_024 + 2
    assert len(roster._meta.gone_old) <= 2 * 1_024 + 2
    # The newest departures are still known: an older join of such a uuid is ignored.
    assert "u4999" not in roster.apply(ev("join", "u4999", tt - 20, 2))
    # The oldest were forgotten: a late join is taken as it comes.
    assert "u0" in roster.apply(ev("join", "u0", 5, 2))


# -- changed_since -----------------------------------------------------------------------


def _members_view(roster: Roster) -> dict[str, tuple[Any, int]]:
    return {m.uuid: (m.state, m.timetoken) for m in roster}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            presence_events(
                ["room"], ["a", "b", "c", "d"], [None, {"s": 1}], max_timetoken=30, max_occupancy=4
            ),
            st.dictionaries(st.sampled_from("abcd"), st.sampled_from([None, {"s": 2}]), max_size=3),
        ),
        max_size=30,
    ),
    st.data(),
)
def test_changed_since_names_every_uuid_that_differs(steps: list[Any], data: Any) -> None:
    rosters = [Roster("room")]
    for step in steps:
        last = rosters[-1]
        if isinstance(step, dict):
            _, last = last.reconcile(step, occupancy=len(step), timetoken=15)
        else:
            last = last.apply(step)
        rosters.append(last)
    for index in range(1, len(rosters)):
        # The direct predecessor (the cheap path) and any older snapshot (a comparison).
        for older in (rosters[index - 1], rosters[data.draw(st.integers(0, index - 1))]):
            newer = rosters[index]
            before, after = _members_view(older), _members_view(newer)
            differ = {u for u in before.keys() | after.keys() if before.get(u) != after.get(u)}
            assert differ <= set(newer.changed_since(older))


def test_changed_since_a_direct_predecessor_looks_only_at_the_step() -> None:
    roster = Roster("room", [Member(f"u{i}", None, 1, 1) for i in range(1000)])
    joined = roster.apply(PresenceEvent("join", "room", "new", 1001, 5, 50))
    left = joined.apply(PresenceEvent("leave", "room", "u7", 1000, 6, 60))
    assert joined.changed_since(roster) == ("new",)
    assert left.changed_since(joined) == ("u7",)
    assert set(left.changed_since(roster)) == {"new", "u7"}  # not a direct step: compared
    assert left.changed_since(left) == ()
