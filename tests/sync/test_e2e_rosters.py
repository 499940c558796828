"""rosters() with real clients: presence-only subscriptions, groups, wildcards, later ones.

Back ends watch ``lobby-pnpres`` without being present in ``lobby`` (docs/scaling.md);
apps subscribe to more channels as they go. With the threaded and the asyncio client
against the local server, ``rosters()`` must list and bootstrap each channel: the
presence-only one, one subscribed after ``rosters()`` was first asked for, the channels
of a channel group and those behind a wildcard, and end equal to the server's truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from e2e_support import FAST_RESYNC, Presence, async_wait_for, snapshot, truth, wait_for
from loop_thread import Loop
from polling import stop_sync_clients
from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(40)]

CHANNELS = ("lobby", "late", "g.a", "w.x")


@pytest.fixture
def server(presence_server_factory: Callable[..., LocalPresenceServer]) -> Iterator[Any]:
    made = presence_server_factory(ServerSettings.fast())
    raw = Presence(made)
    raw.join("lobby", "ann", {"desk": 1})
    raw.join("late", "bo")
    raw.join("g.a", "cy")
    raw.join("w.x", "di")
    yield made
    raw.close()


class Rosters:
    """The latest rosters() mapping, kept from any thread."""

    def __init__(self, hub: rxp.PresenceStreams) -> None:
        self.latest: Mapping[str, rxp.Roster] = {}
        hub.rosters().subscribe(self._keep)

    def _keep(self, value: Mapping[str, rxp.Roster]) -> None:
        self.latest = value

    def matches(self, server: LocalPresenceServer, channels: tuple[str, ...]) -> bool:
        latest = self.latest
        return all(
            name in latest
            and latest[name].synced_at is not None
            and snapshot(latest[name]) == truth(server, name)
            for name in channels
        )


def _group(server: LocalPresenceServer, group: str, channels: list[str]) -> None:
    admin = PubNub(server.pnconfig("admin"))
    try:
        admin.add_channel_to_channel_group().channels(channels).channel_group(group).sync()
    finally:
        admin.stop()


def test_threaded_client(server: LocalPresenceServer) -> None:
    _group(server, "grp", ["g.a"])
    pubnub = PubNub(server.pnconfig("watcher"))
    hub = rxp.PresenceStreams(pubnub, resync=FAST_RESYNC)
    try:
        pubnub.subscribe().channels(["lobby-pnpres"]).execute()  # watches, is not present
        rosters = Rosters(hub)
        wait_for(lambda: rosters.matches(server, ("lobby",)), message="(presence-only)")
        assert "watcher" not in server.occupants("lobby")
        pubnub.subscribe().channels(["late"]).with_presence().execute()  # after rosters()
        pubnub.subscribe().channel_groups(["grp"]).with_presence().execute()
        pubnub.subscribe().channels(["w.*"]).with_presence().execute()
        # Channels behind a group or a wildcard are learned from their events.
        Presence(server).join("g.a", "ed")
        Presence(server).join("w.x", "fay")
        wait_for(lambda: rosters.matches(server, CHANNELS), timeout=15, message="(every one)")
        assert set(rosters.latest) <= set(CHANNELS)
    finally:
        hub.close()
        stop_sync_clients([pubnub])


def test_asyncio_client(server: LocalPresenceServer) -> None:
    _group(server, "grp", ["g.a"])
    loop = Loop()
    try:

        async def main() -> None:
            pubnub = PubNubAsyncio(server.pnconfig("watcher"))
            hub = rxp.PresenceStreams(pubnub, resync=FAST_RESYNC)
            try:
                pubnub.subscribe().channels(["lobby-pnpres"]).execute()
                rosters = Rosters(hub)
                await async_wait_for(
                    lambda: rosters.matches(server, ("lobby",)), message="(presence-only)"
                )
                assert "watcher" not in server.occupants("lobby")
                pubnub.subscribe().channels(["late"]).with_presence().execute()
                pubnub.subscribe().channel_groups(["grp"]).with_presence().execute()
                pubnub.subscribe().channels(["w.*"]).with_presence().execute()
                Presence(server).join("g.a", "ed")
                Presence(server).join("w.x", "fay")
                await async_wait_for(
                    lambda: rosters.matches(server, CHANNELS), timeout=15, message="(every one)"
                )
                assert set(rosters.latest) <= set(CHANNELS)
            finally:
                await hub.aclose()
                pubnub.unsubscribe_all()
                await pubnub.stop()

        loop.run(main(), timeout=35)
    finally:
        loop.close()
