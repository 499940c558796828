"""Announcing end to end with the threaded ``PubNub`` client against the local server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from announce_e2e import TIMEOUT, Watcher, endpoints, heartbeat_channels
from polling import no_leaked_threads, stop_sync_clients, wait_for
from proxy import TcpProxy
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub import PubNub

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

Factory = Callable[..., LocalPresenceServer]
STATE = {"name": "Ada", "mood": "curious"}


class World:
    """The server, a watcher, announcing clients and proxies of one test; all stopped."""

    def __init__(self, factory: Factory) -> None:
        self.server = factory(ServerSettings.fast())
        self.watcher = Watcher(self.server, "room")
        self.clients: list[PubNub] = [self.watcher.pubnub]
        self.hubs: list[rxp.PresenceStreams] = []
        self.proxies: list[TcpProxy] = []

    def client(self, uuid: str, *, via: TcpProxy | None = None) -> rxp.PresenceStreams:
        """A client of ``uuid`` (SDK heartbeats off, as by default) and its hub."""
        config = self.server.pnconfig(
            uuid,
            presence_timeout=TIMEOUT,
            reconnect_policy=PNReconnectionPolicy.LINEAR,
            reconnection_interval=0.2,
        )
        if via is not None:
            config.origin = via.origin
        pubnub = PubNub(config)
        self.clients.append(pubnub)
        hub = rxp.PresenceStreams(pubnub, here_now=None)
        self.hubs.append(hub)
        return hub

    def proxy(self) -> TcpProxy:
        proxy = TcpProxy(self.server.host, self.server.port).start()
        self.proxies.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.restore()  # so that the leaves on close get through
        for hub in self.hubs:
            hub.close()
        self.watcher.close()
        stop_sync_clients(self.clients)
        for proxy in self.proxies:
            proxy.close()
        self.server.stop()  # the factory would too, but after the thread check


@pytest.fixture
def world(presence_server_factory: Factory) -> Iterator[World]:
    with no_leaked_threads():
        made = World(presence_server_factory)
        try:
            yield made
        finally:
            made.close()


class Own:
    """A hub's own_presence values for a channel, collected thread-safely."""

    def __init__(self, hub: rxp.PresenceStreams, channel: str) -> None:
        self._lock = threading.Lock()
        self._seen: list[rxp.OwnPresence] = []
        hub.own_presence(channel).subscribe(self._add)

    def _add(self, value: rxp.OwnPresence) -> None:
        with self._lock:
            self._seen.append(value)

    @property
    def seen(self) -> list[rxp.OwnPresence]:
        with self._lock:
            return list(self._seen)


def test_enter_update_leave_are_one_join_one_state_change_one_leave(world: World) -> None:
    server, watcher = world.server, world.watcher
    alice = world.client("alice")
    alice.enter("room", STATE).result(5)
    alice.enter("other").result(5)
    wait_for(lambda: watcher.events("alice"), message="(the join)")
    [join] = watcher.events("alice")
    assert join.action == "join" and dict(join.state or {}) == STATE
    assert server.occupants("room")["alice"] == STATE

    alice.update("room", {**STATE, "mood": "busy"}).result(5)
    wait_for(lambda: len(watcher.events("alice")) == 2, message="(the state change)")
    change = watcher.events("alice")[1]
    assert change.action == "state-change" and dict(change.state or {})["mood"] == "busy"

    alice.leave("room").result(5)
    wait_for(lambda: len(watcher.events("alice")) == 3, message="(the leave)")
    assert watcher.actions("alice") == ["join", "state-change", "leave"]
    assert "alice" not in server.occupants("room")
    # Heartbeats go on for "other" only: two more after the leave, none naming "room".
    left_at = len(heartbeat_channels(server, "alice"))
    wait_for(lambda: len(heartbeat_channels(server, "alice")) >= left_at + 2, 10, "(more beats)")
    later = heartbeat_channels(server, "alice")[left_at:]
    assert later and all(channels == ["other"] for channels in later)
    assert watcher.actions("alice") == ["join", "state-change", "leave"]


def test_stays_present_with_the_sdks_heartbeats_off(world: World) -> None:
    server, watcher = world.server, world.watcher
    alice = world.client("alice")  # a 4 s presence timeout, SDK heartbeats off
    alice.enter("room", STATE).result(5)
    start = time.monotonic()
    # Three presence timeouts go by: rxpresence heartbeats about every second.
    wait_for(lambda: time.monotonic() - start > 3 * TIMEOUT, 4 * TIMEOUT, every=0.2)
    assert watcher.actions("alice") == ["join"]
    assert server.occupants("room") == {"alice": STATE}
    assert len(heartbeat_channels(server, "alice")) >= 3 * TIMEOUT / 2


def test_partition_longer_than_the_timeout_rejoins_once_with_its_state(world: World) -> None:
    server, watcher = world.server, world.watcher
    proxy = world.proxy()
    alice = world.client("alice", via=proxy)
    own = Own(alice, "room")
    alice.enter("room", STATE).result(5)
    wait_for(lambda: watcher.actions("alice") == ["join"], message="(joined)")

    proxy.cut()
    cut_at, refused = time.monotonic(), proxy.refused
    wait_for(lambda: "timeout" in watcher.actions("alice"), 3 * TIMEOUT, "(timed out)")
    wait_for(lambda: own.seen[-1] is rxp.OwnPresence.REENTERING, 2 * TIMEOUT, "(re-entering)")
    attempts, seconds = proxy.refused - refused, time.monotonic() - cut_at
    assert attempts <= 10 * seconds + 2  # at most about ten a second, backing off

    proxy.restore()
    restored = time.monotonic()
    wait_for(lambda: watcher.actions("alice") == ["join", "timeout", "join"], 15, "(rejoined)")
    assert time.monotonic() - restored < 15
    rejoin = watcher.events("alice")[-1]
    assert dict(rejoin.state or {}) == STATE  # the join itself carries the state
    wait_for(lambda: own.seen[-1] is rxp.OwnPresence.PRESENT, 5, "(present again)")
    # Exactly one rejoin: later heartbeats change nothing.
    beats = len(heartbeat_channels(server, "alice"))
    wait_for(lambda: len(heartbeat_channels(server, "alice")) >= beats + 2, 10, "(more beats)")
    assert watcher.actions("alice") == ["join", "timeout", "join"]
    assert server.occupants("room") == {"alice": STATE}
    assert own.seen[:3] == [
        rxp.OwnPresence.ABSENT,
        rxp.OwnPresence.ENTERING,
        rxp.OwnPresence.PRESENT,
    ]


def test_partition_of_a_client_also_subscribed_itself(world: World) -> None:
    server, watcher = world.server, world.watcher
    proxy = world.proxy()
    alice = world.client("alice", via=proxy)
    alice.enter("room", STATE).result(5)
    alice._pubnub.subscribe().channels(["room"]).with_presence().execute()  # the app's own
    wait_for(lambda: watcher.actions("alice") == ["join"], message="(joined)")

    proxy.cut()
    wait_for(lambda: "timeout" in watcher.actions("alice"), 3 * TIMEOUT, "(timed out)")
    proxy.restore()

    def back_with_its_state() -> bool:
        events = watcher.events("alice")
        joins = sum(e.action == "join" for e in events)
        return joins == 2 and dict(events[-1].state or {}) == STATE

    # Its own subscribe may rejoin it without state first: the state is put back at once.
    wait_for(back_with_its_state, 15, "(back with its state)")
    beats = len(heartbeat_channels(server, "alice"))
    wait_for(lambda: len(heartbeat_channels(server, "alice")) >= beats + 2, 10, "(more beats)")
    actions = watcher.actions("alice")
    assert actions[:3] == ["join", "timeout", "join"]
    assert set(actions[3:]) <= {"state-change"}  # one rejoin, then at most the state
    assert server.occupants("room") == {"alice": STATE}


def test_close_leaves_and_waits_for_the_leave(world: World) -> None:
    server = world.server
    alice = world.client("alice")
    alice.enter("room", STATE).result(5)
    alice.enter("other").result(5)
    alice.close()
    assert server.occupants("room") == {} and server.occupants("other") == {}
    assert endpoints(server, "alice")[-1][0] == "leave"
    wait_for(lambda: world.watcher.actions("alice") == ["join", "leave"], message="(leave)")


def test_a_confirmation_times_out_while_the_network_is_down(world: World) -> None:
    proxy = world.proxy()
    alice = world.client("alice", via=proxy)
    proxy.cut()
    entered = alice.enter("room", STATE, timeout=1)
    with pytest.raises(rxp.AnnounceTimeout, match=r"enter\('room'\) was not confirmed"):
        entered.result(5)
    proxy.restore()
    wait_for(lambda: world.watcher.actions("alice") == ["join"], 15, "(entered)")
    assert world.server.occupants("room") == {"alice": STATE}
