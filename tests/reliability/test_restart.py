"""The server goes away mid-session and comes back on the same port.

Three threaded and three asyncio clients sit in a channel with state; a threaded and an
asyncio watcher each run a ``PresenceStreams`` (here-now snapshots on, the default).
During the outage the world moves on: one client is timed out on the server side (it is
still subscribed, so it comes back), one threaded client unsubscribes (its leave cannot
reach the server) and one asyncio client is stopped for good.

What convergence means: once the clients have reconnected and the server has timed out
the ones that no longer poll, the server's here-now is the truth, and each watcher's
roster must equal it, uuids and states, without anyone restarting anything.

* ``restart()``: the same server object keeps its presence state (the book outlives the
  HTTP side), so the truth after the outage is the state from before, minus whoever stops
  polling, plus whatever the clients re-send.
* A new server on the same port: presence state is lost; the truth is only who comes
  back by polling again. Whoever never comes back never sends a leave either, so only a
  here-now snapshot can remove them from a roster: the watchers' resync must do it.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any, TypeVar

import polling
import pytest
from helpers import FakePubNub, sdk_event
from loop_thread import Loop
from pubnub.enums import PNReconnectionPolicy, PNStatusCategory
from pubnub.models.consumer.common import PNStatus
from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio
from reactivex.testing import TestScheduler

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]

T = TypeVar("T")
ROOM = "room"
PRESENCE_TIMEOUT = 4
FAST_RESYNC = rxp.ResyncSettings(
    cache_ttl=0.3, settle=0.05, retry_initial=0.2, retry_max=0.6, retry_jitter=0.0
)
RECONNECT = {"reconnect_policy": PNReconnectionPolicy.LINEAR, "reconnection_interval": 0.2}
_SDK_REQUEST_THREAD = re.compile(r"^Thread-[A-Za-z]+-\d+$")


def _wait_for(predicate: Callable[[], T], timeout: float, message: str = "") -> T:
    result: T = polling.wait_for(predicate, timeout, message, every=0.05)
    return result


def _members(roster: rxp.Roster) -> dict[str, Any]:
    return {m.uuid: (dict(m.state) if m.state else None) for m in roster}


def _truth(server: LocalPresenceServer) -> dict[str, Any]:
    return {u: (s or None) for u, s in server.occupants(ROOM).items()}


class Session:
    """The clients, the watchers and the asyncio loop of one test."""

    def __init__(self, server: LocalPresenceServer) -> None:
        self.server = server
        self.loop = Loop()
        self.threaded: dict[str, PubNub] = {}
        self.asyncio: dict[str, PubNubAsyncio] = {}
        self.hubs: dict[str, rxp.PresenceStreams] = {}
        self.stopped: set[str] = set()
        # Every event each hub emitted (appended under the hub's lock).
        self.events: dict[str, list[rxp.PresenceEvent]] = {"threaded": [], "asyncio": []}
        self.statuses: dict[str, list[rxp.ConnectionStatus]] = {"threaded": [], "asyncio": []}

    def live(self, kind: str) -> list[rxp.PresenceEvent]:
        return [e for e in list(self.events[kind]) if e.source == "live" and e.channel == ROOM]

    def synthetic(self, kind: str) -> list[rxp.PresenceEvent]:
        return [e for e in list(self.events[kind]) if e.source == "resync"]

    def start(self) -> None:
        server = self.server
        for name in ("watcher-t", "t0", "t1", "t2"):
            options: dict[str, Any] = dict(RECONNECT)
            if name != "watcher-t":
                options["presence_timeout"] = PRESENCE_TIMEOUT
            self.threaded[name] = PubNub(server.pnconfig(name, **options))
        self.hubs["threaded"] = rxp.PresenceStreams(self.threaded["watcher-t"], resync=FAST_RESYNC)
        self.hubs["threaded"].roster(ROOM).subscribe(lambda _: None)
        self.hubs["threaded"].events.subscribe(self.events["threaded"].append)
        self.hubs["threaded"].status.subscribe(self.statuses["threaded"].append)

        async def make() -> None:
            loop = asyncio.get_running_loop()
            for name in ("watcher-a", "a0", "a1", "a2"):
                options: dict[str, Any] = dict(RECONNECT)
                if name != "watcher-a":
                    options["presence_timeout"] = PRESENCE_TIMEOUT
                pubnub = PubNubAsyncio(server.pnconfig(name, **options), custom_event_loop=loop)
                self.asyncio[name] = pubnub
            hub = rxp.PresenceStreams(self.asyncio["watcher-a"], resync=FAST_RESYNC)
            hub.roster(ROOM).subscribe(lambda _: None)
            hub.events.subscribe(self.events["asyncio"].append)
            hub.status.subscribe(self.statuses["asyncio"].append)
            self.hubs["asyncio"] = hub
            for name, pubnub in self.asyncio.items():
                pubnub.subscribe().channels([ROOM]).with_presence().execute()
                if name != "watcher-a":
                    await pubnub.set_state().channels([ROOM]).state({"who": name}).future()

        for pubnub in self.threaded.values():
            pubnub.subscribe().channels([ROOM]).with_presence().execute()
        self.loop.run(make())
        for name, pubnub in self.threaded.items():
            if name != "watcher-t":
                pubnub.set_state().channels([ROOM]).state({"who": name}).sync()

    def roster(self, kind: str) -> rxp.Roster:
        hub = self.hubs[kind]
        if kind == "asyncio":
            return self.loop.call(lambda: hub.current(ROOM))
        return hub.current(ROOM)

    def noticed_outage(self) -> None:
        """Wait until both watchers were told the connection dropped; rosters go stale."""

        def noticed() -> bool:
            return all(any(s.disconnected for s in list(self.statuses[k])) for k in self.hubs)

        _wait_for(noticed, 15, "(watchers saw the outage)")
        for kind in self.hubs:
            assert self.roster(kind).stale, kind

    def converged(self) -> list[str]:
        """What still differs between each watcher's roster and the server's here-now."""
        truth = _truth(self.server)
        problems = []
        for kind in self.hubs:
            roster = self.roster(kind)
            if _members(roster) != truth:
                problems.append(f"{kind} watcher: {_members(roster)} != here-now {truth}")
            elif roster.stale:
                problems.append(f"{kind} watcher: roster still stale")
        return problems

    def close(self) -> None:
        for hub in self.hubs.values():
            with suppress(Exception):
                hub.close()
        clients = [p for n, p in self.threaded.items()]
        for pubnub in clients:
            with suppress(AttributeError):
                pubnub.unsubscribe_all()
        _wait_for(
            lambda: not any(_SDK_REQUEST_THREAD.match(t.name) for t in threading.enumerate()),
            15,
            "(SDK request threads finished)",
        )
        for pubnub in clients:
            pubnub.stop()

        async def stop_asyncio() -> None:
            for name, pubnub in self.asyncio.items():
                if name in self.stopped:
                    continue
                with suppress(Exception):
                    pubnub.unsubscribe_all()
                with suppress(Exception):
                    await pubnub.stop()

        with suppress(Exception):
            self.loop.run(stop_asyncio())
        self.loop.close()
        gc.collect()


@pytest.fixture
def session_factory() -> Iterator[Callable[[LocalPresenceServer], Session]]:
    made: list[Session] = []

    def make(server: LocalPresenceServer) -> Session:
        made.append(Session(server))
        return made[-1]

    yield make
    for session in made:
        session.close()


EVERYONE = {"watcher-t", "watcher-a", "t0", "t1", "t2", "a0", "a1", "a2"}
STAYING = {"watcher-t", "watcher-a", "t0", "t1", "a0", "a1"}


def _outage(session: Session, server: LocalPresenceServer) -> None:
    """What happens while the server is away."""
    server.expire(ROOM, "t1")  # the book is still there: a timeout is logged
    session.threaded["t2"].unsubscribe_all()  # its leave cannot reach the server

    async def stop_a2() -> None:
        await session.asyncio["a2"].stop()  # gone for good, no leave

    session.loop.run(stop_a2())
    session.stopped.add("a2")


def _converge(session: Session, expected: set[str], timeout: float) -> float:
    started = time.monotonic()
    server = session.server
    _wait_for(lambda: set(server.occupants(ROOM)) == expected, timeout, "(server truth)")
    problems: list[str] = []

    def done() -> bool:
        problems[:] = session.converged()
        return not problems

    try:
        _wait_for(done, timeout, "(watchers converged)")
    except AssertionError:
        raise AssertionError("\n".join(problems)) from None
    return time.monotonic() - started


def test_restart_on_the_same_port_keeps_state_and_rosters_converge(
    no_leaked_threads: None,
    presence_server_factory: Callable[..., LocalPresenceServer],
    session_factory: Callable[[LocalPresenceServer], Session],
    figures: Any,
) -> None:
    server = presence_server_factory(ServerSettings.fast())
    session = session_factory(server)
    session.start()
    _converge(session, EVERYONE, 15)
    assert all(_truth(server)[u] == {"who": u} for u in EVERYONE if not u.startswith("w"))

    started = time.monotonic()
    server.stop()
    _outage(session, server)
    session.noticed_outage()
    server.restart()
    # t1 comes back with its next poll; t2 and a2 no longer poll and time out.
    _converge(session, STAYING, PRESENCE_TIMEOUT + 20)
    converged = time.monotonic() - started
    truth = _truth(server)
    # Kept across the restart; t1 was timed out, which clears a state on PubNub too, and
    # its client does not send it again when it comes back.
    assert {u: truth[u] for u in ("t0", "a0", "a1")} == {u: {"who": u} for u in ("t0", "a0", "a1")}
    assert truth["t1"] is None
    # The events of the outage reached both watchers, in order: the cursor survived.
    # t2 and a2 time out on their own clocks (their last requests), in either order.
    outage = [("timeout", "t1"), ("join", "t1"), ("timeout", "a2"), ("timeout", "t2")]
    duplicates: dict[str, int] = {}
    for kind in ("threaded", "asyncio"):
        live = session.live(kind)
        firsts: dict[int, rxp.PresenceEvent] = {}
        for event in live:
            firsts.setdefault(event.timetoken, event)
        duplicates[kind] = len(live) - len(firsts)  # delivered again by the SDK
        seen = [(e.action.value, e.uuid) for e in firsts.values()]
        last = seen[-len(outage) :]
        assert last[:2] + sorted(last[2:]) == outage, (kind, seen)
    figures.update(
        clients=6,
        watchers=2,
        presence_state="kept",
        outage_to_converged_seconds=round(converged, 1),
        events_redelivered_threaded=duplicates["threaded"],
        events_redelivered_asyncio=duplicates["asyncio"],
    )


def test_a_new_server_on_the_same_port_loses_state_and_resync_fixes_rosters(
    no_leaked_threads: None,
    presence_server_factory: Callable[..., LocalPresenceServer],
    session_factory: Callable[[LocalPresenceServer], Session],
    figures: Any,
) -> None:
    first = presence_server_factory(ServerSettings.fast())
    session = session_factory(first)
    session.start()
    _converge(session, EVERYONE, 15)
    port = first.port

    started = time.monotonic()
    first.stop()
    _outage(session, first)
    session.noticed_outage()
    second = presence_server_factory(ServerSettings.fast(), port=port)
    session.server = second
    # Only those still polling come back; the two that left never send a leave, and the
    # rosters lose them through a here-now snapshot (synthetic leaves).
    _converge(session, STAYING, PRESENCE_TIMEOUT + 20)
    converged = time.monotonic() - started
    # No SDK sends its state again when it reconnects: a server that lost its state has
    # none, and the rosters (compared above, states included) say so.
    assert all(state is None for state in _truth(second).values())
    for kind in ("threaded", "asyncio"):
        removed = {e.uuid for e in session.synthetic(kind) if e.action == "leave"}
        assert {"t2", "a2"} <= removed, (kind, removed)
    figures.update(
        clients=6,
        watchers=2,
        presence_state="lost",
        outage_to_converged_seconds=round(converged, 1),
    )


def test_a_stateless_rejoin_racing_a_resync_drops_the_lost_state() -> None:
    """Found by the test above (once in about fifteen runs), made deterministic here.

    The roster shows ``t1`` with state ``{"who": "t1"}``. The server loses its state
    (restarted without it) and ``t1`` comes back without one. After the outage a first
    live event triggers a here-now; while it is in flight ``t1``'s join arrives, without
    ``data`` since it has no state. The snapshot is older than that join and leaves
    ``t1`` alone, and nothing triggers another one, so the join itself must clear the
    state (it once kept the old state for good).
    """
    pubnub = FakePubNub()
    here_now = rxp.FakeHereNow({ROOM: {"t1": {"who": "t1"}, "w": None}}, auto=False)
    scheduler = TestScheduler()
    hub = rxp.PresenceStreams(
        pubnub,
        scheduler=scheduler,
        here_now=here_now,
        resync=rxp.ResyncSettings(cache_ttl=0, settle=0, retry_jitter=0),
    )
    hub.roster(ROOM).subscribe(lambda _: None)
    here_now.respond_all()
    assert _members(hub.current(ROOM)) == {"t1": {"who": "t1"}, "w": None}
    pubnub.status(_status("PNUnexpectedDisconnectCategory"))
    scheduler.advance_by(0.01)
    here_now.fail(ConnectionError("the server is away"))
    here_now.channels[ROOM] = {"t1": None, "w": None}  # back, without state
    tt = 18_000_000_000_000_000
    pubnub.presence(sdk_event("join", "w", channel=ROOM, occupancy=2, timetoken=tt))
    scheduler.advance_by(0.01)
    assert len(here_now.pending) == 1  # the resync after the outage, in flight
    pubnub.presence(sdk_event("join", "t1", channel=ROOM, occupancy=2, timetoken=tt + 10))
    here_now.respond_all()
    scheduler.advance_by(60)
    here_now.respond_all()
    roster = hub.current(ROOM)
    hub.close()
    assert not roster.stale
    assert _members(roster) == {"t1": None, "w": None}


def _status(category: str) -> PNStatus:
    status = PNStatus()
    status.category = getattr(PNStatusCategory, category)
    return status
