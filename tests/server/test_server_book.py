"""Unit tests of the presence bookkeeping (``PresenceBook``), in fake time."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxpresence.server import ServerSettings
from rxpresence.server._presence import LogEntry, PresenceBook, Subscription
from rxpresence.server._timetoken import TimetokenClock

SUB = "demo"


class FakeTime:
    """Monotonic and wall clocks that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def make_book(clock: FakeTime, **changes: Any) -> PresenceBook:
    return PresenceBook(
        ServerSettings(**changes),
        clock=TimetokenClock(clock.wall),
        monotonic=clock.monotonic,
        wall=clock.wall,
    )


@pytest.fixture
def book(clock: FakeTime) -> PresenceBook:
    return make_book(clock)


def payloads(entries: list[LogEntry]) -> list[Any]:
    return [e.payload for e in entries]


def actions(entries: list[LogEntry]) -> list[tuple[str, str | None]]:
    return [(e.payload["action"], e.payload.get("uuid")) for e in entries]


# ---------------------------------------------------------------------------- joins


def test_first_touch_joins_with_occupancy_after(book: PresenceBook, clock: FakeTime) -> None:
    first = book.touch(SUB, "alice", ["room"])
    second = book.touch(SUB, "bob", ["room"])

    assert [e.channel for e in first + second] == ["room-pnpres", "room-pnpres"]
    assert payloads(first) == [
        {"action": "join", "uuid": "alice", "timestamp": int(clock.wall()), "occupancy": 1}
    ]
    assert payloads(second)[0]["occupancy"] == 2
    assert book.occupants(SUB, "room") == {"alice": None, "bob": None}


def test_touch_when_present_only_renews(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    assert book.touch(SUB, "alice", ["room"]) == []
    assert book.presence_events_emitted == 1


def test_same_uuid_counts_once_per_channel(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["a", "b"])
    book.touch(SUB, "alice", ["a"])
    assert book.occupancy(SUB, "a") == 1
    assert book.where_now(SUB, "alice") == ["a", "b"]


def test_subscribe_keys_are_isolated(book: PresenceBook) -> None:
    book.touch("k1", "alice", ["room"])
    assert book.occupants("k2", "room") == {}
    assert book.occupied_channels("k1") == ["room"]
    assert book.occupied_channels("k2") == []


def test_join_carries_state_sent_along(book: PresenceBook) -> None:
    entries = book.touch(SUB, "alice", ["room"], states={"room": {"mood": "ok"}})
    assert actions(entries) == [("join", "alice")]
    assert entries[0].payload["data"] == {"mood": "ok"}


# ---------------------------------------------------------------------------- leaves


def test_leave_removes_and_announces_occupancy_after(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    book.touch(SUB, "bob", ["room"])
    entries = book.leave(SUB, "alice", ["room"])
    assert actions(entries) == [("leave", "alice")]
    assert entries[0].payload["occupancy"] == 1
    assert book.occupants(SUB, "room") == {"bob": None}


def test_leave_of_unknown_uuid_or_channel_is_silent(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    assert book.leave(SUB, "bob", ["room"]) == []
    assert book.leave(SUB, "alice", ["elsewhere"]) == []
    assert book.presence_events_emitted == 1


def test_leave_clears_state(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"], states={"room": {"x": 1}})
    book.leave(SUB, "alice", ["room"])
    rejoin = book.touch(SUB, "alice", ["room"])
    assert "data" not in rejoin[0].payload
    assert book.get_state(SUB, "alice", "room") is None


# -------------------------------------------------------------------------- timeouts


def test_timeout_after_default_presence_timeout(clock: FakeTime) -> None:
    book = make_book(clock, presence_timeout=300)
    book.touch(SUB, "alice", ["room"])
    clock.advance(300)
    assert book.sweep() == []
    clock.advance(0.5)
    entries = book.sweep()
    assert actions(entries) == [("timeout", "alice")]
    assert entries[0].payload["occupancy"] == 0
    assert book.occupants(SUB, "room") == {}


def test_heartbeat_parameter_sets_the_timeout(book: PresenceBook, clock: FakeTime) -> None:
    book.touch(SUB, "alice", ["room"], timeout=10)
    book.touch(SUB, "bob", ["room"])
    clock.advance(10.1)
    assert actions(book.sweep()) == [("timeout", "alice")]


def test_a_touch_without_heartbeat_keeps_the_declared_timeout(
    book: PresenceBook, clock: FakeTime
) -> None:
    # The JavaScript SDK declares its timeout on /heartbeat only; its subscribe polls
    # carry no heartbeat parameter and must not stretch it back to the default.
    book.touch(SUB, "alice", ["room"])  # the handshake may arrive first
    book.touch(SUB, "alice", ["room"], timeout=10)
    clock.advance(5)
    book.touch(SUB, "alice", ["room"])
    clock.advance(10.1)
    assert actions(book.sweep()) == [("timeout", "alice")]


def test_a_new_declaration_replaces_the_old_one(book: PresenceBook, clock: FakeTime) -> None:
    book.touch(SUB, "alice", ["room"], timeout=10)
    book.touch(SUB, "alice", ["room"], timeout=60)
    clock.advance(30)
    assert book.sweep() == []
    book.touch(SUB, "alice", ["room"])
    clock.advance(60.1)
    assert actions(book.sweep()) == [("timeout", "alice")]


def test_touch_renews_liveness(book: PresenceBook, clock: FakeTime) -> None:
    book.touch(SUB, "alice", ["room"], timeout=10)
    for _ in range(5):
        clock.advance(8)
        book.touch(SUB, "alice", ["room"], timeout=10)
        assert book.sweep() == []
    clock.advance(10.5)
    assert actions(book.sweep()) == [("timeout", "alice")]


def test_expire_forces_a_timeout(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    assert actions(book.expire(SUB, "room", "alice")) == [("timeout", "alice")]
    assert book.expire(SUB, "room", "alice") == []


# ------------------------------------------------------------------------------ state


def test_state_change_only_when_state_differs(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    first = book.set_state(SUB, "alice", ["room"], {"mood": "ok"})
    # The sync SDK repeats the state on its next heartbeat: no second event.
    again = book.touch(SUB, "alice", ["room"], states={"room": {"mood": "ok"}})
    changed = book.set_state(SUB, "alice", ["room"], {"mood": "busy"})
    assert payloads(first)[0]["data"] == {"mood": "ok"}
    assert payloads(first)[0]["action"] == "state-change"
    assert again == []
    assert payloads(changed)[0]["data"] == {"mood": "busy"}


def test_empty_state_clears_it(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"], states={"room": {"x": 1}})
    entries = book.set_state(SUB, "alice", ["room"], {})
    assert payloads(entries)[0]["data"] == {}
    assert book.occupants(SUB, "room") == {"alice": None}
    assert book.set_state(SUB, "alice", ["room"], {}) == []


def test_no_state_change_for_absent_uuid_but_state_applies_on_join(book: PresenceBook) -> None:
    assert book.set_state(SUB, "alice", ["room"], {"x": 1}) == []
    assert book.presence_events_emitted == 0
    assert book.get_state(SUB, "alice", "room") == {"x": 1}
    join = book.touch(SUB, "alice", ["room"])
    assert payloads(join)[0]["data"] == {"x": 1}
    assert book.occupants(SUB, "room") == {"alice": {"x": 1}}


def test_state_copies_are_independent(book: PresenceBook) -> None:
    state = {"nested": {"a": 1}}
    book.touch(SUB, "alice", ["room"], states={"room": state})
    got = book.occupants(SUB, "room")["alice"]
    assert got is not None
    got["nested"]["a"] = 2
    assert book.get_state(SUB, "alice", "room") == {"nested": {"a": 1}}


# ------------------------------------------------------------------------ timetokens


def test_timetokens_strictly_increase_when_the_wall_clock_stalls_or_steps_back() -> None:
    now = [1_700_000_000.0]
    tt = TimetokenClock(lambda: now[0])
    seen = [tt.next() for _ in range(5)]
    now[0] -= 100
    seen += [tt.next() for _ in range(5)]
    assert all(b > a for a, b in itertools.pairwise(seen))
    assert len(str(seen[0])) == 17


def test_log_timetokens_strictly_increase(book: PresenceBook) -> None:
    for i in range(20):
        book.touch(SUB, f"u{i}", ["room"])
        book.publish(SUB, "room", {"i": i}, f"u{i}")
    entries, _ = book.scan(Subscription(SUB, ["room", "room-pnpres"]), 0, 1000)
    tts = [e.tt for e, _ in entries]
    assert len(tts) == 40
    assert tts == sorted(set(tts))


# ---------------------------------------------------------------------- interval mode


def test_interval_mode_above_announce_max(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=2, interval=10)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    assert book.touch(SUB, "c", ["room"]) == []  # occupancy 3 > 2: not announced
    assert book.touch(SUB, "d", ["room"]) == []
    clock.advance(5)
    assert book.sweep() == []
    clock.advance(5)
    [flush] = book.sweep()
    assert flush.channel == "room-pnpres"
    assert flush.payload == {
        "action": "interval",
        "timestamp": int(clock.wall()),
        "occupancy": 4,
        "join": ["c", "d"],
    }


def test_interval_deltas_are_net_changes(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1, interval=10)
    book.touch(SUB, "a", ["room"], timeout=5)
    book.touch(SUB, "b", ["room"])
    book.touch(SUB, "c", ["room"])
    clock.advance(10)
    book.sweep()  # first flush (and a times out now)
    book.touch(SUB, "b", ["room"])
    book.leave(SUB, "c", ["room"])
    book.touch(SUB, "c", ["room"])  # left and came back: no change
    book.leave(SUB, "b", ["room"])
    book.touch(SUB, "e", ["room"])
    clock.advance(10)
    [flush] = book.sweep()
    assert flush.payload["leave"] == ["b"]
    assert flush.payload["join"] == ["e"]
    assert "timeout" not in flush.payload


def test_interval_timeouts_are_listed_separately(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1, interval=10)
    book.touch(SUB, "a", ["room"], timeout=3)
    book.touch(SUB, "b", ["room"])
    book.touch(SUB, "c", ["room"])
    clock.advance(10)
    [flush] = book.sweep()
    assert flush.payload["timeout"] == ["a"]
    assert flush.payload["join"] == ["b", "c"]


def test_state_change_stays_individual_in_interval_mode(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    entries = book.set_state(SUB, "b", ["room"], {"x": 1})
    assert actions(entries) == [("state-change", "b")]


def test_back_to_announce_mode_after_a_flush_at_or_below_announce_max(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=2, interval=10)
    for uuid in "abc":
        book.touch(SUB, uuid, ["room"])
    book.leave(SUB, "c", ["room"])
    # Still in interval mode until the flush.
    assert book.leave(SUB, "b", ["room"]) == []
    clock.advance(10)
    [flush] = book.sweep()
    assert flush.payload["occupancy"] == 1
    assert flush.payload["leave"] == ["b"]
    assert "join" not in flush.payload  # c joined and left within the period
    assert actions(book.touch(SUB, "d", ["room"])) == [("join", "d")]


def test_interval_events_keep_coming_while_above_announce_max(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1, interval=10)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    clock.advance(10)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    assert len(book.sweep()) == 1
    clock.advance(10)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    [quiet] = book.sweep()
    assert quiet.payload == {"action": "interval", "timestamp": int(clock.wall()), "occupancy": 2}


def test_here_now_refresh_when_deltas_pass_the_limit(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1, delta_limit=40)
    for i in range(10):
        book.touch(SUB, f"user-{i}", ["room"])
    clock.advance(10)
    [flush] = book.sweep()
    assert flush.payload == {
        "action": "interval",
        "timestamp": int(clock.wall()),
        "occupancy": 10,
        "here_now_refresh": True,
    }


def test_no_delta_arrays_when_deltas_are_off(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1, presence_deltas=False)
    for uuid in "abc":
        book.touch(SUB, uuid, ["room"])
    clock.advance(10)
    [flush] = book.sweep()
    assert set(flush.payload) == {"action", "timestamp", "occupancy"}


def test_empty_room_in_interval_mode_flushes_then_is_forgotten(clock: FakeTime) -> None:
    book = make_book(clock, announce_max=1)
    book.touch(SUB, "a", ["room"])
    book.touch(SUB, "b", ["room"])
    book.leave(SUB, "a", ["room"])
    book.leave(SUB, "b", ["room"])
    clock.advance(10)
    [flush] = book.sweep()
    assert flush.payload["occupancy"] == 0
    # b's join was never announced, so its leave within the period is not either.
    assert flush.payload["leave"] == ["a"]
    clock.advance(10)
    assert book.sweep() == []


# ----------------------------------------------------------------- groups, wildcards


def test_presence_channels_resolve_groups_and_skip_presence_names(book: PresenceBook) -> None:
    book.add_to_group(SUB, "g", ["a", "b"])
    names = book.presence_channels(SUB, ["x", "x-pnpres", "w.*", "w.*-pnpres"], ["g", "g-pnpres"])
    assert names == ["x", "a", "b"]


def test_group_membership_changes(book: PresenceBook) -> None:
    book.add_to_group(SUB, "g", ["b", "a"])
    book.add_to_group(SUB, "h", ["c"])
    assert book.group_channels(SUB, "g") == ["a", "b"]
    book.remove_from_group(SUB, "g", ["a"])
    assert book.group_channels(SUB, "g") == ["b"]
    book.remove_from_group(SUB, "h", ["c"])
    assert book.groups(SUB) == ["g"]
    book.delete_group(SUB, "g")
    assert book.groups(SUB) == []


def _matches(book: PresenceBook, subscription: Subscription) -> list[tuple[str, str]]:
    found, _ = book.scan(subscription, 0, 1000)
    return [(entry.channel, match) for entry, match in found]


def test_groups_deliver_messages_and_presence(book: PresenceBook) -> None:
    book.add_to_group(SUB, "g", ["a"])
    book.touch(SUB, "alice", ["a"])
    book.publish(SUB, "a", "hi", "alice")
    book.touch(SUB, "alice", ["other"])
    assert _matches(book, Subscription(SUB, [], ["g"])) == [("a", "g")]
    assert _matches(book, Subscription(SUB, [], ["g-pnpres"])) == [("a-pnpres", "g-pnpres")]


def test_wildcards_match_by_prefix(book: PresenceBook) -> None:
    for channel in ["a.b", "a.c.d", "ab", "b.a"]:
        book.touch(SUB, "alice", [channel])
        book.publish(SUB, channel, "hi", "alice")
    assert _matches(book, Subscription(SUB, ["a.*-pnpres"])) == [
        ("a.b-pnpres", "a.*-pnpres"),
        ("a.c.d-pnpres", "a.*-pnpres"),
    ]
    assert _matches(book, Subscription(SUB, ["a.*"])) == [("a.b", "a.*"), ("a.c.d", "a.*")]


def test_exact_match_wins_and_each_entry_is_delivered_once(book: PresenceBook) -> None:
    book.add_to_group(SUB, "g", ["a.b"])
    book.touch(SUB, "alice", ["a.b"])
    subscription = Subscription(SUB, ["a.*-pnpres", "a.b-pnpres"], ["g-pnpres"])
    assert _matches(book, subscription) == [("a.b-pnpres", "a.b-pnpres")]


def test_double_pnpres_delivers_nothing(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["room"])
    book.inject(SUB, "room", {"action": "join"})
    assert _matches(book, Subscription(SUB, ["room-pnpres-pnpres"])) == []
    with pytest.raises(ValueError, match="data channel"):
        book.inject(SUB, "room-pnpres", {})


# ----------------------------------------------------------------------- log reading


def test_scan_limits_and_reports_where_it_stopped(book: PresenceBook) -> None:
    tts = [book.publish(SUB, "room", i, "p").tt for i in range(150)]
    first, last = book.scan(Subscription(SUB, ["room"]), 0, 100)
    assert len(first) == 100
    assert last == tts[99]
    rest, end = book.scan(Subscription(SUB, ["room"]), last, 100)
    assert [e.payload for e, _ in rest] == list(range(100, 150))
    assert end == tts[-1]
    nothing, same = book.scan(Subscription(SUB, ["room"]), end, 100)
    assert nothing == []
    assert same == end


def test_scan_skips_other_keys_and_channels(book: PresenceBook) -> None:
    book.publish("other", "room", 1, "p")
    book.publish(SUB, "elsewhere", 2, "p")
    entry = book.publish(SUB, "room", 3, "p")
    found, last = book.scan(Subscription(SUB, ["room"]), 0, 100)
    assert [e.payload for e, _ in found] == [3]
    assert last == entry.tt


def test_to_message_wire_shape(book: PresenceBook) -> None:
    [join] = book.touch(SUB, "bob", ["room1"])
    assert join.to_message("room1-pnpres") == {
        "a": "2",
        "f": 0,
        "p": {"t": str(join.tt), "r": 1},
        "k": SUB,
        "c": "room1-pnpres",
        "b": "room1-pnpres",
        "d": join.payload,
    }
    message = book.publish(SUB, "room1", {"x": 1}, "alice", meta={"m": 1})
    wire = message.to_message("room1")
    assert wire["i"] == "alice"
    assert wire["u"] == {"m": 1}


def test_published_messages_carry_what_the_sdks_read(book: PresenceBook) -> None:
    plain = book.publish(SUB, "room1", "hi", "alice").to_message("room1")
    assert "cmt" not in plain
    assert "u" not in plain
    typed = book.publish(SUB, "room1", "hi", "alice", {"m": 1}, "chat-msg").to_message("g")
    assert (typed["i"], typed["u"], typed["cmt"], typed["b"]) == (
        "alice",
        {"m": 1},
        "chat-msg",
        "g",
    )
    # No message type: the JavaScript SDK reads e=0 as a file event, a missing e as a message.
    assert "e" not in typed


def test_message_filter_drops_messages_but_never_presence(book: PresenceBook) -> None:
    def english(entry: LogEntry) -> bool:
        return isinstance(entry.meta, dict) and entry.meta.get("lang") == "en"

    book.add_to_group(SUB, "g", ["room2"])
    subscription = Subscription(SUB, ["room1", "room1-pnpres", "r.*"], ["g"], english)
    book.touch(SUB, "bob", ["room1"])
    book.publish(SUB, "room1", 1, "p", {"lang": "en"})
    book.publish(SUB, "room1", 2, "p", {"lang": "fr"})
    book.publish(SUB, "room1", 3, "p")
    book.publish(SUB, "room2", 4, "p", {"lang": "en"})  # through the group
    book.publish(SUB, "room2", 5, "p", {"lang": "fr"})
    book.publish(SUB, "r.x", 6, "p", {"lang": "en"})  # through the pattern
    book.publish(SUB, "r.x", 7, "p")
    found, _ = book.scan(subscription, 0, 100)
    assert [e.payload if not e.is_presence else e.payload["action"] for e, _ in found] == [
        "join",
        1,
        4,
        6,
    ]


def test_handshake_cursor_precedes_own_recent_events(book: PresenceBook, clock: FakeTime) -> None:
    [join] = book.touch(SUB, "alice", ["room"])  # a heartbeat that beat the handshake
    book.touch(SUB, "bob", ["room"])
    cursor = book.handshake_cursor(SUB, "alice", ["room"])
    assert cursor == join.tt - 1
    clock.advance(3)
    later = book.handshake_cursor(SUB, "alice", ["room"])
    assert later > join.tt


def test_handshake_cursor_is_fresh_without_recent_events(book: PresenceBook) -> None:
    book.touch(SUB, "bob", ["room"])
    last = book.clock.last
    assert book.handshake_cursor(SUB, "alice", ["room"]) > last


def test_log_is_trimmed_to_its_size(clock: FakeTime) -> None:
    book = make_book(clock, log_size=100)
    for i in range(1000):
        book.publish(SUB, "room", i, "p")
    found, _ = book.scan(Subscription(SUB, ["room"]), 0, 10_000)
    assert 100 <= len(found) <= 125
    assert found[-1][0].payload == 999


def test_event_counters(book: PresenceBook) -> None:
    book.touch(SUB, "alice", ["a", "b"])
    book.leave(SUB, "alice", ["a"])
    book.inject(SUB, "b", {"anything": True})
    book.publish(SUB, "a", "not presence", "alice")
    assert book.presence_events_emitted == 4
    assert book.events_on(SUB, "a") == 2
    assert book.events_on(SUB, "b") == 2
    assert [d.get("action") for _, d in book.presence_log(SUB, "a")] == ["join", "leave"]


def test_on_append_called_after_logging(clock: FakeTime) -> None:
    calls: list[list[str]] = []
    book = make_book(clock)
    book.on_append = lambda entries: calls.append([e.channel for e in entries])
    book.touch(SUB, "a", ["room", "hall"])
    book.touch(SUB, "a", ["room"])  # nothing logged
    book.publish(SUB, "room", 1, "a")
    assert calls == [["room-pnpres", "hall-pnpres"], ["room"]]


# ----------------------------------------------------------------------- properties

_ops = st.lists(
    st.tuples(
        st.sampled_from(["touch", "leave", "advance", "state", "expire"]),
        st.sampled_from(["u1", "u2", "u3", "u4"]),
        st.sampled_from(["a", "b"]),
        st.integers(0, 4),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_events_replay_to_the_roster(ops: list[tuple[str, str, str, int]]) -> None:
    """Replaying the announced events rebuilds exactly the occupants, with right occupancy."""
    clock = FakeTime()
    book = make_book(clock, presence_timeout=5)
    for op, uuid, channel, n in ops:
        if op == "touch":
            book.touch(SUB, uuid, [channel], timeout=3 + n)
        elif op == "leave":
            book.leave(SUB, uuid, [channel])
        elif op == "state":
            book.set_state(SUB, uuid, [channel], {"n": n} if n else {})
        elif op == "expire":
            book.expire(SUB, channel, uuid)
        else:
            clock.advance(n)
            book.sweep()
    for channel in ["a", "b"]:
        roster: dict[str, Any] = {}
        last_tt = 0
        for tt, event in book.presence_log(SUB, channel):
            assert tt > last_tt
            last_tt = tt
            action, uuid = event["action"], event["uuid"]
            if action == "join":
                roster[uuid] = event.get("data")
            elif action in ("leave", "timeout"):
                del roster[uuid]
            else:
                assert uuid in roster
                roster[uuid] = event["data"] or None
            assert event["occupancy"] == len(roster)
        assert roster == book.occupants(SUB, channel)
        assert list(book.occupants(SUB, channel)) == sorted(roster)  # kept in uuid order
