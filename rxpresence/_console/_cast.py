"""The demo's cast: a seeded plan, played by real PubNub SDK clients.

:func:`plan_cast` is pure: the same seed and duration give the same steps. Two chat
rooms see people come and go and change their state (status, typing); ``fran`` has a
flaky connection that drops long enough to time out and comes back seconds later (a
flicker the grace period hides); ``gus`` closes the app without leaving (a timeout);
and a crowd of fans keeps the ``stadium`` above ``announce_max``, so the server
reports it with interval events.

:class:`Cast` plays a plan: each :class:`Actor` owns one sync ``PubNub`` client with
its own uuid (heartbeats on), created at its first join. A drop stops the client
without a leave, as a dead network or a closed laptop would; coming back starts a new
client with the same uuid, which rejoins its rooms and restores its state.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUSY",
    "FLAKY",
    "ROOMS",
    "VANISHER",
    "Actor",
    "Cast",
    "Step",
    "plan_cast",
]

ROOMS = ("lobby", "support")
"""The chat rooms."""
BUSY = "stadium"
"""The channel kept above ``announce_max``."""
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank")
"""People who wander between the rooms."""
FLAKY = "fran"
"""Her connection drops long enough to time out; she is back seconds later."""
VANISHER = "gus"
"""He closes the app without leaving: PubNub times him out."""
STATUSES = ("available", "away", "busy")

_CHURN_GAP = 0.6  # mean seconds between two churn steps
_RETURN_PATIENCE = 10.0  # longest a return waits for the server to time the uuid out


@dataclass(frozen=True, slots=True)
class Step:
    """One thing an actor does.

    Attributes:
        at: Seconds after the start of the cast.
        actor: The actor's uuid.
        verb: ``join``, ``leave``, ``state`` (merge ``patch`` into its state on
            ``channel``; a None value removes the key), ``drop`` (connection lost, no
            leave), ``return`` (back with the same uuid, after the server timed it
            out) or ``vanish`` (app closed for good, no leave).
        channel: The channel of ``join``, ``leave`` and ``state``.
        patch: The state change of ``state``.
    """

    at: float
    actor: str
    verb: str
    channel: str = ""
    patch: Mapping[str, Any] | None = None


def fan_names(count: int) -> tuple[str, ...]:
    """The uuids of ``count`` stadium fans: ``fan-01``, ``fan-02``..."""
    return tuple(f"fan-{i:02d}" for i in range(1, count + 1))


def plan_cast(
    seed: int,
    duration: float,
    *,
    announce_max: int = 10,
    return_after: float = 7.5,
) -> tuple[Step, ...]:
    """The steps of a cast, sorted by time; repeatable for a given seed.

    Args:
        seed: Seeds every random choice.
        duration: Seconds the cast runs; steps at or after it are left out.
        announce_max: The server's announce max: the stadium keeps more fans than this.
        return_after: Seconds between ``fran``'s drop and her return (her presence
            timeout plus a little).

    Returns:
        The steps.
    """
    rng = random.Random(seed)
    steps: list[Step] = []
    rooms: dict[str, set[str]] = {p: set() for p in PEOPLE}

    def add(at: float, actor: str, verb: str, channel: str = "", **patch: Any) -> None:
        if at < duration:
            steps.append(Step(round(at, 3), actor, verb, channel, patch or None))

    # Opening: people take their seats.
    at = 0.2
    opening = [
        ("alice", "lobby"),
        ("bob", "lobby"),
        (FLAKY, "lobby"),
        ("dave", "support"),
        ("carol", "lobby"),
        (VANISHER, "support"),
        ("erin", "support"),
        ("frank", "lobby"),
        ("frank", "support"),
    ]
    for person, room in opening:
        add(at, person, "join", room)
        if person in rooms:
            rooms[person].add(room)
        if person == FLAKY:
            add(at + 0.1, FLAKY, "state", room, status="available")
        at += rng.uniform(0.1, 0.35)
    add(at, "alice", "state", "lobby", status="available")
    add(at + 0.1, "dave", "state", "support", status="busy")

    # The crowd fills the stadium.
    fans = fan_names(announce_max + 6)
    crowd = list(fans[: announce_max + 2])
    fill_until = min(max(3.0, duration / 4), 8.0)
    for i, fan in enumerate(crowd):
        add(0.5 + (fill_until - 0.5) * i / len(crowd), fan, "join", BUSY)
    present = set(crowd)

    # Scripted trouble. Fran drops early enough for her return to fit in a short run.
    drop_at = min(0.3 * duration, max(1.5, duration - return_after - 1.5))
    add(drop_at, FLAKY, "drop")
    add(drop_at + return_after, FLAKY, "return")
    add(max(2.5, 0.45 * duration), VANISHER, "vanish")

    # Churn until the end.
    at = max(at, 2.0)
    while True:
        at += rng.expovariate(1 / _CHURN_GAP)
        if at >= duration:
            break
        roll = rng.random()
        if roll < 0.35:
            seated = [p for p in PEOPLE if rooms[p]]
            if not seated:
                continue
            person = rng.choice(seated)
            room = rng.choice(sorted(rooms[person]))
            if rng.random() < 0.4:
                add(at, person, "state", room, typing=True)
                add(at + rng.uniform(1.0, 2.5), person, "state", room, typing=None)
            else:
                add(at, person, "state", room, status=rng.choice(STATUSES))
        elif roll < 0.7:
            person = rng.choice(PEOPLE)
            mine = rooms[person]
            if mine and (len(mine) == len(ROOMS) or rng.random() < 0.5):
                room = rng.choice(sorted(mine))
                add(at, person, "leave", room)
                mine.discard(room)
            else:
                room = rng.choice([r for r in ROOMS if r not in mine])
                add(at, person, "join", room)
                mine.add(room)
                if rng.random() < 0.5:
                    add(at + 0.3, person, "state", room, status=rng.choice(STATUSES))
        else:
            absent = [f for f in fans if f not in present]
            if absent and (len(present) <= announce_max + 1 or rng.random() < 0.5):
                fan = rng.choice(absent)
                add(at, fan, "join", BUSY)
                present.add(fan)
            elif len(present) > announce_max + 1:
                fan = rng.choice(sorted(present))
                add(at, fan, "leave", BUSY)
                present.discard(fan)
    steps.sort(key=lambda s: s.at)
    return tuple(steps)


class Actor:
    """One simulated user: a PubNub client with its own uuid, created on first use.

    Args:
        uuid: The user's uuid.
        connect: Creates a new PubNub client for a uuid.
    """

    def __init__(self, uuid: str, connect: Callable[[str], Any]) -> None:
        self.uuid = uuid
        self._connect = connect
        self._client: Any = None
        self.rooms: set[str] = set()
        self.states: dict[str, dict[str, Any]] = {}

    @property
    def online(self) -> bool:
        """Whether its client runs."""
        return self._client is not None

    def _ensure(self) -> Any:
        if self._client is None:
            self._client = self._connect(self.uuid)
        return self._client

    def join(self, channel: str) -> None:
        """Subscribe to ``channel`` (PubNub announces a join)."""
        if channel in self.rooms and self.online:
            return
        self._ensure().subscribe().channels([channel]).execute()
        self.rooms.add(channel)

    def leave(self, channel: str) -> None:
        """Unsubscribe from ``channel`` (PubNub announces a leave)."""
        if channel not in self.rooms or not self.online:
            return
        self._client.unsubscribe().channels([channel]).execute()
        self.rooms.discard(channel)
        self.states.pop(channel, None)

    def patch_state(self, channel: str, patch: Mapping[str, Any]) -> None:
        """Merge ``patch`` into its state on ``channel`` (None values remove keys)."""
        if channel not in self.rooms or not self.online:
            return
        state = dict(self.states.get(channel, {}))
        for key, value in patch.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self.states[channel] = state
        self._send_state(channel, state)

    def _send_state(self, channel: str, state: dict[str, Any]) -> None:
        self._client.set_state().channels([channel]).state(state).pn_async(_ignore)

    def drop(self) -> None:
        """Lose the connection: the client stops with no leave; rooms are remembered."""
        if self._client is not None:
            self._client.stop()
            self._client = None

    def come_back(self) -> None:
        """Reconnect with a new client: rejoin the remembered rooms, restore the state."""
        if self.online or not self.rooms:
            return
        client = self._ensure()
        client.subscribe().channels(sorted(self.rooms)).execute()
        for channel, state in self.states.items():
            self._send_state(channel, state)

    def vanish(self) -> None:
        """Close the app for good without leaving."""
        self.drop()
        self.rooms.clear()
        self.states.clear()

    def close(self) -> None:
        """Stop the client, if any (no leave)."""
        self.drop()


def _ignore(result: Any, status: Any) -> None:
    """Callback for requests whose answer does not matter."""


class Cast:
    """Plays a plan on its own thread until the plan ends or :meth:`stop`.

    Args:
        plan: The steps.
        connect: Creates a PubNub client for a uuid.
        present: ``present(uuid, channels)``: whether the server still lists the uuid on
            any of the channels (a return waits until PubNub timed the uuid out).
        on_error: Called with a one-line description when a step fails.
        clock: Monotonic clock.
    """

    def __init__(
        self,
        plan: Iterable[Step],
        connect: Callable[[str], Any],
        present: Callable[[str, Iterable[str]], bool],
        on_error: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plan = tuple(plan)
        self._connect = connect
        self._present = present
        self._on_error = on_error
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.actors: dict[str, Actor] = {}
        self.steps_done = 0

    def start(self) -> None:
        """Start playing the plan now."""
        self._thread = threading.Thread(target=self._run, name="rxpresence-cast", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop playing (clients keep running, so everyone stays where they are)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop playing and stop every client (no leaves)."""
        self.stop()
        with self._lock:
            actors = list(self.actors.values())
        for actor in actors:
            try:
                actor.close()
            except Exception as exc:  # closing must go on for the others
                self._on_error(f"{actor.uuid}: could not stop its client: {exc}")

    def _actor(self, uuid: str) -> Actor:
        with self._lock:
            actor = self.actors.get(uuid)
            if actor is None:
                actor = self.actors[uuid] = Actor(uuid, self._connect)
            return actor

    def _run(self) -> None:
        start = self._clock()
        queue = [(step.at, i, step) for i, step in enumerate(self._plan)]
        heapq.heapify(queue)
        while queue and not self._stop.is_set():
            at, i, step = queue[0]
            delay = start + at - self._clock()
            if delay > 0:
                self._stop.wait(delay)
                continue
            heapq.heappop(queue)
            actor = self._actor(step.actor)
            if step.verb == "return" and self._present(actor.uuid, actor.rooms):
                if at - step.at < _RETURN_PATIENCE:
                    heapq.heappush(queue, (at + 0.25, i, step))
                    continue
            try:
                self._play(actor, step)
                self.steps_done += 1
            except Exception as exc:  # one failed step must not end the show
                self._on_error(f"{step.actor} could not {step.verb}: {exc}")

    def _play(self, actor: Actor, step: Step) -> None:
        verb = step.verb
        if verb == "join":
            actor.join(step.channel)
        elif verb == "leave":
            actor.leave(step.channel)
        elif verb == "state":
            actor.patch_state(step.channel, step.patch or {})
        elif verb == "drop":
            actor.drop()
        elif verb == "return":
            actor.come_back()
        elif verb == "vanish":
            actor.vanish()
        else:
            raise ValueError(f"unknown step {verb!r}")
