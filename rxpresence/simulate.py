"""Synthetic presence sessions: seeded, in virtual time, with the ground truth alongside.

The simulator plays what PubNub would deliver on a few channels: people arrive (a
Poisson process per channel), stay for a while (lognormal or exponential session
lengths), change their state, lose their connection and come back a few seconds later
(the timeout-then-join "flicker"), and finally leave gracefully or vanish (a timeout).
A channel above its ``announce_max`` switches to interval mode, where every
``interval`` seconds one ``interval`` event carries the join/leave/timeout arrays, or
``here_now_refresh=True`` when they would name more than ``max_deltas`` uuids.

Everything is decided by the seed: the same configuration, duration and seed give the
same events, down to the timetokens. The pieces fit together like this:

* :class:`ChannelProfile` describes one channel's crowd, :class:`SimulationConfig` a
  set of channels and the wall-clock start; :func:`busy_afternoon` is a ready-made one.
* :func:`simulate` returns a :class:`Simulation`: a sorted sequence of
  ``(seconds, PresenceEvent)`` pairs plus the ground truth (who is really present at
  any moment, every session and every flicker) to check rosters against.
* :func:`simulated_events` (or :meth:`Simulation.observable`) turns the events into an
  ``Observable[PresenceEvent]`` scheduled in virtual or real time, at any speed;
  :func:`timed_observable` does the same for any ``(offset, value)`` pairs.

Example:
    >>> from rxpresence.simulate import simulate
    >>> sim = simulate(duration=600, seed=7)        # a busy afternoon, ten minutes of it
    >>> t, event = sim[0]
    >>> sim.occupancy(event.channel, t) == event.occupancy
    True

Time:
    Offsets are seconds since the start of the simulation, rounded to milliseconds.
    Event ``timestamp`` is Unix seconds (``config.start + offset``, floored) and
    ``timetoken`` is ``(config.start + offset) * 10**7``, plus a tie-breaker that keeps
    timetokens strictly increasing across all channels. Membership changes fall in
    ``[0, duration)``; interval events are sent at ``interval, 2 * interval, ...``
    up to and including ``duration``.

Virtual time:
    A ``TestScheduler`` clock counts seconds (its docstring says "ticks", but reactivex
    converts every number to ``timedelta(seconds=...)``): ``schedule_relative(2.5, f)``
    runs 2.5 virtual seconds later, and ``TestScheduler.start()`` subscribes at 200.0 and
    disposes at 1000.0, so pass ``disposed=`` for simulations longer than 800 s. A
    ``HistoricalScheduler`` works the same with ``datetime`` clocks.

Modelling choices:
    * A timeout event is placed at the moment PubNub gives up on the client: the session
      length already includes the silent minutes before it.
    * Interval arrays carry net changes since the previous interval event: a uuid that
      dropped and came back within one interval is not named, as a client applying the
      events would not have seen it gone.
    * State-change events are announced individually in interval mode too; joins folded
      into an interval event carry no state, as on the wire.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar, overload

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable
from reactivex.scheduler import CurrentThreadScheduler, TimeoutScheduler

from ._event import Action, PresenceEvent
from ._roster import Member, Roster

__all__ = [
    "DEFAULT_START",
    "DEFAULT_STATES",
    "ChannelProfile",
    "Flicker",
    "Session",
    "Simulation",
    "SimulationConfig",
    "busy_afternoon",
    "simulate",
    "simulated_events",
    "timed_observable",
]

_T = TypeVar("_T")

DEFAULT_START = 1_715_695_200.0
"""Tuesday 2024-05-14 14:00:00 UTC, in Unix seconds: the default wall-clock start."""

DEFAULT_STATES: tuple[Mapping[str, Any], ...] = (
    MappingProxyType({"status": "available"}),
    MappingProxyType({"status": "away"}),
    MappingProxyType({"status": "busy"}),
)
"""The presence states simulated clients pick from unless a profile says otherwise."""

_TT_PER_MS = 10_000  # timetokens count 100 ns units


# -- configuration ----------------------------------------------------------------------


def _real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate(obj: object, checks: Iterable[tuple[str, Callable[[Any], bool], str]]) -> None:
    for name, ok, expected in checks:
        value = getattr(obj, name)
        if not ok(value):
            raise ValueError(f"{type(obj).__name__}.{name} must be {expected}, got {value!r}")


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _at_least_0(v: Any) -> bool:
    return _real(v) and v >= 0


def _above_0(v: Any) -> bool:
    return _real(v) and v > 0


def _fraction(v: Any) -> bool:
    return _real(v) and 0 <= v <= 1


def _count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _range(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and all(map(_real, v)) and 0 < v[0] <= v[1]


_PROFILE_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("name", _text, "a non-empty string"),
    ("arrival_rate", _at_least_0, "a finite number >= 0"),
    ("session_seconds", _above_0, "a finite number > 0"),
    ("session_distribution", lambda v: v in ("lognormal", "exponential"),
     "'lognormal' or 'exponential'"),
    ("session_sigma", _at_least_0, "a finite number >= 0"),
    ("initial_members", _count, "an int >= 0"),
    ("state_change_rate", _at_least_0, "a finite number >= 0"),
    ("states", lambda v: isinstance(v, tuple) and all(isinstance(s, Mapping) for s in v),
     "a sequence of mappings"),
    ("state_on_join", lambda v: isinstance(v, bool), "a bool"),
    ("flaky_fraction", _fraction, "a number in [0, 1]"),
    ("drop_every", _above_0, "a finite number > 0"),
    ("drop_seconds", _range, "a (low, high) pair with 0 < low <= high"),
    ("reload_fraction", _fraction, "a number in [0, 1]"),
    ("vanish_fraction", _fraction, "a number in [0, 1]"),
    ("return_fraction", _fraction, "a number in [0, 1]"),
    ("announce_max", _count, "an int >= 0"),
    ("interval", _above_0, "a finite number > 0"),
    ("deltas", lambda v: isinstance(v, bool), "a bool"),
    ("max_deltas", lambda v: v is None or _count(v), "None or an int >= 0"),
    ("subscription", lambda v: v is None or _text(v), "None or a non-empty string"),
    ("uuid_prefix", lambda v: v is None or isinstance(v, str), "None or a string"),
)  # fmt: skip

_CONFIG_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("channels", lambda v: isinstance(v, tuple) and bool(v)
     and all(isinstance(p, ChannelProfile) for p in v), "a non-empty sequence of ChannelProfile"),
    ("start", _at_least_0, "Unix seconds >= 0"),
)  # fmt: skip


@dataclass(frozen=True)
class ChannelProfile:
    """How the crowd on one simulated channel behaves.

    Rates are per second. Change a field of a copy with :func:`dataclasses.replace`.

    Attributes:
        name: The channel name.
        arrival_rate: New sessions per second (a Poisson process).
        session_seconds: Mean session length in seconds.
        session_distribution: ``"lognormal"`` (long tail, the default) or
            ``"exponential"``.
        session_sigma: Shape of the lognormal distribution (0 makes every session last
            exactly ``session_seconds``).
        initial_members: Sessions that start within the first second, so the channel is
            not empty at the start.
        state_change_rate: State changes per second per present member.
        states: The presence states members pick from (read-only mappings).
        state_on_join: Whether joins carry the member's state (as when the client sets
            state with its heartbeat); otherwise joins carry none.
        flaky_fraction: Share of sessions whose connection drops now and then.
        drop_every: Mean seconds between two drops of a flaky session.
        drop_seconds: ``(low, high)`` range of how long a drop lasts, uniform.
        reload_fraction: Share of drops seen as a graceful leave (a tab reload) rather
            than a timeout.
        vanish_fraction: Share of sessions that end with a timeout; the others leave.
        return_fraction: Share of arrivals that reuse the uuid of someone who left.
        announce_max: Above this occupancy the channel sends interval events
            (PubNub's "Announce Max", 20 by default).
        interval: Seconds between interval events (PubNub's "Interval").
        deltas: Whether interval events name who joined, left and timed out
            (PubNub's "Presence Deltas").
        max_deltas: Most uuids one interval event may name; above it the arrays are
            dropped and ``here_now_refresh`` is set. None for no limit.
        subscription: The channel group or wildcard the events are delivered through,
            or None.
        uuid_prefix: Prefix of generated uuids (``"<name>-user-"`` when None). Channels
            sharing a prefix share uuids, like the same user in several rooms.

    Raises:
        ValueError: A field is out of range; the message names it.

    Example:
        >>> quiet = ChannelProfile("support", arrival_rate=1 / 120, session_seconds=600)
        >>> quiet.announce_max
        20
    """

    name: str
    arrival_rate: float = 1 / 30
    session_seconds: float = 300.0
    session_distribution: Literal["lognormal", "exponential"] = "lognormal"
    session_sigma: float = 0.8
    initial_members: int = 0
    state_change_rate: float = 1 / 600
    states: tuple[Mapping[str, Any], ...] = DEFAULT_STATES
    state_on_join: bool = True
    flaky_fraction: float = 0.2
    drop_every: float = 180.0
    drop_seconds: tuple[float, float] = (1.0, 8.0)
    reload_fraction: float = 0.2
    vanish_fraction: float = 0.2
    return_fraction: float = 0.1
    announce_max: int = 20
    interval: float = 10.0
    deltas: bool = True
    max_deltas: int | None = 500
    subscription: str | None = None
    uuid_prefix: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.states, list | tuple) and all(
            isinstance(s, Mapping) for s in self.states
        ):
            object.__setattr__(
                self, "states", tuple(MappingProxyType(dict(s)) for s in self.states)
            )
        if isinstance(self.drop_seconds, list | tuple) and len(self.drop_seconds) == 2:
            object.__setattr__(self, "drop_seconds", tuple(self.drop_seconds))
        _validate(self, _PROFILE_CHECKS)
        if not self.states and self.state_change_rate > 0:
            raise ValueError(
                "ChannelProfile.states must not be empty when state_change_rate > 0, got ()"
            )


@dataclass(frozen=True)
class SimulationConfig:
    """The channels of a simulation and its wall-clock start.

    Attributes:
        channels: The channel profiles (names must be unique).
        start: Unix seconds of offset 0; timestamps and timetokens count from it.

    Raises:
        ValueError: No channels, a duplicate name, or a bad start.

    Example:
        >>> config = SimulationConfig([ChannelProfile("lobby"), ChannelProfile("support")])
        >>> [c.name for c in config.channels]
        ['lobby', 'support']
    """

    channels: tuple[ChannelProfile, ...]
    start: float = DEFAULT_START

    def __post_init__(self) -> None:
        if isinstance(self.channels, Iterable) and not isinstance(self.channels, str):
            object.__setattr__(self, "channels", tuple(self.channels))
        _validate(self, _CONFIG_CHECKS)
        names = [p.name for p in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"SimulationConfig.channels must have unique names, got {dupes!r} twice"
            )

    def channel(self, name: str) -> ChannelProfile:
        """The profile of the channel called ``name``.

        Raises:
            KeyError: No such channel.
        """
        for profile in self.channels:
            if profile.name == name:
                return profile
        raise KeyError(name)


def busy_afternoon(*, scale: float = 1.0, start: float = DEFAULT_START) -> SimulationConfig:
    """A busy afternoon in a chat service: three rooms of different sizes.

    * ``lobby``: about 45 people, so it runs in interval mode (announce max 20);
    * ``random``: about 17 people, crossing the announce max now and then;
    * ``support``: a handful of people, every event announced.

    A quarter of the sessions are flaky, so flickers are common everywhere.

    Args:
        scale: Multiplies arrival rates and initial members (``scale=10`` for a load
            test); the announce max stays at 20.
        start: Unix seconds of offset 0.

    Returns:
        The configuration; pass it to :func:`simulate` or :func:`simulated_events`.

    Example:
        >>> [c.name for c in busy_afternoon().channels]
        ['lobby', 'random', 'support']
    """
    if not (_real(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")

    def n(x: float) -> int:
        return round(x * scale)

    return SimulationConfig(
        (
            ChannelProfile(
                "lobby",
                arrival_rate=0.125 * scale,
                session_seconds=360.0,
                initial_members=n(42),
                flaky_fraction=0.25,
            ),
            ChannelProfile(
                "random",
                arrival_rate=scale / 40,
                session_seconds=700.0,
                initial_members=n(15),
                flaky_fraction=0.25,
            ),
            ChannelProfile(
                "support",
                arrival_rate=scale / 90,
                session_seconds=420.0,
                initial_members=n(4),
                flaky_fraction=0.3,
            ),
        ),
        start=start,
    )


# -- ground truth -----------------------------------------------------------------------


class Flicker(NamedTuple):
    """A client that dropped and came back.

    Attributes:
        channel: The channel.
        uuid: The client's uuid.
        action: How the drop was reported: ``Action.TIMEOUT`` or ``Action.LEAVE``.
        dropped_at: Offset (seconds) of the timeout or leave.
        rejoined_at: Offset (seconds) of the join that followed.
        announced: Whether the events show the uuid gone in between; False when both
            fell within one interval of a channel in interval mode.
    """

    channel: str
    uuid: str
    action: Action
    dropped_at: float
    rejoined_at: float
    announced: bool

    @property
    def gap(self) -> float:
        """Seconds between the drop and the rejoin."""
        return round(self.rejoined_at - self.dropped_at, 3)


class Session(NamedTuple):
    """One visit of one uuid to one channel, drops included.

    Attributes:
        channel: The channel.
        uuid: The uuid.
        start: Offset (seconds) of the first join.
        end: Offset of the final leave or timeout, or None if still present at the end.
        end_action: ``Action.LEAVE`` or ``Action.TIMEOUT``, or None with ``end``.
        drops: How many times the connection dropped and came back.
    """

    channel: str
    uuid: str
    start: float
    end: float | None
    end_action: Action | None
    drops: int


# Kinds of membership change.
_ARRIVE, _REJOIN, _STATE, _DROP, _END = range(5)


@dataclass(slots=True)
class _Change:
    t: float
    seq: int
    session: int
    kind: int
    uuid: str
    state: Mapping[str, Any] | None = None
    action: Action | None = None  # for _DROP and _END
    timetoken: int = -1  # the timetoken it was announced with, or -1


@dataclass(slots=True)
class _Pending:
    """An event before timetokens are assigned."""

    t: float
    channel: int
    seq: int
    action: Action
    uuid: str | None
    occupancy: int
    state: Mapping[str, Any] | None = None
    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()
    timeout: tuple[str, ...] = ()
    refresh: bool = False
    change: _Change | None = None


@dataclass(slots=True)
class _FlickerDraft:
    uuid: str
    action: Action
    dropped_at: float
    announced: bool = False


@dataclass(slots=True)
class _SimulatedChannel:
    profile: ChannelProfile
    changes: list[_Change] = field(default_factory=list)
    events: list[_Pending] = field(default_factory=list)
    flickers: list[Flicker] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # of the changes, for bisecting
    counts: list[int] = field(default_factory=list)  # occupancy after each change


# -- generation -------------------------------------------------------------------------


def _ms(t: float) -> float:
    return round(t, 3)


def _session_length(rng: random.Random, p: ChannelProfile) -> float:
    if p.session_distribution == "exponential":
        return rng.expovariate(1 / p.session_seconds)
    mu = math.log(p.session_seconds) - p.session_sigma**2 / 2
    return rng.lognormvariate(mu, p.session_sigma)


def _expo(rng: random.Random, rate: float) -> float:
    return rng.expovariate(rate) if rate > 0 else math.inf


def _generate(p: ChannelProfile, duration: float, seed: int) -> list[_Change]:
    """Draw every session of one channel; returns its changes in time order."""
    rng = random.Random(f"rxpresence.simulate:{seed}:{p.name}")
    prefix = f"{p.name}-user-" if p.uuid_prefix is None else p.uuid_prefix
    arrivals = sorted(rng.uniform(0.0, 1.0) for _ in range(p.initial_members))
    t = 0.0
    while p.arrival_rate > 0:
        t += rng.expovariate(p.arrival_rate)
        if t >= duration:
            break
        arrivals.append(t)
    arrivals.sort()

    changes: list[_Change] = []
    released: list[tuple[float, int, str]] = []  # heap of (free from, order, uuid)
    returning: list[str] = []  # uuids free to come back, oldest departure first
    fresh = 0
    for sid, arrive in enumerate(arrivals):
        arrive = _ms(arrive)
        while released and released[0][0] < arrive:
            returning.append(heapq.heappop(released)[2])
        if returning and rng.random() < p.return_fraction:
            uuid = returning.pop(rng.randrange(len(returning)))
        else:
            uuid = f"{prefix}{fresh:04d}"
            fresh += 1
        end = arrive + _session_length(rng, p)
        flaky = rng.random() < p.flaky_fraction
        state = rng.choice(p.states) if p.states and p.state_on_join else None
        mine = [_Change(arrive, 0, sid, _ARRIVE, uuid, state)]
        cursor = arrive
        ended = False
        while True:
            next_state = cursor + _expo(rng, p.state_change_rate)
            next_drop = cursor + _expo(rng, 1 / p.drop_every) if flaky else math.inf
            cursor = min(next_state, next_drop)
            if cursor >= end or cursor >= duration:
                break
            if next_state < next_drop:
                others = [s for s in p.states if s != state] or list(p.states)
                state = rng.choice(others)
                mine.append(_Change(cursor, 0, sid, _STATE, uuid, state))
                continue
            action = Action.LEAVE if rng.random() < p.reload_fraction else Action.TIMEOUT
            back = cursor + rng.uniform(*p.drop_seconds)
            if back >= end:  # never came back: the drop ends the session
                mine.append(_Change(cursor, 0, sid, _END, uuid, action=action))
                ended = True
                end = cursor
                break
            mine.append(_Change(cursor, 0, sid, _DROP, uuid, action=action))
            if back >= duration:
                break
            if not p.state_on_join:
                state = None
            mine.append(_Change(back, 0, sid, _REJOIN, uuid, state))
            cursor = back
        if not ended and end < duration:
            vanish = rng.random() < p.vanish_fraction
            mine.append(
                _Change(end, 0, sid, _END, uuid, action=Action.TIMEOUT if vanish else Action.LEAVE)
            )
            ended = True
        previous = -1.0
        for change in mine:  # millisecond times, strictly increasing within a session
            change.t = max(_ms(change.t), _ms(previous + 0.001))
            previous = change.t
        if ended:
            heapq.heappush(released, (previous, sid, uuid))
        changes.extend(mine)

    changes.sort(key=lambda c: (c.t, c.session))
    out: list[_Change] = []
    previous = -1.0
    for seq, change in enumerate(changes):  # one change per millisecond on a channel
        change.t = max(change.t, _ms(previous + 0.001))
        change.seq = seq
        previous = change.t
        if change.t >= duration:
            break  # a suffix in time order: every session it cuts stays consistent
        out.append(change)
    return out


def _play(
    index: int, p: ChannelProfile, changes: list[_Change], duration: float
) -> _SimulatedChannel:
    """Turn one channel's changes into the events PubNub would send."""
    ch = _SimulatedChannel(p, changes)
    present: dict[str, Mapping[str, Any] | None] = {}
    visible: set[str] = set()  # what a client applying the events believes
    departed: dict[str, Action] = {}  # last departure of each uuid in this interval
    pending_drops: dict[str, _FlickerDraft] = {}
    drafts: dict[str, _FlickerDraft] = {}
    batching = False
    seq = 0
    n_ticks = math.floor(duration / p.interval + 1e-9)
    ticks = iter([_ms(k * p.interval) for k in range(1, n_ticks + 1)])
    next_tick = next(ticks, math.inf)
    starts: dict[int, tuple[str, float]] = {}
    drops: dict[int, int] = {}
    ended: set[int] = set()

    def emit(t: float, action: Action, uuid: str | None, **kw: Any) -> _Pending:
        nonlocal seq
        event = _Pending(t, index, seq, action, uuid, len(present), **kw)
        seq += 1
        ch.events.append(event)
        return event

    def tick(t: float) -> None:
        nonlocal batching
        if batching:
            join: tuple[str, ...] = ()
            leave: tuple[str, ...] = ()
            timeout: tuple[str, ...] = ()
            refresh = False
            if p.deltas:
                join = tuple(sorted(present.keys() - visible))
                gone = visible - present.keys()
                leave = tuple(sorted(u for u in gone if departed.get(u) is Action.LEAVE))
                timeout = tuple(sorted(u for u in gone if departed.get(u) is not Action.LEAVE))
                if p.max_deltas is not None and len(join) + len(gone) > p.max_deltas:
                    join, leave, timeout, refresh = (), (), (), True
            emit(t, Action.INTERVAL, None, join=join, leave=leave, timeout=timeout, refresh=refresh)
            visible.clear()
            visible.update(present)
            for uuid, draft in pending_drops.items():
                draft.announced = uuid not in present
            pending_drops.clear()
            departed.clear()
        batching = len(present) > p.announce_max

    for change in changes:
        while next_tick < change.t:  # a tick at a change's offset comes after it
            tick(next_tick)
            next_tick = next(ticks, math.inf)
        uuid, kind = change.uuid, change.kind
        ch.times.append(change.t)
        ch.counts.append(len(present) + (kind in (_ARRIVE, _REJOIN)) - (kind in (_DROP, _END)))
        if kind == _STATE:
            present[uuid] = change.state
            emit(change.t, Action.STATE_CHANGE, uuid, state=change.state, change=change)
            visible.add(uuid)
            continue
        joining = kind in (_ARRIVE, _REJOIN)
        if joining:
            present[uuid] = change.state
            if kind == _ARRIVE:
                starts[change.session] = (uuid, change.t)
            else:
                draft = drafts.pop(uuid)
                pending_drops.pop(uuid, None)
                drops[change.session] = drops.get(change.session, 0) + 1
                ch.flickers.append(
                    Flicker(p.name, uuid, draft.action, draft.dropped_at, change.t, draft.announced)
                )
        else:
            del present[uuid]
            assert change.action is not None
            if kind == _DROP:
                drafts[uuid] = _FlickerDraft(uuid, change.action, change.t)
            else:
                ended.add(change.session)
                ch.sessions.append(
                    Session(
                        p.name,
                        uuid,
                        starts[change.session][1],
                        change.t,
                        change.action,
                        drops.get(change.session, 0),
                    )
                )
        if batching or len(present) > p.announce_max:
            batching = True
            if not joining:
                assert change.action is not None
                departed[uuid] = change.action
                if kind == _DROP:
                    pending_drops[uuid] = drafts[uuid]
            continue
        if joining:
            emit(change.t, Action.JOIN, uuid, state=change.state, change=change)
            visible.add(uuid)
        else:
            assert change.action is not None
            emit(change.t, change.action, uuid, change=change)
            visible.discard(uuid)
            if kind == _DROP:
                drafts[uuid].announced = True
    while next_tick <= duration:
        tick(next_tick)
        next_tick = next(ticks, math.inf)
    for sid, (uuid, t) in starts.items():
        if sid not in ended:
            ch.sessions.append(Session(p.name, uuid, t, None, None, drops.get(sid, 0)))
    ch.sessions.sort(key=lambda s: (s.start, s.uuid))
    return ch


# -- the result -------------------------------------------------------------------------


class Simulation(Sequence[tuple[float, PresenceEvent]]):
    """The result of :func:`simulate`: the events, in order, and the ground truth.

    A simulation is a read-only sequence of ``(offset, event)`` pairs sorted by offset
    (seconds since the start) and timetoken. The ground truth says who is really
    present at any offset, after every change at or before it.

    Attributes:
        config: The configuration simulated.
        duration: Seconds simulated.
        seed: The seed.
        events: The ``(offset, event)`` pairs as a plain list.
        flickers: Every drop followed by a rejoin, in time order.
        sessions: Every visit, ordered by start.

    Example:
        >>> sim = simulate(duration=300, seed=1)
        >>> sorted(sim.present("support", 300.0)) == sorted(
        ...     sim.roster("support", 300.0).uuids)
        True
    """

    __slots__ = (
        "_channels",
        "_start_tt",
        "config",
        "duration",
        "events",
        "flickers",
        "seed",
        "sessions",
    )

    config: SimulationConfig
    duration: float
    seed: int
    events: list[tuple[float, PresenceEvent]]
    flickers: tuple[Flicker, ...]
    sessions: tuple[Session, ...]

    def __init__(self, config: SimulationConfig, duration: float, seed: int) -> None:
        if not (_real(duration) and duration >= 0):
            raise ValueError(f"duration must be a finite number >= 0, got {duration!r}")
        if type(seed) is not int:
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.config = config
        self.duration = float(duration)
        self.seed = seed
        self._start_tt = round(config.start * 1000) * _TT_PER_MS
        channels = [
            _play(i, p, _generate(p, self.duration, seed), self.duration)
            for i, p in enumerate(config.channels)
        ]
        self._channels = {c.profile.name: c for c in channels}
        pending = sorted(
            (e for c in channels for e in c.events), key=lambda e: (e.t, e.channel, e.seq)
        )
        events: list[tuple[float, PresenceEvent]] = []
        last_tt = -1
        for e in pending:
            tt = max(last_tt + 1, self._tt(e.t))
            last_tt = tt
            profile = config.channels[e.channel]
            event = PresenceEvent(
                e.action,
                profile.name,
                e.uuid,
                e.occupancy,
                tt // 10**7,
                tt,
                e.state,
                profile.subscription,
                e.join,
                e.leave,
                e.timeout,
                e.refresh,
            )
            if e.change is not None:
                e.change.timetoken = tt
            events.append((e.t, event))
        self.events = events
        self.flickers = tuple(
            sorted(
                (f for c in channels for f in c.flickers), key=lambda f: (f.dropped_at, f.channel)
            )
        )
        self.sessions = tuple(
            sorted((s for c in channels for s in c.sessions), key=lambda s: (s.start, s.channel))
        )

    def _tt(self, t: float) -> int:
        return self._start_tt + round(t * 1000) * _TT_PER_MS

    def _channel(self, channel: str) -> _SimulatedChannel:
        try:
            return self._channels[channel]
        except KeyError:
            raise KeyError(f"no simulated channel {channel!r}") from None

    def _changes(self, channel: str) -> list[_Change]:
        return self._channel(channel).changes

    # -- sequence ---------------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> tuple[float, PresenceEvent]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, PresenceEvent]]: ...
    def __getitem__(
        self, index: int | slice
    ) -> tuple[float, PresenceEvent] | list[tuple[float, PresenceEvent]]:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[tuple[float, PresenceEvent]]:
        return iter(self.events)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Simulation):
            return NotImplemented
        return (self.config, self.duration, self.seed, self.events) == (
            other.config,
            other.duration,
            other.seed,
            other.events,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = ", ".join(repr(c.name) for c in self.config.channels)
        return (
            f"Simulation([{names}], {len(self.events)} events, {len(self.flickers)} flickers,"
            f" duration={self.duration:g}, seed={self.seed})"
        )

    # -- ground truth -----------------------------------------------------------------

    @property
    def channels(self) -> tuple[str, ...]:
        """The simulated channel names."""
        return tuple(self._channels)

    def timetoken(self, offset: float) -> int:
        """The timetoken of an offset (seconds since the start), without tie-breaker."""
        return self._tt(_ms(offset))

    def members(self, channel: str, at: float) -> dict[str, Mapping[str, Any] | None]:
        """Who is really on ``channel`` after every change at or before offset ``at``.

        Returns:
            A new dict uuid -> state (a read-only mapping, or None).

        Raises:
            KeyError: No such channel.
        """
        members: dict[str, Mapping[str, Any] | None] = {}
        for change in self._changes(channel):
            if change.t > at:
                break
            if change.kind in (_ARRIVE, _REJOIN, _STATE):
                members[change.uuid] = change.state
            else:
                del members[change.uuid]
        return members

    def present(self, channel: str, at: float) -> frozenset[str]:
        """The uuids really on ``channel`` at offset ``at`` (see :meth:`members`)."""
        return frozenset(self.members(channel, at))

    def occupancy(self, channel: str, at: float) -> int:
        """How many uuids are really on ``channel`` at offset ``at`` (in O(log n))."""
        ch = self._channel(channel)
        i = bisect.bisect_right(ch.times, at)
        return ch.counts[i - 1] if i else 0

    def roster(self, channel: str, at: float) -> Roster:
        """The true roster of ``channel`` at offset ``at``.

        Each member's ``joined_at`` is the Unix second of its latest (re)join and its
        ``timetoken`` that of its latest change, as announced. On a channel whose events
        were all announced individually, folding the events up to ``at`` into an empty
        :class:`~rxpresence.Roster` gives a roster equal to this one.
        """
        members: dict[str, Member] = {}
        for change in self._changes(channel):
            if change.t > at:
                break
            tt = change.timetoken if change.timetoken >= 0 else self._tt(change.t)
            if change.kind in (_ARRIVE, _REJOIN):
                members[change.uuid] = Member(change.uuid, change.state, tt // 10**7, tt)
            elif change.kind == _STATE:
                joined = members[change.uuid].joined_at
                members[change.uuid] = Member(change.uuid, change.state, joined, tt)
            else:
                del members[change.uuid]
        return Roster(channel, members.values(), timetoken=self.timetoken(at))

    # -- streams ----------------------------------------------------------------------

    def observable(
        self, *, speed: float | None = 1.0, scheduler: abc.SchedulerBase | None = None
    ) -> Observable[PresenceEvent]:
        """The events as a cold observable, each at its offset after subscription.

        Args:
            speed: 1.0 for the simulated pace, 10.0 for ten times faster; None emits
                everything at once on subscription.
            scheduler: Where to schedule the events: a ``TestScheduler`` or
                ``HistoricalScheduler`` for virtual time. Defaults to the scheduler given
                to ``subscribe``, then to ``TimeoutScheduler`` (real time), or to
                ``CurrentThreadScheduler`` when ``speed`` is None.

        Example:
            >>> from reactivex.testing import TestScheduler
            >>> ts = TestScheduler()
            >>> sim = simulate(duration=60, seed=3)
            >>> got = ts.start(lambda: sim.observable(scheduler=ts))
            >>> got.messages[0].time == 200.0 + sim[0][0]
            True
        """
        return timed_observable(self.events, speed=speed, scheduler=scheduler)


# -- entry points -----------------------------------------------------------------------


def _config(
    source: SimulationConfig | ChannelProfile | Iterable[ChannelProfile] | None, start: float | None
) -> SimulationConfig:
    if source is None:
        config = busy_afternoon()
    elif isinstance(source, SimulationConfig):
        config = source
    elif isinstance(source, ChannelProfile):
        config = SimulationConfig((source,))
    elif isinstance(source, Iterable):
        config = SimulationConfig(tuple(source))
    else:
        raise TypeError(f"expected a SimulationConfig, ChannelProfile(s) or None, got {source!r}")
    if start is not None and start != config.start:
        config = SimulationConfig(config.channels, start)
    return config


def simulate(
    config: SimulationConfig | ChannelProfile | Iterable[ChannelProfile] | None = None,
    /,
    *,
    duration: float = 3600.0,
    seed: int = 0,
    start: float | None = None,
) -> Simulation:
    """Simulate presence on some channels.

    Args:
        config: A :class:`SimulationConfig`, one or more :class:`ChannelProfile`, or
            None for :func:`busy_afternoon`.
        duration: Seconds to simulate.
        seed: The seed; the same arguments always give the same simulation.
        start: Unix seconds of offset 0, overriding ``config.start``.

    Returns:
        The :class:`Simulation`: a sorted sequence of ``(offset, PresenceEvent)`` pairs
        with the ground truth alongside.

    Raises:
        ValueError: A bad duration, seed or start.

    Example:
        >>> sim = simulate(ChannelProfile("lobby", initial_members=3), duration=60, seed=42)
        >>> [event.action.value for _, event in sim[:3]]
        ['join', 'join', 'join']
    """
    return Simulation(_config(config, start), duration, seed)


def simulated_events(
    config: SimulationConfig | ChannelProfile | Iterable[ChannelProfile] | None = None,
    /,
    *,
    duration: float = 3600.0,
    seed: int = 0,
    start: float | None = None,
    speed: float | None = 1.0,
    scheduler: abc.SchedulerBase | None = None,
) -> Observable[PresenceEvent]:
    """Simulated presence events as an observable, each at its offset after subscription.

    Shorthand for ``simulate(config, ...).observable(speed=..., scheduler=...)``; keep
    the :class:`Simulation` instead when you need the ground truth.

    Args:
        config: As for :func:`simulate`.
        duration: Seconds to simulate.
        seed: The seed.
        start: Unix seconds of offset 0, overriding ``config.start``.
        speed: 1.0 for the simulated pace, 60.0 for a minute per second; None emits
            everything at once.
        scheduler: A ``TestScheduler``/``HistoricalScheduler`` for virtual time (its
            clock counts seconds), or a real scheduler; see :meth:`Simulation.observable`.

    Example:
        >>> from reactivex.testing import TestScheduler
        >>> ts = TestScheduler()
        >>> events = simulated_events(duration=120, seed=5, scheduler=ts)
        >>> got = ts.start(lambda: events)
        >>> got.messages[-1].value.kind
        'C'
    """
    sim = simulate(config, duration=duration, seed=seed, start=start)
    return sim.observable(speed=speed, scheduler=scheduler)


def timed_observable(
    items: Sequence[tuple[float, _T]],
    *,
    speed: float | None = 1.0,
    scheduler: abc.SchedulerBase | None = None,
) -> Observable[_T]:
    """A cold observable emitting each value at its offset (seconds) after subscription.

    Values sharing an offset are emitted together; a value whose offset is lower than
    the one before it is emitted with the next group. Scheduling is absolute (from the
    subscription time), so real-time playback does not drift.

    Args:
        items: ``(offset, value)`` pairs in order.
        speed: Divides every offset (2.0 plays twice as fast); None emits everything on
            subscription, in one scheduled action.
        scheduler: As for :meth:`Simulation.observable`.

    Raises:
        ValueError: ``speed`` is not a finite number > 0 (or None).

    Example:
        >>> from reactivex.testing import TestScheduler
        >>> ts = TestScheduler()
        >>> got = ts.start(lambda: timed_observable([(1.0, "a"), (2.5, "b")], scheduler=ts))
        >>> [(m.time, m.value.value) for m in got.messages[:2]]
        [(201.0, 'a'), (202.5, 'b')]
    """
    if speed is not None and not (_real(speed) and speed > 0):
        raise ValueError(f"speed must be a finite number > 0 or None, got {speed!r}")
    data = list(items)

    def subscribe(
        observer: abc.ObserverBase[_T], scheduler_: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        serial = SerialDisposable()
        if speed is None:
            immediate = scheduler or scheduler_ or CurrentThreadScheduler.singleton()

            def emit_all(_: abc.SchedulerBase, __: Any = None) -> None:
                for _offset, value in data:
                    if serial.is_disposed:
                        return
                    observer.on_next(value)
                observer.on_completed()

            serial.disposable = immediate.schedule(emit_all)
            return serial

        sched = scheduler or scheduler_ or TimeoutScheduler.singleton()
        origin = sched.now
        index = 0

        def step(s: abc.SchedulerBase, _: Any = None) -> None:
            nonlocal index
            due = data[index][0] if index < len(data) else -math.inf
            while index < len(data) and data[index][0] <= due:
                if serial.is_disposed:
                    return
                observer.on_next(data[index][1])
                index += 1
            if serial.is_disposed:
                return
            if index == len(data):
                observer.on_completed()
                return
            later = max(data[index][0], due) / speed
            serial.disposable = s.schedule_absolute(origin + timedelta(seconds=later), step)

        if not data:

            def complete(_: abc.SchedulerBase, __: Any = None) -> None:
                observer.on_completed()

            serial.disposable = sched.schedule(complete)
        else:
            first = max(data[0][0], 0.0) / speed
            serial.disposable = sched.schedule_absolute(origin + timedelta(seconds=first), step)
        return serial

    return reactivex.create(subscribe)
