"""Bootstrap: a here-now snapshot folded into the live roster without a gap (unit tests)."""

from __future__ import annotations

from typing import Any

import pytest
from sync_helpers import SETTINGS, Rig, came_and_went, members

import rxpresence as rxp
from rxpresence._herenow import HereNowError


@pytest.fixture
def rig() -> Any:
    made = Rig({"room": {"a": None, "b": {"mood": "ok"}}})
    yield made
    made.close()


def test_bootstrap_from_snapshot(rig: Rig) -> None:
    rosters, diffs = rig.watch()
    assert rig.requests() == 1
    request = rig.here_now.requests[0]
    assert (request.channel, request.include_uuids, request.include_state) == ("room", True, True)
    assert rosters[-1].synced_at is None  # nothing folded in yet
    rig.here_now.respond()
    roster = rosters[-1]
    assert members(roster) == {"a": None, "b": {"mood": "ok"}}
    assert roster.occupancy == 2
    assert roster.synced_at is not None
    assert not roster.stale
    assert came_and_went(diffs) == (["a", "b"], [], [])
    assert [(e.action, e.uuid, e.source) for e in rig.events] == [
        (rxp.Action.JOIN, "a", "resync"),
        (rxp.Action.JOIN, "b", "resync"),
    ]
    assert dict(rig.events[1].state or {}) == {"mood": "ok"}


def test_one_roster_snapshot_per_fold(rig: Rig) -> None:
    rosters, _ = rig.watch()
    before = len(rosters)
    rig.here_now.respond()
    assert len(rosters) == before + 1


def test_a_second_request_for_the_same_channel_does_not_fetch_again(rig: Rig) -> None:
    rig.watch()
    rig.here_now.respond()
    rig.watch()
    rig.hub.occupancy("room").subscribe()
    assert rig.requests() == 1


@pytest.mark.parametrize("snapshot_lists_it", [True, False])
def test_a_join_racing_the_bootstrap_appears_exactly_once(
    rig: Rig, snapshot_lists_it: bool
) -> None:
    rosters, diffs = rig.watch()
    rig.live("join", "carol", occupancy=3)  # while the here-now is in flight
    if snapshot_lists_it:
        rig.here_now.join("room", "carol")
    rig.here_now.respond()
    joined, left, _ = came_and_went(diffs)
    assert sorted(joined) == ["a", "b", "carol"]
    assert joined.count("carol") == 1
    assert left == []
    assert "carol" in rosters[-1]
    resync_uuids = [e.uuid for e in rig.events if e.source == "resync"]
    assert "carol" not in resync_uuids  # the live join already said it


def test_a_join_delivered_after_the_fold_appears_once(rig: Rig) -> None:
    rosters, diffs = rig.watch()
    rig.here_now.join("room", "carol")  # the server saw carol before answering...
    rig.here_now.respond()
    rig.live("join", "carol", occupancy=3)  # ...but the SDK delivers her join later
    joined, left, _ = came_and_went(diffs)
    assert joined.count("carol") == 1
    assert left == []
    assert rosters[-1]["carol"].timetoken > rosters[-1].synced_at  # type: ignore[operator]


@pytest.mark.parametrize("snapshot_lists_it", [True, False])
def test_a_leave_racing_the_bootstrap_is_not_resurrected(rig: Rig, snapshot_lists_it: bool) -> None:
    rosters, diffs = rig.watch()
    rig.live("join", "a", occupancy=2)
    rig.live("leave", "a", occupancy=1)  # while the here-now is in flight
    if not snapshot_lists_it:
        rig.here_now.leave("room", "a")
    rig.here_now.respond()
    assert "a" not in rosters[-1]
    joined, left, _ = came_and_went(diffs)
    assert joined.count("a") == 1 and left.count("a") == 1
    assert [e.uuid for e in rig.events if e.source == "resync"] == ["b"]


def test_a_leave_delivered_after_the_fold_removes_once(rig: Rig) -> None:
    rosters, diffs = rig.watch()
    rig.here_now.respond()
    rig.live("leave", "a", occupancy=1)
    assert "a" not in rosters[-1]
    assert came_and_went(diffs)[1] == ["a"]


def test_live_state_newer_than_the_snapshot_wins(rig: Rig) -> None:
    rosters, _ = rig.watch()
    rig.live("state-change", "b", occupancy=2, state={"mood": "great"})
    rig.here_now.respond()  # still says "ok": older than the live change
    assert dict(rosters[-1]["b"].state or {}) == {"mood": "great"}


def test_snapshot_state_fixes_an_older_roster(rig: Rig) -> None:
    rosters, diffs = rig.watch()
    rig.here_now.respond()
    rig.here_now.channels["room"]["b"] = {"mood": "sad"}
    rig.hub.resync("room")
    rig.advance(3.0)  # the cache window
    rig.here_now.respond()
    assert dict(rosters[-1]["b"].state or {}) == {"mood": "sad"}
    assert came_and_went(diffs)[2] == ["b"]
    assert rig.events[-1].action is rxp.Action.STATE_CHANGE
    assert rig.events[-1].source == "resync"


def test_empty_state_and_no_state_are_the_same(rig: Rig) -> None:
    _, diffs = rig.watch()
    rig.live("state-change", "a", occupancy=2, state={})
    rig.here_now.respond()  # lists a without state
    assert came_and_went(diffs)[2] == []


def test_occupancy_from_the_snapshot_unless_live_is_newer(rig: Rig) -> None:
    rig.here_now.occupancy["room"] = 2
    counts: list[int] = []
    rig.hub.occupancy("room").subscribe(counts.append)
    rig.watch()
    rig.here_now.respond_all()
    assert counts[-1] == 2
    rig.hub.resync("room")
    rig.advance(3.0)
    rig.live("join", "zed", occupancy=7)  # newer than the request
    rig.here_now.respond()
    assert counts[-1] == 7


def test_occupancy_only_asks_for_counts_then_upgrades(rig: Rig) -> None:
    counts: list[int] = []
    rig.hub.occupancy("room").subscribe(counts.append)
    request = rig.here_now.requests[-1]
    assert request.include_uuids is False
    rig.here_now.respond()
    assert counts == [0, 2]
    assert rig.current().synced_at is None  # a count says nothing about who
    assert len(rig.current()) == 0
    rig.watch()  # now the members are wanted: asked at once, cache or not
    assert rig.requests() == 2
    assert rig.here_now.requests[-1].include_uuids is True
    rig.here_now.respond()
    assert len(rig.current()) == 2


def test_failure_reports_retries_with_backoff_and_stays_unsynced(rig: Rig) -> None:
    rosters, _ = rig.watch()
    rig.here_now.fail(HereNowError("403 Forbidden"))
    assert [e.where for e in rig.errors] == ["here-now"]
    assert isinstance(rig.errors[0].payload, rxp.HereNowRequest)
    assert rosters[-1].synced_at is None
    assert len(rosters[-1]) == 0
    # Retries at 1 s, then 2 s, then 4 s after each failure (virtual time).
    for delay in (1.0, 2.0, 4.0):
        count = rig.requests()
        rig.advance(delay - 0.01)
        assert rig.requests() == count
        rig.advance(0.01)
        assert rig.requests() == count + 1
        if delay < 4.0:
            rig.here_now.fail(ConnectionError("network down"))
    assert len(rig.errors) == 3
    assert rosters[-1].synced_at is None
    rig.here_now.respond()
    assert rosters[-1].synced_at is not None
    assert members(rosters[-1]) == {"a": None, "b": {"mood": "ok"}}


def test_backoff_is_capped() -> None:
    settings = SETTINGS
    assert [settings.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = rxp.ResyncSettings(retry_jitter=0.5)
    assert jittered.backoff(1, 0.5) == pytest.approx(1.25)


def test_a_source_that_raises_is_a_failed_request() -> None:
    class Broken:
        def here_now(self, request: Any, done: Any) -> None:
            raise RuntimeError("boom")

        def close(self) -> None:
            pass

    rig = Rig()
    try:
        hub = rxp.PresenceStreams(rig.pubnub, scheduler=rig.scheduler, here_now=Broken())
        errors: list[rxp.ErrorReport] = []
        hub.errors.subscribe(errors.append)
        hub.roster("room").subscribe()
        assert [(e.where, str(e.error)) for e in errors] == [("here-now", "boom")]
        hub.close()
    finally:
        rig.close()


def test_paging_2500_occupants_takes_three_pages() -> None:
    crowd = {f"u{i:04d}": ({"n": i} if i % 2 else None) for i in range(2500)}
    rig = Rig({"big": crowd}, auto=True)
    try:
        rosters, diffs = rig.watch("big")
        pages = rig.here_now.requests_for("big")
        assert [(p.offset, p.limit) for p in pages] == [(0, 1000), (1000, 1000), (2000, 1000)]
        roster = rosters[-1]
        assert len(roster) == 2500 and roster.occupancy == 2500
        assert members(roster) == crowd
        assert roster.synced_at is not None
        assert len(diffs) == 1 and len(diffs[0].joined) == 2500
    finally:
        rig.close()


def test_paging_stops_on_a_short_page() -> None:
    rig = Rig({"room": {f"u{i}": None for i in range(5)}}, auto=True)
    try:
        rig.here_now.occupancy["room"] = 50  # the count moved on; the list has 5
        rig.watch()
        assert rig.requests() == 1
    finally:
        rig.close()


def test_late_answers_after_close_are_ignored(rig: Rig) -> None:
    rosters, _ = rig.watch()
    rig.close()
    rig.here_now.respond()
    assert rosters[-1].synced_at is None
    assert rig.here_now.closed


def test_no_here_now_without_a_source() -> None:
    from helpers import FakePubNub

    hub = rxp.PresenceStreams(FakePubNub())  # "auto": the fake client has no here_now
    assert hub._sync.source is None
    assert not hub._registry.watching  # folds never call into the sync
    hub.roster("room").subscribe()
    hub.close()
    with pytest.raises(TypeError):
        rxp.PresenceStreams(None, here_now="always")
    with pytest.raises(TypeError):
        rxp.PresenceStreams(None, resync={"cache_ttl": 1})  # type: ignore[arg-type]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        rxp.ResyncSettings(cache_ttl=-1)
    with pytest.raises(ValueError):
        rxp.ResyncSettings(page_size=1001)
    with pytest.raises(TypeError):
        rxp.ResyncSettings(drift_events=2.5)
    with pytest.raises(ValueError):
        rxp.ResyncSettings(retry_initial=5, retry_max=1)


def test_graced_rosters_are_synced_too(rig: Rig) -> None:
    graced: list[rxp.Roster] = []
    rig.hub.roster("room", grace=5).subscribe(graced.append)
    rig.here_now.respond()
    assert members(graced[-1]) == {"a": None, "b": {"mood": "ok"}}
    assert graced[-1].synced_at is not None
