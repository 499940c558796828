"""End to end with the threaded ``PubNub`` client: bootstrap races, paging, partitions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import (
    FAST_RESYNC,
    Presence,
    here_now_requests,
    no_leaked_threads,
    snapshot,
    stop_sync_clients,
    truth,
    wait_for,
)
from proxy import TcpProxy
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub import PubNub

import rxpresence as rxp
from rxpresence import operators as rops
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

Factory = Callable[..., LocalPresenceServer]


class World:
    """Servers, proxies, clients and hubs of one test, all stopped at the end."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.clients: list[PubNub] = []
        self.hubs: list[rxp.PresenceStreams] = []
        self.proxies: list[TcpProxy] = []
        self.raw: list[Presence] = []
        self.servers: list[LocalPresenceServer] = []

    def server(self, **settings: Any) -> LocalPresenceServer:
        server = self.factory(ServerSettings.fast(**settings))
        self.servers.append(server)
        return server

    def proxy(self, server: LocalPresenceServer) -> TcpProxy:
        proxy = TcpProxy(server.host, server.port).start()
        self.proxies.append(proxy)
        return proxy

    def presence(self, server: LocalPresenceServer) -> Presence:
        raw = Presence(server)
        self.raw.append(raw)
        return raw

    def watcher(
        self, server: LocalPresenceServer, channel: str, *, via: TcpProxy | None = None
    ) -> PubNub:
        """A client subscribed to ``channel`` with presence, connected."""
        config = server.pnconfig(
            "watcher", reconnect_policy=PNReconnectionPolicy.LINEAR, reconnection_interval=0.2
        )
        if via is not None:
            config.origin = via.origin
        pubnub = PubNub(config)
        self.clients.append(pubnub)
        connected = threading.Event()
        probe = rxp.PresenceStreams(pubnub, here_now=None)
        probe.status.subscribe(lambda s: connected.set() if s.connected else None)
        pubnub.subscribe().channels([channel]).with_presence().execute()
        wait_for(connected.is_set, message="(watcher connected)")
        probe.close()
        return pubnub

    def hub(self, pubnub: PubNub, **options: Any) -> rxp.PresenceStreams:
        options.setdefault("resync", FAST_RESYNC)
        hub = rxp.PresenceStreams(pubnub, **options)
        self.hubs.append(hub)
        return hub

    def close(self) -> None:
        for hub in self.hubs:
            hub.close()
        stop_sync_clients(self.clients)
        for proxy in self.proxies:
            proxy.close()
        for raw in self.raw:
            raw.close()
        for server in self.servers:  # the factory would stop them too, but after the check
            server.stop()


@pytest.fixture
def world(presence_server_factory: Factory) -> Iterator[World]:
    with no_leaked_threads():
        made = World(presence_server_factory)
        try:
            yield made
        finally:
            made.close()


class Watch:
    """A roster, its diffs and the hub's errors, collected thread-safely."""

    def __init__(self, hub: rxp.PresenceStreams, channel: str) -> None:
        self._lock = threading.Lock()
        self.rosters: list[rxp.Roster] = []
        self.diffs: list[rxp.RosterDiff] = []
        self.errors: list[rxp.ErrorReport] = []
        hub.errors.subscribe(self._add(self.errors))
        roster = hub.roster(channel)
        roster.pipe(rops.roster_diffs()).subscribe(self._add(self.diffs))
        roster.subscribe(self._add(self.rosters))

    def _add(self, into: list[Any]) -> Callable[[Any], None]:
        def add(value: Any) -> None:
            with self._lock:
                into.append(value)

        return add

    @property
    def roster(self) -> rxp.Roster:
        with self._lock:
            return self.rosters[-1]

    def diffs_since(self, index: int) -> tuple[list[str], list[str], list[str]]:
        with self._lock:
            diffs = self.diffs[index:]
        return (
            sorted(m.uuid for d in diffs for m in d.joined),
            sorted(m.uuid for d in diffs for m in d.left),
            sorted(m.uuid for d in diffs for m in d.updated),
        )

    def count(self) -> int:
        with self._lock:
            return len(self.diffs)


def converged(watch: Watch, server: LocalPresenceServer, channel: str) -> bool:
    roster = watch.roster
    return (
        roster.synced_at is not None
        and not roster.stale
        and snapshot(roster) == truth(server, channel)
    )


def test_joins_racing_the_bootstrap_appear_exactly_once(world: World) -> None:
    server = world.server(announce_max=100)
    raw = world.presence(server)
    for round_ in range(2):
        channel = f"race{round_}"
        pubnub = world.watcher(server, channel)
        uuids = [f"r{round_}-{i:02d}" for i in range(30)]
        started = threading.Event()

        def join_all(
            names: list[str] = uuids, room: str = channel, started: threading.Event = started
        ) -> None:
            joiner = Presence(server)
            try:
                for n, uuid in enumerate(names):
                    joiner.join(room, uuid)
                    if n == 10:
                        started.set()
            finally:
                joiner.close()

        thread = threading.Thread(target=join_all, name="test-joiner")
        thread.start()
        assert started.wait(5)
        hub = world.hub(pubnub)
        watch = Watch(hub, channel)  # the bootstrap races the remaining joins
        thread.join(10)
        wait_for(lambda w=watch, c=channel: converged(w, server, c), message="(roster converged)")  # type: ignore[misc]
        joined, left, _ = watch.diffs_since(0)
        assert joined == sorted([*uuids, "watcher"])  # each exactly once
        assert left == []
        assert watch.errors == []
    raw.close()


def test_2500_occupants_bootstrap_through_paging(world: World) -> None:
    server = world.server(announce_max=20, interval=30.0)
    raw = world.presence(server)
    crowd = {f"crowd-{i:04d}": ({"seat": i} if i % 100 == 0 else None) for i in range(2500)}
    for uuid, state in crowd.items():
        raw.join("big", uuid, state)
    assert len(server.occupants("big")) == 2500
    server.clear_requests()
    pubnub = world.watcher(server, "big")
    hub = world.hub(pubnub)
    watch = Watch(hub, "big")
    wait_for(lambda: converged(watch, server, "big"), timeout=10, message="(2,501 members)")
    roster = watch.roster
    assert len(roster) == 2501 and roster.occupancy == 2501
    assert snapshot(roster) == {**crowd, "watcher": None}
    pages = here_now_requests(server, "big")[:3]
    assert [p.query.get("offset") for p in pages] == [None, "1000", "2000"]
    assert all(p.query.get("limit") == "1000" and p.query.get("state") == "1" for p in pages)
    assert watch.errors == []


def partition_scenario(
    server: LocalPresenceServer,
    raw: Presence,
    watch: Watch,
    proxy: TcpProxy,
    *,
    wait: Callable[..., Any],
) -> None:
    """Cut the watcher off, change everything, restore; check convergence and diffs."""
    mark = watch.count()
    proxy.cut()
    wait(lambda: watch.roster.stale, message="(roster marked stale)")
    stale_since = watch.roster.stale_since
    assert stale_since is not None
    raw.join("part", "fiona", {"new": True})  # joins while cut off
    raw.leave("part", "carl")  # leaves
    server.expire("part", "dora")  # times out
    raw.set_state("part", "eve", {"mood": "away"})  # changes state
    proxy.restore()
    wait(lambda: converged(watch, server, "part"), message="(roster converged after restore)")
    assert watch.diffs_since(mark) == (["fiona"], ["carl", "dora"], ["eve"])
    assert snapshot(watch.roster) == truth(server, "part")
    assert all(e.where == "here-now" for e in watch.errors)  # retries while cut off


def setup_partition(world: World, server: LocalPresenceServer) -> Presence:
    raw = world.presence(server)
    raw.join("part", "bob")
    raw.join("part", "carl")
    raw.join("part", "dora")
    raw.join("part", "eve", {"mood": "here"})
    return raw


def test_partition_threaded_client_converges(world: World) -> None:
    server = world.server()
    raw = setup_partition(world, server)
    proxy = world.proxy(server)
    pubnub = world.watcher(server, "part", via=proxy)
    hub = world.hub(pubnub)
    statuses: list[str] = []
    hub.status.subscribe(lambda s: statuses.append(s.category))
    watch = Watch(hub, "part")
    wait_for(lambda: converged(watch, server, "part"), message="(initial roster)")
    partition_scenario(server, raw, watch, proxy, wait=wait_for)
    # The threaded client reports its reconnection (and its reconnection timer stops).
    wait_for(lambda: "PNReconnectedCategory" in statuses, message="(SDK reconnected)")
    assert "PNUnexpectedDisconnectCategory" in statuses
    wait_for(lambda: converged(watch, server, "part"), message="(still converged)")


def test_interval_events_without_arrays_trigger_one_here_now_per_burst(world: World) -> None:
    # Interval mode above 3 occupants; a 1-byte delta limit turns every interval into a
    # here_now_refresh, which the SDK delivers as an interval without arrays.
    server = world.server(announce_max=3, interval=1.0, delta_limit=1)
    raw = world.presence(server)
    for i in range(5):
        raw.join("burst", f"early-{i}")
    pubnub = world.watcher(server, "burst")
    hub = world.hub(pubnub)
    intervals: list[rxp.PresenceEvent] = []
    tick = threading.Event()

    def on_interval(event: rxp.PresenceEvent) -> None:
        intervals.append(event)
        tick.set()

    hub.intervals.subscribe(on_interval)
    watch = Watch(hub, "burst")
    wait_for(lambda: converged(watch, server, "burst"), message="(initial roster)")
    # Wait for a no-change interval: the roster matches it, so it costs no here-now.
    tick.clear()
    assert tick.wait(3)
    before = len(here_now_requests(server, "burst"))
    tick.clear()
    assert tick.wait(3)
    assert len(here_now_requests(server, "burst")) == before
    # The burst: ten joins right after an interval, so one interval carries them all.
    for i in range(10):
        raw.join("burst", f"burst-{i}")
    seen = len(intervals)
    wait_for(lambda: converged(watch, server, "burst"), message="(burst folded in)")
    assert len(watch.roster) == 16
    wait_for(lambda: len(intervals) >= seen + 2, message="(one more interval)")
    assert not any(i.has_deltas for i in intervals)
    assert len(here_now_requests(server, "burst")) == before + 1


def test_leave_on_close_with_the_threaded_client(world: World) -> None:
    # The uuid is made present by a client of its own, stopped before the hub closes.
    # Unsubscribing instead is a race: the SDK's subscribe loop may send one more
    # request as it is told to stop (its callback reads the channels before
    # unsubscribe_all empties them), and if that request reaches the server after the
    # hub's leave, it joins the uuid again. A stopped client sends nothing more, but its
    # long poll stays held by the server: the client goes through a proxy, cut after the
    # stop, so that poll's thread ends at once instead of at the poll's timeout.
    server = world.server()
    proxy = world.proxy(server)
    config = server.pnconfig("watcher", suppress_leave_events=True)  # no SDK leave
    config.origin = proxy.origin
    present = PubNub(config)
    pubnub = PubNub(server.pnconfig("watcher"))
    world.clients += [present, pubnub]
    hub = world.hub(pubnub, leave_on_close=True)
    watch = Watch(hub, "lobby")
    pubnub.subscribe().channels(["lobby-pnpres"]).execute()  # watches, is not present
    wait_for(lambda: "watcher" not in server.occupants("lobby") and server.held_polls > 0)
    present.subscribe().channels(["lobby"]).execute()
    wait_for(lambda: "watcher" in watch.roster, message="(joined)")
    present.stop()
    proxy.cut()
    assert "watcher" in server.occupants("lobby")  # the SDK left nothing behind it
    hub.close()  # sends the leave for the channel its roster showed it on
    assert "watcher" not in server.occupants("lobby")
