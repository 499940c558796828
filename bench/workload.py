"""The synthetic presence workload: subscribe responses parsed by the SDK's own code.

A workload of population ``U`` is a stream of presence messages on one channel: 60%
join, 15% leave, 15% timeout, 10% state-change, each naming a uuid drawn uniformly
from ``U`` uuids, with increasing timetokens and the occupancy the channel really has
after the event. A prefix (the prefill) first brings the channel to its steady state,
where about 70% of the population is present and the rest has left.

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
MIX = (("join", 0.60), ("leave", 0.15), ("timeout", 0.15), ("state-change", 0.10))
MOODS = ("busy", "away", "online", "lunch")


def uuid_of(i: int) -> str:
    """The i-th uuid of the population (12 characters, like a short app user id)."""
    return f"user-{i:07d}"


@dataclass
class Workload:
    """Prefill and measured stream for one population size."""

    size: int
    seed: int = 1
    prefill: list[dict[str, Any]] = field(default_factory=list)
    stream: list[dict[str, Any]] = field(default_factory=list)
    present_after_prefill: int = 0

    @classmethod
    def build(cls, size: int, events: int, seed: int = 1) -> Workload:
        rng = random.Random(seed * 1_000_003 + size)
        work = cls(size, seed)
        present: set[str] = set()
        clock = _Clock()
        # Prefill: everyone joins once, then ~30% leave or time out (the steady state
        # of the mix: a uuid is present iff its last event was a join or state change).
        order = list(range(size))
        rng.shuffle(order)
        for i in order:
            work.prefill.append(_message("join", uuid_of(i), present, clock, None))
        for i in order[: round(size * 0.3)]:
            action = "leave" if rng.random() < 0.5 else "timeout"
            work.prefill.append(_message(action, uuid_of(i), present, clock, None))
        work.present_after_prefill = len(present)
        # The measured stream.
        for _ in range(events):
            roll = rng.random()
            action = MIX[-1][0]
            for name, share in MIX:
                if roll < share:
                    action = name
                    break
                roll -= share
            uuid = uuid_of(rng.randrange(size))
            state = None
            if action == "state-change":
                state = {"mood": rng.choice(MOODS), "typing": rng.random() < 0.5}
            work.stream.append(_message(action, uuid, present, clock, state))
        return work

    def bodies(self, which: str = "stream", limit: int | None = None) -> list[bytes]:
        """Subscribe response bodies (UTF-8 JSON, ``BATCH`` messages each)."""
        messages = self.prefill if which == "prefill" else self.stream
        if limit is not None:
            messages = messages[:limit]
        out = []
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            last = int(chunk[-1]["p"]["t"])
            body = {"t": {"t": str(last + 1), "r": 12}, "m": chunk}
            out.append(json.dumps(body, separators=(",", ":")).encode())
        return out

    def sdk_events(self, which: str = "stream", limit: int | None = None) -> list[Any]:
        """Fresh ``PNPresenceEventResult`` objects, parsed by the SDK from the bodies."""
        captured: list[PNPresenceEventResult] = []
        worker = sdk_worker(Capture(captured))
        for body in self.bodies(which, limit):
            feed_body(worker, body)
        return captured


class _Clock:
    def __init__(self) -> None:
        self.n = 0

    def tick(self) -> tuple[int, int]:
        self.n += 1
        return TT0 + self.n * 10, 1_700_000_000 + self.n // EVENTS_PER_SECOND


def _message(
    action: str,
    uuid: str,
    present: set[str],
    clock: _Clock,
    state: dict[str, Any] | None,
) -> dict[str, Any]:
    if action in ("join", "state-change"):
        present.add(uuid)
    else:
        present.discard(uuid)
    tt, ts = clock.tick()
    payload: dict[str, Any] = {
        "action": action,
        "uuid": uuid,
        "timestamp": ts,
        "occupancy": len(present),
    }
    if state is not None:
        payload["data"] = state
    return {
        "a": "4",
        "f": 0,
        "p": {"t": str(tt), "r": 12},
        "k": "sub-c-bench",
        "c": f"{CHANNEL}-pnpres",
        "d": payload,
    }


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


def sdk_worker(*listeners: Any) -> NativeSubscribeMessageWorker:
    """The sync SDK's subscribe worker, with ``listeners`` in its listener manager.

    It is never started as a thread: :func:`feed_body` calls its
    ``_process_incoming_payload`` per message, as its ``_take_message`` loop does.
    """
    manager = ListenerManager(None)
    for listener in listeners:
        manager.add_listener(listener)
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
