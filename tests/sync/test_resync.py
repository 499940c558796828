"""Resync triggers: coalescing, cache window, intervals, drift, outages (unit, virtual time)."""

from __future__ import annotations

from typing import Any

import pytest
from sync_helpers import SETTINGS, Rig, came_and_went, members

import rxpresence as rxp


@pytest.fixture
def rig() -> Any:
    made = Rig({"room": {"a": None, "b": None}})
    yield made
    made.close()


def synced(rig: Rig, channel: str = "room") -> tuple[list[rxp.Roster], list[rxp.RosterDiff]]:
    """Watch ``channel`` and answer its bootstrap; the cache window is then open."""
    watched = rig.watch(channel)
    rig.here_now.respond()
    return watched


def test_at_most_one_in_flight_and_one_follow_up(rig: Rig) -> None:
    synced(rig)
    rig.advance(3.0)
    rig.hub.resync("room")
    assert rig.requests() == 2
    for _ in range(5):
        rig.hub.resync("room")  # while the request is in flight
    assert rig.requests() == 2
    assert len(rig.here_now.pending) == 1
    rig.here_now.respond()
    rig.advance(3.0)  # the follow-up waits for the cache window
    assert rig.requests() == 3
    rig.here_now.respond()
    rig.advance(30.0)
    assert rig.requests() == 3  # exactly one follow-up


def test_cache_window_delays_the_next_request(rig: Rig) -> None:
    synced(rig)
    rig.hub.resync("room")
    rig.hub.resync("room")
    assert rig.requests() == 1  # answered less than cache_ttl ago
    rig.advance(2.99)
    assert rig.requests() == 1
    rig.advance(0.01)
    assert rig.requests() == 2
    rig.here_now.respond()
    rig.advance(10.0)
    assert rig.requests() == 2


def test_zero_cache_window_asks_again_at_once() -> None:
    rig = Rig({"room": {}}, settings=rxp.ResyncSettings(cache_ttl=0, settle=0, retry_jitter=0))
    try:
        synced(rig)
        rig.hub.resync("room")
        assert rig.requests() == 2
    finally:
        rig.close()


def test_interval_without_arrays_triggers_one_here_now_per_burst() -> None:
    settings = rxp.ResyncSettings(settle=0.1, retry_jitter=0)  # the default settle window
    rig = Rig({"room": {"a": None, "b": None}}, settings=settings)
    try:
        rosters, _ = synced(rig)
        rig.advance(3.0)
        before = rig.requests()
        # The SDK dropped here_now_refresh: interval events without arrays (a backlog).
        for occupancy in (25, 30, 40):
            rig.live("interval", None, occupancy=occupancy)
        assert rig.requests() == before
        rig.advance(0.1)
        assert rig.requests() == before + 1
        rig.here_now.channels["room"] = {f"u{i}": None for i in range(40)}
        rig.here_now.respond()
        rig.advance(3.0)
        assert rig.requests() == before + 1  # the burst came before the request: covered
        assert len(rosters[-1]) == 40
        # Later intervals without arrays whose count matches: PubNub's no-change interval.
        for _ in range(5):
            rig.live("interval", None, occupancy=40)
            rig.advance(10.0)
        assert rig.requests() == before + 1
    finally:
        rig.close()


def test_interval_arriving_in_flight_gets_one_follow_up(rig: Rig) -> None:
    synced(rig)
    rig.advance(3.0)
    rig.live("interval", None, occupancy=30)
    count = rig.requests()
    rig.live("interval", None, occupancy=31)  # after the request was sent
    rig.live("interval", None, occupancy=32)
    rig.here_now.respond()
    rig.advance(3.0)
    assert rig.requests() == count + 1


def test_settle_window_gathers_a_burst_into_one_request() -> None:
    settings = rxp.ResyncSettings(cache_ttl=0, settle=0.5, retry_jitter=0)
    rig = Rig({"room": {"a": None}}, settings=settings)
    try:
        synced(rig)
        before = rig.requests()
        rig.live("interval", None, occupancy=30)
        rig.advance(0.2)
        rig.live("interval", None, occupancy=31)
        assert rig.requests() == before
        rig.advance(0.3)
        assert rig.requests() == before + 1
    finally:
        rig.close()


def test_interval_with_deltas_needs_no_here_now(rig: Rig) -> None:
    rosters, _ = synced(rig)
    rig.advance(3.0)
    before = rig.requests()
    rig.live("interval", None, occupancy=3, join=["c"])
    rig.live("interval", None, occupancy=2, leave=["a"])
    assert rig.requests() == before
    assert rosters[-1].uuids == {"b", "c"}


def test_drift_triggers_after_consecutive_disagreements(rig: Rig) -> None:
    synced(rig)
    rig.advance(3.0)
    before = rig.requests()
    # PubNub counts 10 while the roster knows 3 or 4: missed joins.
    rig.live("join", "c", occupancy=10)
    rig.live("state-change", "c", occupancy=10, state={"x": 1})
    assert rig.requests() == before
    rig.live("join", "d", occupancy=11)
    assert rig.requests() == before + 1


def test_drift_counter_resets_when_counts_agree(rig: Rig) -> None:
    synced(rig)
    rig.advance(3.0)
    before = rig.requests()
    rig.live("join", "c", occupancy=10)
    rig.live("join", "d", occupancy=11)
    rig.live("join", "e", occupancy=5)  # agrees: 5 members
    rig.live("join", "f", occupancy=20)
    rig.live("join", "g", occupancy=21)
    assert rig.requests() == before
    rig.live("join", "h", occupancy=22)
    assert rig.requests() == before + 1


def test_drift_is_not_counted_before_the_first_sync(rig: Rig) -> None:
    rig.watch()  # the bootstrap is in flight
    for i in range(6):
        rig.live("join", f"x{i}", occupancy=50 + i)
    assert rig.requests() == 1


def test_drift_check_can_be_disabled() -> None:
    rig = Rig({"room": {}}, settings=rxp.ResyncSettings(drift_events=0, retry_jitter=0))
    try:
        synced(rig)
        rig.advance(3.0)
        for i in range(6):
            rig.live("join", f"x{i}", occupancy=50 + i)
        assert rig.requests() == 1
    finally:
        rig.close()


def test_disconnect_marks_stale_retries_until_success_and_clears(rig: Rig) -> None:
    rosters, _ = synced(rig)
    rig.advance(10.0)
    before = rig.requests()
    rig.status("PNUnexpectedDisconnectCategory")
    roster = rosters[-1]
    assert roster.stale and roster.stale_since == pytest.approx(10.0)  # virtual Unix seconds
    assert roster.synced_at is not None  # the last sync still happened
    assert rig.requests() == before + 1  # resync attempt at once
    for delay in (1.0, 2.0, 4.0, 8.0, 8.0):
        rig.here_now.fail(ConnectionError("network unreachable"))
        rig.advance(delay)
        assert rosters[-1].stale
    assert [e.where for e in rig.errors] == ["here-now"] * 5
    assert rig.requests() == before + 6
    rig.here_now.respond()  # a here-now got through: the network is back
    assert not rosters[-1].stale
    assert rosters[-1].stale_since is None


def test_an_answer_to_a_request_sent_before_the_outage_does_not_clear_stale(rig: Rig) -> None:
    rosters, _ = synced(rig)
    rig.advance(3.0)
    rig.hub.resync("room")  # in flight when the disconnect is reported
    rig.status("PNNetworkIssuesCategory")
    assert rosters[-1].stale
    rig.here_now.respond()
    assert rosters[-1].stale  # that snapshot may predate the outage
    rig.advance(3.0)  # the follow-up, sent after the disconnect
    rig.here_now.respond()
    assert not rosters[-1].stale


def test_connected_status_skips_the_backoff(rig: Rig) -> None:
    rosters, _ = synced(rig)
    rig.advance(3.0)
    rig.status("PNUnexpectedDisconnectCategory")
    rig.here_now.fail(ConnectionError("down"))
    rig.advance(0.5)
    before = rig.requests()
    rig.status("PNReconnectedCategory")
    assert rig.requests() == before + 1  # at once, not after the 1 s backoff
    rig.here_now.respond()
    assert not rosters[-1].stale


def test_connected_status_resyncs_tracked_channels(rig: Rig) -> None:
    synced(rig)
    rig.status("PNConnectedCategory")  # the bootstrap may predate the subscription
    rig.advance(3.0)
    assert rig.requests() == 2


def test_first_event_after_an_outage_triggers_a_resync() -> None:
    # The asyncio client reconnects silently: no status, events just resume.
    rig = Rig({"room": {"a": None}, "other": {}})
    try:
        rosters, _ = synced(rig)
        rig.advance(3.0)
        rig.status("PNUnexpectedDisconnectCategory")
        rig.here_now.respond()  # the retry loop got through
        assert not rosters[-1].stale
        rig.advance(3.0)
        before = rig.requests()
        rig.live("join", "x", channel="other", occupancy=1)  # any channel
        assert rig.requests() == before + 1
        rig.here_now.respond()
        rig.live("join", "y", channel="other", occupancy=2)
        rig.advance(10.0)
        assert rig.requests() == before + 1  # only the first event after the outage
    finally:
        rig.close()


def test_resync_emits_what_came_and_went(rig: Rig) -> None:
    rosters, diffs = synced(rig)
    rig.live("state-change", "b", occupancy=2, state={"mood": "ok"})
    diffs.clear()
    mark = len(rig.events)
    rig.status("PNUnexpectedDisconnectCategory")
    # Missed while disconnected: a left, c joined, b changed state.
    rig.here_now.channels["room"] = {"b": {"mood": "away"}, "c": {"role": "new"}}
    rig.advance(3.0)
    rig.status("PNConnectedCategory")
    rig.here_now.respond_all()
    assert members(rosters[-1]) == {"b": {"mood": "away"}, "c": {"role": "new"}}
    assert came_and_went(diffs) == (["c"], ["a"], ["b"])
    synthetic = [(e.action, e.uuid, e.source) for e in rig.events[mark:]]
    assert sorted(synthetic) == sorted(
        [
            (rxp.Action.LEAVE, "a", "resync"),
            (rxp.Action.JOIN, "c", "resync"),
            (rxp.Action.STATE_CHANGE, "b", "resync"),
        ]
    )


def test_new_channels_during_an_outage_start_stale(rig: Rig) -> None:
    synced(rig)
    rig.status("PNUnexpectedDisconnectCategory")
    rosters, _ = rig.watch("later")
    assert rosters[-1].stale
    assert rosters[-1].synced_at is None


def test_resync_of_every_tracked_channel(rig: Rig) -> None:
    synced(rig)
    rig.watch("other")
    rig.here_now.respond()
    rig.advance(3.0)
    rig.hub.resync()
    assert len(rig.here_now.pending) == 2


def test_close_disposes_retry_timers() -> None:
    rig = Rig({"room": {}})
    rig.watch()
    rig.here_now.fail(ConnectionError("down"))
    rig.close()
    rig.advance(60.0)
    assert rig.requests() == 1


def test_settings_defaults_are_pubnub_like() -> None:
    defaults = rxp.ResyncSettings()
    assert defaults.cache_ttl == 3.0 and defaults.page_size == 1000
    assert SETTINGS.retry_jitter == 0.0


def test_the_fast_path_only_looks_closer_while_needed(rig: Rig) -> None:
    synced(rig)
    rig.advance(3.0)
    assert (
        rig.hub._registry.watching_every_event is False
    )  # counts agree: the listener skips the sync layer
    rig.live("join", "c", occupancy=10)
    # A drift streak: every event counts now.
    assert rig.hub._registry.watching_every_event is True
    rig.live("join", "d", occupancy=4)  # a, b, c, d: the counts agree again
    assert rig.hub._registry.watching_every_event is False
    rig.status("PNUnexpectedDisconnectCategory")
    assert (
        rig.hub._registry.watching_every_event is True
    )  # the first event after the outage must be seen
    rig.here_now.respond_all()  # the snapshot: a and b (c and d were missed leaving)
    rig.live("join", "e", occupancy=3)
    assert rig.hub._registry.watching_every_event is False
