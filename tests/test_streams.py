"""PresenceStreams: the listener, the hot streams, isolation and thread safety."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex
from helpers import FakePubNub, sdk_event
from pubnub.enums import PNStatusCategory
from pubnub.models.consumer.common import PNStatus
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import rxpresence as rxp
from rxpresence import operators as rops

TT = 17_000_000_000_000_000


@pytest.fixture
def pubnub() -> FakePubNub:
    return FakePubNub()


@pytest.fixture
def hub(pubnub: FakePubNub) -> Any:
    streams = rxp.PresenceStreams(pubnub)
    yield streams
    streams.close()


def collect(observable: reactivex.Observable[Any]) -> list[Any]:
    out: list[Any] = []
    observable.subscribe(out.append)
    return out


def test_adds_one_listener_and_removes_it_on_close(pubnub: FakePubNub) -> None:
    with rxp.PresenceStreams(pubnub) as hub:
        assert len(pubnub.listeners) == 1
        assert not hub.closed
    assert pubnub.listeners == []
    assert hub.closed


def test_close_completes_every_stream_and_is_idempotent(pubnub: FakePubNub) -> None:
    hub = rxp.PresenceStreams(pubnub)
    done: list[str] = []
    hub.events.subscribe(on_completed=lambda: done.append("events"))
    hub.roster("room").subscribe(on_completed=lambda: done.append("roster"))
    hub.occupancy("room").subscribe(on_completed=lambda: done.append("occupancy"))
    hub.close()
    hub.close()
    assert sorted(done) == ["events", "occupancy", "roster"]
    late: list[str] = []
    hub.events.subscribe(on_completed=lambda: late.append("late"))
    assert late == ["late"]


def test_events_are_normalised_and_split_by_action(pubnub: FakePubNub, hub: Any) -> None:
    events = collect(hub.events)
    joins = collect(hub.joins)
    leaves = collect(hub.leaves)
    timeouts = collect(hub.timeouts)
    changes = collect(hub.state_changes)
    intervals = collect(hub.intervals)
    pubnub.presence(sdk_event("join", "a", timetoken=TT + 1))
    pubnub.presence(sdk_event("state-change", "a", state={"mood": "ok"}, timetoken=TT + 2))
    pubnub.presence(sdk_event("leave", "a", occupancy=0, timetoken=TT + 3))
    pubnub.presence(sdk_event("timeout", "b", occupancy=0, timetoken=TT + 4))
    pubnub.presence(sdk_event("interval", None, occupancy=2, join=["c", "d"], timetoken=TT + 5))
    assert [e.action for e in events] == ["join", "state-change", "leave", "timeout", "interval"]
    assert all(isinstance(e, rxp.PresenceEvent) for e in events)
    assert [e.uuid for e in joins] == ["a"]
    assert [e.uuid for e in leaves] == ["a"]
    assert [e.uuid for e in timeouts] == ["b"]
    assert [dict(e.state) for e in changes] == [{"mood": "ok"}]
    assert [e.join for e in intervals] == [("c", "d")]


def test_roster_gives_current_value_at_once_then_changes(pubnub: FakePubNub, hub: Any) -> None:
    pubnub.presence(sdk_event("join", "a", occupancy=1, timetoken=TT + 1))
    rosters = collect(hub.roster("room"))
    assert [sorted(r.uuids) for r in rosters] == [["a"]]
    pubnub.presence(sdk_event("join", "b", occupancy=2, timetoken=TT + 2))
    pubnub.presence(sdk_event("leave", "a", occupancy=1, timetoken=TT + 3))
    assert [sorted(r.uuids) for r in rosters] == [["a"], ["a", "b"], ["b"]]
    late = collect(hub.roster("room"))
    assert [sorted(r.uuids) for r in late] == [["b"]]


def test_roster_of_unseen_channel_starts_empty(hub: Any) -> None:
    rosters = collect(hub.roster("nobody-here"))
    assert len(rosters) == 1
    assert len(rosters[0]) == 0
    assert rosters[0].channel == "nobody-here"


def test_occupancy_emits_without_repeats(pubnub: FakePubNub, hub: Any) -> None:
    counts = collect(hub.occupancy("room"))
    pubnub.presence(sdk_event("join", "a", occupancy=1, timetoken=TT + 1))
    pubnub.presence(sdk_event("state-change", "a", occupancy=1, state={"x": 1}, timetoken=TT + 2))
    pubnub.presence(sdk_event("join", "b", occupancy=2, timetoken=TT + 3))
    assert counts == [0, 1, 2]


def test_channels_are_isolated(pubnub: FakePubNub, hub: Any) -> None:
    room = collect(hub.roster("room"))
    other = collect(hub.roster("other"))
    pubnub.presence(sdk_event("join", "a", channel="other", timetoken=TT + 1))
    assert len(room) == 1
    assert [sorted(r.uuids) for r in other] == [[], ["a"]]


def test_subscriber_that_raises_is_reported_and_others_keep_receiving(
    pubnub: FakePubNub, hub: Any
) -> None:
    errors = collect(hub.errors)
    seen: list[str] = []

    def bad(_: Any) -> None:
        raise RuntimeError("boom")

    hub.joins.subscribe(bad)
    hub.joins.subscribe(lambda e: seen.append(e.uuid))
    hub.roster("room").pipe(ops.skip(1)).subscribe(bad)
    rosters = collect(hub.roster("room"))
    for i, uuid in enumerate(["a", "b", "c"]):
        pubnub.presence(sdk_event("join", uuid, occupancy=i + 1, timetoken=TT + i))
    assert seen == ["a", "b", "c"]
    assert sorted(rosters[-1].uuids) == ["a", "b", "c"]
    assert len(errors) == 6
    assert {e.where for e in errors} == {"subscriber"}
    assert all(isinstance(e.error, RuntimeError) for e in errors)


def test_malformed_event_is_reported_and_delivery_goes_on(pubnub: FakePubNub, hub: Any) -> None:
    errors = collect(hub.errors)
    rosters = collect(hub.roster("room"))
    pubnub.presence(sdk_event("join", None, timetoken=TT + 1))  # join without uuid
    pubnub.presence(sdk_event("dance", "a", timetoken=TT + 2))  # unknown action
    pubnub.presence(object())  # not an event at all
    pubnub.presence(sdk_event("join", "ok", timetoken=TT + 3))
    assert [e.where for e in errors] == ["event", "event", "event"]
    assert all(isinstance(e.error, rxp.PresenceEventError) for e in errors)
    assert "uuid" in str(errors[0].error)
    assert "action" in str(errors[1].error)
    assert sorted(rosters[-1].uuids) == ["ok"]


def test_errors_without_subscriber_are_logged(
    pubnub: FakePubNub, hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pubnub.presence(sdk_event("join", None))
    assert "uuid must be a non-empty string" in caplog.text


def test_failing_errors_subscriber_does_not_raise_into_sdk(pubnub: FakePubNub, hub: Any) -> None:
    hub.errors.subscribe(lambda e: 1 / 0)
    hub.joins.subscribe(lambda e: 1 / 0)
    pubnub.presence(sdk_event("join", "a"))  # must not raise
    assert "a" in hub.current("room")


def test_status_is_normalised(pubnub: FakePubNub, hub: Any) -> None:
    statuses = collect(hub.status)
    status = PNStatus()
    status.category = PNStatusCategory.PNConnectedCategory
    status.affected_channels = ["room"]
    pubnub.status(status)
    assert statuses == [rxp.ConnectionStatus("PNConnectedCategory", False, ("room",), ())]
    assert statuses[0].connected


def test_push_feeds_a_detached_hub() -> None:
    with rxp.PresenceStreams(None) as hub:
        rosters = collect(hub.roster("room"))
        hub.push(rxp.PresenceEvent("join", "room", "a", occupancy=1, timetoken=1))
        assert sorted(rosters[-1].uuids) == ["a"]


def test_grace_suppresses_flicker_in_virtual_time(pubnub: FakePubNub) -> None:
    scheduler = TestScheduler()
    with rxp.PresenceStreams(pubnub, scheduler=scheduler) as hub:
        pubnub.presence(sdk_event("join", "a", occupancy=1, timetoken=TT))
        steady = collect(hub.roster("room", grace=5))
        counts = collect(hub.occupancy("room", grace=5))
        raw = collect(hub.roster("room"))

        scheduler.advance_to(10.0)
        pubnub.presence(sdk_event("timeout", "a", occupancy=0, timetoken=TT + 10))
        scheduler.advance_to(13.0)
        pubnub.presence(sdk_event("join", "a", occupancy=1, timetoken=TT + 13))
        scheduler.advance_to(30.0)
        assert [sorted(r.uuids) for r in raw] == [["a"], [], ["a"]]
        assert [sorted(r.uuids) for r in steady] == [["a"]]
        assert counts == [1]

        pubnub.presence(sdk_event("timeout", "a", occupancy=0, timetoken=TT + 30))
        scheduler.advance_to(34.9)
        assert len(steady) == 1
        scheduler.advance_to(35.0)
        assert [sorted(r.uuids) for r in steady] == [["a"], []]
        assert counts == [1, 0]


def test_grace_must_be_a_non_negative_number(hub: Any) -> None:
    with pytest.raises(ValueError, match="grace"):
        hub.roster("room", grace=-1)
    with pytest.raises(ValueError, match="channel"):
        hub.roster("")


def test_per_action_streams_composed_by_hand_give_the_same_rosters(
    pubnub: FakePubNub, hub: Any
) -> None:
    by_hand = collect(
        reactivex.merge(hub.joins, hub.leaves, hub.timeouts, hub.state_changes, hub.intervals).pipe(
            rops.to_roster("room")
        )
    )
    fused = collect(hub.roster("room"))
    script = [
        ("join", "a", 1, None, None),
        ("join", "b", 2, None, None),
        ("state-change", "a", 2, {"typing": True}, None),
        ("join", "a", 2, None, None),
        ("timeout", "b", 1, None, None),
        ("interval", None, 3, None, ["c", "d"]),
        ("leave", "a", 2, None, None),
        ("join", "e", 3, {"x": 1}, None),
    ]
    for i, (action, uuid, occupancy, state, joined) in enumerate(script):
        pubnub.presence(
            sdk_event(action, uuid, occupancy=occupancy, state=state, join=joined, timetoken=TT + i)
        )
    # The fused roster starts with the empty snapshot; the scan starts at the first event.
    assert fused[1:] == by_hand
    assert sorted(fused[-1].uuids) == ["c", "d", "e"]


def test_concurrent_feeds_lose_nothing(pubnub: FakePubNub, hub: Any) -> None:
    threads, per_thread = 4, 2_000
    rosters = collect(hub.roster("room"))
    barrier = threading.Barrier(threads)

    def feed(worker: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            uuid = f"w{worker}-{i}"
            pubnub.presence(sdk_event("join", uuid, occupancy=1, timetoken=TT + i))

    workers = [threading.Thread(target=feed, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    final = hub.current("room")
    assert len(final) == threads * per_thread
    assert rosters[-1] is final
    # Every emitted snapshot grows by exactly one member: nothing was applied twice or lost.
    assert [len(r) for r in rosters] == list(range(threads * per_thread + 1))
