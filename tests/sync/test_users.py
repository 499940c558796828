"""Users by key: several devices (uuids) per person, offline only when the last one leaves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from event_strategies import presence_events
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.subject import Subject
from sync_helpers import Rig

import rxpresence as rxp
from rxpresence._users import UserKey, to_users


def by_prefix(uuid: str, state: Mapping[str, Any] | None) -> str:
    return uuid.split(".")[0]


@pytest.fixture
def rig() -> Any:
    made = Rig({"room": {"alice.phone": {"battery": 80}, "bob.web": None}}, auto=True)
    yield made
    made.close()


def test_users_group_devices_by_key(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix).subscribe(seen.append)
    users = seen[-1]
    assert users.ids == {"alice", "bob"}
    assert len(users) == 2 and "alice" in users
    assert users["alice"].uuids == ("alice.phone",)
    assert dict(users["alice"].devices[0].state or {}) == {"battery": 80}
    assert users.synced_at is not None
    assert users.user_of("bob.web") == users["bob"]
    assert {u.id for u in users} == {"alice", "bob"}


def test_a_user_goes_offline_only_when_the_last_device_leaves(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix).subscribe(seen.append)
    rig.live("join", "alice.laptop", occupancy=3, state={"screen": "big"})
    users = seen[-1]
    assert users["alice"].uuids == ("alice.phone", "alice.laptop")  # oldest join first
    diff = seen[-2].diff(users)
    assert (diff.joined, diff.left, [u.id for u in diff.updated]) == ((), (), ["alice"])

    rig.live("leave", "alice.phone", occupancy=2)
    assert "alice" in seen[-1]
    assert seen[-1]["alice"].uuids == ("alice.laptop",)

    rig.live("timeout", "alice.laptop", occupancy=1)
    assert "alice" not in seen[-1]
    diff = seen[-2].diff(seen[-1])
    assert [u.id for u in diff.left] == ["alice"] and not diff.joined


def test_a_first_device_makes_the_user_join(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix).subscribe(seen.append)
    rig.live("join", "carol.tab1", occupancy=3)
    diff = seen[-2].diff(seen[-1])
    assert [u.id for u in diff.joined] == ["carol"]


def test_a_key_from_state(rig: Rig) -> None:
    def account(uuid: str, state: Mapping[str, Any] | None) -> str:
        return str((state or {}).get("account", uuid))

    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=account).subscribe(seen.append)
    rig.live("join", "d1", occupancy=3, state={"account": "zoe"})
    rig.live("join", "d2", occupancy=4, state={"account": "zoe"})
    assert seen[-1]["zoe"].uuids == ("d1", "d2")
    # A state change can move a device to another user.
    rig.live("state-change", "d2", occupancy=4, state={"account": "yan"})
    assert seen[-1]["zoe"].uuids == ("d1",)
    assert seen[-1]["yan"].uuids == ("d2",)


def test_timetoken_refreshes_do_not_emit(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix).subscribe(seen.append)
    count = len(seen)
    rig.live("join", "bob.web", occupancy=2)  # a repeated join: same device, same state
    assert len(seen) == count


def test_a_failing_key_is_reported_and_the_uuid_is_its_own_user(rig: Rig) -> None:
    def broken(uuid: str, state: Mapping[str, Any] | None) -> str:
        if uuid.startswith("bob"):
            raise KeyError(uuid)
        return uuid.split(".")[0]

    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=broken).subscribe(seen.append)
    assert seen[-1].ids == {"alice", "bob.web"}
    assert [e.where for e in rig.errors] == ["subscriber"]


def test_user_roster_from_a_roster_directly() -> None:
    roster = rxp.Roster(
        "room", [rxp.Member("a.1", None, 10), rxp.Member("a.2", None, 5), rxp.Member("b.1")]
    )
    users = rxp.UserRoster(roster, by_prefix)
    assert users["a"].uuids == ("a.2", "a.1")
    assert users["a"].joined_at == 5
    assert users == rxp.UserRoster(roster, by_prefix)
    assert "UserRoster('room', [a, b])" == repr(users)
    with pytest.raises(TypeError):
        rxp.UserRoster(roster, lambda u, s: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        rig_free = rxp.PresenceStreams(None)
        try:
            rig_free.users("room", key="prefix")  # type: ignore[arg-type]
        finally:
            rig_free.close()


def test_users_follow_stale_flags(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix).subscribe(seen.append)
    rig.status("PNUnexpectedDisconnectCategory")
    assert seen[-1].stale


def test_users_with_grace_keep_a_user_through_a_flicker(rig: Rig) -> None:
    seen: list[rxp.UserRoster] = []
    rig.hub.users("room", key=by_prefix, grace=10).subscribe(seen.append)
    rig.live("timeout", "bob.web", occupancy=1)
    assert "bob" in seen[-1]
    rig.advance(5)
    rig.live("join", "bob.web", occupancy=2)
    rig.advance(20)
    assert all("bob" in users for users in seen)


# -- incremental grouping: the same as a full rebuild, at a cost set by the change -------

UUIDS = ["a.1", "a.2", "b.1", "b.2", "c.1", "x", "y"]
STATES: list[dict[str, Any] | None] = [None, {"account": "a"}, {"account": "zoe"}, {"n": 1}]


def account_or_prefix(uuid: str, state: Mapping[str, Any] | None) -> str:
    """A key that moves a device to another user when its state names an account."""
    return str((state or {}).get("account") or uuid.split(".")[0])


def devices(users: rxp.UserRoster) -> dict[str, list[tuple[str, Any, int]]]:
    """Each user's devices, without their timetokens: a user whose devices only had
    their timetokens moved is kept as it was, by design (no emission for a refresh)."""
    return {u.id: [(m.uuid, m.state, m.joined_at) for m in u.devices] for u in users}


def same_users(incremental: rxp.UserRoster, rebuilt: rxp.UserRoster) -> None:
    assert devices(incremental) == devices(rebuilt)
    assert incremental.ids == rebuilt.ids and len(incremental) == len(rebuilt)
    assert dict(incremental._keys) == dict(rebuilt._keys)
    for member in rebuilt.roster:
        mine, theirs = incremental.user_of(member.uuid), rebuilt.user_of(member.uuid)
        assert mine is not None and theirs is not None and mine.id == theirs.id


# A step: an event for the roster, or a here-now snapshot (a map rebuilt from scratch,
# sharing nothing with the one before).
steps = st.one_of(
    presence_events(["room"], UUIDS, STATES, max_timetoken=40, max_occupancy=9),
    st.lists(st.tuples(st.sampled_from(UUIDS), st.sampled_from(STATES)), max_size=5).map(
        lambda pairs: dict(pairs)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40), st.sampled_from([by_prefix, account_or_prefix]))
def test_incremental_users_equal_a_full_rebuild(
    sequence: list[rxp.PresenceEvent | dict[str, Any]], key: UserKey
) -> None:
    roster = rxp.Roster("room")
    source: Subject[rxp.Roster] = Subject()
    seen: list[rxp.UserRoster] = []
    source.pipe(to_users(key)).subscribe(seen.append)
    source.on_next(roster)
    for step in sequence:
        if isinstance(step, dict):
            members = [rxp.Member(u, s, 1, 50) for u, s in step.items()]
            roster = roster.with_sync(members, occupancy=len(members), timetoken=50)
        else:
            roster = roster.apply(step)
        source.on_next(roster)
        same_users(seen[-1], rxp.UserRoster(roster, key))


class CountedUuid(str):
    """A uuid that counts how often it is hashed (each map or dict lookup hashes it)."""

    hashes = 0

    def __hash__(self) -> int:
        CountedUuid.hashes += 1
        return str.__hash__(self)


def test_an_event_looks_at_a_bounded_number_of_members() -> None:
    """Grouping after one event looks up a few dozen uuids, not every member's.

    Counted, not timed: with 5,000 members a scan of the roster hashes every uuid at
    least once per event.
    """
    members = [rxp.Member(CountedUuid(f"user{i // 2}.dev{i % 2}"), None, 1, 1) for i in range(5000)]
    roster = rxp.Roster("room", members)
    source: Subject[rxp.Roster] = Subject()
    seen: list[rxp.UserRoster] = []
    source.pipe(to_users(by_prefix)).subscribe(seen.append)
    source.on_next(roster)
    counts = []
    for i in range(20):
        action = "join" if i % 2 == 0 else "leave"
        uuid = CountedUuid(f"user{i // 2}.extra")
        roster = roster.apply(rxp.PresenceEvent(action, "room", uuid, 5000, 5, 10 + i))
        CountedUuid.hashes = 0
        source.on_next(roster)
        counts.append(CountedUuid.hashes)
    assert len(seen) == 21 and len(seen[-2]["user9"].devices) == 3
    assert seen[-1]["user9"].uuids == ("user9.dev0", "user9.dev1")
    assert max(counts) < 100, counts
