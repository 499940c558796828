"""The synthetic presence workloads: subscribe responses parsed by the SDK's own code.

Two mixes on one channel, for a population of ``U`` uuids:

* ``uniform`` (the historic one): 60% join, 15% leave, 15% timeout, 10% state-change,
  each naming a uuid drawn uniformly from the population. About half of its events
  change nothing (a join of a uuid already present, a leave of one already gone).
* ``lifecycle``: every event changes the roster: 40% joins of absent uuids, 20% leaves
  and 20% timeouts of present ones, 20% state changes of present ones to a state they
  did not have.

A prefix (the prefill) first brings the channel to its steady state, where about 70% of
the population is present and the rest has left. Timetokens increase, and each event
carries the occupancy the channel really has after it.

:class:`ChannelsWorkload` spreads the lifecycle mix over many small channels (the
watcher of a wildcard or channel group), keeping each near a given size.

Messages are serialised as subscribe response bodies (JSON, 100 messages each) and
turned into ``PNPresenceEventResult`` objects by the SDK's own path:
``json.loads``, ``SubscribeEnvelope.from_json`` and the subscribe worker's
``_process_incoming_payload``. Every call of :meth:`Workload.sdk_events` parses again,
so each contender gets fresh objects (no string hash cached by an earlier run).
"""

from __future__ import annotations

import json
import queue
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pubnub.callbacks import SubscribeCallback
from pubnub.managers import ListenerManager
from pubnub.models.consumer.pubsub import PNPresenceEventResult
from pubnub.models.server.subscribe import SubscribeEnvelope
from pubnub.pubnub import NativeSubscribeMessageWorker

CHANNEL = "room"
BATCH = 100  # presence messages per subscribe response
TT0 = 17_300_000_000_000_000  # first timetoken (100 ns units)
EVENTS_PER_SECOND = 1_000  # how fast timestamps advance along the stream
MIXES = {
    "uniform": (("join", 0.60), ("leave", 0.15), ("timeout", 0.15), ("state-change", 0.10)),
    "lifecycle": (("join", 0.40), ("leave", 0.20), ("timeout", 0.20), ("state-change", 0.20)),
}
MOODS = ("busy", "away", "online", "lunch")


def uuid_of(i: int) -> str:
    """The i-th uuid of the population (12 characters, like a short app user id)."""
    return f"user-{i:07d}"


class _Pool:
    """A set of ints with uniform random choice in O(1) (swap-remove)."""

    def __init__(self, items: Iterable[int] = ()) -> None:
        self.items: list[int] = []
        self.index: dict[int, int] = {}
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: int) -> None:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)

    def discard(self, item: int) -> None:
        at = self.index.pop(item, None)
        if at is not None:
            last = self.items.pop()
            if at < len(self.items):
                self.items[at] = last
                self.index[last] = at

    def choice(self, rng: random.Random) -> int:
        return self.items[rng.randrange(len(self.items))]


class _Channel:
    """One channel under construction: who is present, with which state."""

    def __init__(self, name: str, clock: _Clock) -> None:
        self.name = name
        self.clock = clock
        self.states: dict[str, dict[str, Any] | None] = {}  # present uuid -> state

    def message(
        self, action: str, uuid: str, state: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The subscribe message of one event, and whether it changes the roster."""
        present = uuid in self.states
        if action in ("join", "state-change"):
            # A join carries the member's whole state: without one, it has none.
            changed = not present or self.states[uuid] != state
            self.states[uuid] = state
        else:
            changed = present
            self.states.pop(uuid, None)
        tt, ts = self.clock.tick()
        payload: dict[str, Any] = {
            "action": action,
            "uuid": uuid,
            "timestamp": ts,
            "occupancy": len(self.states),
        }
        if state is not None:
            payload["data"] = state
        message = {
            "a": "4",
            "f": 0,
            "p": {"t": str(tt), "r": 12},
            "k": "sub-c-bench",
            "c": f"{self.name}-pnpres",
            "d": payload,
        }
        return message, changed


def _pick(mix: tuple[tuple[str, float], ...], rng: random.Random) -> str:
    roll = rng.random()
    for name, share in mix:
        if roll < share:
            return name
        roll -= share
    return mix[-1][0]


def _other_state(rng: random.Random, current: dict[str, Any] | None) -> dict[str, Any]:
    while True:
        state = {"mood": rng.choice(MOODS), "typing": rng.random() < 0.5}
        if state != current:
            return state


@dataclass
class Workload:
    """Prefill and measured stream for one population size and mix."""

    size: int
    mix: str = "uniform"
    seed: int = 1
    prefill: list[dict[str, Any]] = field(default_factory=list)
    stream: list[dict[str, Any]] = field(default_factory=list)
    present_after_prefill: int = 0
    changing: int = 0  # events of the stream that change the roster

    @classmethod
    def build(cls, size: int, events: int, mix: str = "uniform", seed: int = 1) -> Workload:
        rng = random.Random(seed * 1_000_003 + size)
        work = cls(size, mix, seed)
        channel = _Channel(CHANNEL, _Clock())
        # Prefill: everyone joins once, then ~30% leave or time out (the steady state
        # of the mixes: a uuid is present iff its last event was a join or state change).
        order = list(range(size))
        rng.shuffle(order)
        for i in order:
            work.prefill.append(channel.message("join", uuid_of(i))[0])
        gone = round(size * 0.3)
        for i in order[:gone]:
            action = "leave" if rng.random() < 0.5 else "timeout"
            work.prefill.append(channel.message(action, uuid_of(i))[0])
        work.present_after_prefill = len(channel.states)
        present, absent = _Pool(order[gone:]), _Pool(order[:gone])
        for _ in range(events):
            action = _pick(MIXES[mix], rng)
            state = None
            if mix == "uniform":
                i = rng.randrange(size)
                if action == "state-change":
                    state = {"mood": rng.choice(MOODS), "typing": rng.random() < 0.5}
            else:
                if action == "join" and not absent:
                    action = "leave"
                elif action != "join" and not present:
                    action = "join"
                i = (absent if action == "join" else present).choice(rng)
                if action == "state-change":
                    state = _other_state(rng, channel.states[uuid_of(i)])
            message, changed = channel.message(action, uuid_of(i), state)
            work.stream.append(message)
            work.changing += changed
            if action in ("join", "state-change"):
                present.add(i)
                absent.discard(i)
            else:
                absent.add(i)
                present.discard(i)
        return work

    def bodies(self, which: str = "stream", limit: int | None = None) -> list[bytes]:
        """Subscribe response bodies (UTF-8 JSON, ``BATCH`` messages each)."""
        messages = self.prefill if which == "prefill" else self.stream
        return bodies_of(messages if limit is None else messages[:limit])

    def sdk_events(self, which: str = "stream", limit: int | None = None) -> list[Any]:
        """Fresh ``PNPresenceEventResult`` objects, parsed by the SDK from the bodies."""
        return parse(self.bodies(which, limit))


@dataclass
class ChannelsWorkload:
    """Many small channels: ``channels`` of about ``members`` each, the lifecycle mix.

    Each channel has its own pool of uuids (``members`` plus a few absent ones), so a
    uuid belongs to one channel; the stream picks a channel uniformly for each event
    and keeps every channel between ``members - 1`` and ``members + 1`` present.
    """

    channels: int
    members: int
    prefill: list[dict[str, Any]] = field(default_factory=list)
    stream: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, channels: int, members: int, events: int, seed: int = 1) -> ChannelsWorkload:
        rng = random.Random(seed * 7_919 + channels)
        work = cls(channels, members)
        clock = _Clock()
        rooms = [_Channel(channel_of(c), clock) for c in range(channels)]
        for c, room in enumerate(rooms):
            for k in range(members):
                work.prefill.append(room.message("join", member_of(c, k))[0])
        pool = members + 3
        for _ in range(events):
            c = rng.randrange(channels)
            room = rooms[c]
            count = len(room.states)
            if count < members:
                action = "join"
            elif count > members:
                action = "leave" if rng.random() < 0.5 else "timeout"
            else:
                action = _pick(MIXES["lifecycle"], rng)
            state = None
            if action == "join":
                k = rng.choice([k for k in range(pool) if member_of(c, k) not in room.states])
            else:
                uuid = rng.choice(list(room.states))
                k = int(uuid.rsplit("-", 1)[1])
                if action == "state-change":
                    state = _other_state(rng, room.states[uuid])
            work.stream.append(room.message(action, member_of(c, k), state)[0])
        return work

    def sdk_events(self, which: str = "stream", limit: int | None = None) -> list[Any]:
        """Fresh ``PNPresenceEventResult`` objects, parsed by the SDK."""
        messages = self.prefill if which == "prefill" else self.stream
        return parse(bodies_of(messages if limit is None else messages[:limit]))


def channel_of(c: int) -> str:
    """The name of the c-th channel of a :class:`ChannelsWorkload`."""
    return f"ch-{c:05d}"


def member_of(c: int, k: int) -> str:
    """The k-th uuid of channel ``c`` (its own pool: a uuid is on one channel)."""
    return f"c{c:05d}-u-{k}"


class _Clock:
    def __init__(self) -> None:
        self.n = 0

    def tick(self) -> tuple[int, int]:
        self.n += 1
        return TT0 + self.n * 10, 1_700_000_000 + self.n // EVENTS_PER_SECOND


def bodies_of(messages: list[dict[str, Any]]) -> list[bytes]:
    """Subscribe response bodies of ``BATCH`` messages each, as PubNub sends them."""
    out = []
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        last = int(chunk[-1]["p"]["t"])
        body = {"t": {"t": str(last + 1), "r": 12}, "m": chunk}
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


def parse(bodies: list[bytes]) -> list[PNPresenceEventResult]:
    """``PNPresenceEventResult`` objects made by the SDK's own parsing of ``bodies``."""
    captured: list[PNPresenceEventResult] = []
    worker = sdk_worker(Capture(captured))
    for body in bodies:
        feed_body(worker, body)
    return captured


class Capture(SubscribeCallback):  # type: ignore[misc]
    """A listener that collects the SDK's presence objects."""

    def __init__(self, into: list[Any]) -> None:
        self.into = into

    def presence(self, pubnub: Any, presence: Any) -> None:
        self.into.append(presence)


class NoopListener(SubscribeCallback):  # type: ignore[misc]
    """The SDK-only baseline: one listener that does nothing."""

    def presence(self, pubnub: Any, presence: Any) -> None:
        pass


class OfflineClient:
    """What ``PresenceStreams`` attaches to, without a network: the SDK's listener manager.

    ``PresenceStreams(client)`` adds its listener with ``add_listener``, as it does to a
    ``PubNub`` instance; the listeners land in the SDK's own ``ListenerManager``, which
    :func:`sdk_worker` hands to the SDK's subscribe worker, so events reach rxpresence
    through the SDK's dispatch exactly as in a client. ``presence`` is the bound
    ``presence`` method of the one listener attached (the timed loops call it directly,
    as the worker does once per event). The client has no ``here_now``: a hub attached
    to it takes no snapshots.
    """

    def __init__(self) -> None:
        self.manager = ListenerManager(None)
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)
        self.manager.add_listener(listener)

    def remove_listener(self, listener: Any) -> None:
        self.listeners.remove(listener)
        self.manager.remove_listener(listener)

    @property
    def presence(self) -> Any:
        (listener,) = self.listeners
        return listener.presence

    def worker(self) -> NativeSubscribeMessageWorker:
        """The SDK's subscribe worker delivering to this client's listeners."""
        return _worker(self.manager)


def sdk_worker(*listeners: Any) -> NativeSubscribeMessageWorker:
    """The sync SDK's subscribe worker, with ``listeners`` in its listener manager.

    It is never started as a thread: :func:`feed_body` calls its
    ``_process_incoming_payload`` per message, as its ``_take_message`` loop does.
    """
    manager = ListenerManager(None)
    for listener in listeners:
        manager.add_listener(listener)
    return _worker(manager)


def _worker(manager: ListenerManager) -> NativeSubscribeMessageWorker:
    return NativeSubscribeMessageWorker(None, manager, queue.Queue(), threading.Event())


def feed_body(worker: NativeSubscribeMessageWorker, body: bytes) -> None:
    """One subscribe response through the SDK: parse, envelope, per-message worker."""
    envelope = SubscribeEnvelope.from_json(json.loads(body))
    process = worker._process_incoming_payload
    for message in envelope.messages:
        process(message)


def feed_body_queued(worker: NativeSubscribeMessageWorker, body: bytes) -> None:
    """:func:`feed_body` with the SDK's queue between its two threads, as a client runs.

    The subscription manager puts each message of a response on the worker's
    ``queue.Queue``; the worker's ``_take_message`` loop gets it, processes it and
    calls ``task_done``. Here both sides run on one thread (all puts, then all gets),
    so the queue never blocks and no thread switch is counted.
    """
    envelope = SubscribeEnvelope.from_json(json.loads(body))
    box = worker._queue
    for message in envelope.messages:
        box.put(message)
    process = worker._process_incoming_payload
    for _ in envelope.messages:
        message = box.get(True, 1)
        if message is not None:
            process(message)
        box.task_done()
