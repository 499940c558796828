"""What the benchmark times: the baselines and rxpresence's paths.

Every contender is built fresh (and prefilled to the steady state, untimed) by a
factory returning a :class:`Contender`; the timed loop then calls its ``presence``
with each SDK ``PNPresenceEventResult`` exactly as the SDK's listener manager would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import immutables
import reactivex
from pubnub.callbacks import SubscribeCallback
from reactivex import operators as ops
from reactivex.subject import Subject
from reactivex.testing import TestScheduler
from workload import CHANNEL, OfflineClient

import rxpresence as rxp


def listener(value: Any) -> None:
    """The app's listener: called with every snapshot, does nothing with it."""


@dataclass
class Contender:
    presence: Callable[[Any, Any], None]
    result: Callable[[], dict[str, Any]]  # uuid -> state, to check contenders agree
    tick: Callable[[int], None] | None = None  # advance virtual time (grace only)
    keep: list[Any] = field(default_factory=list)  # keeps subscriptions alive
    close: Callable[[], None] = lambda: None  # releases what it holds (a hub: closes it)


# -- F1: the imperative pattern from PubNub's presence guide -----------------------


class PresenceTracker(SubscribeCallback):  # type: ignore[misc]
    """Who is online, kept in a dict by a plain SDK listener.

    The pattern of PubNub's presence guide, written the way an app developer would:
    join adds the user with the join's state (PubNub sends it with the join), leave
    and timeout remove, state-change updates the state, interval events apply their
    arrays; the app's listener is called with the dict after each event.
    """

    def __init__(self, on_change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.on_change = on_change

    def presence(self, pubnub: Any, event: Any) -> None:
        action = event.event
        users = self.users
        if action == "join":
            users[event.uuid] = {"uuid": event.uuid, "state": event.state}
        elif action == "leave" or action == "timeout":
            users.pop(event.uuid, None)
        elif action == "state-change":
            user = users.get(event.uuid)
            if user is None:
                users[event.uuid] = {"uuid": event.uuid, "state": event.state}
            else:
                user["state"] = event.state
        elif action == "interval":
            for uuid in event.join or ():
                users.setdefault(uuid, {"uuid": uuid, "state": None})
            for uuid in (event.leave or []) + (event.timeout or []):
                users.pop(uuid, None)
        self.on_change(users)


def f1(prefill: list[Any]) -> Contender:
    tracker = PresenceTracker(listener)
    for event in prefill:
        tracker.presence(None, event)
    return Contender(
        tracker.presence,
        lambda: {u: d["state"] for u, d in tracker.users.items()},
    )


# -- the naive RxPY pipeline: per-action filters, merge, scan copying a dict ----------


def _naive_step(users: dict[str, dict[str, Any]], event: Any) -> dict[str, dict[str, Any]]:
    users = dict(users)  # a fresh snapshot per event: the first idea of immutability
    action = event.event
    if action == "join":
        users[event.uuid] = {"uuid": event.uuid, "state": event.state}
    elif action == "leave" or action == "timeout":
        users.pop(event.uuid, None)
    elif action == "state-change":
        users[event.uuid] = {"uuid": event.uuid, "state": event.state}
    return users


class _SubjectListener(SubscribeCallback):  # type: ignore[misc]
    def __init__(self, subject: Subject[Any]) -> None:
        self.subject = subject

    def presence(self, pubnub: Any, presence: Any) -> None:
        self.subject.on_next(presence)


def naive(prefill: list[Any]) -> Contender:
    seed: dict[str, dict[str, Any]] = {}
    for event in prefill:
        seed = _naive_step_in_place(seed, event)
    subject: Subject[Any] = Subject()

    def of(action: str) -> reactivex.Observable[Any]:
        return subject.pipe(ops.filter(lambda e: e.event == action))

    last: list[dict[str, dict[str, Any]]] = [seed]
    merged = reactivex.merge(of("join"), of("leave"), of("timeout"), of("state-change"))
    sub = merged.pipe(ops.scan(_naive_step, seed)).subscribe(
        lambda users: (listener(users), last.__setitem__(0, users))
    )
    return Contender(
        _SubjectListener(subject).presence,
        lambda: {u: d["state"] for u, d in last[0].items()},
        keep=[sub],
    )


def _naive_step_in_place(users: dict[str, dict[str, Any]], event: Any) -> dict[str, Any]:
    # Prefill only (untimed): the same transitions without the copy.
    action = event.event
    if action in ("join", "state-change"):
        users[event.uuid] = {"uuid": event.uuid, "state": event.state}
    else:
        users.pop(event.uuid, None)
    return users


# -- the floor of immutable snapshots: a minimal store over immutables.Map -------------


def store(prefill: list[Any]) -> Contender:
    """One dispatching reducer under a lock over ``immutables.Map``, no guarantees.

    What immutable snapshots cost at the least: no checks of the SDK object, no
    per-member timetokens (so no ordering), no tombstones, no occupancy, plain tuples
    for members and the map itself as the snapshot. For comparison only.
    """
    lock = threading.RLock()
    current: list[immutables.Map[str, tuple[str, Any]]] = [immutables.Map()]

    def put(users: immutables.Map[str, Any], event: Any) -> immutables.Map[str, Any]:
        return users.set(event.uuid, (event.uuid, event.state))

    def remove(users: immutables.Map[str, Any], event: Any) -> immutables.Map[str, Any]:
        return users.delete(event.uuid) if event.uuid in users else users

    reducers = {"join": put, "leave": remove, "timeout": remove, "state-change": put}

    def presence(pubnub: Any, event: Any) -> None:
        with lock:
            reducer = reducers.get(event.event)
            if reducer is not None:
                users = reducer(current[0], event)
                if users is not current[0]:
                    current[0] = users
                    listener(users)

    for event in prefill:
        presence(None, event)
    return Contender(presence, lambda: {u: s for u, (_, s) in current[0].items()})


# -- the floor of any roster that orders events per uuid ------------------------------


def one_write(prefill: list[Any]) -> Contender:
    """One lookup and one ``immutables.Map`` write per event, and nothing else.

    What every design that keeps a persistent snapshot *and* the last timetoken of each
    uuid must do at least: read the uuid's entry (to order the event) and write a new
    one (a packed int, as the roster stores). No checks, no snapshot record, no
    delivery, no departures removed. For comparison only: its result is not a roster.
    """
    entries: list[immutables.Map[str, int]] = [immutables.Map()]

    def presence(pubnub: Any, event: Any) -> None:
        current = entries[0]
        uuid = event.uuid
        current.get(uuid)
        entries[0] = current.set(uuid, (event.timetoken << 32) | event.timestamp)

    for event in prefill:
        presence(None, event)
    return Contender(presence, lambda: {})


class Callback(SubscribeCallback):  # type: ignore[misc]
    """An SDK listener calling a contender's ``presence`` (for the SDK chain)."""

    def __init__(self, contender: Contender) -> None:
        self.presence = contender.presence


# -- rxpresence -------------------------------------------------------------------------


def _roster_states(roster: rxp.Roster) -> dict[str, Any]:
    return {m.uuid: None if m.state is None else dict(m.state) for m in roster}


def attached(**options: Any) -> tuple[rxp.PresenceStreams, OfflineClient]:
    """A hub attached to an offline client, as ``PresenceStreams(pubnub)`` attaches.

    The hub's SDK listener is what the client's ``presence`` calls: the public path of
    every event, without a network (the client has no here-now: no snapshots).
    """
    client = OfflineClient()
    return rxp.PresenceStreams(client, here_now=None, **options), client


def hub(prefill: list[Any], subscribers: int = 1) -> Contender:
    """The default path: the hub's SDK listener, one (or more) roster subscribers."""
    streams, client = attached()
    keep = [streams.roster(CHANNEL).subscribe(listener) for _ in range(subscribers)]
    presence = client.presence
    for event in prefill:
        presence(None, event)
    return _hub_contender(streams, presence, keep)


def _hub_contender(
    streams: rxp.PresenceStreams,
    presence: Callable[[Any, Any], None],
    keep: list[Any],
    tick: Callable[[int], None] | None = None,
) -> Contender:
    return Contender(
        presence,
        lambda: _roster_states(streams.current(CHANNEL)),
        tick=tick,
        keep=keep,
        close=streams.close,
    )


def hub_grace(prefill: list[Any], grace: float = 5.0, observed: int = 1) -> Contender:
    """The same with ``roster(channel, grace=...)`` on a virtual-time scheduler.

    ``observed``: graced rosters subscribed in all, the one of the events' channel and
    ``observed - 1`` of other channels, which see no event (an app that shows many
    rooms; subscribed after the prefill, which they would only slow down). Virtual time
    follows the events' timestamps (seconds); the timed loop advances it whenever the
    second changes, so grace timers fire inside the timed region.
    """
    scheduler = TestScheduler()
    streams, client = attached(scheduler=scheduler)
    keep = [streams.roster(CHANNEL, grace=grace).subscribe(listener)]
    presence = client.presence
    for event in prefill:
        presence(None, event)
    keep += [
        streams.roster(f"idle-{i}", grace=grace).subscribe(listener) for i in range(observed - 1)
    ]
    # Settle the prefill's grace windows, then keep virtual time ahead of them.
    shift = (prefill[0].timestamp if prefill else 0) - grace - 1
    last = prefill[-1].timestamp if prefill else 0
    scheduler.advance_to(float(last - shift + grace + 1))
    shift -= grace + 1

    def tick(timestamp: int) -> None:
        scheduler.advance_to(float(timestamp - shift))

    return _hub_contender(streams, presence, keep, tick)


def device_owner(uuid: str, state: Any) -> str:
    """The ``key`` of ``users()`` here: ten consecutive uuids are one person's devices."""
    return uuid[:-1]


def hub_users(prefill: list[Any]) -> Contender:
    """The hub with ``users(channel, key=...)`` observed (subscribed after the prefill)."""
    streams, client = attached()
    presence = client.presence
    for event in prefill:
        presence(None, event)
    keep = [streams.users(CHANNEL, key=device_owner).subscribe(listener)]
    return _hub_contender(streams, presence, keep)


def hub_channels(prefill: list[Any], all_rosters: bool = False) -> Contender:
    """The hub fed events of many channels, none observed or ``rosters()`` observed.

    Without observers the hub still folds every event into its channel's roster (that
    is what ``current`` reads and what a later subscriber starts from): the default
    path of a watcher of many channels. ``all_rosters``: one subscriber on
    ``rosters()``, which maps every channel to its roster (subscribed after the prefill).
    """
    streams, client = attached()
    presence = client.presence
    for event in prefill:
        presence(None, event)
    keep = [streams.rosters().subscribe(listener)] if all_rosters else []
    return Contender(presence, dict, keep=keep, close=streams.close)
