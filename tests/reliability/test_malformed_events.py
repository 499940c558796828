"""Malformed presence events arriving through the real SDK, from the local server.

``server.inject(channel, payload)`` logs any ``d`` payload on ``channel-pnpres``, and
the real ``PubNub`` / ``PubNubAsyncio`` clients fetch it like any presence event.

* What the SDK can parse but is not a valid presence event (a join without uuid, an
  unknown action, uuid arrays that are not lists of strings, negative or boolean
  numbers...) reaches rxpresence, which reports it on ``errors`` and goes on: a valid
  join injected afterwards is in the roster. A subscriber that raises on every event
  does not stop delivery either.
* SDK LIMIT: what the SDK itself cannot parse (no ``action``, a non-int ``occupancy``,
  no ``timestamp``, a non-dict ``data``, a payload that is not an object) fails an
  assertion inside the SDK before any listener is called. On the threaded client that
  kills the ``SubscribeMessageWorker`` thread; on the asyncio client it kills the
  subscribe loop's task. Either way every later event is silently lost and nothing
  reaches rxpresence, so nothing can report it. The ``sdk_limit`` tests assert exactly
  that, so that a future SDK that survives such payloads is noticed.

The hubs here run without here-now (``here_now=None``): a snapshot would put the valid
join in the roster even if its event were lost, and these tests are about the events.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from helpers import nested_list, nested_state
from polling import async_wait_for, wait_for
from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]


def _now() -> int:
    return int(time.time())


# Payloads the SDK parses and rxpresence refuses, with the field the error names.
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"action": "join", "timestamp": 1, "occupancy": 1}, "uuid"),
    ({"action": "join", "uuid": "", "timestamp": 1, "occupancy": 1}, "uuid"),
    ({"action": "joined", "uuid": "x", "timestamp": 1, "occupancy": 1}, "action"),
    ({"action": "leave", "uuid": 42, "timestamp": 1, "occupancy": 1}, "uuid"),
    ({"action": "join", "uuid": "x", "timestamp": 1, "occupancy": -1}, "occupancy"),
    ({"action": "join", "uuid": "x", "timestamp": 1, "occupancy": True}, "occupancy"),
    ({"action": "state-change", "uuid": "x", "timestamp": -5, "occupancy": 1}, "timestamp"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "join": "abc"}, "join"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "leave": ["a", 1]}, "leave"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "timeout": {"a": 1}}, "timeout"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "join": [["a"]]}, "join"),
    # Past the limits (docs/concepts/events.md): refused with a short message.
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "join": ["a", ""]}, "join"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "leave": ["x" * 93]}, "leave"),
    ({"action": "interval", "timestamp": 1, "occupancy": 3, "join": ["u" * 5000]}, "join"),
    (
        {"action": "interval", "timestamp": 1, "occupancy": 3, "timeout": nested_list(500)},
        "timeout",
    ),
    ({"action": "interval", "timestamp": 1, "occupancy": 10**30, "join": ["a"]}, "occupancy"),
    ({"action": "interval", "timestamp": 10**30, "occupancy": 3, "join": ["a"]}, "timestamp"),
]

# The same limits on joins, leaves and state changes, which read_sdk checks on its own
# fast path (without the PresenceEvent constructor).
REFUSED_ON_THE_FAST_PATH: list[tuple[dict[str, Any], str]] = [
    ({"action": "join", "uuid": "x" * 93, "timestamp": 1, "occupancy": 1}, "uuid"),
    ({"action": "leave", "uuid": "u" * 5000, "timestamp": 1, "occupancy": 1}, "uuid"),
    ({"action": "join", "uuid": "x", "timestamp": 1, "occupancy": 10**30}, "occupancy"),
    ({"action": "timeout", "uuid": "x", "timestamp": 10**30, "occupancy": 1}, "timestamp"),
    (
        {"action": "state-change", "uuid": "x", "timestamp": 1, "occupancy": 1,
         "data": nested_state(40)},
        "state",
    ),
    (
        {"action": "join", "uuid": "x", "timestamp": 1, "occupancy": 1,
         "data": {"big": "b" * 40_000}},
        "state",
    ),
]  # fmt: skip

# Payloads the SDK itself cannot parse.
SDK_KILLERS: dict[str, Any] = {
    "non-int occupancy": {"action": "join", "uuid": "k", "timestamp": 1, "occupancy": "3"},
    "missing timestamp": {"action": "join", "uuid": "k", "occupancy": 3},
    "non-dict data": {"action": "join", "uuid": "k", "timestamp": 1, "occupancy": 3, "data": "x"},
    "missing action": {"uuid": "k", "timestamp": 1, "occupancy": 3},
    "list payload": ["join", "k"],
    "null payload": None,
}

_SDK_REQUEST_THREAD = re.compile(r"^Thread-[A-Za-z]+-\d+$")


# The SDK's worker and receive task take a while to show what they did: 10 s deadlines.
def _wait_for(predicate: Callable[[], Any], message: str = "") -> Any:
    return wait_for(predicate, 10.0, message)


async def _until(predicate: Callable[[], Any], message: str = "") -> Any:
    return await async_wait_for(predicate, 10.0, message)


def _polled_past(server: LocalPresenceServer, uuid: str, tt: int) -> bool:
    """Whether ``uuid`` asked for events after ``tt``: it has received the response
    that carried the event logged at ``tt`` (requests are logged once answered)."""
    return any(
        r.endpoint == "subscribe" and r.uuid == uuid and int(r.query.get("tt") or 0) >= tt
        for r in server.requests
    )


class Watched:
    """A hub on a client, with its events and errors (delivered under the hub's lock)."""

    def __init__(self, pubnub: Any) -> None:
        self.hub = rxp.PresenceStreams(pubnub, here_now=None)
        self.events: list[rxp.PresenceEvent] = []
        self.errors: list[rxp.ErrorReport] = []
        self.connected = threading.Event()
        self.hub.events.subscribe(self.events.append)
        self.hub.errors.subscribe(self.errors.append)
        self.hub.status.subscribe(lambda s: self.connected.set() if s.connected else None)

    def joined(self, uuid: str) -> bool:
        return any(e.action == "join" and e.uuid == uuid for e in self.events)


@contextmanager
def _sync_client(server: LocalPresenceServer, uuid: str) -> Iterator[tuple[PubNub, Any]]:
    """A threaded client and its own ``SubscribeMessageWorker`` thread; stopped after."""
    before = set(threading.enumerate())
    pubnub = PubNub(server.pnconfig(uuid))
    workers = [
        t for t in threading.enumerate() if t not in before and t.name == "SubscribeMessageWorker"
    ]
    assert len(workers) == 1
    try:
        yield pubnub, workers[0]
    finally:
        with suppress(AttributeError):  # a second unsubscribe_all() raises in the SDK
            pubnub.unsubscribe_all()
        _wait_for(
            lambda: not any(_SDK_REQUEST_THREAD.match(t.name) for t in threading.enumerate()),
            message="(SDK request threads finished)",
        )
        pubnub.stop()


@contextmanager
def _thread_failures(name: str) -> Iterator[list[BaseException]]:
    """Record exceptions that end threads called ``name`` (others go to the usual hook)."""
    caught: list[BaseException] = []
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if args.thread is not None and args.thread.name == name and args.exc_value is not None:
            caught.append(args.exc_value)
        else:
            previous(args)

    threading.excepthook = hook
    try:
        yield caught
    finally:
        threading.excepthook = previous


def _check_refused(
    watched: Watched, after_join: int, refused: list[tuple[dict[str, Any], str]] = REFUSED
) -> None:
    event_errors = [r for r in watched.errors if r.where == "event"]
    assert len(event_errors) == len(refused)
    for report, (_, field) in zip(event_errors, refused, strict=True):
        assert isinstance(report.error, rxp.PresenceEventError)
        assert str(report.error).startswith(field), (field, str(report.error))
        assert len(str(report.error)) < 300, str(report.error)[:1000]
    # The subscriber that raises on every event was reported for each, and isolated.
    raised = [r for r in watched.errors if r.where == "subscriber"]
    assert len(raised) == len(watched.events) >= after_join


def _raise(event: rxp.PresenceEvent) -> None:
    raise RuntimeError(f"subscriber failure on {event.action}")


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(REFUSED, id="general"),
        pytest.param(REFUSED_ON_THE_FAST_PATH, id="fast-path"),
    ],
)
def test_refused_events_reach_errors_and_delivery_goes_on_threaded(
    no_leaked_threads: None,
    presence_server: LocalPresenceServer,
    figures: Any,
    refused: list[tuple[dict[str, Any], str]],
) -> None:
    server = presence_server
    with _sync_client(server, "watcher") as (pubnub, worker):
        watched = Watched(pubnub)
        watched.hub.events.subscribe(_raise)
        pubnub.subscribe().channels(["room"]).with_presence().execute()
        _wait_for(lambda: watched.joined("watcher"), message="(own join)")
        for payload, _ in refused:
            server.inject("room", payload)
        server.inject(
            "room", {"action": "join", "uuid": "after", "timestamp": _now(), "occupancy": 2}
        )
        _wait_for(lambda: "after" in watched.hub.current("room"), message="(valid join)")
        assert worker.is_alive()
        try:
            _check_refused(watched, 2, refused)
            assert sorted(watched.hub.current("room").uuids) == ["after", "watcher"]
        finally:
            watched.hub.close()
    figures.update(refused_payloads=len(refused), sdk_worker_alive=True)


def test_refused_events_reach_errors_and_delivery_goes_on_asyncio(
    no_leaked_threads: None, presence_server: LocalPresenceServer
) -> None:
    server = presence_server

    async def main() -> None:
        pubnub = PubNubAsyncio(server.pnconfig("watcher"))
        try:
            watched = Watched(pubnub)
            watched.hub.events.subscribe(_raise)
            pubnub.subscribe().channels(["room"]).with_presence().execute()
            await _until(lambda: watched.joined("watcher"), message="(own join)")
            for payload, _ in REFUSED:
                server.inject("room", payload)
            server.inject(
                "room", {"action": "join", "uuid": "after", "timestamp": _now(), "occupancy": 2}
            )
            await _until(lambda: "after" in watched.hub.current("room"), message="(valid join)")
            _check_refused(watched, 2)
            watched.hub.close()
        finally:
            with suppress(AttributeError):
                pubnub.unsubscribe_all()
            await pubnub.stop()

    asyncio.run(main())
    gc.collect()


def _kill_one_threaded_client(
    server: LocalPresenceServer, index: int, name: str, payload: Any
) -> None:
    channel, uuid = f"kill-{index}", f"watcher-{index}"
    with _thread_failures("SubscribeMessageWorker") as failures:
        with _sync_client(server, uuid) as (pubnub, worker):
            watched = Watched(pubnub)
            pubnub.subscribe().channels([channel]).with_presence().execute()
            _wait_for(lambda: watched.joined(uuid), message=f"({name}: own join)")
            server.inject(channel, payload)
            # The SDK's worker thread dies on its own assertion, before any listener.
            _wait_for(lambda: not worker.is_alive(), message=f"({name}: the worker ends)")
            late = server.inject(
                channel, {"action": "join", "uuid": "late", "timestamp": _now(), "occupancy": 2}
            )
            # The client did receive the response carrying the valid join...
            _wait_for(lambda: _polled_past(server, uuid, late), message=f"({name}: polled)")
            # ...and nothing reached rxpresence: no event, no error, no roster change.
            assert "late" not in watched.hub.current(channel)
            assert not any(e.uuid in ("k", "late") for e in watched.events)
            assert watched.errors == []
            watched.hub.close()
    # The SDK's own assertion (or, for a null payload, its "in" test on None).
    assert len(failures) == 1, (name, failures)
    assert isinstance(failures[0], AssertionError | TypeError), (name, failures)


@pytest.mark.sdk_limit
def test_sdk_limit_threaded_payloads_the_sdk_cannot_parse_end_all_delivery(
    no_leaked_threads: None,
    presence_server_factory: Callable[..., LocalPresenceServer],
    figures: Any,
) -> None:
    """SDK LIMIT, not an rxpresence behaviour: documented in docs/reliability.md."""
    # Requests are logged when answered: a short hold shows the next poll sooner.
    server = presence_server_factory(hold_timeout=0.2)
    for index, (name, payload) in enumerate(SDK_KILLERS.items()):
        _kill_one_threaded_client(server, index, name, payload)
    figures.update(sdk_killing_payloads=len(SDK_KILLERS), client="PubNub (threaded)")


@pytest.mark.sdk_limit
def test_sdk_limit_asyncio_payload_the_sdk_cannot_parse_ends_the_subscribe_loop(
    no_leaked_threads: None, presence_server: LocalPresenceServer
) -> None:
    """SDK LIMIT, not an rxpresence behaviour: documented in docs/reliability.md."""
    server = presence_server

    async def main() -> None:
        loop = asyncio.get_running_loop()
        failures: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: failures.append(context))
        pubnub = PubNubAsyncio(server.pnconfig("watcher"))
        try:
            watched = Watched(pubnub)
            pubnub.subscribe().channels(["room"]).with_presence().execute()
            await _until(lambda: watched.joined("watcher"), message="(own join)")
            server.inject("room", SDK_KILLERS["non-dict data"])

            def subscribe_task_died() -> bool:
                gc.collect()  # its "exception never retrieved" is reported when collected
                return any(isinstance(c.get("exception"), AssertionError) for c in failures)

            await _until(subscribe_task_died, message="(the SDK's receive task fails)")
            # The task that polls and dispatches ended: no later event can arrive.
            assert "ReceiveMessagesEffect" in repr(failures[0].get("future"))
            assert not any(e.uuid == "k" for e in watched.events)
            assert watched.errors == []
            watched.hub.close()
        finally:
            with suppress(AttributeError):
                pubnub.unsubscribe_all()
            await pubnub.stop()

    asyncio.run(main())
    gc.collect()
