"""The channel registry: every roster of a hub, folded under one lock, once per event.

:class:`ChannelRegistry` owns the hub's lock and, per channel, the raw roster and its
graced rosters (flicker suppressed, one per distinct grace). :meth:`ChannelRegistry.fold`
is the whole per-event path: the raw roster's pure reducer (:meth:`Roster.apply`), then
``events``, then each graced roster's :class:`~rxpresence._grace.FlickerSuppressor` and
reducer, in one call whatever the number of subscribers. An event that changed nothing
in the raw roster (a join of a uuid a snapshot already listed, a second delivery) goes
on ``events`` marked ``redundant``, so that each arrival is announced once. Held departures of all
graced rosters share one :class:`~rxpresence._deadlines.DeadlineQueue` on the hub's
scheduler (one scheduler item for the earliest deadline), so virtual time works as
everywhere else.

Cheap channels: a wildcard or channel-group watcher sees thousands of them, so a channel
is a small slotted record holding its roster; streams (roster, occupancy, graced ones)
are created when first observed, and :meth:`ChannelRegistry.rosters` is one map written
in the same fold.

Imports point one way: the hub (``_streams``), the SDK listener (``_listener``) and the
here-now sync (``_sync``) call in here; this module knows none of them. The sync reaches
the rosters through :meth:`ChannelRegistry.reconcile` and friends, and watches folds
through :meth:`ChannelRegistry.watch`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import immutables
from reactivex import Observable, abc

from ._deadlines import DeadlineQueue
from ._event import Action, PresenceEvent
from ._fanout import Fanout, Latest, Report
from ._grace import FlickerSuppressor, HiddenFlicker, Hold, held_actions
from ._locked import LockedScheduler
from ._roster import Roster

__all__ = ["ChannelRegistry", "FoldWatch"]

#: Called after a live event was folded: (channel, raw roster after it, the event).
FoldWatch = Callable[[str, Roster, PresenceEvent], None]

_INTERVAL = Action.INTERVAL
_HELD = held_actions(("timeout",))  # what the hub's graced rosters hold
_NO_ROSTERS: immutables.Map[str, Roster] = immutables.Map()


class _RosterStreams:
    """A roster and, once observed, its roster and occupancy streams."""

    __slots__ = ("occupancy_out", "roster", "roster_out")

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.roster_out: Latest[Roster] | None = None
        self.occupancy_out: Latest[int] | None = None

    def publish(self, new: Roster) -> None:
        """Make ``new`` the current roster and deliver it (and its count if it changed)."""
        old, self.roster = self.roster, new
        if self.roster_out is not None:
            self.roster_out.on_next(new)
        if self.occupancy_out is not None and new.occupancy != old.occupancy:
            self.occupancy_out.on_next(new.occupancy)

    def complete(self) -> None:
        for stream in (self.roster_out, self.occupancy_out):
            if stream is not None:
                stream.on_completed()


class GracedRoster(_RosterStreams):
    """A channel's roster with timeouts held for ``grace`` seconds."""

    __slots__ = ("flickers_out", "grace", "suppressor")

    def __init__(self, roster: Roster, grace: float) -> None:
        super().__init__(roster)
        self.grace = grace
        self.suppressor: FlickerSuppressor
        self.flickers_out: Fanout[HiddenFlicker] | None = None

    def complete(self) -> None:
        super().complete()
        if self.flickers_out is not None:
            self.flickers_out.on_completed()

    def apply(self, event: PresenceEvent) -> None:
        """Fold one event the suppressor let through."""
        new = self.roster.apply(event)
        if new is not self.roster:
            self.publish(new)


class ChannelState(_RosterStreams):
    """One channel: its raw roster, its graced rosters and the streams observed."""

    __slots__ = ("graced", "name")

    def __init__(self, name: str) -> None:
        super().__init__(Roster(name))
        self.name = name
        self.graced: dict[float, GracedRoster] | None = None


class ChannelRegistry:
    """Every roster of a hub, folded under one lock (see the module docstring).

    Args:
        scheduler: Keeps the time for grace periods; its actions run under :attr:`lock`.
        report: Where failures go (``"subscriber"``, ``"timer"``); never raises.
    """

    def __init__(self, scheduler: abc.SchedulerBase, report: Report) -> None:
        #: The hub's one lock: folds, subscriptions, timers and here-now answers take it.
        self.lock = threading.RLock()
        #: ``scheduler``, running each action under :attr:`lock` (reporting failures).
        self.scheduler = LockedScheduler(scheduler, self.lock, report)
        self._report = report
        self._closed = False
        self._channels: dict[str, ChannelState] = {}
        self._events: Fanout[PresenceEvent] = Fanout(self.lock, report)
        self._deadlines: DeadlineQueue[Hold] = DeadlineQueue(self.scheduler, Hold.release)
        self._all: Latest[immutables.Map[str, Roster]] | None = None
        self._where: dict[str, Latest[frozenset[str]]] = {}
        self._watch: FoldWatch | None = None
        self._watch_every_event = False
        self._on_open: Callable[[str], None] | None = None
        self._tap: Callable[[PresenceEvent], None] | None = None

    # -- folding ----------------------------------------------------------------------

    def fold(self, event: PresenceEvent) -> None:
        """Fold one event into its channel's rosters and deliver it (thread-safe).

        Exceptions of observers are reported, not raised; a graced roster that cannot
        start a timer lets the departure through and reports it.
        """
        with self.lock:
            if self._closed:
                return
            channel = self._channels.get(event.channel)
            if channel is None:
                channel = self._open(event.channel)
            old = channel.roster
            new = old.apply(event)
            if new is not old:
                self._publish(channel, old, new)
            if self._events.observers:
                if event.action is not _INTERVAL and _nothing_new(old, new, event.uuid):
                    event = event._replace(redundant=True)
                self._events.on_next(event)
            if channel.graced is not None:
                self._fold_graced(channel, event)
            if self._watch is not None:
                self._after_fold(channel.name, new, event)
            if self._tap is not None:
                self._tap(event)

    def _after_fold(self, name: str, new: Roster, event: PresenceEvent) -> None:
        watch = self._watch
        if watch is not None and (
            self._watch_every_event or event.action is _INTERVAL or new.occupancy != len(new)
        ):
            watch(name, new, event)

    def _fold_graced(self, channel: ChannelState, event: PresenceEvent) -> None:
        for graced in channel.graced.values():  # type: ignore[union-attr]
            try:
                graced.suppressor.on_next(event)
            except Exception as exc:  # no timer: the departure went out, and is reported
                self._report("timer", exc, event)

    def _publish(self, channel: ChannelState, old: Roster, new: Roster) -> None:
        channel.publish(new)
        if self._all is not None:
            self._all.on_next(self._all.value.set(channel.name, new))
        if self._where:
            self._move(channel.name, old, new)

    def _move(self, name: str, old: Roster, new: Roster) -> None:
        """Update the ``where_is`` streams of the uuids that came or went."""
        for uuid, where in self._where.items():
            present = uuid in new
            if present != (uuid in old):
                where.on_next(where.value | {name} if present else where.value - {name})

    def watch(self, watch: FoldWatch | None, *, every_event: bool = False) -> None:
        """Call ``watch`` after folds: after every event with ``every_event``, else only
        after interval events and events whose occupancy disagrees with the roster."""
        self._watch = watch
        self._watch_every_event = every_event

    @property
    def watching(self) -> bool:
        """Whether folds are watched (a here-now sync is attached)."""
        return self._watch is not None

    @property
    def watching_every_event(self) -> bool:
        """Whether every fold is watched (an outage or a drift streak), not only those
        whose count disagrees with the roster."""
        return self._watch is not None and self._watch_every_event

    def tap(self, tap: Callable[[PresenceEvent], None] | None) -> None:
        """Call ``tap`` with every event folded (None: stop); for a hook that must see
        events whether or not ``events`` is observed (the hub's announcer, only while
        its client has entered a channel)."""
        self._tap = tap

    def on_open(self, opened: Callable[[str], None] | None) -> None:
        """Call ``opened`` with the name of every channel created from now on."""
        self._on_open = opened

    # -- channels ---------------------------------------------------------------------

    def _open(self, name: str) -> ChannelState:
        channel = self._channels[name] = ChannelState(name)
        if self._all is not None:
            self._all.on_next(self._all.value.set(name, channel.roster))
        if self._on_open is not None:
            self._on_open(name)
        return channel

    def channel(self, name: str) -> ChannelState:
        """The channel ``name``, created if unknown (call with :attr:`lock` held)."""
        return self._channels.get(name) or self._open(name)

    def names(self) -> list[str]:
        """The channels known (an event came, or a roster was asked for)."""
        with self.lock:
            return list(self._channels)

    def current(self, name: str) -> Roster:
        """The raw roster of ``name`` now (empty if nothing was seen)."""
        with self.lock:
            found = self._channels.get(name)
            return found.roster if found is not None else Roster(name)

    def channels_with(self, uuid: str) -> list[str]:
        """The channels whose raw roster lists ``uuid``."""
        with self.lock:
            return [name for name, ch in self._channels.items() if uuid in ch.roster]

    def _streams(self, name: str, grace: float) -> _RosterStreams:
        channel = self.channel(name)
        if not grace:
            return channel
        if channel.graced is None:
            channel.graced = {}
        graced = channel.graced.get(grace)
        if graced is None:
            graced = channel.graced[grace] = GracedRoster(channel.roster, grace)
            graced.suppressor = FlickerSuppressor(
                name, _HELD, graced.apply, partial(self._deadlines.push, grace)
            )
            # Its members' flickers are swallowed like those of members seen joining.
            graced.suppressor.seed((m.uuid, m.state, m.timetoken) for m in channel.roster)
        return graced

    def roster(self, name: str, grace: float = 0.0) -> Observable[Roster]:
        """The roster of ``name`` (graced if ``grace`` > 0): now, then each change."""
        with self.lock:
            streams = self._streams(name, grace)
            if streams.roster_out is None:
                streams.roster_out = self._latest(streams.roster)
            return streams.roster_out.view()

    def occupancy(self, name: str, grace: float = 0.0) -> Observable[int]:
        """The occupancy of ``name`` (graced if ``grace`` > 0): now, then each change."""
        with self.lock:
            streams = self._streams(name, grace)
            if streams.occupancy_out is None:
                streams.occupancy_out = self._latest(streams.roster.occupancy)
            return streams.occupancy_out.view()

    def flickers(self, name: str, grace: float) -> Observable[HiddenFlicker]:
        """The flickers the roster of ``name`` graced by ``grace`` (> 0) hides, as they
        happen."""
        with self.lock:
            graced = self._streams(name, grace)
            assert isinstance(graced, GracedRoster)
            if graced.flickers_out is None:
                graced.flickers_out = Fanout(self.lock, self._report)
                if self._closed:
                    graced.flickers_out.on_completed()
                graced.suppressor.on_hidden = graced.flickers_out.on_next
            return graced.flickers_out.view()

    def _latest(self, value: Any) -> Latest[Any]:
        stream: Latest[Any] = Latest(self.lock, self._report, value)
        if self._closed:
            stream.on_completed()
        return stream

    @property
    def events(self) -> Observable[PresenceEvent]:
        """Every event folded, live and resync, in order."""
        return self._events.view()

    def rosters(self) -> Observable[immutables.Map[str, Roster]]:
        """Every raw roster by channel: the current map at once, then each change."""
        with self.lock:
            if self._all is None:
                rosters = {name: ch.roster for name, ch in self._channels.items()}
                self._all = self._latest(immutables.Map(rosters))
            return self._all.view()

    def where_is(self, uuid: str) -> Observable[frozenset[str]]:
        """The channels whose raw roster lists ``uuid``: now, then each change."""
        with self.lock:
            where = self._where.get(uuid)
            if where is None:
                names = frozenset(n for n, ch in self._channels.items() if uuid in ch.roster)
                where = self._where[uuid] = self._latest(names)
            return where.view()

    # -- snapshots ---------------------------------------------------------------------

    def reconcile(
        self,
        name: str,
        occupants: Mapping[str, Mapping[str, Any] | None],
        *,
        occupancy: int,
        timetoken: int,
        timestamp: int,
        with_state: bool,
        clears_stale: bool,
    ) -> None:
        """Fold a here-now snapshot into ``name``'s rosters (see :meth:`Roster.reconcile`).

        The synthetic events go to the graced rosters and on ``events``; the graced
        rosters are marked synced too. ``clears_stale`` False keeps the stale mark (the
        snapshot was asked for before the latest outage began).
        """
        channel = self.channel(name)
        old = channel.roster
        events, new = old.reconcile(
            occupants,
            occupancy=occupancy,
            timetoken=timetoken,
            timestamp=timestamp,
            with_state=with_state,
        )
        if not clears_stale:
            new = new.with_stale(old.stale_since)
        self._publish(channel, old, new)
        graced = list(channel.graced.values()) if channel.graced else []
        observed = bool(self._events.observers)
        if graced or observed:
            for event in events:
                if observed:
                    self._events.on_next(event)
                for one in graced:
                    one.suppressor.on_next(event)
        for one in graced:
            marked = one.roster.synced(timetoken)
            if not clears_stale:
                marked = marked.with_stale(one.roster.stale_since)
            if marked is not one.roster:
                one.publish(marked)

    def set_occupancy(
        self, name: str, occupancy: int, *, timetoken: int, clears_stale: bool
    ) -> None:
        """A count-only here-now answer: PubNub's count unless a newer event set it."""
        channel = self.channel(name)
        old = channel.roster
        new = old.with_occupancy(occupancy) if old.timetoken <= timetoken else old
        if clears_stale:
            new = new.with_stale(None)
        if new is not old:
            self._publish(channel, old, new)
        if clears_stale and channel.graced:
            for one in channel.graced.values():
                fresh = one.roster.with_stale(None)
                if fresh is not one.roster:
                    one.publish(fresh)

    def mark_stale(self, name: str, since: float) -> None:
        """Mark ``name``'s rosters stale since ``since`` (Unix seconds) if they are not."""
        channel = self.channel(name)
        old = channel.roster
        if old.stale_since is None:
            self._publish(channel, old, old.with_stale(since))
        for one in (channel.graced or {}).values():
            if one.roster.stale_since is None:
                one.publish(one.roster.with_stale(since))

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timers and complete every stream (idempotent)."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self._deadlines.clear()
            channels = list(self._channels.values())
        self._events.on_completed()
        for channel in channels:
            channel.complete()
            for one in (channel.graced or {}).values():
                one.complete()
        for stream in (self._all, *self._where.values()):
            if stream is not None:
                stream.on_completed()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


def _nothing_new(old: Roster, new: Roster, uuid: str | None) -> bool:
    """Whether the raw roster already held what an event about ``uuid`` says (the event
    is then marked ``redundant``): it changed nothing at all (older than what was
    applied, a second delivery), or ``uuid`` was present with the same state before and
    after, or was absent after a departure already applied. A departure of a uuid never
    seen is news: the roster may have started after it joined."""
    if new is old or uuid is None:
        return True
    before, after = old.get(uuid), new.get(uuid)
    if before is None and after is None:
        return old.departed(uuid)
    if before is None or after is None:
        return False
    return before.state == after.state
