"""The hub: PubNub listener callbacks in, hot presence streams out.

:class:`PresenceStreams` adds one listener to a ``PubNub`` or ``PubNubAsyncio``
instance. Each presence callback becomes a :class:`PresenceEvent` that is folded, under
one lock, into a roster per channel (the reducer runs once per event, whatever the
number of subscribers) and then multicast on ``events``. The per-action observables
are filters of ``events``; composing them by hand with ``merge`` and ``to_roster``
gives the same rosters as :meth:`PresenceStreams.roster` (a test proves it), which
fuses the pipeline only because the literal one costs several times more per event.

Why the lock: the sync SDK calls listeners on its ``SubscribeMessageWorker`` thread and
status callbacks on request threads, timers fire on their own threads, and neither
RxPY's ``Subject`` nor ``scan`` serialise concurrent ``on_next``.

Why nothing may raise out of the listener: an exception escaping a listener callback
kills the SDK's worker thread and silently ends all delivery. Failures become
:class:`ErrorReport` values on ``errors`` instead.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable
from reactivex.scheduler import TimeoutScheduler

from ._event import Action, PresenceEvent
from ._fanout import Fanout, Latest
from ._listener import Listener
from ._locked import LockedScheduler
from ._reports import ConnectionStatus, ErrorReport
from ._roster import Roster

__all__ = ["PresenceStreams"]

log = logging.getLogger("rxpresence")


class _Channel:
    """The roster and occupancy streams of one channel (raw, or with one grace)."""

    __slots__ = ("occupancy", "roster")

    def __init__(self, lock: threading.RLock, report: Any, roster: Roster) -> None:
        self.roster: Latest[Roster] = Latest(lock, report, roster)
        self.occupancy: Latest[int] = Latest(lock, report, roster.occupancy)

    def apply(self, event: PresenceEvent) -> None:
        old = self.roster.value
        new = old.apply(event)
        if new is not old:
            self.roster.on_next(new)
            if new.occupancy != old.occupancy:
                self.occupancy.on_next(new.occupancy)


def _grace_seconds(grace: float | timedelta) -> float:
    seconds = grace.total_seconds() if isinstance(grace, timedelta) else grace
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"grace must be a non-negative number of seconds, got {grace!r}")
    return float(seconds)


def _view(source: Fanout[Any]) -> Observable[Any]:
    # Hand out a plain Observable so callers cannot push into the hub's fan-outs.
    return Observable(source._subscribe_core)


class PresenceStreams:
    """Presence of a PubNub client as hot ReactiveX streams.

    Args:
        pubnub: A ``PubNub`` or ``PubNubAsyncio`` instance, or None for a detached hub
            fed with :meth:`push` (replays, simulations, tests).
        scheduler: Scheduler for time-based work (flicker grace timers); defaults to
            RxPY's ``TimeoutScheduler``. Pass a ``TestScheduler`` for virtual time.

    Attributes:
        events: Every presence event, in delivery order.
        joins: Join events.
        leaves: Leave events.
        timeouts: Timeout events.
        state_changes: State-change events.
        intervals: Interval events (with their join/leave/timeout arrays).
        status: :class:`ConnectionStatus` values from the SDK.
        errors: :class:`ErrorReport` values: malformed events, observers that raised.

    Use it as a context manager, or call :meth:`close`, to remove the listener.

    Example:
        >>> with PresenceStreams(pubnub) as presence:  # doctest: +SKIP
        ...     presence.roster("lobby", grace=10).subscribe(print)
    """

    def __init__(self, pubnub: Any, *, scheduler: abc.SchedulerBase | None = None) -> None:
        self._pubnub = pubnub
        self._lock = threading.RLock()
        self._scheduler = LockedScheduler(scheduler or TimeoutScheduler.singleton(), self._lock)
        self._closed = False
        self._channels: dict[str, _Channel] = {}
        self._graced: dict[tuple[str, float], _Channel] = {}
        self._feeds = CompositeDisposable()
        self._events: Fanout[PresenceEvent] = Fanout(self._lock, self._report)
        self._status: Fanout[ConnectionStatus] = Fanout(self._lock, self._report)
        self._errors: Fanout[ErrorReport] = Fanout(self._lock, self._report_failed_report)

        self.events: Observable[PresenceEvent] = _view(self._events)
        self.joins = self._of(Action.JOIN)
        self.leaves = self._of(Action.LEAVE)
        self.timeouts = self._of(Action.TIMEOUT)
        self.state_changes = self._of(Action.STATE_CHANGE)
        self.intervals = self._of(Action.INTERVAL)
        self.status: Observable[ConnectionStatus] = _view(self._status)
        self.errors: Observable[ErrorReport] = _view(self._errors)

        self._listener = Listener(self.push, self._on_sdk_status, self._report)
        if pubnub is not None:
            pubnub.add_listener(self._listener)

    def _of(self, action: Action) -> Observable[PresenceEvent]:
        def matches(event: PresenceEvent) -> bool:
            return event.action is action

        return self.events.pipe(ops.filter(matches))

    # -- input --------------------------------------------------------------------

    def push(self, event: PresenceEvent) -> None:
        """Feed one event, as the SDK listener does (thread-safe, never raises)."""
        try:
            with self._lock:
                if self._closed:
                    return
                channel = self._channels.get(event[1])
                if channel is None:
                    channel = self._channel(event[1])
                # _Channel.apply inlined: this is the per-event hot path.
                latest = channel.roster
                old = latest.value
                new = old.apply(event)
                if new is not old:
                    latest.value = new
                    for observer in latest._observers:
                        try:
                            observer.on_next(new)
                        except Exception as exc:  # noqa: BLE001
                            self._report("subscriber", exc, new)
                    if new._occupancy != old._occupancy:
                        channel.occupancy.on_next(new._occupancy)
                if self._events._observers:
                    self._events.on_next(event)
        except Exception as exc:  # noqa: BLE001 - must not reach the SDK's thread
            self._report("listener", exc, event)

    def _on_sdk_status(self, status: Any) -> None:
        with self._lock:
            if not self._closed:
                self._status.on_next(ConnectionStatus.from_sdk(status))

    # -- rosters ------------------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        channel = self._channels[name] = _Channel(self._lock, self._report, Roster(name))
        return channel

    def _graced_channel(self, name: str, grace: float | timedelta) -> _Channel:
        from .operators import for_channel, suppress_flicker

        key = (name, _grace_seconds(grace))
        with self._lock:
            channel = self._graced.get(key)
            if channel is None:
                raw = self._channels.get(name) or self._channel(name)
                channel = self._graced[key] = _Channel(self._lock, self._report, raw.roster.value)
                feed = self.events.pipe(
                    for_channel(name),
                    suppress_flicker(key[1], scheduler=self._scheduler),
                )
                self._feeds.add(feed.subscribe(channel.apply, scheduler=self._scheduler))
        return channel

    def _streams_of(self, channel: str, grace: float | timedelta | None) -> _Channel:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"channel must be a non-empty string, got {channel!r}")
        if grace is not None and _grace_seconds(grace) > 0:
            return self._graced_channel(channel, grace)
        with self._lock:
            return self._channels.get(channel) or self._channel(channel)

    def roster(self, channel: str, *, grace: float | timedelta | None = None) -> Observable[Roster]:
        """The roster of ``channel``: the current snapshot at once, then each change.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: Seconds (or a timedelta) to hold timeouts before removing a member;
                a rejoin within the window is never shown. None or 0: no suppression.
        """
        return _view(self._streams_of(channel, grace).roster)

    def occupancy(self, channel: str, *, grace: float | timedelta | None = None) -> Observable[int]:
        """The occupancy of ``channel``: the current count at once, then each change.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: As for :meth:`roster`.
        """
        return _view(self._streams_of(channel, grace).occupancy)

    def current(self, channel: str) -> Roster:
        """The latest roster snapshot of ``channel`` (empty if nothing was seen)."""
        with self._lock:
            found = self._channels.get(channel)
            return found.roster.value if found is not None else Roster(channel)

    # -- failures -----------------------------------------------------------------

    def _report(self, where: str, error: BaseException, payload: Any) -> None:
        try:
            with self._lock:
                if self._errors._observers:
                    self._errors.on_next(ErrorReport(where, error, payload))
                    return
            log.warning("rxpresence %s error: %s: %s", where, type(error).__name__, error)
        except Exception:  # noqa: BLE001 - reporting must never raise
            log.exception("rxpresence could not report an error")

    def _report_failed_report(self, where: str, error: BaseException, payload: Any) -> None:
        log.error("an errors subscriber raised %s: %s", type(error).__name__, error)

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Remove the listener, stop timers and complete every stream (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._pubnub is not None:
            try:
                self._pubnub.remove_listener(self._listener)
            except Exception as exc:  # noqa: BLE001
                log.debug("remove_listener failed: %s", exc)
        self._feeds.dispose()
        channels = [*self._channels.values(), *self._graced.values()]
        for fanout in (self._events, self._status, self._errors):
            fanout.on_completed()
        for channel in channels:
            channel.roster.on_completed()
            channel.occupancy.on_completed()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> PresenceStreams:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

