"""End to end: the real ``PubNubAsyncio`` client (and a sync watcher) against the server."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import suppress
from typing import Any

import pytest
from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio
from server_helpers import Recorder, WaitFor, stop_sync_clients

from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(30),
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]


async def until(predicate: Callable[[], Any], timeout: float = 5.0, message: str = "") -> None:
    """Await until ``predicate()`` is truthy, polling; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s {message}".strip())
        await asyncio.sleep(0.01)


class AsyncClients:
    """Makes ``PubNubAsyncio`` clients on one server and stops them all."""

    def __init__(self, server: LocalPresenceServer) -> None:
        self.server = server
        self.made: list[PubNubAsyncio] = []

    def __call__(self, uuid: str, **options: Any) -> PubNubAsyncio:
        pubnub = PubNubAsyncio(self.server.pnconfig(uuid, **options))
        self.made.append(pubnub)
        return pubnub

    async def stop(self) -> None:
        for pubnub in self.made:
            # The SDK raises AttributeError for a client that never subscribed.
            with suppress(AttributeError):
                pubnub.unsubscribe_all()
        for pubnub in self.made:
            await pubnub.stop()


def run(
    server: LocalPresenceServer, body: Callable[[AsyncClients], Coroutine[Any, Any, None]]
) -> None:
    """Run ``body`` in a fresh event loop; its clients are stopped whatever happens."""

    async def main() -> None:
        clients = AsyncClients(server)
        try:
            await body(clients)
        finally:
            await clients.stop()

    asyncio.run(main())
    # The SDK leaves failed heartbeat tasks behind (it heartbeats with no channels after
    # unsubscribing). Collect them here: collected on another thread, their "exception
    # never retrieved" log would format a traceback there, and Python 3.11's traceback
    # formatting (ast.parse) is not safe to run in two threads at once.
    gc.collect()


@pytest.fixture
def server(no_leaked_threads: None, presence_server: LocalPresenceServer) -> LocalPresenceServer:
    return presence_server


@pytest.fixture
def sync_clients(server: LocalPresenceServer) -> Iterator[Callable[..., PubNub]]:
    made: list[PubNub] = []

    def make(uuid: str, **options: Any) -> PubNub:
        pubnub = PubNub(server.pnconfig(uuid, **options))
        made.append(pubnub)
        return pubnub

    yield make
    stop_sync_clients(made)


def test_asyncio_client_seen_by_a_sync_watcher(
    server: LocalPresenceServer, sync_clients: Callable[..., PubNub], wait_for: WaitFor
) -> None:
    watcher = sync_clients("watcher")
    seen = Recorder()
    watcher.add_listener(seen)
    watcher.subscribe().channels(["room"]).with_presence().execute()
    wait_for(lambda: seen.seen("join", "watcher"))

    async def body(clients: AsyncClients) -> None:
        # With heartbeats on, the asyncio client sends a leave when it unsubscribes.
        alice = clients("alice", enable_presence_heartbeat=True, presence_timeout=20)
        alice.subscribe().channels(["room"]).execute()
        await until(lambda: seen.seen("join", "alice"))
        await alice.set_state().channels(["room"]).state({"typing": True}).future()
        await until(lambda: seen.seen("state-change", "alice"))
        alice.unsubscribe().channels(["room"]).execute()
        await until(lambda: seen.seen("leave", "alice"))

    run(server, body)
    [change] = seen.events("state-change")
    assert change.state == {"typing": True}
    assert seen.events("leave")[-1].occupancy == 1


def test_asyncio_watcher_sees_joins_timeouts_and_its_own_join(
    no_leaked_threads: None, presence_server_factory: Any
) -> None:
    # Long polls held longer than bob's presence timeout: without heartbeats he times out.
    server = presence_server_factory(hold_timeout=6)

    async def body(clients: AsyncClients) -> None:
        watcher = clients("watcher")
        seen = Recorder()
        watcher.add_listener(seen)
        watcher.subscribe().channels(["room"]).with_presence().execute()
        await until(lambda: seen.seen("join", "watcher"))
        bob = clients("bob", presence_timeout=1)
        bob.subscribe().channels(["room"]).execute()
        await until(lambda: seen.seen("join", "bob"))
        await until(lambda: seen.seen("timeout", "bob"), timeout=5)
        assert seen.events("timeout")[-1].occupancy == 1
        assert seen.events("join", "room")[0].subscription is None

    run(server, body)


def test_forced_expiry_and_injected_events(server: LocalPresenceServer) -> None:
    async def body(clients: AsyncClients) -> None:
        watcher = clients("watcher")
        seen = Recorder()
        watcher.add_listener(seen)
        watcher.subscribe().channels(["room"]).with_presence().execute()
        await until(lambda: seen.seen("join", "watcher"))
        server.inject("room", {"action": "join", "uuid": "ghost", "timestamp": 1, "occupancy": 9})
        await until(lambda: seen.seen("join", "ghost"))
        assert seen.events("join")[-1].occupancy == 9
        server.expire("room", "watcher")
        await until(lambda: seen.seen("timeout", "watcher"))

    run(server, body)
    # The watcher's next poll after the forced timeout joins it again: a flicker.
    actions = [(d["action"], d["uuid"]) for d in server.presence_log("room")]
    assert actions[:3] == [("join", "watcher"), ("join", "ghost"), ("timeout", "watcher")]
    assert server.presence_events_on("room") >= 3


def test_interval_events(no_leaked_threads: None, presence_server_factory: Any) -> None:
    server = presence_server_factory(ServerSettings.fast(announce_max=3, interval=0.5))

    async def body(clients: AsyncClients) -> None:
        watcher = clients("watcher")
        seen = Recorder()
        watcher.add_listener(seen)
        watcher.subscribe().channels(["crowd"]).with_presence().execute()
        await until(lambda: seen.seen("join", "watcher"))
        members = [
            clients(f"m{i}", enable_presence_heartbeat=True, presence_timeout=20) for i in range(6)
        ]
        for member in members:
            member.subscribe().channels(["crowd"]).execute()
        await until(lambda: len(server.occupants("crowd")) == 7)
        await until(lambda: sum(len(e.join or []) for e in seen.events("interval")) == 4)
        for member in members[:2]:
            member.unsubscribe_all()
        await until(lambda: sum(len(e.leave or []) for e in seen.events("interval")) == 2)
        announced = {e.uuid for e in seen.events("join")}
        in_intervals = {u for e in seen.events("interval") for u in e.join or []}
        assert announced | in_intervals == {"watcher", *(f"m{i}" for i in range(6))}
        assert len(announced) == 3
        assert seen.events("leave") == []
        assert seen.events("interval")[-1].occupancy == 5

    run(server, body)


def test_here_now_where_now_state_and_groups(server: LocalPresenceServer) -> None:
    async def body(clients: AsyncClients) -> None:
        admin, alice, bob = clients("admin"), clients("alice"), clients("bob")
        await (
            admin.add_channel_to_channel_group().channels(["x", "y"]).channel_group("grp").future()
        )
        alice.subscribe().channel_groups(["grp"]).execute()
        bob.subscribe().channels(["x"]).execute()
        await until(lambda: len(server.occupants("x")) == 2 and server.occupants("y"))
        await alice.set_state().channels(["x"]).state({"role": "host"}).future()

        here = (await admin.here_now().channels(["x"]).include_state(True).future()).result
        [x] = here.channels
        assert sorted((o.uuid, o.state or None) for o in x.occupants) == [
            ("alice", {"role": "host"}),
            ("bob", None),
        ]
        grouped = (await admin.here_now().channel_groups(["grp"]).future()).result
        assert {c.channel_name: c.occupancy for c in grouped.channels} == {"x": 2, "y": 1}
        counts = (await admin.here_now().channels(["x"]).include_uuids(False).future()).result
        assert counts.total_occupancy == 2

        where = (await admin.where_now().uuid("alice").future()).result
        assert sorted(where.channels) == ["x", "y"]
        state = (await admin.get_state().channels(["x", "y"]).uuid("alice").future()).result
        assert state.channels == {"x": {"role": "host"}, "y": {}}

    run(server, body)


def test_messages_flow_through_subscribe(server: LocalPresenceServer) -> None:
    async def body(clients: AsyncClients) -> None:
        reader, writer = clients("reader"), clients("writer")
        seen = Recorder()
        reader.add_listener(seen)
        reader.subscribe().channels(["chat"]).execute()
        await until(seen.connected)
        await writer.publish().channel("chat").message({"text": "hello"}).future()
        await writer.publish().channel("chat").message("post").use_post(True).future()
        await until(lambda: len(seen.messages) == 2)
        assert [m.message for m in seen.messages] == [{"text": "hello"}, "post"]
        assert seen.messages[0].publisher == "writer"

    run(server, body)


def test_what_the_asyncio_client_sends(server: LocalPresenceServer) -> None:
    # The requests docs/fidelity.md lists for the asyncio client, as they reach the server.
    async def body(clients: AsyncClients) -> None:
        alice = clients("alice", enable_presence_heartbeat=True, presence_timeout=30)
        alice.subscribe().channels(["room"]).with_presence().execute()
        await until(lambda: "alice" in server.occupants("room"))
        await until(lambda: any(r.endpoint == "heartbeat" for r in server.requests))
        await alice.here_now().channels(["room"]).future()
        alice.unsubscribe().channels(["room"]).execute()
        await until(lambda: "alice" not in server.occupants("room"))

    run(server, body)

    def sent(endpoint: str) -> list[Any]:
        return [r for r in server.requests if r.uuid == "alice" and r.endpoint == endpoint]

    polls = sent("subscribe")
    assert polls[0].query["tt"] == "0"
    assert all(r.query.get("heartbeat") == "30" and r.query.get("ee") == "1" for r in polls)
    assert {r.query.get("heartbeat") for r in sent("heartbeat")} == {"30"}
    assert [r.path.rsplit("/", 2)[-2] for r in sent("leave")] == ["room"]
    assert [r.query.get("limit") for r in sent("here_now")] == ["1000"]
