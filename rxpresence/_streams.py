"""The hub: PubNub listener callbacks in, hot presence streams out.

:class:`PresenceStreams` adds one listener to a ``PubNub`` or ``PubNubAsyncio``
instance. Each presence callback is checked like a :class:`PresenceEvent` and folded,
under one lock, into a roster per channel (the reducer runs once per event, whatever
the number of subscribers), then multicast on ``events`` (the record itself is only
built when someone observes ``events``: see ``docs/performance.md``). The per-action
observables are filters of ``events``; composing them by hand with ``merge`` and
``to_roster`` gives the same rosters as :meth:`PresenceStreams.roster` (a test proves
it), which fuses the pipeline only because the literal one costs several times more per
event.

Why the lock: the sync SDK calls listeners on its ``SubscribeMessageWorker`` thread and
status callbacks on request threads, timers fire on their own threads, and neither
RxPY's ``Subject`` nor ``scan`` serialise concurrent ``on_next``.

Why nothing may raise out of the listener: an exception escaping a listener callback
kills the SDK's worker thread and silently ends all delivery. Failures become
:class:`ErrorReport` values on ``errors`` instead.

The other side of presence, announcing this client's own (:meth:`PresenceStreams.enter`,
``update``, ``leave``, ``own_presence``), lives in ``_announce``: the hub delegates the
calls and feeds it statuses, its own uuid's live events and folded snapshots.

State streams (rosters, occupancy, ``rosters()``, ``where_is``, users, own presence)
are handed out as :class:`~rxpresence._views.StateView` instances, so that
:func:`rxpresence.aio.values` keeps only their latest value for a slow consumer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType, TracebackType
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from ._announce import Announcer
from ._event import Action, PresenceEvent
from ._fanout import Fanout, Latest
from ._guardrails import warn_about_config
from ._herenow import HereNowSource, here_now_source, send_leave
from ._listener import Listener
from ._locked import LockedScheduler, TimerThread
from ._own_presence import Confirmation, OwnPresence
from ._reports import ConnectionStatus, ErrorReport
from ._roster import Roster
from ._sync import ResyncSettings, SyncManager
from ._users import UserKey, UserRoster, to_users
from ._views import StateView, state_view

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
            self.emit(old, new)

    def emit(self, old: Roster, new: Roster) -> None:
        """Publish ``new`` (the successor of ``old``) and its occupancy if it changed."""
        self.roster.on_next(new)
        if new._occupancy != old._occupancy:
            self.occupancy.on_next(new._occupancy)


def _grace_seconds(grace: float | timedelta) -> float:
    seconds = grace.total_seconds() if isinstance(grace, timedelta) else grace
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"grace must be a non-negative number of seconds, got {grace!r}")
    return float(seconds)


def _view(source: Fanout[Any]) -> Observable[Any]:
    # Hand out a plain Observable so callers cannot push into the hub's fan-outs.
    # States (a Latest) are marked as such, for rxpresence.aio (announce hook: _views).
    if isinstance(source, Latest):
        return StateView(source._subscribe_core)
    return Observable(source._subscribe_core)


_JOIN = Action.JOIN
_LEAVE = Action.LEAVE
_TIMEOUT = Action.TIMEOUT
_STATE_CHANGE = Action.STATE_CHANGE
_NO_UUIDS: tuple[str, ...] = ()
_new_event = tuple.__new__


class _HubListener(Listener):
    """The hub's SDK listener: checks, folds and emits in one call per event.

    A well-formed join, leave, timeout or state change from the SDK (the class already
    asserts most field types) is checked here with the same rules as
    :meth:`PresenceEvent.from_sdk` and folded straight into the channel's roster; the
    :class:`PresenceEvent` record is only built when someone observes ``events``.
    Everything else (interval events, unusual types, malformed events) takes the
    general path: ``from_sdk`` then :meth:`PresenceStreams.push`, which validates,
    reports and folds exactly as before.
    """

    def __init__(self, hub: PresenceStreams) -> None:
        super().__init__(hub.push, hub._on_sdk_status, hub._report)
        self._hub = hub

    def watch_own(self, uuid: str | None) -> None:
        """Send ``uuid``'s events down the general path (to the announcer); None: stop.

        An instance attribute shadows the class's ``presence`` only while the client
        has entered a channel, so the fast path pays nothing otherwise (announce hook).
        """
        if uuid is None:
            self.__dict__.pop("presence", None)
            return
        fast = _HubListener.presence.__get__(self)

        def presence(pubnub: Any, event: Any) -> None:
            try:
                own = event.uuid == uuid
            except Exception:  # not an SDK object: the general path reports it
                own = True
            if own:
                Listener.presence(self, pubnub, event)
            else:
                fast(pubnub, event)

        self.__dict__["presence"] = presence

    def presence(self, pubnub: Any, presence: Any) -> None:
        try:
            # Compared, not looked up: the SDK's strings are fresh, so a dict lookup
            # would hash each one first.
            kind = presence.event
            if kind == "join":
                action = _JOIN
            elif kind == "leave":
                action = _LEAVE
            elif kind == "timeout":
                action = _TIMEOUT
            elif kind == "state-change":
                action = _STATE_CHANGE
            else:
                kind = None  # anything else takes the general path
            uuid = presence.uuid
            channel = presence.channel
            occupancy = presence.occupancy
            timestamp = presence.timestamp
            tt = presence.timetoken
            state = presence.state
            sub = presence.subscription
            fast = (
                kind is not None
                and type(uuid) is str
                and type(channel) is str
                and type(occupancy) is int
                and type(timestamp) is int
                and type(tt) is int
                and uuid  # non-empty
                and channel
                and occupancy >= 0
                and timestamp >= 0
                and tt >= 0
                and (sub is None or type(sub) is str)
                and (state is None or type(state) is dict)
                and presence.join is None
                and presence.leave is None
                and presence.timeout is None
            )
        except Exception:  # not an SDK object: the general path reports it
            fast = False
        if not fast:
            Listener.presence(self, pubnub, presence)
            return
        if state is not None:
            state = MappingProxyType(state.copy())
        hub = self._hub
        # acquire/release rather than ``with``: on CPython 3.11 the with-statement's
        # bound __exit__ call costs about as much as the lock itself.
        lock = hub._lock
        lock.acquire()
        try:
            if hub._closed:
                return
            # Most events are for the channel of the previous one: compare, don't hash.
            last = hub._last_channel
            streams: _Channel
            if channel == last[0]:
                streams = last[1]
            else:
                found = hub._channels.get(channel)
                streams = hub._channel(channel) if found is None else found
                hub._last_channel = (channel, streams)
            latest = streams.roster
            old = latest.value
            new = old._step(action, uuid, occupancy, timestamp, tt, state)
            if new is not old:
                latest.value = new
                # Fanout.on_next inlined: this is the per-event hot path.
                for gate, on_next in latest._sinks:
                    if not gate.is_stopped:
                        try:
                            on_next(new)
                        except Exception as exc:
                            hub._report("subscriber", exc, new)
                if new._occupancy != old._occupancy:
                    count = streams.occupancy
                    count.value = new._occupancy
                    if count._sinks:
                        count.on_next(new._occupancy)
            events = hub._events
            if events._observers:
                events.on_next(
                    _new_event(
                        PresenceEvent,
                        (
                            action,
                            channel,
                            uuid,
                            occupancy,
                            timestamp,
                            tt,
                            state,
                            sub,
                            _NO_UUIDS,
                            _NO_UUIDS,
                            _NO_UUIDS,
                            False,
                            "live",
                        ),
                    )
                )
            # Resync triggers (None without a here-now source). Only a count that
            # disagrees with the roster, or an alert (outage, drift streak), needs a look.
            watch = hub._watch
            if watch is not None and (hub._sync_alert or new._occupancy != new._count):
                watch(channel, new, None)
        except Exception as exc:  # must not reach the SDK's thread
            self._safe_report("listener", exc, presence)
        finally:
            lock.release()


class PresenceStreams:
    """Presence of a PubNub client as hot ReactiveX streams.

    Args:
        pubnub: A ``PubNub`` or ``PubNubAsyncio`` instance, or None for a detached hub
            fed with :meth:`push` (replays, simulations, tests).
        scheduler: Scheduler for time-based work (flicker grace timers, here-now
            retries). By default the hub runs its timers on one thread of its own (an
            RxPY ``EventLoopScheduler`` on a monotonic clock, started while a timer is
            pending and stopped by :meth:`close`). Pass a ``TestScheduler`` for virtual
            time.
        here_now: Where roster snapshots come from: ``"auto"`` (the default) uses the
            client's own here-now (threaded or asyncio), None disables snapshots, or
            pass a :class:`HereNowSource`. With a source, each roster is bootstrapped
            when first requested and resynced after outages (see ``docs/resync.md``).
        resync: When and how to resync; :class:`ResyncSettings` defaults if None.
        leave_on_close: On :meth:`close`, send a presence leave for the client's uuid
            on the channels it is subscribed to and the channels whose roster lists it
            (the asyncio client sends none itself unless presence heartbeats are on).

    Attributes:
        events: Every presence event, in delivery order.
        joins: Join events.
        leaves: Leave events.
        timeouts: Timeout events.
        state_changes: State-change events.
        intervals: Interval events (with their join/leave/timeout arrays).
        status: :class:`ConnectionStatus` values from the SDK.
        errors: :class:`ErrorReport` values: malformed events, observers that raised,
            failed here-now calls.

    The client's configuration is checked once: settings that make presence unreliable
    are reported as a :class:`PresenceConfigWarning` naming the fix.

    Watching is one side of presence; :meth:`enter`, :meth:`update`, :meth:`leave` and
    :meth:`own_presence` are the other: they announce this client, keep it present with
    its state through outages, and leave on :meth:`close`.

    Use it as a context manager, or call :meth:`close`, to remove the listener (and
    leave the entered channels).

    Example:
        >>> with PresenceStreams(pubnub) as presence:  # doctest: +SKIP
        ...     presence.roster("lobby", grace=10).subscribe(print)
    """

    def __init__(
        self,
        pubnub: Any,
        *,
        scheduler: abc.SchedulerBase | None = None,
        here_now: HereNowSource | str | None = "auto",
        resync: ResyncSettings | None = None,
        leave_on_close: bool = False,
    ) -> None:
        if resync is not None and not isinstance(resync, ResyncSettings):
            raise TypeError(f"resync must be ResyncSettings or None, got {resync!r}")
        source = here_now_source(pubnub, here_now)
        self._pubnub = pubnub
        self._lock = threading.RLock()
        self._own_timers: TimerThread | None = None  # see TimerThread for why
        if scheduler is None:
            scheduler = self._own_timers = TimerThread()
        self._scheduler = LockedScheduler(scheduler, self._lock, self._report)
        self._closed = False
        self._channels: dict[str, _Channel] = {}
        # (name, streams) of the last channel an event came for ("" never matches).
        self._last_channel: tuple[str, Any] = ("", None)
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

        self._leave_on_close = bool(leave_on_close)
        self._leave_task: Any = None
        self._sync_alert = False  # set by the SyncManager: look at every live event
        self._sync = SyncManager(self, source, resync or ResyncSettings())
        self._watch = self._sync.watch if source is not None else None
        if pubnub is not None:
            warn_about_config(pubnub, stacklevel=2, heartbeats_off=False)  # see _announce

        listener = self._listener = _HubListener(self)
        # This client's own presence (enter/update/leave); warns about heartbeats off.
        self._own_uuid: str | None = None  # the client's uuid while a channel is entered
        self._announce = Announcer(
            pubnub,
            self._scheduler,
            self._lock,
            self._report,
            on_watch=self._watch_own,
            stacklevel=2,
        )
        if pubnub is not None:
            pubnub.add_listener(listener)

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
                streams = self._channels.get(event[1])
                if streams is None:
                    streams = self._channel(event[1])
                old = streams.roster.value
                new = old.apply(event)
                if new is not old:
                    streams.emit(old, new)
                if self._events._observers:
                    self._events.on_next(event)
                watch = self._watch
                if watch is not None:
                    watch(event[1], new, event)
                if self._own_uuid is not None:  # announce hook: a channel is entered
                    self._announce.on_event(event)
        except Exception as exc:  # must not reach the SDK's thread
            self._report("listener", exc, event)

    def _watch_own(self, uuid: str | None) -> None:
        # announce hook: own events go to the announcer only while a channel is entered.
        self._own_uuid = uuid
        self._listener.watch_own(uuid)

    def _on_sdk_status(self, status: Any) -> None:
        with self._lock:
            if not self._closed:
                record = ConnectionStatus.from_sdk(status)
                self._status.on_next(record)
                self._sync.on_status(record)
                self._announce.on_status(record)  # announce hook

    # -- rosters ------------------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        channel = self._channels[name] = _Channel(self._lock, self._report, Roster(name))
        self._sync.on_new_channel(name, channel)
        return channel

    def _graced_channel(self, name: str, grace: float | timedelta) -> _Channel:
        from .operators import for_channel
        from .operators._flicker import suppress_flicker_

        key = (name, _grace_seconds(grace))
        with self._lock:
            channel = self._graced.get(key)
            if channel is None:
                raw = self._channels.get(name) or self._channel(name)
                start = raw.roster.value
                channel = self._graced[key] = _Channel(self._lock, self._report, start)
                feed = self.events.pipe(
                    for_channel(name),
                    # Seeded with the members the graced roster starts with, so that
                    # their flickers are swallowed like those of members seen joining.
                    suppress_flicker_(key[1], scheduler=self._scheduler, start=start),
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
        streams = self._streams_of(channel, grace)
        self._track(channel, uuids=True)
        return _view(streams.roster)

    def occupancy(self, channel: str, *, grace: float | timedelta | None = None) -> Observable[int]:
        """The occupancy of ``channel``: the current count at once, then each change.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: As for :meth:`roster`.
        """
        streams = self._streams_of(channel, grace)
        self._track(channel, uuids=False)
        return _view(streams.occupancy)

    def current(self, channel: str) -> Roster:
        """The latest roster snapshot of ``channel`` (empty if nothing was seen)."""
        with self._lock:
            found = self._channels.get(channel)
            return found.roster.value if found is not None else Roster(channel)

    # -- snapshots, many channels, users -------------------------------------------

    def _track(self, channel: str, *, uuids: bool) -> None:
        with self._lock:
            if not self._closed:
                self._sync.track(channel, uuids=uuids)

    def rosters(self) -> Observable[Mapping[str, Roster]]:
        """Every roster by channel: the current mapping at once, then each change.

        The mapping (an immutable ``immutables.Map``, channel -> :class:`Roster`) holds
        the channels the client is subscribed to and every channel events arrive on,
        including those learned through channel groups and wildcards. From the first
        call on, each of them is bootstrapped and resynced like :meth:`roster`.
        """
        with self._lock:
            return self._sync.rosters()

    def where_is(self, uuid: str) -> Observable[frozenset[str]]:
        """The channels ``uuid`` is present on: at once, then each change (no repeats).

        Args:
            uuid: The uuid to follow.
        """
        if not isinstance(uuid, str) or not uuid:
            raise ValueError(f"uuid must be a non-empty string, got {uuid!r}")
        with self._lock:
            return state_view(self._sync.where_is(uuid))  # marked a state (announce)

    def users(
        self, channel: str, *, key: UserKey, grace: float | timedelta | None = None
    ) -> Observable[UserRoster]:
        """The users on ``channel``, for apps that give each device its own uuid.

        A user is online while any of their devices (uuids) is, carries every device
        with its state, and goes offline only when the last device leaves.

        Args:
            channel: The channel (without ``-pnpres``).
            key: Maps a uuid and its state to a user id, e.g.
                ``lambda uuid, state: uuid.split(".")[0]``.
            grace: As for :meth:`roster`.
        """
        users = self.roster(channel, grace=grace).pipe(to_users(key, self._report))
        return state_view(users)  # marked a state (announce)

    def resync(self, channel: str | None = None) -> None:
        """Fetch a fresh here-now snapshot now (at most one request per channel in flight).

        Args:
            channel: The channel to resync (it is tracked from now on), or None for every
                tracked channel. Does nothing without a here-now source.
        """
        with self._lock:
            if not self._closed:
                self._sync.resync(channel)

    # -- announcing this client's own presence (delegated: see _announce) ---------

    def enter(
        self,
        channel: str,
        state: Mapping[str, Any] | None = None,
        *,
        timeout: float | timedelta | None = 10.0,
    ) -> Confirmation:
        """Announce this client on ``channel`` with ``state``, and keep it there.

        The server announces one join carrying the state (not a join followed by a
        state change). From then on rxpresence keeps the client present, whatever the
        SDK's heartbeat settings: it heartbeats about every ``T / 2 - 1`` seconds (``T``
        being ``config.presence_timeout``), carrying the state, and after a reconnect,
        a snapshot without the client or its own timeout event it asserts presence and
        state again (one join per outage). It does not subscribe: to watch the channel
        too, subscribe to ``f"{channel}-pnpres"``, which delivers presence events
        without making the client present through its subscribe requests.

        Entering a channel already entered replaces its state, like :meth:`update`.

        Args:
            channel: The channel (without ``-pnpres``).
            state: A JSON object (at most 8 KiB as JSON), or None for no state.
            timeout: Seconds (or a timedelta) to wait for the server's confirmation;
                None waits as long as it takes.

        Returns:
            A :class:`Confirmation`: a ``concurrent.futures.Future`` (threaded apps:
            ``.result()``) that can also be awaited (asyncio apps: ``await``). It
            completes when the server confirmed, or fails with
            :class:`AnnounceTimeout` after ``timeout`` while rxpresence keeps trying
            in the background until :meth:`leave`.

        Raises:
            ValueError: A bad channel name, state or timeout.
            RuntimeError: The hub is closed or has no client.

        Example:
            >>> presence.enter("lobby", {"name": "Ada"}).result(5)  # doctest: +SKIP
        """
        return self._announce.enter(channel, state, timeout)

    def update(
        self,
        channel: str,
        state: Mapping[str, Any] | None,
        *,
        timeout: float | timedelta | None = 10.0,
    ) -> Confirmation:
        """Replace this client's state on an entered ``channel``.

        The server announces exactly one state change (none if the state is the same).

        Args:
            channel: A channel entered with :meth:`enter`.
            state: The new state (a JSON object), or None to clear it.
            timeout: As for :meth:`enter`.

        Returns:
            A :class:`Confirmation`, as for :meth:`enter`.

        Raises:
            ValueError: ``channel`` is not entered (at once), or a bad argument.
            RuntimeError: The hub is closed or has no client.
        """
        return self._announce.update(channel, state, timeout)

    def leave(self, channel: str, *, timeout: float | timedelta | None = 10.0) -> Confirmation:
        """Leave ``channel``: the server announces a leave (not a timeout).

        Stops every heartbeat naming the channel; a heartbeat in flight ends before the
        leave is sent. Subscriptions the app made itself are left alone (if the app
        subscribed to ``channel`` itself, its subscribe requests keep it present).
        Leaving a channel that is not entered completes at once.

        Args:
            channel: The channel.
            timeout: As for :meth:`enter`.

        Returns:
            A :class:`Confirmation` that completes when the server confirmed the leave.

        Raises:
            ValueError: A bad channel name or timeout.
            RuntimeError: The hub is closed or has no client.
        """
        return self._announce.leave(channel, timeout)

    def own_presence(self, channel: str) -> Observable[OwnPresence]:
        """Whether the server sees this client on ``channel``: at once, then each change.

        Emits :class:`OwnPresence` values: ``ABSENT``, ``ENTERING`` (not confirmed yet),
        ``PRESENT``, ``REENTERING`` (the server dropped the client; rxpresence is
        asserting its presence again) and ``LEAVING``.

        Args:
            channel: The channel.
        """
        return self._announce.own_presence(channel)

    # -- failures -----------------------------------------------------------------

    def _report(self, where: str, error: BaseException, payload: Any) -> None:
        try:
            with self._lock:
                if self._errors._observers:
                    self._errors.on_next(ErrorReport(where, error, payload))
                    return
            log.warning("rxpresence %s error: %s: %s", where, type(error).__name__, error)
        except Exception:  # reporting must never raise
            log.exception("rxpresence could not report an error")

    def _report_failed_report(self, where: str, error: BaseException, payload: Any) -> None:
        log.error("an errors subscriber raised %s: %s", type(error).__name__, error)

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Leave entered channels, remove the listener, stop timers, complete every stream.

        Idempotent. On a threaded client the leaves are sent and waited for (a few
        seconds at most); on an asyncio client they are scheduled on the loop: await
        :meth:`aclose` to wait for them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._pubnub is not None:
            try:
                self._pubnub.remove_listener(self._listener)
            except Exception as exc:
                log.debug("remove_listener failed: %s", exc)
        self._announce.close()  # announce hook: leaves the entered channels
        self._feeds.dispose()
        with self._lock:
            self._sync.close()
        if self._own_timers is not None:
            self._own_timers.dispose()  # pending timers were cancelled above
        if self._leave_on_close and self._pubnub is not None:
            self._send_leave()
        channels = [*self._channels.values(), *self._graced.values()]
        for fanout in (self._events, self._status, self._errors):
            fanout.on_completed()
        for channel in channels:
            channel.roster.on_completed()
            channel.occupancy.on_completed()

    def _send_leave(self) -> None:
        pubnub = self._pubnub
        try:
            uuid = pubnub.config.uuid
            with self._lock:
                channels = set(self._sync.own_channels(uuid))
            channels.update(pubnub.get_subscribed_channels() or ())
            groups = set(pubnub.get_subscribed_channel_groups() or ())
            names = [c for c in channels if not c.endswith(("-pnpres", ".*"))]
            groups = {g for g in groups if not g.endswith("-pnpres")}
            self._leave_task = send_leave(pubnub, names, groups)
        except Exception as exc:  # closing must not fail on a lost leave
            log.warning("rxpresence could not send a leave on close: %s", exc)

    async def aclose(self) -> None:
        """:meth:`close`, then wait for the leaves it sent (for asyncio clients)."""
        self.close()
        await self._announce.aclose()  # announce hook
        task, self._leave_task = self._leave_task, None
        if task is not None:
            try:
                await task
            except Exception as exc:  # a lost leave only delays the timeout
                log.warning("rxpresence leave on close failed: %s", exc)

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
