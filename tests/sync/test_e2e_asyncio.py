"""End to end with ``PubNubAsyncio``: a partition healed with no reconnect status, leaving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import (
    FAST_RESYNC,
    Presence,
    async_wait_for,
    no_leaked_threads,
    snapshot,
    truth,
)
from proxy import TcpProxy
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp
from rxpresence import operators as rops
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

Factory = Callable[..., LocalPresenceServer]


@pytest.fixture
def server(presence_server_factory: Factory) -> Iterator[LocalPresenceServer]:
    with no_leaked_threads():
        made = presence_server_factory(ServerSettings.fast())
        try:
            yield made
        finally:
            made.stop()


class Watch:
    """Roster, diffs, statuses and errors (all delivered on the loop thread)."""

    def __init__(self, hub: rxp.PresenceStreams, channel: str) -> None:
        self.rosters: list[rxp.Roster] = []
        self.diffs: list[rxp.RosterDiff] = []
        self.errors: list[rxp.ErrorReport] = []
        self.statuses: list[str] = []
        self.threads: set[str] = set()
        hub.errors.subscribe(self.errors.append)
        hub.status.subscribe(lambda s: self.statuses.append(s.category))
        roster = hub.roster(channel)
        roster.pipe(rops.roster_diffs()).subscribe(self.diffs.append)
        roster.subscribe(self._roster)

    def _roster(self, roster: rxp.Roster) -> None:
        self.threads.add(threading.current_thread().name)
        self.rosters.append(roster)

    @property
    def roster(self) -> rxp.Roster:
        return self.rosters[-1]


def converged(watch: Watch, server: LocalPresenceServer, channel: str) -> bool:
    roster = watch.roster
    return (
        roster.synced_at is not None
        and not roster.stale
        and snapshot(roster) == truth(server, channel)
    )


async def watcher(
    server: LocalPresenceServer, channel: str, origin: str | None = None
) -> PubNubAsyncio:
    # A short reconnect delay, so the subscribe loop resumes within the test's deadlines.
    config = server.pnconfig(
        "watcher", reconnect_policy=PNReconnectionPolicy.LINEAR, reconnection_interval=0.2
    )
    if origin is not None:
        config.origin = origin
    pubnub = PubNubAsyncio(config)
    return pubnub


def test_partition_asyncio_client_converges(server: LocalPresenceServer) -> None:
    raw = Presence(server)
    for uuid in ("bob", "carl", "dora"):
        raw.join("part", uuid)
    raw.join("part", "eve", {"mood": "here"})

    async def main() -> None:
        with TcpProxy(server.host, server.port) as proxy:
            pubnub = await watcher(server, "part", proxy.origin)
            hub = rxp.PresenceStreams(pubnub, resync=FAST_RESYNC)
            try:
                watch = Watch(hub, "part")  # bootstrapped from the loop thread
                pubnub.subscribe().channels(["part"]).with_presence().execute()
                await async_wait_for(lambda: converged(watch, server, "part"), message="(initial)")
                mark = len(watch.diffs)

                proxy.cut()
                await async_wait_for(lambda: watch.roster.stale, message="(stale)")
                raw.join("part", "fiona", {"new": True})
                raw.leave("part", "carl")
                server.expire("part", "dora")
                raw.set_state("part", "eve", {"mood": "away"})
                proxy.restore()
                # No status says the connection is back: the retried here-now heals it.
                await async_wait_for(
                    lambda: converged(watch, server, "part"), message="(converged after restore)"
                )
                diffs = watch.diffs[mark:]
                assert sorted(m.uuid for d in diffs for m in d.joined) == ["fiona"]
                assert sorted(m.uuid for d in diffs for m in d.left) == ["carl", "dora"]
                assert sorted(m.uuid for d in diffs for m in d.updated) == ["eve"]
                assert "PNUnexpectedDisconnectCategory" in watch.statuses
                assert "PNReconnectedCategory" not in watch.statuses
                assert all(e.where == "here-now" for e in watch.errors)
                # Events resume later: still converged, and a late live join lands once.
                raw.join("part", "gus")
                await async_wait_for(lambda: converged(watch, server, "part"), message="(gus)")
                assert sum(m.uuid == "gus" for d in watch.diffs for m in d.joined) == 1
            finally:
                hub.close()
                pubnub.unsubscribe_all()
                await pubnub.stop()

    try:
        asyncio.run(main())
    finally:
        raw.close()


def test_leave_on_close_sends_the_leave_the_asyncio_client_does_not(
    server: LocalPresenceServer,
) -> None:
    async def main() -> None:
        pubnub = await watcher(server, "lobby")
        hub = rxp.PresenceStreams(pubnub, resync=FAST_RESYNC, leave_on_close=True)
        watch = Watch(hub, "lobby")
        pubnub.subscribe().channels(["lobby"]).with_presence().execute()
        await async_wait_for(lambda: "watcher" in watch.roster, message="(joined)")
        assert "watcher" in server.occupants("lobby")
        pubnub.unsubscribe_all()  # the asyncio client sends no leave itself
        await hub.aclose()  # ...so the hub does, for the channels its roster shows it on
        assert "watcher" not in server.occupants("lobby")
        await pubnub.stop()

    asyncio.run(main())


def test_asyncio_bootstrap_of_a_busy_channel(server: LocalPresenceServer) -> None:
    raw = Presence(server)
    people = {f"p{i:02d}": ({"i": i} if i % 3 == 0 else None) for i in range(25)}
    for uuid, state in people.items():
        raw.join("busy", uuid, state)

    async def main() -> dict[str, Any]:
        pubnub = await watcher(server, "busy")
        hub = rxp.PresenceStreams(pubnub, resync=FAST_RESYNC)
        try:
            pubnub.subscribe().channels(["busy"]).with_presence().execute()
            watch = Watch(hub, "busy")
            await async_wait_for(lambda: converged(watch, server, "busy"), message="(bootstrap)")
            assert watch.threads == {threading.current_thread().name}  # all on the loop
            return snapshot(watch.roster)
        finally:
            hub.close()
            pubnub.unsubscribe_all()
            await pubnub.stop()

    try:
        assert asyncio.run(main()) == {**people, "watcher": None}
    finally:
        raw.close()
