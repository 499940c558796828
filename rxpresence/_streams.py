"""The hub: PubNub listener callbacks in, hot presence streams out.

:class:`PresenceStreams` wires three pieces together and adds nothing but public
methods:

* the :class:`~rxpresence._channels.ChannelRegistry` holds the lock and every roster,
  raw and graced, and folds each event into them once, whatever the number of
  subscribers (see ``docs/performance.md``);
* the :class:`~rxpresence._listener.Listener` is what the SDK calls: it reads each
  presence object (:func:`~rxpresence._event.read_sdk`) and hands it to the registry,
  and hands statuses to the hub;
* the :class:`~rxpresence._sync.SyncManager` decides when to ask here-now and gives the
  answers to the registry.

The other side of presence, announcing this client's own (:meth:`PresenceStreams.enter`,
``update``, ``leave``, ``own_presence``), is the :class:`~rxpresence._announce.Announcer`:
the hub delegates the calls and feeds it statuses, folded snapshots, and, while a channel
is entered, the events folded.

The per-action observables are filters of ``events``; composing them by hand with
``merge`` and ``to_roster`` gives the same rosters as :meth:`PresenceStreams.roster` (a
test proves it), and ``events | for_channel(c) | suppress_flicker(g) | to_roster(c)``
the same as ``roster(c, grace=g)`` (another one does).

Why nothing may raise out of the listener: an exception escaping a listener callback
kills the SDK's worker thread and silently ends all delivery. Failures become
:class:`ErrorReport` values on ``errors`` instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from reactivex import Observable, abc

from ._announce import Announcer
from ._channels import ChannelRegistry
from ._event import Action, PresenceEvent
from ._fanout import Fanout
from ._grace import HiddenFlicker, grace_seconds
from ._guardrails import warn_about_config
from ._herenow import HereNowSource, here_now_source, send_leave
from ._limits import excerpt
from ._listener import Listener
from ._locked import TimerThread
from ._own_presence import Confirmation, OwnPresence
from ._reports import ConnectionStatus, ErrorReport
from ._roster import Roster, RosterDiff
from ._sync import ResyncSettings, SyncManager, channel_names
from ._users import UserKey, UserRoster, to_users
from ._views import state_view
from .operators import roster_diffs

if TYPE_CHECKING:
    from pubnub.pubnub import PubNub
    from pubnub.pubnub_asyncio import PubNubAsyncio

__all__ = ["PresenceStreams"]

log = logging.getLogger("rxpresence")


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
        events: Every presence event, in delivery order; those that told the roster
            nothing new are marked ``redundant`` (see :class:`PresenceEvent`).
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
        pubnub: PubNub | PubNubAsyncio | None,
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
        self._own_timers: TimerThread | None = None  # see TimerThread for why
        if scheduler is None:
            scheduler = self._own_timers = TimerThread()
        self._registry = ChannelRegistry(scheduler, self._report)
        lock = self._registry.lock
        self._status: Fanout[ConnectionStatus] = Fanout(lock, self._report)
        self._errors: Fanout[ErrorReport] = Fanout(lock, self._report_failed_report)
        self._sync = SyncManager(self._registry, source, resync or ResyncSettings(), self._report)

        self.events: Observable[PresenceEvent] = self._registry.events
        self.status: Observable[ConnectionStatus] = self._status.view()
        self.errors: Observable[ErrorReport] = self._errors.view()

        self._leave_on_close = bool(leave_on_close)
        self._leave_task: Any = None
        self._closing = False
        if pubnub is not None:
            # Heartbeats-off is the announcer's to judge: it keeps entered channels alive.
            warn_about_config(pubnub, stacklevel=2, heartbeats_off=False)
        self._listener = Listener(self._registry.fold, self._on_status, self._report)
        # This client's own presence (enter, update, leave); warns about heartbeats off.
        self._announce = Announcer(
            pubnub,
            self._registry.scheduler,
            self._registry.lock,
            self._report,
            on_watch=self._watch_own,
            stacklevel=2,
        )
        self._sync.on_snapshot = self._announce.on_snapshot
        if pubnub is not None:
            pubnub.add_listener(self._listener)

    # The per-action streams are made when first read: RxPY's operators module, which
    # they use, costs a few milliseconds to import, and many apps read none of them.
    @functools.cached_property
    def joins(self) -> Observable[PresenceEvent]:
        """Join events (each arrival once: redundant ones are left out)."""
        return self._of(Action.JOIN)

    @functools.cached_property
    def leaves(self) -> Observable[PresenceEvent]:
        """Leave events (each once)."""
        return self._of(Action.LEAVE)

    @functools.cached_property
    def timeouts(self) -> Observable[PresenceEvent]:
        """Timeout events (each once)."""
        return self._of(Action.TIMEOUT)

    @functools.cached_property
    def state_changes(self) -> Observable[PresenceEvent]:
        """State-change events (each change once)."""
        return self._of(Action.STATE_CHANGE)

    @functools.cached_property
    def intervals(self) -> Observable[PresenceEvent]:
        """Interval events (with their join/leave/timeout arrays)."""
        return self._of(Action.INTERVAL)

    def _of(self, action: Action) -> Observable[PresenceEvent]:
        from reactivex import operators as ops

        def matches(event: PresenceEvent) -> bool:
            return event.action is action and not event.redundant

        return self.events.pipe(ops.filter(matches))

    # -- input --------------------------------------------------------------------

    def push(self, event: PresenceEvent) -> None:
        """Feed one event, as the SDK listener does (thread-safe, never raises)."""
        try:
            self._registry.fold(event)
        except Exception as exc:  # must not reach the caller's (the SDK's) thread
            self._report("listener", exc, event)

    def _on_status(self, status: Any) -> None:
        record = ConnectionStatus.from_sdk(status)
        with self._registry.lock:
            if not self._registry.closed:
                self._status.on_next(record)
                self._sync.on_status(record)
                self._announce.on_status(record)

    def _watch_own(self, uuid: str | None) -> None:
        # The announcer sees the events folded only while a channel is entered (its own
        # timeouts and leaves mean: enter again); otherwise folds pay nothing for it.
        self._registry.tap(None if uuid is None else self._announce.on_event)

    # -- rosters ------------------------------------------------------------------

    def roster(self, channel: str, *, grace: float | timedelta | None = None) -> Observable[Roster]:
        """The roster of ``channel``: the current snapshot at once, then each change.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: Seconds (or a timedelta) to hold timeouts before removing a member;
                a rejoin within the window is never shown. None or 0: no suppression.

        Raises:
            ValueError: ``channel`` is not a non-empty string, or ``grace`` is not a
                finite number of seconds >= 0 (or a timedelta).
        """
        seconds = _checked(channel, grace)
        self._track(channel, uuids=True)
        return self._registry.roster(channel, seconds)

    def occupancy(self, channel: str, *, grace: float | timedelta | None = None) -> Observable[int]:
        """The occupancy of ``channel``: the current count at once, then each change.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: As for :meth:`roster`.
        """
        seconds = _checked(channel, grace)
        self._track(channel, uuids=False)
        return self._registry.occupancy(channel, seconds)

    def diffs(
        self, channel: str, *, grace: float | timedelta | None = None
    ) -> Observable[RosterDiff]:
        """Who joined, who left and whose state changed on ``channel``, as it happens.

        The same as ``roster(channel, grace=grace)`` piped into
        :func:`~rxpresence.operators.roster_diffs`: the first value shows everyone
        present as joined, then one :class:`RosterDiff` per change of members (changes
        of the count alone are skipped).

        ```text
        roster: {}--{a}---{a,b}---{a,b}'--{b}-->
        diffs:  ----+a----+b------~b------(-a)->
        ```

        (``{a,b}'`` is b with a new state)

        Args:
            channel: The channel (without ``-pnpres``).
            grace: As for :meth:`roster`: with a grace, a flicker makes no diff at all.

        Example:
            >>> presence.diffs("lobby", grace=10).subscribe(print)  # doctest: +SKIP
            +ada
            -bo
        """
        return self.roster(channel, grace=grace).pipe(roster_diffs())

    def flickers(self, channel: str, *, grace: float | timedelta) -> Observable[HiddenFlicker]:
        """The flickers ``roster(channel, grace=grace)`` hides, each when it is hidden.

        A flicker is a departure (a timeout) cancelled by the same uuid's rejoin within
        the grace period: the graced roster never showed it. This is the rule the
        roster itself applies, so counting these values counts what it hid.

        Args:
            channel: The channel (without ``-pnpres``).
            grace: The grace period, as for :meth:`roster` (must be > 0).

        Raises:
            ValueError: ``channel`` is empty, or ``grace`` is not a duration > 0.
        """
        seconds = _checked(channel, grace)
        if not seconds:
            raise ValueError(f"grace must be > 0 to hide flickers, got {grace!r}")
        self._track(channel, uuids=True)
        return self._registry.flickers(channel, seconds)

    def current(self, channel: str) -> Roster:
        """The latest roster snapshot of ``channel`` (empty if nothing was seen)."""
        return self._registry.current(channel)

    # -- snapshots, many channels, users -------------------------------------------

    def _track(self, channel: str, *, uuids: bool) -> None:
        with self._registry.lock:
            if not self._registry.closed:
                self._sync.track(channel, uuids=uuids)

    def _track_all(self) -> None:
        with self._registry.lock:
            if not self._registry.closed:
                self._sync.track_all(_subscribed_channels(self._pubnub))

    def rosters(self) -> Observable[Mapping[str, Roster]]:
        """Every roster by channel: the current mapping at once, then each change.

        The mapping (an immutable ``immutables.Map``, channel -> :class:`Roster`) holds
        the channels the client is subscribed to (presence-only ``-pnpres``
        subscriptions included, also those made later) and every channel events arrive
        on, including those learned through channel groups and wildcards. From the
        first call on, each of them is bootstrapped and resynced like :meth:`roster`.
        """
        self._track_all()
        return self._registry.rosters()

    def where_is(self, uuid: str) -> Observable[frozenset[str]]:
        """The channels ``uuid`` is present on: at once, then each change (no repeats).

        Tracks every channel, as :meth:`rosters` does.

        Args:
            uuid: The uuid to follow.
        """
        if not isinstance(uuid, str) or not uuid:
            raise ValueError(f"uuid must be a non-empty string, got {uuid!r}")
        self._track_all()
        return self._registry.where_is(uuid)

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
        return state_view(self.roster(channel, grace=grace).pipe(to_users(key, self._report)))

    def resync(self, channel: str | None = None) -> None:
        """Fetch a fresh here-now snapshot now (at most one request per channel in flight).

        Args:
            channel: The channel to resync (it is tracked from now on), or None for every
                tracked channel. Does nothing without a here-now source.
        """
        with self._registry.lock:
            if not self._registry.closed:
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
            with self._registry.lock:
                if self._errors.has_observers:
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
        registry = self._registry
        with registry.lock:
            if registry.closed or self._closing:
                return
            self._closing = True
            self._sync.close()
            # Read before the registry closes: the channels whose roster lists us.
            own = self._own_channels()
        if self._pubnub is not None:
            try:
                self._pubnub.remove_listener(self._listener)
            except Exception as exc:
                log.debug("remove_listener failed: %s", exc)
        self._announce.close()  # leaves the entered channels
        registry.close()
        if self._own_timers is not None:
            self._own_timers.dispose()  # pending timers were cancelled above
        if self._leave_on_close and self._pubnub is not None:
            self._send_leave(own)
        self._status.on_completed()
        self._errors.on_completed()

    def _own_channels(self) -> list[str]:
        try:
            uuid = self._pubnub.config.uuid if self._pubnub is not None else None
        except Exception:
            return []
        return self._registry.channels_with(uuid) if isinstance(uuid, str) else []

    def _send_leave(self, own: list[str]) -> None:
        pubnub = self._pubnub
        if pubnub is None:
            return
        try:
            channels = set(own)
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
        await self._announce.aclose()
        task, self._leave_task = self._leave_task, None
        if task is not None:
            try:
                await task
            except Exception as exc:  # a lost leave only delays the timeout
                log.warning("rxpresence leave on close failed: %s", exc)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._registry.closed

    def __enter__(self) -> PresenceStreams:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _checked(channel: str, grace: float | timedelta | None) -> float:
    """Validate a channel name and a grace; the grace in seconds (0 for none)."""
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"channel must be a non-empty string, got {excerpt(channel)}")
    return 0.0 if grace is None else grace_seconds(grace)


def _subscribed_channels(pubnub: Any) -> list[str]:
    """The presence channels ``pubnub`` is subscribed to (see :func:`channel_names`)."""
    get = getattr(pubnub, "get_subscribed_channels", None)
    if not callable(get):
        return []
    try:
        return channel_names(get() or ())
    except Exception:  # not subscribed yet, or an SDK without it
        return []
