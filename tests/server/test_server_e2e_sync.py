"""End to end: the real sync ``PubNub`` client against the local presence server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pubnub.pubnub import PubNub
from server_helpers import Recorder, WaitFor, stop_sync_clients

from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(30),
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]

Clients = Callable[..., PubNub]


@pytest.fixture
def server(no_leaked_threads: None, presence_server: LocalPresenceServer) -> LocalPresenceServer:
    """The default fast server; threads are checked after everything else stopped."""
    return presence_server


@pytest.fixture
def clients(server: LocalPresenceServer) -> Iterator[Clients]:
    """``clients(uuid, server=None, **config)``: sync clients, all stopped after the test."""
    made: list[PubNub] = []

    def make(uuid: str, on: LocalPresenceServer | None = None, **options: Any) -> PubNub:
        pubnub = PubNub((on or server).pnconfig(uuid, **options))
        made.append(pubnub)
        return pubnub

    yield make
    stop_sync_clients(made)


def watch(
    pubnub: PubNub, channels: list[str], wait_for: WaitFor, *, groups: list[str] | None = None
) -> Recorder:
    """Subscribe ``pubnub`` with presence and wait until its own join arrived."""
    recorder = Recorder()
    pubnub.add_listener(recorder)
    builder = pubnub.subscribe().with_presence()
    if channels:
        builder = builder.channels(channels)
    if groups:
        builder = builder.channel_groups(groups)
    builder.execute()
    wait_for(recorder.connected, message="(watcher connected)")
    return recorder


def test_join_state_change_and_leave(
    clients: Clients, server: LocalPresenceServer, wait_for: WaitFor
) -> None:
    watcher = clients("watcher")
    seen = watch(watcher, ["room"], wait_for)
    wait_for(lambda: seen.seen("join", "watcher"))

    alice = clients("alice")
    alice.subscribe().channels(["room"]).execute()
    wait_for(lambda: seen.seen("join", "alice"))
    join = seen.events("join")[-1]
    assert (join.channel, join.occupancy, join.subscription) == ("room", 2, None)
    assert isinstance(join.timetoken, int)

    alice.set_state().channels(["room"]).state({"mood": "busy"}).sync()
    wait_for(lambda: seen.seen("state-change", "alice"))
    # The SDK re-sends the same state on its next subscribe: still a single event.
    change = seen.events("state-change")
    assert [(e.uuid, e.state) for e in change] == [("alice", {"mood": "busy"})]

    alice.unsubscribe().channels(["room"]).execute()
    wait_for(lambda: seen.seen("leave", "alice"))
    leave = seen.events("leave")[-1]
    assert leave.occupancy == 1
    assert server.occupants("room") == {"watcher": None}


def test_timeout_of_a_silent_client(
    no_leaked_threads: None, presence_server_factory: Any, wait_for: WaitFor
) -> None:
    # Liveness is renewed only by requests: with long polls held longer than the
    # presence timeout and heartbeats off, a connected client times out, as on PubNub.
    server = presence_server_factory(hold_timeout=6)
    made: list[PubNub] = []
    try:
        watcher = PubNub(server.pnconfig("watcher"))
        made.append(watcher)
        seen = watch(watcher, ["room"], wait_for)
        alice = PubNub(server.pnconfig("alice", presence_timeout=1))
        made.append(alice)
        alice.subscribe().channels(["room"]).execute()
        wait_for(lambda: seen.seen("join", "alice"))
        wait_for(lambda: seen.seen("timeout", "alice"), timeout=5)
        assert seen.events("timeout")[-1].occupancy == 1
        assert "alice" not in server.occupants("room")
    finally:
        stop_sync_clients(made)


def test_forced_expiry(clients: Clients, server: LocalPresenceServer, wait_for: WaitFor) -> None:
    watcher = clients("watcher")
    seen = watch(watcher, ["room"], wait_for)
    server.publish("room", "warm-up")
    server.inject("room", {"action": "join", "uuid": "ghost", "timestamp": 1, "occupancy": 2})
    wait_for(lambda: seen.seen("join", "ghost"))
    assert server.expire("room", "watcher")
    wait_for(lambda: seen.seen("timeout", "watcher"))
    assert not server.expire("room", "nobody")


def test_here_now_where_now_and_state(
    clients: Clients, wait_for: WaitFor, server: LocalPresenceServer
) -> None:
    alice, bob = clients("alice"), clients("bob")
    alice.subscribe().channels(["room", "lobby"]).execute()
    bob.subscribe().channels(["room"]).execute()
    wait_for(lambda: len(server.occupants("room")) == 2 and server.occupants("lobby"))
    alice.set_state().channels(["room"]).state({"seat": 4}).sync()

    here = bob.here_now().channels(["room"]).include_state(True).sync().result
    [room] = here.channels
    assert (room.channel_name, room.occupancy, here.total_occupancy) == ("room", 2, 2)
    assert sorted((o.uuid, o.state or None) for o in room.occupants) == [
        ("alice", {"seat": 4}),
        ("bob", None),
    ]
    several = bob.here_now().channels(["room", "lobby"]).sync().result
    assert {c.channel_name: c.occupancy for c in several.channels} == {"room": 2, "lobby": 1}
    everywhere = bob.here_now().sync().result
    assert everywhere.total_occupancy == 3

    where = bob.where_now().uuid("alice").sync().result
    assert sorted(where.channels) == ["lobby", "room"]
    state = bob.get_state().channels(["room"]).uuid("alice").sync().result
    assert state.channels == {"room": {"seat": 4}}


def test_channel_group_presence(clients: Clients, wait_for: WaitFor) -> None:
    admin = clients("admin")
    admin.add_channel_to_channel_group().channels(["g1", "g2"]).channel_group("grp").sync()
    listed = admin.list_channels_in_channel_group().channel_group("grp").sync().result
    assert sorted(listed.channels) == ["g1", "g2"]

    watcher = clients("watcher")
    seen = watch(watcher, [], wait_for, groups=["grp"])
    wait_for(lambda: seen.seen("join", "watcher", "g1") and seen.seen("join", "watcher", "g2"))
    alice = clients("alice")
    alice.subscribe().channel_groups(["grp"]).execute()
    wait_for(lambda: seen.seen("join", "alice", "g1") and seen.seen("join", "alice", "g2"))
    assert {e.subscription for e in seen.events("join")} == {"grp"}

    here = admin.here_now().channel_groups(["grp"]).sync().result
    assert {c.channel_name: c.occupancy for c in here.channels} == {"g1": 2, "g2": 2}

    admin.remove_channel_from_channel_group().channels(["g2"]).channel_group("grp").sync()
    alice.unsubscribe_all()
    wait_for(lambda: seen.seen("leave", "alice", "g1"))
    admin.remove_channel_group().channel_group("grp").sync()


def test_wildcard_presence_and_messages(clients: Clients, wait_for: WaitFor) -> None:
    watcher = clients("watcher")
    seen = Recorder()
    watcher.add_listener(seen)
    watcher.subscribe().channels(["a.*"]).with_presence().execute()
    wait_for(seen.connected)
    alice = clients("alice")
    alice.subscribe().channels(["a.b"]).execute()
    wait_for(lambda: seen.seen("join", "alice"))
    event = seen.events("join")[-1]
    assert (event.channel, event.subscription) == ("a.b", "a.*")
    alice.publish().channel("a.b").message({"n": 1}).sync()
    wait_for(lambda: seen.messages)
    assert (seen.messages[0].message, seen.messages[0].channel) == ({"n": 1}, "a.b")


def test_interval_mode(
    no_leaked_threads: None, presence_server_factory: Any, wait_for: WaitFor
) -> None:
    server = presence_server_factory(ServerSettings.fast(announce_max=3, interval=0.5))
    made: list[PubNub] = []
    try:
        watcher = PubNub(server.pnconfig("watcher"))
        made.append(watcher)
        seen = watch(watcher, ["big"], wait_for)
        for i in range(4):
            member = PubNub(server.pnconfig(f"m{i}"))
            made.append(member)
            member.subscribe().channels(["big"]).execute()
        wait_for(lambda: len(server.occupants("big")) == 5)

        def joined() -> list[str]:
            return [uuid for e in seen.events("interval") for uuid in e.join or []]

        wait_for(lambda: len(joined()) == 2)
        announced = [e.uuid for e in seen.events("join")]
        # Three announced one by one (watcher and two members), the rest in intervals.
        assert len(announced) == 3
        assert sorted(announced[1:] + joined()) == ["m0", "m1", "m2", "m3"]
        assert seen.events("interval")[-1].occupancy == 5
        assert seen.events("interval")[-1].uuid is None
    finally:
        stop_sync_clients(made)


def test_reconnects_after_restart(
    clients: Clients, server: LocalPresenceServer, wait_for: WaitFor
) -> None:
    watcher = clients("watcher", reconnect_policy=_linear(), reconnection_interval=0.2)
    seen = watch(watcher, ["room"], wait_for)
    server.stop()
    server.restart()
    server.publish("room", "after the outage")
    wait_for(lambda: any(m.message == "after the outage" for m in seen.messages), timeout=10)


def _linear() -> Any:
    from pubnub.enums import PNReconnectionPolicy

    return PNReconnectionPolicy.LINEAR


def test_what_the_threaded_client_sends(
    server: LocalPresenceServer, clients: Clients, wait_for: WaitFor
) -> None:
    # The requests docs/fidelity.md lists for the threaded client, as they reach the server.
    alice = clients("alice", presence_timeout=30, enable_presence_heartbeat=True)
    seen = watch(alice, ["room"], wait_for)
    wait_for(lambda: seen.seen("join", "alice"))
    alice.here_now().channels(["room"]).sync()
    alice.unsubscribe().channels(["room"]).execute()
    wait_for(lambda: "alice" not in server.occupants("room"))

    def sent(endpoint: str) -> list[Any]:
        return [r for r in server.requests if r.uuid == "alice" and r.endpoint == endpoint]

    polls = sent("subscribe")
    assert polls[0].query["tt"] == "0"
    assert all(r.query.get("heartbeat") == "30" and "ee" not in r.query for r in polls)
    assert {r.query.get("heartbeat") for r in sent("heartbeat")} == {"30"}
    assert [r.path.rsplit("/", 2)[-2] for r in sent("leave")] == ["room,room-pnpres"]
    assert [r.query.get("limit") for r in sent("here_now")] == ["1000"]
