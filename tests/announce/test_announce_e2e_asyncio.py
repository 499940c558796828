"""Announcing end to end with ``PubNubAsyncio`` against the local server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from announce_e2e import TIMEOUT, Watcher, endpoints, heartbeat_channels
from polling import async_wait_for, stop_sync_clients
from proxy import TcpProxy
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

STATE = {"name": "Grace", "role": "admiral"}


@pytest.fixture
def watcher(server: LocalPresenceServer) -> Iterator[Watcher]:
    made = Watcher(server, "room")
    try:
        yield made
    finally:
        made.close()
        stop_sync_clients([made.pubnub])


def client(server: LocalPresenceServer, uuid: str, origin: str | None = None) -> PubNubAsyncio:
    """An asyncio client with a 4 s presence timeout (SDK heartbeats off, as by default)."""
    config = server.pnconfig(
        uuid,
        presence_timeout=TIMEOUT,
        reconnect_policy=PNReconnectionPolicy.LINEAR,
        reconnection_interval=0.2,
    )
    if origin is not None:
        config.origin = origin
    return PubNubAsyncio(config)


def test_enter_update_leave_and_aclose(server: LocalPresenceServer, watcher: Watcher) -> None:
    async def main() -> None:
        pubnub = client(server, "grace")
        hub = rxp.PresenceStreams(pubnub, here_now=None)
        try:
            entered = hub.enter("room", STATE)
            assert await entered is None
            await hub.enter("other")
            await async_wait_for(lambda: watcher.actions("grace") == ["join"], message="(join)")
            assert dict(watcher.events("grace")[0].state or {}) == STATE
            await hub.update("room", {**STATE, "role": "rear admiral"})
            await async_wait_for(
                lambda: watcher.actions("grace") == ["join", "state-change"], message="(change)"
            )
            await hub.leave("room")
            await async_wait_for(
                lambda: watcher.actions("grace") == ["join", "state-change", "leave"],
                message="(leave)",
            )
            with pytest.raises(ValueError, match="not entered"):
                hub.update("room", STATE)
            hub.close()  # schedules the leave of "other" on the loop...
            await hub.aclose()  # ...and this waits for it
            assert server.occupants("other") == {}
            assert endpoints(server, "grace")[-1][0] == "leave"
        finally:
            await hub.aclose()
            await pubnub.stop()

    asyncio.run(main())


def test_partition_heals_with_no_reconnect_status_and_one_rejoin(
    server: LocalPresenceServer, watcher: Watcher
) -> None:
    async def main() -> None:
        with TcpProxy(server.host, server.port) as proxy:
            pubnub = client(server, "grace", proxy.origin)
            hub = rxp.PresenceStreams(pubnub, here_now=None)
            statuses: list[str] = []
            own: list[rxp.OwnPresence] = []
            hub.status.subscribe(lambda s: statuses.append(s.category))
            hub.own_presence("room").subscribe(own.append)
            try:
                # It watches the room through the proxy too, without being present by it.
                pubnub.subscribe().channels(["room-pnpres"]).execute()
                await hub.enter("room", STATE)
                await async_wait_for(lambda: watcher.actions("grace") == ["join"])

                proxy.cut()
                await async_wait_for(
                    lambda: "timeout" in watcher.actions("grace"), 3 * TIMEOUT, "(timed out)"
                )
                await async_wait_for(
                    lambda: own[-1] is rxp.OwnPresence.REENTERING, 2 * TIMEOUT, "(re-entering)"
                )
                proxy.restore()
                restored = time.monotonic()
                await async_wait_for(
                    lambda: watcher.actions("grace") == ["join", "timeout", "join"], 15, "(back)"
                )
                assert time.monotonic() - restored < 15
                assert dict(watcher.events("grace")[-1].state or {}) == STATE
                await async_wait_for(lambda: own[-1] is rxp.OwnPresence.PRESENT, 5)
                assert "PNReconnectedCategory" not in statuses
                beats = len(heartbeat_channels(server, "grace"))
                await async_wait_for(
                    lambda: len(heartbeat_channels(server, "grace")) >= beats + 2, 10
                )
                assert watcher.actions("grace") == ["join", "timeout", "join"]
                assert server.occupants("room") == {"grace": STATE}
            finally:
                await hub.aclose()
                pubnub.unsubscribe_all()
                await pubnub.stop()

    asyncio.run(main())
