"""rxpresence.aio with the real asyncio SDK client against the local server."""

from __future__ import annotations

import asyncio

import pytest
from announce_e2e import TIMEOUT
from polling import async_wait_for
from pubnub.pubnub_asyncio import PubNubAsyncio
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

import rxpresence as rxp
from rxpresence import aio
from rxpresence.server import LocalPresenceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_async_for_over_a_graced_roster_and_over_events(server: LocalPresenceServer) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        watcher = PubNubAsyncio(server.pnconfig("watcher"))
        hub = rxp.PresenceStreams(watcher, scheduler=AsyncIOThreadSafeScheduler(loop))
        bob = PubNubAsyncio(server.pnconfig("bob", presence_timeout=TIMEOUT))
        bobs = rxp.PresenceStreams(bob, here_now=None)
        rosters: list[frozenset[str]] = []
        events: list[tuple[str, str]] = []
        roster_values = aio.values(hub.roster("room", grace=30))
        event_values = aio.values(hub.events)
        assert roster_values.latest and not event_values.latest

        async def follow_rosters() -> None:
            async for roster in roster_values:
                rosters.append(frozenset(roster.uuids))

        async def follow_events() -> None:
            async for event in event_values:
                events.append((str(event.action), event.uuid or ""))

        tasks = [loop.create_task(follow_rosters()), loop.create_task(follow_events())]
        try:
            watcher.subscribe().channels(["room-pnpres"]).execute()
            await async_wait_for(lambda: rosters and rosters[-1] == frozenset(), message="(empty)")
            await bobs.enter("room", {"name": "Bob"})
            await async_wait_for(lambda: rosters[-1] == {"bob"}, message="(bob in)")
            await bobs.leave("room")
            await async_wait_for(lambda: rosters[-1] == frozenset(), message="(bob out)")
            await async_wait_for(lambda: ("leave", "bob") in events, message="(events)")
            live = [e for e in events if e[1] == "bob"]
            assert live[:2] == [("join", "bob"), ("leave", "bob")]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Cancelling the consuming tasks disposed the subscriptions.
            assert roster_values._subscription is None and event_values._subscription is None
            await bobs.aclose()
            await hub.aclose()
            watcher.unsubscribe_all()
            await watcher.stop()
            await bob.stop()

    asyncio.run(main())
