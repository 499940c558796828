"""Flicker suppression for one channel: hold departures, swallow the rejoins that cancel them.

:class:`FlickerSuppressor` takes the events of one channel and emits what a graced
roster must apply. It owns no timer: when it holds a departure it hands the
:class:`Hold` to a ``start_hold`` callback, and whoever owns the clock calls
:meth:`FlickerSuppressor.release` when the grace period is over (the
``suppress_flicker`` operator with one timer per subscription, the hub's channel
registry with one timer for all its graced rosters: see :mod:`rxpresence._deadlines`).
Late events are repaired by :class:`rxpresence._ordering.LateEvents`.

Bookkeeping, per channel:

* ``held``: uuid -> the :class:`Hold` that holds its departure. One hold is one
  leave/timeout event, or the held part of one interval event (its uuids share a
  deadline).
* ``holds``: live holds in the order they were made.
* ``held_count``: departures held; added to the occupancy of every event emitted
  meanwhile, because PubNub's count already dropped them.
* ``newest``: timetoken and occupancy of the newest event seen (PubNub's latest count);
  ``emitted``: the newest timetoken emitted downstream.
* ``known``: uuid -> (state, timetoken) from joins and state changes, to tell whether a
  rejoin changed the state and whether a departure is older than its join.

Also here: the one parser for a ``grace`` argument (:func:`grace_seconds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, NamedTuple

from ._event import INTERVAL_SOURCE, Action, PresenceEvent
from ._ordering import DROP, LateEvents

__all__ = ["FlickerSuppressor", "HiddenFlicker", "Hold", "grace_seconds", "held_actions"]

_JOIN = Action.JOIN
_LEAVE = Action.LEAVE
_TIMEOUT = Action.TIMEOUT
_STATE = Action.STATE_CHANGE
_INTERVAL = Action.INTERVAL


def grace_seconds(grace: float | timedelta) -> float:
    """``grace`` as seconds: a finite number >= 0, or a timedelta.

    Raises:
        ValueError: Anything else (a bool, a string, a negative or infinite number).
    """
    if isinstance(grace, timedelta):
        seconds = grace.total_seconds()
    elif isinstance(grace, int | float) and not isinstance(grace, bool):
        seconds = float(grace)
    else:
        raise ValueError(
            f"grace must be a number of seconds or a timedelta, got {type(grace).__name__} "
            f"{grace!r}"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"grace must be a finite duration >= 0, got {grace!r}")
    return seconds


def held_actions(actions: Iterable[str]) -> frozenset[Action]:
    """The departures to hold, validated: a subset of {"leave", "timeout"}.

    Raises:
        ValueError: ``actions`` names something else.
    """
    if isinstance(actions, str):  # a lone "leave" would otherwise iterate letters
        actions = (actions,)
    held: set[Action] = set()
    for name in actions:
        if name not in ("leave", "timeout"):
            raise ValueError(f'actions must name "leave" and/or "timeout", got {name!r}')
        held.add(Action(name))
    return frozenset(held)


class HiddenFlicker(NamedTuple):
    """A departure that a rejoin within the grace period cancelled: never shown.

    Attributes:
        channel: The channel.
        uuid: Who flickered.
        departure: The leave or timeout that was held (or the interval event it came in).
        rejoin: The join that cancelled it (or the interval event it came in).
    """

    channel: str
    uuid: str
    departure: PresenceEvent
    rejoin: PresenceEvent

    @property
    def gap(self) -> float:
        """Seconds between the departure and the rejoin, by PubNub's timetokens."""
        return max(0, self.rejoin.timetoken - self.departure.timetoken) / 10**7


class Hold:
    """Departures of one channel held together until one deadline."""

    __slots__ = ("event", "newer", "owner", "pending")

    def __init__(
        self, owner: FlickerSuppressor, event: PresenceEvent, pending: dict[str, Action]
    ) -> None:
        self.owner = owner
        self.event = event  # the leave/timeout, or the interval event they came in
        self.pending = pending  # uuid -> LEAVE or TIMEOUT, still held
        self.newer: dict[str, int] = {}  # uuid -> a newer departure that came meanwhile

    def departed(self, uuid: str) -> int:
        """Timetoken of the newest departure of ``uuid`` this hold stands for."""
        return self.newer.get(uuid, self.event.timetoken)

    def release(self) -> None:
        """The grace period is over: emit what is still held (nothing if cancelled)."""
        self.owner.release(self)


class FlickerSuppressor:
    """Flicker suppression for the events of one channel (see the module docstring).

    Args:
        channel: The channel; events of other channels must not be given.
        actions: The departures to hold (see :func:`held_actions`).
        emit: Called with each event the roster downstream must apply.
        start_hold: Called with each new :class:`Hold`; must arrange for
            ``hold.release()`` at the end of the grace period. If it raises, the hold is
            released at once (nothing is held for good) and the exception propagates.

    Attributes:
        on_hidden: Called with a :class:`HiddenFlicker` each time a rejoin cancels a held
            departure (None: nobody asked).
    """

    __slots__ = (
        "_actions",
        "_emit_to",
        "_emitted",
        "_held",
        "_held_count",
        "_holds",
        "_known",
        "_late",
        "_newest_occupancy",
        "_newest_tt",
        "_start_hold",
        "channel",
        "on_hidden",
    )

    def __init__(
        self,
        channel: str,
        actions: frozenset[Action],
        emit: Callable[[PresenceEvent], None],
        start_hold: Callable[[Hold], None],
    ) -> None:
        self.channel = channel
        self._actions = actions
        self._emit_to = emit
        self._start_hold = start_hold
        self._held: dict[str, Hold] = {}
        self._holds: dict[Hold, None] = {}
        self._held_count = 0
        self._newest_tt = -1
        self._newest_occupancy = 0
        self._emitted = -1
        self._known: dict[str, tuple[Mapping[str, Any] | None, int]] = {}
        self._late = LateEvents()
        self.on_hidden: Callable[[HiddenFlicker], None] | None = None

    def seed(self, members: Iterable[tuple[str, Mapping[str, Any] | None, int]]) -> None:
        """The roster downstream starts with these (uuid, state, timetoken) members."""
        for uuid, state, tt in members:
            self._known[uuid] = (state, tt)

    @property
    def holds(self) -> list[Hold]:
        """The live holds, oldest first."""
        return list(self._holds)

    # -- events -----------------------------------------------------------------------

    def on_next(self, event: PresenceEvent) -> None:
        """Take one event of this channel."""
        tt = event.timetoken
        if tt >= self._newest_tt:
            self._newest_tt = tt
            self._newest_occupancy = event.occupancy
        action = event.action
        if action is _INTERVAL:
            self._interval(event)
        elif action is _JOIN:
            self._join(event)
        elif action is _STATE:
            self._state_change(event)
        else:
            self._departure(event)

    def release(self, hold: Hold) -> None:
        """Emit what ``hold`` still holds: its grace period is over (no-op if cancelled)."""
        if hold not in self._holds:
            return
        del self._holds[hold]
        event = hold.event
        pending = hold.pending
        late = self._late
        for uuid in pending:
            del self._held[uuid]
            self._known.pop(uuid, None)
            late.swallowed.pop(uuid, None)
        self._held_count -= len(pending)
        # PubNub's latest count, plus the departures still held on the channel.
        changes: dict[str, Any] = {"occupancy": self._newest_occupancy + self._held_count}
        departed = max(hold.newer.values(), default=event.timetoken)
        target = max(self._emitted, departed)
        if target > event.timetoken:
            # Newer events went downstream meanwhile (a roster keeps the occupancy of its
            # newest event), or a later departure of the uuid was folded into the hold:
            # the departure takes that timetoken, for its count and its order to apply.
            changes["timetoken"] = target
            for uuid in pending:
                late.released_at(uuid, hold.departed(uuid), target)
        for uuid in pending:
            late.mark_absent(uuid, target)
        if event.action is _INTERVAL:
            changes["join"] = ()
            changes["leave"] = [u for u, a in pending.items() if a is _LEAVE]
            changes["timeout"] = [u for u, a in pending.items() if a is _TIMEOUT]
        self._send(event.replace(**changes))

    def clear(self) -> None:
        """Forget everything, holds included (the subscription ended)."""
        self._holds.clear()
        self._held.clear()
        self._held_count = 0
        self._known.clear()
        self._late.clear()

    # -- per action ---------------------------------------------------------------------

    def _join(self, event: PresenceEvent) -> None:
        late = self._late
        if late.swallowed or late.released:  # else nothing to repair: skip the call
            # or_same: the rejoin we swallowed, delivered again, is dropped too.
            ordered = late.in_order(event, self._newest_occupancy, or_same=True)
            if ordered is None:
                return
            event = ordered
        uuid, tt = event.uuid or "", event.timetoken
        hold = self._held.get(uuid)
        if hold is not None and tt >= hold.event.timetoken:
            if tt < hold.departed(uuid):
                return  # older than a later departure of the uuid: a roster ignores it
            self._cancel(uuid, hold)
            known = self._known.get(uuid)
            if known is not None:
                # A flicker: the departure was never emitted, so the rejoin is not
                # emitted either, unless it brought a new state.
                self._late.swallowed[uuid] = tt
                self._hidden(uuid, hold, event)
                state = known[0]
                # A join states the uuid's whole state (PubNub cleared it on the
                # departure), so a rejoin without state drops the one known.
                if event.state != state and not (
                    event.state is None and event.source == INTERVAL_SOURCE
                ):
                    self._known[uuid] = (event.state, tt)
                    self._emit(event.replace(action=_STATE))
                else:
                    self._known[uuid] = (state, tt)
                return
            # Never seen joining: whether the roster downstream has it is unknown (it
            # may have started from a snapshot), so the rejoin goes through.
        if late.swallowed:
            late.swallowed.pop(uuid, None)
        state = event.state
        self._remember(
            uuid, state, tt, replace=state is not None or event.source != INTERVAL_SOURCE
        )
        self._emit(event)

    def _state_change(self, event: PresenceEvent) -> None:
        if self._late.swallowed or self._late.released:
            ordered = self._late.in_order(event, self._newest_occupancy)
            if ordered is None:
                return
            event = ordered
        uuid, tt = event.uuid or "", event.timetoken
        self._late.swallowed.pop(uuid, None)
        hold = self._held.get(uuid)
        if hold is not None and tt >= hold.event.timetoken:
            if tt < hold.departed(uuid):
                return  # older than a later departure of the uuid: a roster ignores it
            # Newer than the departure: the uuid is back (a roster adds it on a state
            # change), so the held departure must not be emitted after it.
            self._cancel(uuid, hold)
        self._remember(uuid, event.state, tt, replace=True)
        self._emit(event)

    def _departure(self, event: PresenceEvent) -> None:
        if self._late.swallowed or self._late.released:
            ordered = self._late.in_order(event, self._newest_occupancy)
            if ordered is None:
                return
            event = ordered
        uuid, tt = event.uuid or "", event.timetoken
        hold = self._held.get(uuid)
        if hold is not None and tt < hold.departed(uuid):
            return  # older than the departure held for the uuid: a roster ignores it
        if event.action in self._actions:
            if hold is not None:
                # Already held: a duplicate, or a second departure of the same uuid, whose
                # timetoken a rejoin must beat to count as a flicker.
                if tt > hold.departed(uuid):
                    hold.newer[uuid] = tt
                return
            if self._is_stale(uuid, tt):
                self._emit(event)  # older than the uuid's last join: a roster ignores it
                return
            if uuid in self._late.absent:
                self._late.mark_absent(uuid, tt)  # already gone downstream: nothing to hold
                self._emit(event)
                return
            self._late.swallowed.pop(uuid, None)
            self._hold(event, {uuid: event.action})
            return
        if hold is not None and not self._is_stale(uuid, tt):
            self._cancel(uuid, hold)  # a roster removes the uuid on this one: it supersedes
        self._forget(uuid, tt)
        self._emit(event)

    def _interval(self, event: PresenceEvent) -> None:
        if not event.has_deltas:
            self._emit(event)
            return
        for part in self._lifted_parts(event):
            self._interval_deltas(part)

    def _lifted_parts(self, event: PresenceEvent) -> list[PresenceEvent]:
        """``event`` split so that the uuids :meth:`LateEvents.lift` lifts come in events
        of their own, at the timetoken they are lifted to (and without those it drops)."""
        late = self._late
        if not late.released:
            return [event]
        tt = event.timetoken
        arrays = {"join": event.join, "leave": event.leave, "timeout": event.timeout}
        moved: dict[int, dict[str, list[str]]] = {}
        for name, uuids in arrays.items():
            for uuid in uuids:
                target = late.lift(uuid, tt)
                if target is not None:
                    part = moved.setdefault(target, {"join": [], "leave": [], "timeout": []})
                    part[name].append(uuid)
        if not moved:
            return [event]
        lifted = {uuid for part in moved.values() for uuids in part.values() for uuid in uuids}
        moved.pop(DROP, None)
        rest = {name: [u for u in uuids if u not in lifted] for name, uuids in arrays.items()}
        parts = [event.replace(**rest)] if any(rest.values()) else []
        for target, part in moved.items():
            parts.append(event.replace(timetoken=target, occupancy=self._newest_occupancy, **part))
        return parts

    def _interval_deltas(self, event: PresenceEvent) -> None:
        tt = event.timetoken
        late = self._late
        join: list[str] = []
        for uuid in event.join:
            if late.before_swallowed(uuid, tt, or_same=True):
                continue
            hold = self._held.get(uuid)
            if hold is not None and tt >= hold.event.timetoken:
                if tt < hold.departed(uuid):
                    continue  # older than a later departure of the uuid
                self._cancel(uuid, hold)
                if uuid in self._known:
                    late.swallowed[uuid] = tt
                    self._hidden(uuid, hold, event)
                else:
                    join.append(uuid)  # never seen joining: see _join
            else:
                late.swallowed.pop(uuid, None)
                join.append(uuid)
            self._remember(uuid, None, tt, replace=False)
        pending: dict[str, Action] = {}
        passed: dict[Action, list[str]] = {_LEAVE: [], _TIMEOUT: []}
        for action, uuids in ((_LEAVE, event.leave), (_TIMEOUT, event.timeout)):
            for uuid in uuids:
                if late.before_swallowed(uuid, tt):
                    continue
                hold = self._held.get(uuid)
                if hold is not None and tt < hold.departed(uuid):
                    continue  # older than the departure held for the uuid
                if action in self._actions:
                    if hold is not None and tt > hold.departed(uuid):
                        hold.newer[uuid] = tt
                    if hold is not None or uuid in pending:
                        continue
                    if self._is_stale(uuid, tt):
                        passed[action].append(uuid)
                    elif uuid in late.absent:
                        late.mark_absent(uuid, tt)
                        passed[action].append(uuid)
                    else:
                        late.swallowed.pop(uuid, None)
                        pending[uuid] = action
                    continue
                if hold is not None and not self._is_stale(uuid, tt):
                    self._cancel(uuid, hold)
                self._forget(uuid, tt)
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
        hold = Hold(self, event, pending)
        for uuid in pending:
            self._held[uuid] = hold
        self._held_count += len(pending)
        self._holds[hold] = None
        try:
            self._start_hold(hold)
        except Exception:
            # Without a timer the grace never ends: let the departure through now rather
            # than show the uuid for good, and let the failure reach the source.
            self.release(hold)
            raise

    def _cancel(self, uuid: str, hold: Hold) -> None:
        """Drop one held departure; the hold ends when none of its uuids is left."""
        del self._held[uuid]
        del hold.pending[uuid]
        hold.newer.pop(uuid, None)
        self._held_count -= 1
        if not hold.pending:
            del self._holds[hold]  # its timer finds it gone and does nothing

    # -- bookkeeping ------------------------------------------------------------------------

    def _hidden(self, uuid: str, hold: Hold, rejoin: PresenceEvent) -> None:
        if self.on_hidden is not None:
            self.on_hidden(HiddenFlicker(self.channel, uuid, hold.event, rejoin))

    def _emit(self, event: PresenceEvent) -> None:
        # PubNub's occupancy already dropped the held departures; downstream never saw them.
        if self._held_count:
            event = event.with_occupancy(event.occupancy + self._held_count)
        if event.timetoken > self._emitted:
            self._emitted = event.timetoken
        self._emit_to(event)

    def _send(self, event: PresenceEvent) -> None:
        if event.timetoken > self._emitted:
            self._emitted = event.timetoken
        self._emit_to(event)

    def _remember(
        self, uuid: str, state: Mapping[str, Any] | None, tt: int, *, replace: bool
    ) -> None:
        # Mirrors Roster.apply: joins and state changes replace the state; interval joins
        # (which never carry state) keep it.
        known = self._known.get(uuid)
        if known is not None:
            if tt < known[1]:
                return
            if state is None and not replace:
                state = known[0]
        if self._late.absent:
            self._late.arrived(uuid, tt)
        self._known[uuid] = (state, tt)

    def _forget(self, uuid: str, tt: int) -> None:
        # PubNub clears a uuid's state when it leaves or times out.
        if not self._is_stale(uuid, tt):
            self._known.pop(uuid, None)
            self._late.swallowed.pop(uuid, None)
            self._late.mark_absent(uuid, tt)

    def _is_stale(self, uuid: str, tt: int) -> bool:
        known = self._known.get(uuid)
        return known is not None and tt < known[1]
