"""Announcing: enter, update, leave, heartbeats, confirmations, re-assertion (virtual time)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from announce_helpers import ME, Rig

import rxpresence as rxp
from rxpresence._herenow import FakeHereNow

Own = rxp.OwnPresence
DOWN = ConnectionError("network unreachable")


@pytest.fixture
def rig() -> Any:
    made = Rig()
    yield made
    made.close()


@pytest.fixture
def manual() -> Any:
    made = Rig(auto=False)
    yield made
    made.close()


def test_enter_sends_one_heartbeat_with_the_state_and_confirms(manual: Rig) -> None:
    seen = manual.own()
    confirmation = manual.hub.enter("room", {"name": "Ada"})
    assert manual.transport.requests == [("heartbeat", {"room": {"name": "Ada"}}, 0.0)]
    assert not confirmation.done()
    assert seen == [Own.ABSENT, Own.ENTERING]
    manual.transport.respond()
    assert confirmation.result(0) is None
    assert seen == [Own.ABSENT, Own.ENTERING, Own.PRESENT]


def test_heartbeats_every_half_timeout_minus_one_until_left(rig: Rig) -> None:
    rig.hub.enter("room", {"n": 1})
    rig.advance(100.0)
    # T = 60 s: every 29 s, each carrying the state.
    assert rig.transport.times() == [0.0, 29.0, 58.0, 87.0]
    assert rig.transport.heartbeats() == [{"room": {"n": 1}}] * 4
    left = rig.hub.leave("room")
    assert left.result(0) is None
    assert rig.transport.kinds()[-1] == "leave"
    count = len(rig.transport.requests)
    rig.advance(300.0)
    assert len(rig.transport.requests) == count  # nothing entered: nothing sent


def test_channels_entered_apart_fall_into_step(rig: Rig) -> None:
    rig.hub.enter("a")
    rig.advance(20.0)
    rig.hub.enter("b")  # a is due at 29 s, within half an interval: it goes along
    rig.advance(40.0)
    assert rig.transport.heartbeats() == [{"a": {}}, {"a": {}, "b": {}}, {"a": {}, "b": {}}]
    assert rig.transport.times() == [0.0, 20.0, 49.0]


def test_update_sends_one_heartbeat_with_the_new_state(rig: Rig) -> None:
    rig.hub.enter("room", {"mood": "calm"}).result(0)
    done = rig.hub.update("room", {"mood": "busy"})
    assert not done.done()  # requests are at least 0.1 s apart
    rig.advance(0.1)
    assert done.result(0) is None
    assert rig.transport.heartbeats() == [{"room": {"mood": "calm"}}, {"room": {"mood": "busy"}}]
    again = rig.hub.update("room", {"mood": "busy"})  # the same state: nothing to send
    assert again.done() and len(rig.transport.requests) == 2
    cleared = rig.hub.update("room", None)  # clears the state
    rig.advance(0.1)
    assert cleared.result(0) is None
    assert rig.transport.heartbeats()[-1] == {"room": {}}


def test_update_of_a_channel_not_entered_raises_at_once(rig: Rig) -> None:
    with pytest.raises(ValueError, match=r"update\('room'\): the channel is not entered"):
        rig.hub.update("room", {"x": 1})
    assert rig.transport.requests == []


def test_entering_again_with_another_state_is_an_update(rig: Rig) -> None:
    rig.hub.enter("room", {"v": 1}).result(0)
    second = rig.hub.enter("room", {"v": 2})
    rig.advance(0.1)
    assert second.result(0) is None
    rig.hub.enter("room", {"v": 2}).result(0)  # same: nothing sent
    assert rig.transport.heartbeats() == [{"room": {"v": 1}}, {"room": {"v": 2}}]


def test_leave_waits_for_the_heartbeat_in_flight(manual: Rig) -> None:
    seen = manual.own()
    entered = manual.hub.enter("room", {"x": 1})
    left = manual.hub.leave("room")
    assert manual.transport.kinds() == ["heartbeat"]  # the leave must not overtake it
    assert entered.exception(0) is not None  # superseded before it was confirmed
    assert "leave('room') was called" in str(entered.exception(0))
    manual.transport.respond()
    manual.advance(0.1)  # requests are at least 0.1 s apart
    assert manual.transport.kinds() == ["heartbeat", "leave"]
    assert not left.done()
    manual.transport.respond()
    assert left.result(0) is None
    assert seen == [Own.ABSENT, Own.ENTERING, Own.LEAVING, Own.ABSENT]


def test_leaving_a_channel_never_announced_sends_nothing(manual: Rig) -> None:
    manual.hub.enter("a")
    manual.hub.enter("b")  # waits: one request at a time
    manual.hub.leave("b").result(0)
    manual.transport.respond()
    manual.advance(60.0)
    assert "leave" not in manual.transport.kinds()
    assert all("b" not in beat for beat in manual.transport.heartbeats())


def test_leaving_a_channel_not_entered_completes_at_once(rig: Rig) -> None:
    assert rig.hub.leave("nowhere").result(0) is None
    assert rig.transport.requests == []


def test_leave_then_enter_again_sends_the_leave_first(manual: Rig) -> None:
    manual.hub.enter("room", {"v": 1})
    manual.transport.respond()
    manual.hub.leave("room")
    manual.hub.enter("room", {"v": 2})
    manual.advance(0.1)
    manual.transport.respond()
    manual.advance(0.1)
    assert manual.transport.kinds() == ["heartbeat", "leave", "heartbeat"]
    assert manual.transport.heartbeats()[-1] == {"room": {"v": 2}}


def test_confirmation_times_out_and_the_work_goes_on(rig: Rig) -> None:
    rig.transport.failure = DOWN
    seen = rig.own()
    entered = rig.hub.enter("room", {"x": 1}, timeout=5)
    rig.advance(4.9)
    assert not entered.done()
    rig.advance(0.2)
    error = entered.exception(0)
    assert isinstance(error, rxp.AnnounceTimeout) and isinstance(error, TimeoutError)
    assert "enter('room') was not confirmed by the server within 5 s" in str(error)
    assert "network unreachable" in str(error)
    assert "keeps trying in the background until leave('room')" in str(error)
    before = len(rig.transport.requests)
    rig.transport.failure = None
    rig.advance(5.0)
    assert len(rig.transport.requests) > before
    assert seen[-1] is Own.PRESENT
    assert [e.where for e in rig.errors] == ["announce"] * len(rig.errors) and rig.errors


def test_retries_back_off_to_at_most_ten_a_second(rig: Rig) -> None:
    rig.transport.failure = DOWN
    rig.hub.enter("room")
    rig.advance(30.0)
    times = rig.transport.times()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.1 - 1e-6
    assert all(b >= a * 0.9 for a, b in itertools.pairwise(gaps))  # growing
    assert max(gaps) <= 4.0 * 1.1 + 1e-6  # capped: back within about 4 s
    for start in range(30):
        assert sum(start <= t < start + 1 for t in times) <= 10
    # The network returns: the next attempt (within the cap) gets through.
    rig.transport.failure = None
    last = times[-1]
    rig.advance(4.5)
    assert rig.transport.times()[len(times)] <= last + 4.4 + 1e-6
    assert rig.hub._announce._failures == 0


def test_connected_status_skips_the_backoff(rig: Rig) -> None:
    rig.transport.failure = DOWN
    rig.hub.enter("room")
    rig.advance(20.0)  # backing off by now: 4 s between attempts
    count = len(rig.transport.requests)
    rig.transport.failure = None
    rig.status("PNReconnectedCategory")
    assert len(rig.transport.requests) == count + 1
    assert rig.transport.requests[-1][2] == 20.0


def test_disconnect_probes_at_once(rig: Rig) -> None:
    rig.hub.enter("room").result(0)
    rig.advance(5.0)
    rig.status("PNUnexpectedDisconnectCategory")
    assert rig.transport.times() == [0.0, 5.0]


def test_own_timeout_event_reasserts_presence_and_state(rig: Rig) -> None:
    seen = rig.own()
    rig.hub.enter("room", {"name": "Ada"}).result(0)
    rig.transport.auto = False
    rig.advance(10.0)
    rig.live("timeout", ME, occupancy=0)
    assert seen[-1] is Own.REENTERING
    assert rig.transport.pending[-1][:2] == ("heartbeat", {"room": {"name": "Ada"}})
    rig.transport.respond()
    assert seen[-3:] == [Own.PRESENT, Own.REENTERING, Own.PRESENT]


def test_own_leave_event_reasserts_too(rig: Rig) -> None:
    rig.hub.enter("room").result(0)
    rig.advance(3.0)
    rig.live("leave", ME, occupancy=0)
    assert rig.transport.times() == [0.0, 3.0]


def test_an_old_timeout_event_does_not_say_the_client_is_gone(rig: Rig) -> None:
    seen = rig.own()
    rig.hub.enter("room").result(0)
    rig.advance(10.0)
    rig.hub._announce.on_status(rxp.ConnectionStatus("PNConnectedCategory"))  # confirmed at 10
    rig.live("timeout", ME, occupancy=0, timestamp=5)  # from before that confirmation
    assert Own.REENTERING not in seen
    assert rig.transport.times()[-1] == 10.0  # checked quietly all the same


def test_other_uuids_and_other_channels_are_ignored(rig: Rig) -> None:
    rig.hub.enter("room").result(0)
    rig.advance(3.0)
    rig.live("timeout", "bob", occupancy=1)
    rig.live("timeout", ME, channel="elsewhere", occupancy=0)
    rig.live("join", ME, occupancy=1)  # own join, no state, none wanted
    assert rig.transport.times() == [0.0]


def test_own_join_without_its_state_puts_the_state_back(rig: Rig) -> None:
    rig.hub.enter("room", {"name": "Ada"}).result(0)
    rig.advance(3.0)
    rig.live("join", ME, occupancy=2)  # the app's own subscribe rejoined it, stateless
    assert rig.transport.requests[-1] == ("heartbeat", {"room": {"name": "Ada"}}, 3.0)
    rig.advance(1.0)
    rig.live("join", ME, occupancy=2, state={"name": "Ada"})
    assert len(rig.transport.requests) == 2


def test_interval_arrays_naming_the_client(rig: Rig) -> None:
    seen = rig.own()
    rig.hub.enter("room").result(0)
    rig.advance(3.0)
    rig.live("interval", None, occupancy=30, timeout=[ME, "x"])
    assert Own.REENTERING in seen and rig.transport.times() == [0.0, 3.0]


def test_a_whole_timeout_without_confirmation_means_reentering(rig: Rig) -> None:
    seen = rig.own()
    rig.hub.enter("room").result(0)
    rig.transport.auto = False
    rig.advance(29.0)  # the heartbeat due at 29 s hangs
    rig.advance(30.9)
    assert seen[-1] is Own.PRESENT
    rig.advance(0.2)  # 60 s after the last confirmation
    assert seen[-1] is Own.REENTERING


def test_snapshot_without_the_client_reasserts() -> None:
    here_now = FakeHereNow({"room": {"bob": None}}, auto=False)
    rig = Rig(here_now=here_now)
    try:
        seen = rig.own()
        rig.hub.enter("room", {"k": 1}).result(0)
        rig.hub.roster("room")  # the bootstrap asks for a snapshot
        rig.advance(10.0)
        here_now.respond()  # bob only: the server has dropped us
        assert seen[-2:] == [Own.REENTERING, Own.PRESENT]
        assert rig.transport.times() == [0.0, 10.0]
        here_now.join("room", ME, {"k": 1})
        rig.hub.resync("room")
        rig.advance(5.0)
        here_now.respond()
        assert rig.transport.times() == [0.0, 10.0]  # listed: nothing to do
    finally:
        rig.close()


def test_big_states_are_spread_over_requests(rig: Rig) -> None:
    blob = "x" * 7000
    for name in "abcde":
        rig.hub.enter(name, {"blob": blob})
    rig.advance(1.0)
    for beat in rig.transport.heartbeats():
        assert sum(len(s["blob"]) for s in beat.values()) <= 24 * 1024
    named = [c for beat in rig.transport.heartbeats() for c in beat]
    assert sorted(set(named)) == list("abcde")


def test_close_leaves_fails_pending_and_completes_streams(manual: Rig) -> None:
    seen: list[Any] = []
    manual.hub.own_presence("b").subscribe(seen.append, on_completed=lambda: seen.append("done"))
    manual.hub.enter("a", {"x": 1})
    manual.transport.respond()
    pending = manual.hub.enter("b")
    manual.advance(0.1)
    manual.hub.close()  # a heartbeat for b is in flight: the leave waits for it
    assert manual.transport.kinds() == ["heartbeat", "heartbeat"]
    assert isinstance(pending.exception(0), rxp.AnnounceError)
    assert "closed" in str(pending.exception(0))
    manual.transport.respond()
    assert manual.transport.requests[-1][:2] == ("leave", ["a", "b"])
    manual.transport.respond()
    assert seen == [Own.ABSENT, Own.ENTERING, Own.ABSENT, "done"]
    with pytest.raises(RuntimeError, match="closed"):
        manual.hub.enter("a")


def test_close_with_nothing_entered_sends_nothing(rig: Rig) -> None:
    rig.hub.close()
    assert rig.transport.requests == []


def test_a_detached_hub_cannot_announce() -> None:
    hub = rxp.PresenceStreams(None)
    with pytest.raises(RuntimeError, match="needs a PubNub or PubNubAsyncio client"):
        hub.enter("room")
    hub.close()


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ("", "non-empty string"),
        (3, "non-empty string"),
        ("a,b", "comma"),
        ("a.*", "wildcard"),
        ("room-pnpres", "presence channel"),
        ("x" * 93, "at most 92"),
        ("a\nb", "control characters"),
    ],
)
def test_bad_channels_are_refused(rig: Rig, channel: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rig.hub.enter(channel)
    assert rig.transport.requests == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({1: "x"}, "keys must be strings"),
        ({"x": float("nan")}, "only JSON values"),
        ({"x": {1, 2}}, "only JSON values"),
        ({"x": "y" * 9000}, "at most 8192"),
    ],
)
def test_bad_states_are_refused(rig: Rig, state: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rig.hub.enter("room", state)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), "5", True])
def test_bad_timeouts_are_refused(rig: Rig, timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be"):
        rig.hub.enter("room", timeout=timeout)


def test_the_state_is_copied(rig: Rig) -> None:
    state = {"tags": ["a"]}
    rig.hub.enter("room", state).result(0)
    state["tags"].append("b")
    rig.advance(29.0)
    assert rig.transport.heartbeats()[-1] == {"room": {"tags": ["a"]}}


def test_a_confirmation_can_be_awaited() -> None:
    rig = Rig(auto=False)
    try:
        entered = rig.hub.enter("room")

        async def main() -> None:
            asyncio.get_running_loop().call_later(0.01, rig.transport.respond)
            assert await entered is None

        asyncio.run(main())
        assert "done" in repr(entered)
    finally:
        rig.close()


def test_folds_reach_the_announcer_only_while_a_channel_is_entered(rig: Rig) -> None:
    registry = rig.hub._registry
    rosters: list[rxp.Roster] = []
    rig.hub.roster("room").subscribe(rosters.append)
    assert registry._tap is None  # nothing entered: folds pay nothing for announcing
    rig.hub.enter("room").result(0)
    assert registry._tap is not None
    rig.live("join", "bob", occupancy=1)
    rig.live("join", ME, occupancy=2)
    assert rosters[-1].uuids == {"bob", ME}
    rig.advance(0.1)
    rig.hub.leave("room").result(0)
    assert registry._tap is None
