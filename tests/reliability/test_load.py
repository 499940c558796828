"""Load: 50 real SDK clients churn against the local server while one hub watches.

25 threaded ``PubNub`` clients and 25 ``PubNubAsyncio`` clients (all on one event loop,
in a thread of its own) each have a home channel among five, and most also sit in a
crowd channel that everyone shares, which runs in interval mode (occupancy above
PubNub's announce max of 20). For ``--load-seconds`` (10 by default) four drivers (two
per kind of client) make them subscribe with presence, set state, unsubscribe (the
threaded client sends a leave; the asyncio client sends none and times out a few
seconds later, as on PubNub) and get timed out by the server (``server.expire``, after
which a client that is still subscribed comes back with its next poll).

Once the churn stops, the server's membership must become exactly the clients still
subscribed (those that stopped polling time out: all clients use a 4 s presence
timeout), and then the watcher must agree with it.

A threaded watcher subscribed to all six channels with presence runs a
``PresenceStreams`` with here-now snapshots on (the default). Once the churn stops and
the server settles, for every channel:

* every presence event the server logged was delivered to ``events``, in the same
  order and with the same content (the resync's synthetic events, ``source="resync"``,
  are left out of the comparison): no event lost, none invented;
* folding those live events alone gives the server's membership (so the roster is right
  without any help from here-now);
* the hub's roster equals the server's here-now, uuids and states, as the real SDK's
  ``here_now`` call returns it.
"""

from __future__ import annotations

import asyncio
import gc
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polling
import pytest
from loop_thread import Loop
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.load_timeout,  # the timeout grows with --load-seconds (conftest.py)
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]

T = TypeVar("T")

HOMES = [f"load-{i}" for i in range(5)]
CROWD = "load-crowd"
CHANNELS = [*HOMES, CROWD]
THREADED = 25
ASYNCIO = 25
# The asyncio clients send no leave, and a threaded client's subscribe request still in
# flight when it unsubscribes can land after its leave and bring it back: with a short
# presence timeout the server times such clients out soon after they stop polling.
PRESENCE_TIMEOUT = 4
OPS_PER_SECOND = 50  # per driver
DRIVERS_PER_KIND = 2
FAST_RESYNC = rxp.ResyncSettings(
    cache_ttl=0.3, settle=0.05, retry_initial=0.2, retry_max=0.6, retry_jitter=0.0
)
_SDK_REQUEST_THREAD = re.compile(r"^Thread-[A-Za-z]+-\d+$")


@dataclass
class Client:
    uuid: str
    home: str
    pubnub: Any
    on_home: bool = False
    on_crowd: bool = False


@dataclass
class Tally:
    """Operations performed, by kind (each driver has its own)."""

    ops: Counter[str] = field(default_factory=Counter)


def _wait_for(predicate: Callable[[], T], timeout: float, message: str = "") -> T:
    result: T = polling.wait_for(predicate, timeout, message, every=0.05)
    return result


# -- the drivers --------------------------------------------------------------------------


def _pick(rng: random.Random, client: Client) -> str:
    if not client.on_home:
        return "subscribe"
    return rng.choices(["state", "unsubscribe", "expire", "crowd"], weights=[4, 3, 2, 1.5], k=1)[0]


def drive_threaded(
    clients: list[Client],
    server: LocalPresenceServer,
    until: float,
    tally: Tally,
    stop: threading.Event,
    seed: int,
) -> None:
    rng = random.Random(seed)
    n = 0
    while time.monotonic() < until and not stop.is_set():
        client = rng.choice(clients)
        op = _pick(rng, client)
        pubnub = client.pubnub
        if op == "subscribe":
            pubnub.subscribe().channels([client.home]).with_presence().execute()
            client.on_home = True
            if not client.on_crowd and rng.random() < 0.8:
                pubnub.subscribe().channels([CROWD]).execute()
                client.on_crowd = True
        elif op == "state":
            pubnub.set_state().channels([client.home]).state({"n": n, "by": "t"}).sync()
        elif op == "unsubscribe":
            channels = [client.home] + ([CROWD] if client.on_crowd and rng.random() < 0.5 else [])
            pubnub.unsubscribe().channels(channels).execute()  # sends a leave
            client.on_home = False
            client.on_crowd = client.on_crowd and CROWD not in channels
        elif op == "expire":
            server.expire(client.home, client.uuid)
        elif client.on_crowd:
            pubnub.unsubscribe().channels([CROWD]).execute()
            client.on_crowd = False
        else:
            pubnub.subscribe().channels([CROWD]).execute()
            client.on_crowd = True
        tally.ops[op] += 1
        n += 1
        stop.wait(1 / OPS_PER_SECOND)  # pacing, not synchronisation


async def drive_asyncio(
    clients: list[Client], server: LocalPresenceServer, until: float, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    n = 0
    while time.monotonic() < until:
        client = rng.choice(clients)
        op = _pick(rng, client)
        pubnub = client.pubnub
        if op == "subscribe":
            pubnub.subscribe().channels([client.home]).with_presence().execute()
            client.on_home = True
            if not client.on_crowd and rng.random() < 0.8:
                pubnub.subscribe().channels([CROWD]).execute()
                client.on_crowd = True
        elif op == "state":
            await pubnub.set_state().channels([client.home]).state({"n": n, "by": "a"}).future()
        elif op == "unsubscribe":
            # No leave from the asyncio client: the server times it out.
            pubnub.unsubscribe().channels([client.home]).execute()
            client.on_home = False
        elif op == "expire":
            # The test hook is synchronous; keep the loop free while it runs.
            await asyncio.to_thread(server.expire, client.home, client.uuid)
        elif client.on_crowd:
            pubnub.unsubscribe().channels([CROWD]).execute()
            client.on_crowd = False
        else:
            pubnub.subscribe().channels([CROWD]).execute()
            client.on_crowd = True
        tally.ops[op] += 1
        n += 1
        await asyncio.sleep(1 / OPS_PER_SECOND)  # pacing, not synchronisation


# -- comparisons --------------------------------------------------------------------------


def _wire(event: rxp.PresenceEvent) -> tuple[Any, ...]:
    state = dict(event.state) if event.state is not None else None
    return (
        event.action.value,
        event.uuid,
        event.occupancy,
        state,
        list(event.join),
        list(event.leave),
        list(event.timeout),
    )


def _logged(payload: dict[str, Any]) -> tuple[Any, ...]:
    return (
        payload["action"],
        payload.get("uuid"),
        payload["occupancy"],
        payload.get("data"),
        payload.get("join", []),
        payload.get("leave", []),
        payload.get("timeout", []),
    )


def _members(roster: rxp.Roster) -> dict[str, Any]:
    return {m.uuid: (dict(m.state) if m.state else None) for m in roster}


def _truth(server: LocalPresenceServer, channel: str) -> dict[str, Any]:
    return {u: (s or None) for u, s in server.occupants(channel).items()}


class Watcher:
    def __init__(self, hub: rxp.PresenceStreams) -> None:
        self.hub = hub
        self.lock = threading.Lock()
        self.live: dict[str, list[rxp.PresenceEvent]] = {c: [] for c in CHANNELS}
        self.resync = 0
        self.errors: list[rxp.ErrorReport] = []
        hub.events.subscribe(self._event)
        hub.errors.subscribe(self.errors.append)
        for channel in CHANNELS:
            hub.roster(channel).subscribe(lambda _: None)  # tracked: bootstrapped, resynced

    def _event(self, event: rxp.PresenceEvent) -> None:
        with self.lock:
            if event.source == "resync":
                self.resync += 1
            elif event.channel in self.live:
                self.live[event.channel].append(event)

    def delivered(self, channel: str) -> list[rxp.PresenceEvent]:
        with self.lock:
            return list(self.live[channel])


def _mismatches(server: LocalPresenceServer, watcher: Watcher) -> list[str]:
    problems = []
    for channel in CHANNELS:
        logged = server.presence_events_on(channel)
        delivered = len(watcher.delivered(channel))
        if logged != delivered:
            problems.append(f"{channel}: {logged} events logged, {delivered} delivered")
        roster, truth = _members(watcher.hub.current(channel)), _truth(server, channel)
        if roster != truth:
            problems.append(f"{channel}: roster {roster} != here-now {truth}")
    return problems


def _expected_membership(clients: list[Client]) -> dict[str, set[str]]:
    """Who must be present once the churn is over: every client still subscribed."""
    expected = {c: {"watcher"} for c in CHANNELS}
    for client in clients:
        if client.on_home:
            expected[client.home].add(client.uuid)
        if client.on_crowd:
            expected[CROWD].add(client.uuid)
    return expected


def _sdk_here_now(pubnub: PubNub) -> dict[str, dict[str, Any]]:
    envelope = pubnub.here_now().channels(CHANNELS).include_uuids(True).include_state(True).sync()
    out: dict[str, dict[str, Any]] = {c: {} for c in CHANNELS}
    for channel in envelope.result.channels:
        out[channel.channel_name] = {o.uuid: (o.state or None) for o in channel.occupants}
    return out


# -- the test -------------------------------------------------------------------------------


def test_fifty_clients_churning_lose_no_event_and_the_roster_is_the_truth(
    no_leaked_threads: None,
    presence_server_factory: Callable[..., LocalPresenceServer],
    load_seconds: float,
    figures: Any,
) -> None:
    server = presence_server_factory(ServerSettings.fast(log_size=2_000_000))
    loop = Loop()
    threaded: list[Client] = []
    asyncios: list[Client] = []
    watcher_pubnub = PubNub(
        server.pnconfig(
            "watcher", reconnect_policy=PNReconnectionPolicy.LINEAR, reconnection_interval=0.2
        )
    )
    hub = rxp.PresenceStreams(watcher_pubnub, resync=FAST_RESYNC)
    watcher = Watcher(hub)
    try:
        connected = threading.Event()
        hub.status.subscribe(lambda s: connected.set() if s.connected else None)
        watcher_pubnub.subscribe().channels(CHANNELS).with_presence().execute()
        _wait_for(connected.is_set, 10, "(watcher connected)")
        _wait_for(
            lambda: all("watcher" in server.occupants(c) for c in CHANNELS), 10, "(watcher in)"
        )

        for i in range(THREADED):
            pubnub = PubNub(server.pnconfig(f"t{i:02d}", presence_timeout=PRESENCE_TIMEOUT))
            threaded.append(Client(f"t{i:02d}", HOMES[i % len(HOMES)], pubnub))

        async def make_asyncio_clients() -> None:
            for i in range(ASYNCIO):
                config = server.pnconfig(f"a{i:02d}", presence_timeout=PRESENCE_TIMEOUT)
                pubnub = PubNubAsyncio(config, custom_event_loop=asyncio.get_running_loop())
                asyncios.append(Client(f"a{i:02d}", HOMES[i % len(HOMES)], pubnub))

        loop.run(make_asyncio_clients())

        # -- churn --------------------------------------------------------------------------
        before = {c: server.presence_events_on(c) for c in CHANNELS}
        started = time.monotonic()
        until = started + load_seconds
        stop = threading.Event()
        # Two drivers per kind, each with its own half of the clients.
        tallies = [Tally() for _ in range(2 * DRIVERS_PER_KIND)]
        drivers = [
            threading.Thread(
                target=drive_threaded,
                args=(threaded[k::DRIVERS_PER_KIND], server, until, tallies[k], stop, k),
                name=f"driver-threaded-{k}",
            )
            for k in range(DRIVERS_PER_KIND)
        ]
        for driver in drivers:
            driver.start()

        async def drive_all_asyncio() -> None:
            await asyncio.gather(
                *(
                    drive_asyncio(
                        asyncios[k::DRIVERS_PER_KIND],
                        server,
                        until,
                        tallies[DRIVERS_PER_KIND + k],
                        100 + k,
                    )
                    for k in range(DRIVERS_PER_KIND)
                )
            )

        try:
            loop.run(drive_all_asyncio(), load_seconds + 30)
        finally:
            stop.set()
            for driver in drivers:
                driver.join(load_seconds + 30)
        churned = time.monotonic() - started
        during = {c: server.presence_events_on(c) - before[c] for c in CHANNELS}

        # -- settle: asyncio clients that stopped polling time out, intervals flush ----------
        settle_started = time.monotonic()
        expected = _expected_membership([*threaded, *asyncios])

        def server_settled() -> bool:
            return all(set(server.occupants(c)) == expected[c] for c in CHANNELS)

        try:
            _wait_for(server_settled, PRESENCE_TIMEOUT + 20, "(server membership)")
        except AssertionError:
            present = {c: set(server.occupants(c)) for c in CHANNELS}
            diff = {
                c: (sorted(present[c] - expected[c]), sorted(expected[c] - present[c]))
                for c in CHANNELS
            }
            raise AssertionError(f"server membership (extra, missing) by channel: {diff}") from None
        problems: list[str] = []

        def settled() -> bool:
            problems[:] = _mismatches(server, watcher)
            return not problems

        try:
            _wait_for(settled, PRESENCE_TIMEOUT + 25, "(watcher caught up)")
        except AssertionError:
            raise AssertionError("\n".join(problems[:10])) from None
        settle = time.monotonic() - settle_started

        # -- the checks ----------------------------------------------------------------------
        lost = 0
        for channel in CHANNELS:
            logged = [_logged(p) for p in server.presence_log(channel)]
            delivered = [_wire(e) for e in watcher.delivered(channel)]
            lost += max(0, len(logged) - len(delivered))
            assert delivered == logged, channel  # same events, same order, same content
            folded = rxp.Roster(channel)
            for event in watcher.delivered(channel):
                folded = folded.apply(event)
            assert set(folded.uuids) == set(_truth(server, channel)), channel
        here_now = _sdk_here_now(watcher_pubnub)
        for channel in CHANNELS:
            assert _members(hub.current(channel)) == here_now[channel], channel
        assert not [e for e in watcher.errors if e.where != "here-now"], watcher.errors[:3]

        events = sum(during.values())
        ops = sum((t.ops for t in tallies), Counter[str]())
        crowd = watcher.delivered(CROWD)
        figures.update(
            clients=f"{THREADED} threaded + {ASYNCIO} asyncio",
            churn_seconds=round(churned, 1),
            operations=sum(ops.values()),
            subscribes=ops["subscribe"],
            state_changes_requested=ops["state"],
            unsubscribes=ops["unsubscribe"],
            forced_timeouts=ops["expire"],
            presence_events=events,
            events_per_second=round(events / churned, 1),
            crowd_interval_events=sum(1 for e in crowd if e.action == "interval"),
            events_delivered=sum(len(watcher.delivered(c)) for c in CHANNELS),
            resync_events=watcher.resync,
            settle_seconds=round(settle, 1),
            events_lost=lost,
        )
        assert lost == 0
    finally:
        hub.close()
        _stop_threaded([c.pubnub for c in threaded] + [watcher_pubnub])
        loop.run(_stop_asyncio([c.pubnub for c in asyncios]), timeout=30)
        loop.close()
        gc.collect()


def _stop_threaded(clients: list[PubNub]) -> None:
    for pubnub in clients:
        with suppress(AttributeError):  # a second unsubscribe_all() raises in the SDK
            pubnub.unsubscribe_all()
    _wait_for(
        lambda: not any(_SDK_REQUEST_THREAD.match(t.name) for t in threading.enumerate()),
        15,
        "(SDK request threads finished)",
    )
    for pubnub in clients:
        pubnub.stop()


async def _stop_asyncio(clients: list[PubNubAsyncio]) -> None:
    for pubnub in clients:
        with suppress(Exception):
            pubnub.unsubscribe_all()
    for pubnub in clients:
        with suppress(Exception):
            await pubnub.stop()
