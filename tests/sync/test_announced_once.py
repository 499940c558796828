"""Each arrival is announced once, when a bootstrap races a live join.

A roster's bootstrap asks here-now; if the uuid's join happened just before, the
snapshot lists it (a synthetic join, ``source="resync"``) and the SDK then delivers the
live join too. The roster takes it as a refresh; ``events`` gets it marked
``redundant``, and ``joins`` (what an app counts) leaves it out. Deterministic: the
race is played in both orders with a fake here-now answered by the test.
"""

from __future__ import annotations

from sync_helpers import Rig

import rxpresence as rxp


def _seen(rig: Rig) -> list[tuple[str, str, str]]:
    return [(e.action.value, e.uuid or "", e.source) for e in rig.events]


def test_a_snapshot_then_the_live_join_announces_one_arrival() -> None:
    rig = Rig()
    joins: list[rxp.PresenceEvent] = []
    rig.hub.joins.subscribe(joins.append)
    rig.watch()  # the bootstrap: a here-now request, pending
    rig.here_now.join("room", "watcher")
    rig.here_now.respond()  # the snapshot lists watcher
    rig.live("join", "watcher", occupancy=1)  # the live join, delivered afterwards
    assert [(e.uuid, e.source) for e in joins] == [("watcher", "resync")]
    assert _seen(rig) == [("join", "watcher", "resync"), ("join", "watcher", "live")]
    assert [e.redundant for e in rig.events] == [False, True]
    assert rig.current().uuids == {"watcher"}
    rig.close()


def test_the_live_join_then_a_snapshot_announces_one_arrival() -> None:
    rig = Rig()
    joins: list[rxp.PresenceEvent] = []
    rig.hub.joins.subscribe(joins.append)
    rig.watch()
    rig.live("join", "watcher", occupancy=1)  # arrives while the here-now is in flight
    rig.here_now.join("room", "watcher")
    rig.here_now.respond()  # lists watcher: already a member, nothing to make up
    assert [(e.uuid, e.source) for e in joins] == [("watcher", "live")]
    assert _seen(rig) == [("join", "watcher", "live")]
    rig.close()


def test_departures_and_state_changes_are_announced_once_too() -> None:
    rig = Rig()
    leaves: list[rxp.PresenceEvent] = []
    changes: list[rxp.PresenceEvent] = []
    rig.hub.leaves.subscribe(leaves.append)
    rig.hub.state_changes.subscribe(changes.append)
    rig.watch()
    rig.here_now.respond()
    tt = rig.live("join", "ann", occupancy=1)
    rig.live("state-change", "ann", occupancy=1, state={"mood": "ok"})
    rig.live("state-change", "ann", occupancy=1, state={"mood": "ok"})  # the same again
    rig.live("leave", "ann", occupancy=0)
    rig.live("leave", "ann", occupancy=0)  # delivered twice (a group subscription)
    rig.live("join", "ann", occupancy=1, timetoken=tt - 5)  # older than what was applied
    assert [e.uuid for e in leaves] == ["ann"]
    assert [dict(e.state or {}) for e in changes] == [{"mood": "ok"}]
    assert [e.redundant for e in rig.events] == [False, False, True, False, True, True]
    rig.close()


def test_redundant_survives_a_round_trip_through_dicts() -> None:
    event = rxp.PresenceEvent("join", "room", "a", 1, 1, 5, redundant=True)
    assert rxp.PresenceEvent.from_dict(event.to_dict()) == event
    assert "redundant=True" in repr(event)
    assert "redundant" not in rxp.PresenceEvent("join", "room", "a").to_dict()
