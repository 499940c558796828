"""rosters() and where_is(): every channel, including those learned through groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sync_helpers import Rig

import rxpresence as rxp


@pytest.fixture
def rig() -> Any:
    made = Rig({"a": {"me": None, "x": None}, "b": {"x": None}, "g1": {"y": None}}, auto=True)
    yield made
    made.close()


def test_rosters_start_with_the_known_channels_and_bootstrap_them(rig: Rig) -> None:
    rig.hub.roster("a").subscribe()
    seen: list[Mapping[str, rxp.Roster]] = []
    rig.hub.rosters().subscribe(seen.append)
    assert set(seen[-1]) == {"a"}
    assert seen[-1]["a"].uuids == {"me", "x"}
    assert seen[-1]["a"].synced_at is not None


def test_channels_learned_from_events_are_added_and_bootstrapped(rig: Rig) -> None:
    seen: list[Mapping[str, rxp.Roster]] = []
    rig.hub.rosters().subscribe(seen.append)
    assert dict(seen[-1]) == {}
    # An event through channel group "grp" names a channel we never asked about.
    rig.live("join", "z", channel="g1", subscription="grp", occupancy=2)
    assert set(seen[-1]) == {"g1"}
    assert seen[-1]["g1"].uuids == {"y", "z"}  # the bootstrap found y
    assert seen[-1]["g1"].synced_at is not None
    assert [r.channel for r in rig.here_now.requests] == ["g1"]


def test_the_mapping_is_immutable(rig: Rig) -> None:
    seen: list[Mapping[str, rxp.Roster]] = []
    rig.hub.rosters().subscribe(seen.append)
    rig.live("join", "z", channel="a", occupancy=3)
    first = seen[-1]
    rig.live("join", "w", channel="a", occupancy=4)
    assert "w" not in first["a"] and "w" in seen[-1]["a"]
    with pytest.raises(TypeError):
        first["b"] = rxp.Roster("b")  # type: ignore[index]


def test_subscribed_channels_are_included() -> None:
    rig = Rig({"s1": {"q": None}}, auto=True)
    try:
        rig.pubnub.get_subscribed_channels = lambda: ["s1", "s1-pnpres", "w.*"]  # type: ignore[attr-defined]
        seen: list[Mapping[str, rxp.Roster]] = []
        rig.hub.rosters().subscribe(seen.append)
        assert set(seen[-1]) == {"s1"}
        assert seen[-1]["s1"].uuids == {"q"}
    finally:
        rig.close()


def test_where_is_follows_a_uuid_without_repeats(rig: Rig) -> None:
    seen: list[frozenset[str]] = []
    rig.hub.where_is("x").subscribe(seen.append)
    assert seen == [frozenset()]
    rig.live("join", "me", channel="a", occupancy=2)  # learns a: x is there
    rig.live("join", "me", channel="b", occupancy=2)  # learns b: x is there too
    rig.live("join", "other", channel="b", occupancy=3)  # nothing changes for x
    rig.live("leave", "x", channel="a", occupancy=1)
    assert seen == [frozenset(), frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"})]


def test_where_is_validates(rig: Rig) -> None:
    with pytest.raises(ValueError):
        rig.hub.where_is("")


def test_rosters_complete_on_close(rig: Rig) -> None:
    done: list[bool] = []
    rig.hub.rosters().subscribe(on_completed=lambda: done.append(True))
    rig.close()
    assert done == [True]


def test_rosters_without_a_here_now_source() -> None:
    from helpers import FakePubNub, sdk_event

    pubnub = FakePubNub()
    with rxp.PresenceStreams(pubnub) as hub:
        seen: list[Mapping[str, rxp.Roster]] = []
        hub.rosters().subscribe(seen.append)
        pubnub.presence(sdk_event("join", "a", channel="c1"))
        assert seen[-1]["c1"].uuids == {"a"}
        assert seen[-1]["c1"].synced_at is None


def test_a_presence_only_subscription_counts_as_its_channel() -> None:
    # Back ends watch "lobby-pnpres" without being present in "lobby" (docs/scaling.md).
    rig = Rig({"lobby": {"q": None}}, auto=True)
    try:
        rig.pubnub.get_subscribed_channels = lambda: ["lobby-pnpres", "lobby-pnpres-pnpres"]  # type: ignore[attr-defined]
        seen: list[Mapping[str, rxp.Roster]] = []
        rig.hub.rosters().subscribe(seen.append)
        assert set(seen[-1]) == {"lobby"}
        assert seen[-1]["lobby"].uuids == {"q"}
    finally:
        rig.close()


def test_channels_subscribed_later_are_added_from_the_sdks_status() -> None:
    from helpers import sdk_status

    rig = Rig({"late": {"q": None}}, auto=True)
    try:
        seen: list[Mapping[str, rxp.Roster]] = []
        rig.hub.rosters().subscribe(seen.append)
        assert dict(seen[-1]) == {}
        status = sdk_status("PNConnectedCategory")
        status.affected_channels = ["late", "late-pnpres", "w.*"]
        rig.pubnub.status(status)
        assert set(seen[-1]) == {"late"}
        assert seen[-1]["late"].uuids == {"q"}  # bootstrapped
    finally:
        rig.close()


def test_channel_names_strip_presence_suffixes_and_skip_wildcards() -> None:
    from rxpresence._sync import channel_names

    names = ["a", "a-pnpres", "b-pnpres-pnpres", "w.*", "w.*-pnpres", "", 7, "c"]
    assert channel_names(names) == ["a", "b", "c"]
