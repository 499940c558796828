"""``suppress_flicker``: hold departures for a grace period; a quick rejoin cancels both.

All state lives in one :class:`_Suppressor` per subscription. Timers fire on the
scheduler's threads while events arrive on the source's thread, so every method takes
the suppressor's lock and emits while holding it: downstream sees one serialized,
ordered stream, and a timer can never release a departure that a concurrent rejoin has
just cancelled (nor the other way round). The lock is re-entrant so that a downstream
observer may dispose its subscription from inside ``on_next``.

Bookkeeping, per subscription:

* ``_held``: (channel, uuid) -> the :class:`_Hold` that holds its departure. One hold is
  one leave/timeout event, or the held part of one interval event (one timer for all of
  its uuids, since they share a deadline).
* ``_holds``: live holds in the order they were made (flushed in that order).
* ``_held_on``: channel -> number of departures held; added to the occupancy of every
  event emitted meanwhile, because PubNub's count already dropped them.
* ``_newest``: channel -> (timetoken, occupancy) of the newest event seen: PubNub's
  latest count. ``_emitted``: channel -> newest timetoken emitted downstream.
* ``_known``: (channel, uuid) -> (state, timetoken) from joins and state changes, to tell
  whether a rejoin changed the state and whether a departure is older than its join.
* ``_swallowed``: (channel, uuid) -> timetoken of the rejoin that cancelled a hold. The
  roster downstream never saw that timetoken, so events of the uuid older than it (the
  same rejoin delivered again by a group subscription, a late departure) are dropped:
  the raw roster ignores them, the one downstream would not.
* ``_absent``: (channel, uuid) -> timetoken of the departure last emitted for it, until a
  join newer than it: a departure of a uuid already absent downstream is passed on, not
  held (holding it would make a rejoin look like a flicker and swallow it).
* ``_released``: (channel, uuid) -> (timetoken, timetoken emitted, newest seen) of a
  departure released with a newer timetoken. Events of the uuid between the first two,
  arriving late, are lifted to the emitted one so that the roster downstream applies
  them as the raw roster does; all of them then share one timetoken, so one older than
  the newest lifted so far is dropped (the raw roster ignores it). An event of the uuid
  newer than the emitted timetoken ends the entry.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from reactivex.scheduler import TimeoutScheduler

from .._event import INTERVAL_SOURCE, Action, PresenceEvent
from .._roster import Roster

_JOIN = Action.JOIN
_LEAVE = Action.LEAVE
_TIMEOUT = Action.TIMEOUT
_STATE = Action.STATE_CHANGE
_INTERVAL = Action.INTERVAL

_Key = tuple[str, str]
# Departures remembered for late events, per suppressor (the oldest are dropped first).
# Late events come seconds late at most (a catch-up, a resync, a second subscription);
# these cover that on all but enormous channels, at under 1 MB each when full.
_RELEASED_MAX = 1024
_ABSENT_MAX = 4096
_STALE = -1  # from _lift: drop the event (timetokens are never negative)


def _grace_seconds(grace: float | timedelta) -> float:
    """``grace`` as seconds, validated (a finite number >= 0, or a timedelta)."""
    if isinstance(grace, timedelta):
        seconds = grace.total_seconds()
    elif isinstance(grace, int | float) and not isinstance(grace, bool):
        seconds = float(grace)
    else:
        raise TypeError(f"grace must be seconds (a number) or a timedelta, got {grace!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"grace must be a finite duration >= 0, got {grace!r}")
    return seconds


def _held_actions(actions: Iterable[str]) -> frozenset[Action]:
    """The departures to hold, validated: a subset of {"leave", "timeout"}."""
    if isinstance(actions, str):  # a lone "leave" would otherwise iterate letters
        actions = (actions,)
    held: set[Action] = set()
    for name in actions:
        action = Action(name) if name in ("leave", "timeout") else None
        if action is None:
            raise ValueError(f'actions must name "leave" and/or "timeout", got {name!r}')
        held.add(action)
    return frozenset(held)


def _put_newest(table: dict[_Key, Any], key: _Key, value: Any, limit: int) -> None:
    """Set ``table[key]`` as its newest entry; drop the oldest beyond ``limit``."""
    table.pop(key, None)
    table[key] = value
    if len(table) > limit:
        del table[next(iter(table))]


class _Hold:
    """Departures held together until one deadline."""

    __slots__ = ("event", "newer", "pending", "timer")

    def __init__(self, event: PresenceEvent, pending: dict[str, Action]) -> None:
        self.event = event  # the leave/timeout, or the interval event they came in
        self.pending = pending  # uuid -> LEAVE or TIMEOUT, still held
        self.newer: dict[str, int] = {}  # uuid -> a newer departure that came meanwhile
        self.timer = SingleAssignmentDisposable()

    def departed(self, uuid: str) -> int:
        """Timetoken of the newest departure of ``uuid`` this hold stands for."""
        return self.newer.get(uuid, self.event.timetoken)


class _Suppressor:
    def __init__(
        self,
        observer: abc.ObserverBase[PresenceEvent],
        scheduler: abc.SchedulerBase,
        grace: float,
        actions: frozenset[Action],
    ) -> None:
        self._observer = observer
        self._scheduler = scheduler
        self._grace = grace
        self._actions = actions
        self._lock = threading.RLock()
        self._done = False
        self._disposed = False
        self._held: dict[_Key, _Hold] = {}
        self._holds: dict[_Hold, None] = {}
        self._held_on: dict[str, int] = {}
        self._newest: dict[str, tuple[int, int]] = {}
        self._emitted: dict[str, int] = {}
        self._known: dict[_Key, tuple[Mapping[str, Any] | None, int]] = {}
        self._swallowed: dict[_Key, int] = {}
        self._released: dict[_Key, tuple[int, int, int]] = {}
        self._absent: dict[_Key, int] = {}

    def seed(self, roster: Roster) -> None:
        """The roster downstream starts from ``roster``: its members are known."""
        channel = roster.channel
        for member in roster:
            self._known[(channel, member.uuid)] = (member.state, member.timetoken)

    # -- observer side ----------------------------------------------------------------

    def on_next(self, event: PresenceEvent) -> None:
        with self._lock:
            if self._done:
                return
            channel, tt = event.channel, event.timetoken
            newest = self._newest.get(channel)
            if newest is None or tt >= newest[0]:
                self._newest[channel] = (tt, event.occupancy)
            action = event.action
            if action is _INTERVAL:
                self._interval(event)
            elif action is _JOIN:
                self._join(event)
            elif action is _STATE:
                self._state_change(event)
            else:
                self._departure(event)

    def on_error(self, error: Exception) -> None:
        with self._lock:
            if self._done:
                return
            self.dispose()
            self._observer.on_error(error)

    def on_completed(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            # Flush: the source is over, so no rejoin can come to cancel a held departure.
            # An observer may dispose while being flushed to: that empties the holds.
            while self._holds:
                hold = next(iter(self._holds))
                hold.timer.dispose()
                self._release(hold)
            if not self._disposed:
                self._observer.on_completed()

    def dispose(self) -> None:
        with self._lock:
            self._done = self._disposed = True
            for hold in self._holds:
                hold.timer.dispose()
            self._holds.clear()
            self._held.clear()
            self._held_on.clear()
            self._known.clear()
            self._swallowed.clear()
            self._released.clear()
            self._absent.clear()

    # -- per action ---------------------------------------------------------------------

    def _join(self, event: PresenceEvent) -> None:
        key = (event.channel, event.uuid or "")
        # or_same: the rejoin we swallowed, delivered again, is dropped too.
        ordered = self._in_order(key, event, or_same=True)
        if ordered is None:
            return
        event = ordered
        tt = event.timetoken
        hold = self._held.get(key)
        if hold is not None and tt >= hold.event.timetoken:
            if tt < hold.departed(key[1]):
                return  # older than a later departure of the uuid: a roster ignores it
            self._cancel(key, hold)
            known = self._known.get(key)
            if known is not None:
                # A flicker: the departure was never emitted, so the rejoin is not
                # emitted either, unless it brought a new state.
                self._swallowed[key] = tt
                state = known[0]
                # A join states the uuid's whole state (PubNub cleared it on the
                # departure), so a rejoin without state drops the one known.
                if event.state != state and not (
                    event.state is None and event.source == INTERVAL_SOURCE
                ):
                    self._known[key] = (event.state, tt)
                    self._emit(event.replace(action=_STATE))
                else:
                    self._known[key] = (state, tt)
                return
            # Never seen joining: whether the roster downstream has it is unknown (it
            # may have started from a snapshot), so the rejoin goes through.
        self._swallowed.pop(key, None)
        self._remember(key, event.state, tt, replace=event.source != INTERVAL_SOURCE)
        self._emit(event)

    def _state_change(self, event: PresenceEvent) -> None:
        key = (event.channel, event.uuid or "")
        ordered = self._in_order(key, event)
        if ordered is None:
            return
        event = ordered
        tt = event.timetoken
        self._swallowed.pop(key, None)
        hold = self._held.get(key)
        if hold is not None and tt >= hold.event.timetoken:
            if tt < hold.departed(key[1]):
                return  # older than a later departure of the uuid: a roster ignores it
            # Newer than the departure: the uuid is back (a roster adds it on a state
            # change), so the held departure must not be emitted after it.
            self._cancel(key, hold)
        self._remember(key, event.state, tt, replace=True)
        self._emit(event)

    def _departure(self, event: PresenceEvent) -> None:
        key = (event.channel, event.uuid or "")
        ordered = self._in_order(key, event)
        if ordered is None:
            return
        event = ordered
        tt = event.timetoken
        hold = self._held.get(key)
        if hold is not None and tt < hold.departed(key[1]):
            return  # older than the departure held for the uuid: a roster ignores it
        if event.action in self._actions:
            if hold is not None:
                # Already held: a duplicate, or a second departure of the same uuid, whose
                # timetoken a rejoin must beat to count as a flicker.
                if tt > hold.departed(key[1]):
                    hold.newer[key[1]] = tt
                return
            if self._is_stale(key, tt):
                self._emit(event)  # older than the uuid's last join: a roster ignores it
                return
            if key in self._absent:
                self._mark_absent(key, tt)  # already gone downstream: nothing to hold
                self._emit(event)
                return
            self._swallowed.pop(key, None)
            self._hold(event, {key[1]: event.action})
            return
        if hold is not None and not self._is_stale(key, tt):
            self._cancel(key, hold)  # a roster removes the uuid on this one: it supersedes
        self._forget(key, tt)
        self._emit(event)

    def _interval(self, event: PresenceEvent) -> None:
        if not event.has_deltas:
            self._emit(event)
            return
        for part in self._lifted_parts(event):
            self._interval_deltas(part)

    def _lifted_parts(self, event: PresenceEvent) -> list[PresenceEvent]:
        """``event`` split so that the uuids :meth:`_lift` lifts come in events of their
        own, at the timetoken they are lifted to (and without those it drops)."""
        if not self._released:
            return [event]
        channel, tt = event.channel, event.timetoken
        arrays = {"join": event.join, "leave": event.leave, "timeout": event.timeout}
        moved: dict[int, dict[str, list[str]]] = {}
        for name, uuids in arrays.items():
            for uuid in uuids:
                target = self._lift((channel, uuid), tt)
                if target is not None:
                    part = moved.setdefault(target, {"join": [], "leave": [], "timeout": []})
                    part[name].append(uuid)
        if not moved:
            return [event]
        lifted = {uuid for part in moved.values() for uuids in part.values() for uuid in uuids}
        moved.pop(_STALE, None)
        rest = {name: [u for u in uuids if u not in lifted] for name, uuids in arrays.items()}
        parts = [event.replace(**rest)] if any(rest.values()) else []
        occupancy = self._newest[channel][1]
        for target, part in moved.items():
            parts.append(event.replace(timetoken=target, occupancy=occupancy, **part))
        return parts

    def _interval_deltas(self, event: PresenceEvent) -> None:
        channel, tt = event.channel, event.timetoken
        join: list[str] = []
        for uuid in event.join:
            key = (channel, uuid)
            if self._before_swallowed(key, tt, or_same=True):
                continue
            hold = self._held.get(key)
            if hold is not None and tt >= hold.event.timetoken:
                if tt < hold.departed(uuid):
                    continue  # older than a later departure of the uuid
                self._cancel(key, hold)
                if key in self._known:
                    self._swallowed[key] = tt
                else:
                    join.append(uuid)  # never seen joining: see _join
            else:
                self._swallowed.pop(key, None)
                join.append(uuid)
            self._remember(key, None, tt, replace=False)
        pending: dict[str, Action] = {}
        passed: dict[Action, list[str]] = {_LEAVE: [], _TIMEOUT: []}
        for action, uuids in ((_LEAVE, event.leave), (_TIMEOUT, event.timeout)):
            for uuid in uuids:
                key = (channel, uuid)
                if self._before_swallowed(key, tt):
                    continue
                hold = self._held.get(key)
                if hold is not None and tt < hold.departed(uuid):
                    continue  # older than the departure held for the uuid
                if action in self._actions:
                    if hold is not None and tt > hold.departed(uuid):
                        hold.newer[uuid] = tt
                    if hold is not None or uuid in pending:
                        continue
                    if self._is_stale(key, tt):
                        passed[action].append(uuid)
                    elif key in self._absent:
                        self._mark_absent(key, tt)
                        passed[action].append(uuid)
                    else:
                        self._swallowed.pop(key, None)
                        pending[uuid] = action
                    continue
                if hold is not None and not self._is_stale(key, tt):
                    self._cancel(key, hold)
                self._forget(key, tt)
                passed[action].append(uuid)
        if pending:
            self._hold(event, pending)
        leave, timeout = passed[_LEAVE], passed[_TIMEOUT]
        if not (join or leave or timeout):
            # Everything was held or swallowed. An interval event without arrays would
            # read as "ask here-now", so nothing is emitted.
            return
        if (len(join), len(leave), len(timeout)) != (
            len(event.join),
            len(event.leave),
            len(event.timeout),
        ):
            event = event.replace(join=join, leave=leave, timeout=timeout)
        self._emit(event)

    # -- holds ----------------------------------------------------------------------------

    def _hold(self, event: PresenceEvent, pending: dict[str, Action]) -> None:
        hold = _Hold(event, pending)
        channel = event.channel
        for uuid in pending:
            self._held[(channel, uuid)] = hold
        self._held_on[channel] = self._held_on.get(channel, 0) + len(pending)
        self._holds[hold] = None

        def expire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            with self._lock:
                if not self._done and hold in self._holds:
                    self._release(hold)

        try:
            hold.timer.disposable = self._scheduler.schedule_relative(self._grace, expire)
        except Exception:
            # Without a timer the grace never ends: let the departure through now rather
            # than show the uuid for good, and let the failure reach the source.
            self._release(hold)
            raise

    def _cancel(self, key: _Key, hold: _Hold) -> None:
        """Drop one held departure; the hold ends when none of its uuids is left."""
        del self._held[key]
        del hold.pending[key[1]]
        hold.newer.pop(key[1], None)
        self._count(key[0], -1)
        if not hold.pending:
            del self._holds[hold]
            hold.timer.dispose()

    def _release(self, hold: _Hold) -> None:
        """Emit what a hold still holds: its grace period is over."""
        del self._holds[hold]
        event = hold.event
        channel = event.channel
        pending = hold.pending
        for uuid in pending:
            key = (channel, uuid)
            del self._held[key]
            self._known.pop(key, None)
            self._swallowed.pop(key, None)
        self._count(channel, -len(pending))
        # PubNub's latest count, plus the departures still held on the channel.
        changes: dict[str, Any] = {
            "occupancy": self._newest[channel][1] + self._held_on.get(channel, 0)
        }
        emitted = self._emitted.get(channel, -1)
        departed = max(hold.newer.values(), default=event.timetoken)
        target = max(emitted, departed)
        if target > event.timetoken:
            # Newer events went downstream meanwhile (a roster keeps the occupancy of its
            # newest event), or a later departure of the uuid was folded into the hold:
            # the departure takes that timetoken, for its count and its order to apply.
            changes["timetoken"] = target
            for uuid in pending:
                _put_newest(
                    self._released,
                    (channel, uuid),
                    (hold.departed(uuid), target, hold.departed(uuid)),
                    _RELEASED_MAX,
                )
        for uuid in pending:
            self._mark_absent((channel, uuid), target)
        if event.action is _INTERVAL:
            changes["join"] = ()
            changes["leave"] = [u for u, a in pending.items() if a is _LEAVE]
            changes["timeout"] = [u for u, a in pending.items() if a is _TIMEOUT]
        self._send(event.replace(**changes))

    # -- bookkeeping ------------------------------------------------------------------------

    def _emit(self, event: PresenceEvent) -> None:
        # PubNub's occupancy already dropped the held departures; downstream never saw them.
        held = self._held_on.get(event.channel, 0)
        if held:
            event = event.replace(occupancy=event.occupancy + held)
        self._send(event)

    def _send(self, event: PresenceEvent) -> None:
        if event.timetoken > self._emitted.get(event.channel, -1):
            self._emitted[event.channel] = event.timetoken
        self._observer.on_next(event)

    def _before_swallowed(self, key: _Key, tt: int, *, or_same: bool = False) -> bool:
        """Whether ``tt`` is older than (or, with ``or_same``, as old as) a rejoin
        swallowed for ``key``: the raw roster ignores such an event."""
        swallowed = self._swallowed.get(key)
        return swallowed is not None and (tt < swallowed or (or_same and tt == swallowed))

    def _lift(self, key: _Key, tt: int) -> int | None:
        """Where an event of ``key`` at ``tt`` goes after a release (see ``_released``).

        None: as it is (no release, or older than the departure, or newer than the
        timetoken it was emitted with, which ends the entry). ``_STALE``: nowhere, it is
        older than an event already lifted. Otherwise the timetoken to lift it to.
        """
        released = self._released.get(key) if self._released else None
        if released is None:
            return None
        departed, target, seen = released
        if tt >= target:
            # Newer than the release: later events older than it are ignored by a raw
            # roster, and by the one downstream unless lifted, so the entry is done.
            del self._released[key]
            return None
        if tt < departed:
            return None
        if tt < seen:
            return _STALE
        self._released[key] = (departed, target, tt)
        return target

    def _in_order(
        self, key: _Key, event: PresenceEvent, *, or_same: bool = False
    ) -> PresenceEvent | None:
        """``event`` as the roster downstream must get it, or None to drop it.

        Dropped: events older than a rejoin swallowed for ``key`` (see
        :meth:`_before_swallowed`) or than one already lifted; lifted: late events after
        a release (see :meth:`_lift`). A raw roster ignores the first and applies the
        second; without this the roster downstream would do the opposite.
        """
        if self._before_swallowed(key, event.timetoken, or_same=or_same):
            return None
        target = self._lift(key, event.timetoken)
        if target is None:
            return event
        if target == _STALE:
            return None
        # The raw roster applies it but keeps the count of its newer events: so does this.
        return event.replace(timetoken=target, occupancy=self._newest[key[0]][1])

    def _count(self, channel: str, delta: int) -> None:
        count = self._held_on.get(channel, 0) + delta
        if count:
            self._held_on[channel] = count
        else:
            self._held_on.pop(channel, None)

    def _remember(
        self, key: _Key, state: Mapping[str, Any] | None, tt: int, *, replace: bool
    ) -> None:
        # Mirrors Roster.apply: joins and state changes replace the state; interval joins
        # (which never carry state) keep it.
        known = self._known.get(key)
        if known is not None:
            if tt < known[1]:
                return
            if state is None and not replace:
                state = known[0]
        self._arrived(key, tt)
        self._known[key] = (state, tt)

    def _forget(self, key: _Key, tt: int) -> None:
        # PubNub clears a uuid's state when it leaves or times out.
        if not self._is_stale(key, tt):
            self._known.pop(key, None)
            self._swallowed.pop(key, None)
            self._mark_absent(key, tt)

    def _mark_absent(self, key: _Key, tt: int) -> None:
        _put_newest(self._absent, key, max(self._absent.get(key, -1), tt), _ABSENT_MAX)

    def _arrived(self, key: _Key, tt: int) -> None:
        # A join or state change the roster downstream applies: the uuid is back.
        gone = self._absent.get(key)
        if gone is not None and tt >= gone:
            del self._absent[key]

    def _is_stale(self, key: _Key, tt: int) -> bool:
        known = self._known.get(key)
        return known is not None and tt < known[1]


def suppress_flicker_(
    grace: float | timedelta,
    actions: Iterable[str] = ("timeout",),
    scheduler: abc.SchedulerBase | None = None,
    *,
    start: Roster | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    """``suppress_flicker``; ``start`` (for the hub) is the roster the one downstream
    starts from, so that its members' flickers are swallowed too."""
    seconds = _grace_seconds(grace)
    held = _held_actions(actions)

    def operator(source: Observable[PresenceEvent]) -> Observable[PresenceEvent]:
        if seconds == 0 or not held:
            return source

        def subscribe(
            observer: abc.ObserverBase[PresenceEvent],
            scheduler_: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            timers = scheduler or scheduler_ or TimeoutScheduler.singleton()
            suppressor = _Suppressor(observer, timers, seconds, held)
            if start is not None:
                suppressor.seed(start)
            subscription = source.subscribe(
                suppressor.on_next,
                suppressor.on_error,
                suppressor.on_completed,
                scheduler=scheduler_,
            )
            return CompositeDisposable(subscription, Disposable(suppressor.dispose))

        return Observable(subscribe)

    return operator
