"""This client's own presence: entered channels, kept present with their state.

:class:`Announcer` owns everything about announcing: the channels entered and their
state, the heartbeat timer, the requests, the confirmations handed to the app, the
re-assertion after outages and the :class:`OwnPresence` stream of each channel.

Interface with the hub
----------------------

The hub (:class:`~rxpresence.PresenceStreams`) talks to it through these calls only:

* ``Announcer(pubnub, scheduler, lock, report, on_watch=...)``: the client, the hub's
  scheduler (a :class:`~rxpresence._locked.LockedScheduler`: timer actions run under
  ``lock``), the hub's re-entrant lock, ``report(where, error, payload)`` for failures,
  and ``on_watch(uuid)``, called with the client's uuid when a first channel is entered
  and with None when none is left: only meanwhile does a hub's fast path need to hand
  that uuid's events to ``on_event``. Construction also runs the heartbeats-off
  configuration check (see below).
* ``enter`` / ``update`` / ``leave`` / ``own_presence``: the public methods the hub
  delegates to.
* ``on_status(ConnectionStatus)``: every SDK status, under the lock.
* ``on_event(PresenceEvent)``: live events, under the lock. Only its own uuid's events
  (and interval events) on entered channels matter, and only while ``on_watch`` says so.
* ``on_snapshot(channel, uuids)``: after a here-now snapshot of ``channel`` was folded
  in, under the lock.
* ``close()`` (sends the leaves; waits for them on a threaded client) and
  ``aclose()`` (awaits them on an asyncio one).

How presence is kept
--------------------

* **One join that carries the state.** ``enter`` sends a heartbeat naming the channel
  with its state (the ``state`` parameter of the heartbeat request), so the server's
  join carries the state: no join followed by a state change. ``update`` sends a
  heartbeat with the new state: the server announces exactly one state change.
  Heartbeats are idempotent on the server: one naming a client that is present with
  the same state changes nothing and announces nothing.
* **Staying present.** Every entered channel is heartbeated about every
  ``T / 2 - 1`` seconds, ``T`` being ``config.presence_timeout`` (what the heartbeat
  declares), whatever the SDK's own heartbeat settings. Heartbeats due within half an
  interval of each other go in one request, so channels fall into step. Nothing is sent
  when nothing is entered.
* **One request at a time.** At most one request is in flight; the next is chosen when
  it ends: leaves first, then heartbeats. So a leave is never overtaken by a heartbeat
  sent before it (which would join the client again), and a heartbeat never names a
  channel that was left.
* **Re-assertion.** The server forgets a client's presence and state when it times out.
  After a reconnect status, a snapshot that does not list the client, its own timeout
  or leave event, or its own join without its state (a subscribe of the app rejoined
  it), the entered channels are heartbeated again at once. Because heartbeats are
  idempotent, a spurious re-assertion costs one request and no event, and an outage
  ends in exactly one join (the first heartbeat that gets through). The asyncio client
  never reports a reconnect: a successful request (a heartbeat, a here-now snapshot, or
  the subscribe that delivered a live event handed to ``on_event``) is itself the sign
  that the network is back.
* **Backoff.** A failed request is retried after 0.1 s, doubling up to 4 s (plus up to
  10 % jitter), and two requests are always at least 0.1 s apart: at most about ten
  attempts per second during an outage, and back within about 4 s of the network
  returning. Signs that the network is back skip the rest of the backoff.
* **Confirmations.** Each ``enter``/``update``/``leave`` returns a
  :class:`Confirmation` completed when a request carrying it succeeded, or failed after
  its ``timeout`` (on the hub's scheduler) while the work goes on in the background.
* **Own presence.** Per channel, a :class:`OwnPresence` stream: ``entering`` until the
  first confirmation, ``present`` after each, ``re-entering`` when the server has
  dropped the client (own timeout or leave event newer than the last confirmation, a
  snapshot without it, or a whole presence timeout without a confirmation),
  ``leaving`` until a leave is confirmed, then ``absent``.
* **Configuration.** With presence heartbeats off, the SDK renews presence only through
  subscribe requests; a short presence timeout then times out the channels the app
  subscribed to itself. That warning is issued only for subscribed channels that are
  not entered (rxpresence keeps the entered ones present): at once if the client is
  already subscribed when the hub is attached, else at the first connected status.

Everything runs under the hub's lock: hub calls hold it, timers run on the hub's
:class:`~rxpresence._locked.LockedScheduler`, request callbacks take it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import threading
import warnings
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import Any

from reactivex import Observable, abc

from ._announce_io import AnnounceTransport, transport_for
from ._event import Action, PresenceEvent
from ._fanout import Latest
from ._guardrails import PresenceConfigWarning, heartbeats_off_problem, is_loopback_origin
from ._own_presence import (
    AnnounceError,
    AnnounceTimeout,
    Confirmation,
    OwnPresence,
    check_channel,
    check_state,
    check_timeout,
    settle,
)
from ._reports import ConnectionStatus

__all__ = ["Announcer"]

log = logging.getLogger("rxpresence")

Report = Callable[[str, BaseException, Any], None]

#: First wait after a failed request, in seconds; it doubles up to RETRY_MAX.
RETRY_INITIAL = 0.1
RETRY_MAX = 4.0
#: Random extra wait, as a fraction of the wait.
RETRY_JITTER = 0.1
#: Shortest time between two requests, in seconds (at most ten a second).
MIN_GAP = 0.1
#: A snapshot this much younger than the last confirmation may predate it (PubNub caches
#: here-now answers for about 3 s): it does not say the client was dropped.
SNAPSHOT_SLACK = 5.0
#: An own timeout or leave event this much older than the last confirmation happened
#: before it (timestamps are whole seconds, and clocks differ a little).
EVENT_SLACK = 2.0
#: Seconds ``close()`` waits for the last leave on a threaded client.
CLOSE_WAIT = 3.0
#: Most state bytes one heartbeat carries; more entered state is spread over requests.
MAX_REQUEST_STATE_BYTES = 24 * 1024
#: The presence timeouts PubNub applies (it raises smaller ones and caps larger ones).
PUBNUB_MIN_TIMEOUT = 20.0
PUBNUB_MAX_TIMEOUT = 320.0
#: Times closer than this are the same (virtual clocks round to microseconds).
_EPSILON = 1e-3

_Waiter = tuple[int, Confirmation, "abc.DisposableBase | None"]


class _Entry:
    """One entered channel."""

    __slots__ = (
        "asked",
        "channel",
        "confirmed_at",
        "confirmed_version",
        "due",
        "sent",
        "state",
        "version",
        "waiters",
    )

    def __init__(self, channel: str, state: dict[str, Any], now: float) -> None:
        self.channel = channel
        self.state = state
        self.version = 1  # of the state; confirmations wait for a version
        self.confirmed_version = 0
        self.confirmed_at: float | None = None
        self.due = now  # when the next heartbeat is owed
        self.asked = 0  # sequence number of the last trigger that needs a heartbeat
        self.sent = False  # named by a request already (so leaving needs a leave)
        self.waiters: list[_Waiter] = []


class _Leaving:
    """A channel left whose leave the server has not confirmed yet."""

    __slots__ = ("since", "waiters")

    def __init__(self, since: float) -> None:
        self.since = since
        self.waiters: list[_Waiter] = []


class _Request:
    """The request in flight."""

    __slots__ = ("finished", "kind", "sent", "seq", "versions")

    def __init__(self, kind: str, sent: dict[str, Any], versions: dict[str, int], seq: int) -> None:
        self.kind = kind  # "heartbeat" or "leave"
        self.sent = sent  # channel -> the _Entry or _Leaving it was sent for
        self.versions = versions  # channel -> state version carried (heartbeats)
        self.seq = seq
        self.finished: Future[None] = Future()

    def __repr__(self) -> str:
        return f"<{self.kind} of {', '.join(sorted(self.sent))}>"


def _same_state(a: Any, b: Any) -> bool:
    # PubNub clears state to nothing; an empty object and no state are the same.
    return (dict(a) if a else None) == (dict(b) if b else None)


class Announcer:
    """Announces this client's presence on the channels it entered (see the module doc).

    Args:
        pubnub: The client, or None (a detached hub: announcing raises).
        scheduler: The hub's scheduler; actions run under ``lock``.
        lock: The hub's lock.
        report: ``report(where, error, payload)`` for failures (``where="announce"``).
        on_watch: Called (under the lock) with the client's uuid when a first channel
            is entered, and with None when no channel is entered any more.
        transport: Where requests go; by default the client's own endpoints.
        stacklevel: Of the configuration warning issued at construction, counted from
            this constructor.
    """

    def __init__(
        self,
        pubnub: Any,
        scheduler: abc.SchedulerBase,
        lock: threading.RLock,
        report: Report,
        *,
        on_watch: Callable[[str | None], None] | None = None,
        transport: AnnounceTransport | str | None = "auto",
        stacklevel: int = 2,
    ) -> None:
        self._pubnub = pubnub
        self._scheduler = scheduler
        self._lock = lock
        self._report = report
        self._transport: AnnounceTransport | None = (
            transport_for(pubnub) if isinstance(transport, str) else transport
        )
        config = getattr(pubnub, "config", None)
        uuid = getattr(config, "uuid", None)
        self.uuid: str | None = uuid if isinstance(uuid, str) and uuid else None
        self._on_watch = on_watch
        self._watching = False
        self._entries: dict[str, _Entry] = {}
        self._leaving: dict[str, _Leaving] = {}
        self._statuses: dict[str, Latest[OwnPresence]] = {}
        self._in_flight: _Request | None = None
        self._seq = itertools.count(1)
        self._failures = 0
        self._retry_at = 0.0
        self._last_sent = -math.inf
        self._last_error: BaseException | None = None
        self._timer: abc.DisposableBase | None = None
        self._timer_due = math.inf
        self._random = random.Random()
        self._closed = False
        self._closing: Future[None] | None = None
        self._heartbeats_checked = False
        self._check_heartbeats(self._subscribed(), stacklevel=stacklevel + 1, at_attach=True)

    # -- time -------------------------------------------------------------------------

    def _now(self) -> float:
        """The scheduler's clock, in Unix seconds (virtual under a TestScheduler)."""
        return self._scheduler.now.timestamp()

    def timing(self) -> tuple[float, float]:
        """``(presence timeout the server applies, heartbeat interval)`` in seconds.

        The timeout is ``config.presence_timeout``, the value heartbeats declare; PubNub
        raises it to 20 s and caps it at 320 s (a loopback server is taken at its word).
        """
        config = getattr(self._pubnub, "config", None)
        declared = getattr(config, "presence_timeout", None)
        if isinstance(declared, bool) or not isinstance(declared, int | float) or declared <= 0:
            declared = 300.0
        timeout = float(declared)
        if not is_loopback_origin(getattr(config, "origin", None)):
            timeout = min(max(timeout, PUBNUB_MIN_TIMEOUT), PUBNUB_MAX_TIMEOUT)
        return timeout, max(timeout / 2 - 1, timeout / 4)

    # -- the app's calls --------------------------------------------------------------

    def enter(self, channel: str, state: Any = None, timeout: Any = 10.0) -> Confirmation:
        """Enter ``channel`` with ``state`` (see :meth:`PresenceStreams.enter`)."""
        channel, copied, seconds = (
            check_channel(channel),
            check_state(state),
            check_timeout(timeout),
        )
        with self._lock:
            self._require_usable("enter")
            confirmation = Confirmation("enter", channel)
            entry = self._entries.get(channel)
            if entry is None:
                entry = self._entries[channel] = _Entry(channel, copied, self._now())
                self._watch(True)
                self._ask(entry)
                self._set_status(channel, OwnPresence.ENTERING)
            elif not _same_state(entry.state, copied):
                self._change(entry, copied)
            self._wait(entry.waiters, entry.version, confirmation, seconds, entry)
            self._pump()
        return confirmation

    def update(self, channel: str, state: Any, timeout: Any = 10.0) -> Confirmation:
        """Replace the state on an entered ``channel`` (see :meth:`PresenceStreams.update`)."""
        channel, copied, seconds = (
            check_channel(channel),
            check_state(state),
            check_timeout(timeout),
        )
        with self._lock:
            self._require_usable("update")
            entry = self._entries.get(channel)
            if entry is None:
                raise ValueError(
                    f"update({channel!r}): the channel is not entered; call "
                    f"enter({channel!r}, state) first"
                )
            confirmation = Confirmation("update", channel)
            if not _same_state(entry.state, copied):
                self._change(entry, copied)
            self._wait(entry.waiters, entry.version, confirmation, seconds, entry)
            self._pump()
        return confirmation

    def leave(self, channel: str, timeout: Any = 10.0) -> Confirmation:
        """Leave ``channel`` (see :meth:`PresenceStreams.leave`)."""
        channel, seconds = check_channel(channel), check_timeout(timeout)
        with self._lock:
            self._require_usable("leave")
            confirmation = Confirmation("leave", channel)
            entry = self._entries.pop(channel, None)
            if entry is not None:
                self._watch(bool(self._entries))
                superseded = AnnounceError(
                    f"leave({channel!r}) was called before the server confirmed the state asked for"
                )
                self._settle_all(entry.waiters, superseded)
                if entry.sent or channel in self._leaving:
                    leaving = self._leaving.get(channel)
                    if leaving is None:
                        leaving = self._leaving[channel] = _Leaving(self._now())
                    self._set_status(channel, OwnPresence.LEAVING)
                else:  # never named by a request: the server never heard of it
                    self._set_status(channel, OwnPresence.ABSENT)
            leaving = self._leaving.get(channel)
            if leaving is None:
                settle(confirmation)  # not entered: nothing to do
            else:
                self._wait(leaving.waiters, 0, confirmation, seconds, None)
            self._pump()
        return confirmation

    def own_presence(self, channel: str) -> Observable[OwnPresence]:
        """The :class:`OwnPresence` of ``channel``: at once, then each change."""
        channel = check_channel(channel)
        with self._lock:
            latest = self._status_stream(channel)
            return latest.view()

    def entered(self) -> dict[str, dict[str, Any]]:
        """Entered channels and their states (copies)."""
        with self._lock:
            return {name: dict(e.state) for name, e in self._entries.items()}

    def _require_usable(self, action: str) -> None:
        if self._closed:
            raise RuntimeError(f"{action}: the presence hub is closed")
        if self._transport is None:
            raise RuntimeError(
                f"{action} needs a PubNub or PubNubAsyncio client: this hub has none"
            )
        if self.uuid is None:
            raise RuntimeError(f"{action}: the client's config has no user_id")

    def _watch(self, watching: bool) -> None:
        if watching is self._watching:
            return
        self._watching = watching
        if self._on_watch is not None:
            try:
                self._on_watch(self.uuid if watching else None)
            except Exception as exc:  # the hub's hook must not break announcing
                self._report("announce", exc, None)

    # -- statuses ---------------------------------------------------------------------

    def _status_stream(self, channel: str) -> Latest[OwnPresence]:
        latest = self._statuses.get(channel)
        if latest is None:
            latest = self._statuses[channel] = Latest(self._lock, self._report, OwnPresence.ABSENT)
        return latest

    def _status(self, channel: str) -> OwnPresence:
        latest = self._statuses.get(channel)
        return OwnPresence.ABSENT if latest is None else latest.value

    def _set_status(self, channel: str, status: OwnPresence) -> None:
        latest = self._status_stream(channel)
        if latest.value is not status:
            latest.on_next(status)

    def _lost(self, entry: _Entry) -> None:
        """The server dropped ``entry``'s channel: say so and heartbeat at once."""
        if self._status(entry.channel) is OwnPresence.PRESENT:
            self._set_status(entry.channel, OwnPresence.REENTERING)
        self._ask(entry)

    # -- confirmations ----------------------------------------------------------------

    def _wait(
        self,
        waiters: list[_Waiter],
        version: int,
        confirmation: Confirmation,
        seconds: float | None,
        entry: _Entry | None,
    ) -> None:
        if entry is not None and entry.confirmed_version >= version:
            settle(confirmation)
            return
        timer = None
        if seconds is not None:

            def expire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
                settle(confirmation, self._timeout_error(confirmation, seconds))

            timer = self._scheduler.schedule_relative(seconds, expire)
        waiters.append((version, confirmation, timer))

    def _timeout_error(self, confirmation: Confirmation, seconds: float) -> AnnounceTimeout:
        action, channel = confirmation.action, confirmation.channel
        cause = self._last_error
        because = f" (last error: {type(cause).__name__}: {cause})" if cause is not None else ""
        if action == "leave":
            after = "the server times the client out if the leave never arrives"
        else:
            after = f"rxpresence keeps trying in the background until leave({channel!r})"
        return AnnounceTimeout(
            f"{action}({channel!r}) was not confirmed by the server within {seconds:g} s"
            f"{because}; {after}"
        )

    @staticmethod
    def _settle_all(
        waiters: list[_Waiter], error: BaseException | None, upto: int | None = None
    ) -> list[_Waiter]:
        """Settle the waiters (those for versions up to ``upto``); return the others."""
        kept: list[_Waiter] = []
        for waiter in waiters:
            version, confirmation, timer = waiter
            if upto is not None and version > upto:
                kept.append(waiter)
                continue
            if timer is not None:
                timer.dispose()
            settle(confirmation, error)
        return kept

    # -- triggers from the hub --------------------------------------------------------

    def on_status(self, status: ConnectionStatus) -> None:
        """React to an SDK status (the hub holds the lock)."""
        if self._closed:
            return
        if status.connected:
            if not self._heartbeats_checked:
                self._check_heartbeats(self._subscribed(), stacklevel=2, at_attach=False)
            self._network_back()
            for entry in self._entries.values():
                self._ask(entry)
        elif status.disconnected:
            for entry in self._entries.values():
                self._ask(entry)  # a probe: its failure starts the backoff
        self._pump()

    def on_event(self, event: PresenceEvent) -> None:
        """Look at a live event (the hub holds the lock)."""
        if self._closed or not self._entries or event.source != "live":
            return
        self._network_back()  # a live event came through: the subscribe loop works
        entry = self._entries.get(event.channel)
        uuid = self.uuid
        if entry is not None and uuid is not None:
            action = event.action
            if action is Action.INTERVAL:
                if uuid in event.timeout or uuid in event.leave:
                    self._lost(entry)
                elif uuid in event.join:
                    self._ask(entry)  # joins in intervals carry no state: assert it
            elif event.uuid == uuid:
                if action is Action.TIMEOUT or action is Action.LEAVE:
                    confirmed = entry.confirmed_at
                    if confirmed is not None and event.timestamp + EVENT_SLACK < confirmed:
                        self._ask(entry)  # from before the last confirmation: already back
                    else:
                        self._lost(entry)
                elif action is Action.JOIN and not _same_state(event.state, entry.state):
                    self._ask(entry)  # rejoined without its state (by a subscribe)
        self._pump()

    def on_snapshot(self, channel: str, uuids: Collection[str]) -> None:
        """A here-now snapshot of ``channel`` was folded in (the hub holds the lock)."""
        if self._closed:
            return
        self._network_back()  # a here-now got through
        entry = self._entries.get(channel)
        if entry is not None and self.uuid not in uuids:
            confirmed = entry.confirmed_at
            if confirmed is None or self._now() - confirmed > SNAPSHOT_SLACK:
                self._lost(entry)
            else:
                self._ask(entry)  # the snapshot may predate the confirmation
        self._pump()

    def _network_back(self) -> None:
        if self._failures:
            self._failures = 0
            self._retry_at = 0.0

    def _ask(self, entry: _Entry) -> None:
        entry.asked = next(self._seq)
        entry.due = min(entry.due, self._now())

    def _change(self, entry: _Entry, state: dict[str, Any]) -> None:
        entry.state = state
        entry.version += 1
        self._ask(entry)

    # -- requests ---------------------------------------------------------------------

    def _pump(self) -> None:
        """Send the request owed now, if none is in flight; arm the timer for what is next.

        The timer also watches for a whole presence timeout without a confirmation,
        while a request hangs too.
        """
        if self._closed or self._transport is None:
            return
        now = self._now()
        timeout, interval = self.timing()
        self._expire(now, timeout)
        wake = math.inf
        if self._in_flight is None:
            owed = bool(self._leaving) or any(
                e.due <= now + _EPSILON for e in self._entries.values()
            )
            if owed:
                not_before = max(self._retry_at, self._last_sent + MIN_GAP)
                if not_before <= now + _EPSILON:
                    request = self._send(now, interval)
                    if self._in_flight is not request:
                        return  # answered at once: the answer's own pump armed the timer
                else:
                    wake = not_before
            else:
                wake = min((e.due for e in self._entries.values()), default=math.inf)
        for entry in self._entries.values():
            if (
                entry.confirmed_at is not None
                and self._status(entry.channel) is OwnPresence.PRESENT
            ):
                wake = min(wake, entry.confirmed_at + timeout)
        self._arm(wake, now)

    def _expire(self, now: float, timeout: float) -> None:
        """Entries not confirmed for a whole presence timeout: the server dropped them."""
        for entry in self._entries.values():
            confirmed = entry.confirmed_at
            if (
                confirmed is not None
                and confirmed + timeout <= now + _EPSILON
                and self._status(entry.channel) is OwnPresence.PRESENT
            ):
                self._lost(entry)

    def _arm(self, wake: float, now: float) -> None:
        if self._timer is not None:
            if self._timer_due == wake:
                return
            self._timer.dispose()
            self._timer = None
        self._timer_due = wake
        if wake == math.inf:
            return

        def fire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if self._timer is timer_ref[0]:
                self._timer = None
                self._timer_due = math.inf
            self._pump()

        timer_ref: list[abc.DisposableBase | None] = [None]
        timer_ref[0] = self._timer = self._scheduler.schedule_relative(max(0.0, wake - now), fire)

    def _send(self, now: float, interval: float) -> _Request:
        transport = self._transport
        assert transport is not None
        self._last_sent = now
        seq = next(self._seq)
        if self._leaving:
            channels = sorted(self._leaving)
            request = _Request("leave", {c: self._leaving[c] for c in channels}, {}, seq)
            self._in_flight = request
            transport.leave(channels, lambda error: self._done(request, error))
            return request
        horizon = now + interval / 2 + _EPSILON
        chosen: list[_Entry] = []
        used = 0
        for entry in sorted(self._entries.values(), key=lambda e: (e.due, e.channel)):
            if entry.due > horizon:
                break
            size = len(entry.channel) + len(json.dumps(entry.state)) + 8
            if chosen and used + size > MAX_REQUEST_STATE_BYTES:
                break
            chosen.append(entry)
            used += size
        for entry in chosen:
            entry.sent = True
        request = _Request(
            "heartbeat",
            {e.channel: e for e in chosen},
            {e.channel: e.version for e in chosen},
            seq,
        )
        self._in_flight = request
        transport.heartbeat(
            {e.channel: e.state for e in chosen}, lambda error: self._done(request, error)
        )
        return request

    def _done(self, request: _Request, error: BaseException | None) -> None:
        """A request ended (any thread; possibly before ``transport`` returned)."""
        try:
            with self._lock:
                if self._in_flight is not request:
                    return
                self._in_flight = None
                if not self._closed:
                    if error is None:
                        self._succeeded(request)
                    else:
                        self._failed(request, error)
                    self._pump()
        except Exception as exc:  # must not reach the SDK's thread or loop
            self._report("announce", exc, request)
        finally:
            if not request.finished.done():
                request.finished.set_result(None)

    def _succeeded(self, request: _Request) -> None:
        now = self._now()
        self._network_back()
        self._last_error = None
        if request.kind == "leave":
            for channel, leaving in request.sent.items():
                if channel in self._leaving and self._leaving[channel] is leaving:
                    del self._leaving[channel]
                    self._settle_all(leaving.waiters, None)
                    if channel not in self._entries:
                        self._set_status(channel, OwnPresence.ABSENT)
            return
        _, interval = self.timing()
        for channel, entry in request.sent.items():
            if channel not in self._entries or self._entries[channel] is not entry:
                continue  # left meanwhile
            version = request.versions[channel]
            entry.confirmed_at = now
            entry.confirmed_version = max(entry.confirmed_version, version)
            owed = entry.asked > request.seq or entry.version > version
            entry.due = now if owed else now + interval
            entry.waiters = self._settle_all(entry.waiters, None, upto=version)
            self._set_status(channel, OwnPresence.PRESENT)

    def _failed(self, request: _Request, error: BaseException) -> None:
        now = self._now()
        self._failures += 1
        delay = min(RETRY_MAX, RETRY_INITIAL * 2 ** (self._failures - 1))
        self._retry_at = now + delay * (1.0 + RETRY_JITTER * self._random.random())
        self._last_error = error
        self._report("announce", error, request)
        if request.kind != "leave":
            return
        timeout, _ = self.timing()
        for channel, leaving in request.sent.items():
            if (
                channel in self._leaving
                and self._leaving[channel] is leaving
                and now - leaving.since >= timeout
            ):
                # The server has timed the client out by now: the leave is moot.
                del self._leaving[channel]
                gave_up = AnnounceError(
                    f"leave({channel!r}) could not be sent for {timeout:g} s; the server "
                    "has timed the client out instead"
                )
                self._settle_all(leaving.waiters, gave_up)
                if channel not in self._entries:
                    self._set_status(channel, OwnPresence.ABSENT)

    # -- configuration ----------------------------------------------------------------

    def _subscribed(self) -> list[str] | None:
        """Channels the app subscribed to (presence ones excepted), or None if unknown."""
        get = getattr(self._pubnub, "get_subscribed_channels", None)
        if not callable(get):
            return None
        try:
            names = list(get() or ())
        except AttributeError:
            # The asyncio client's event engine has no channel list before its first
            # subscribe.
            return []
        except Exception:  # an SDK that cannot tell
            return None
        return [
            n
            for n in names
            if isinstance(n, str) and n and not n.endswith("-pnpres") and not n.endswith(".*")
        ]

    def _check_heartbeats(
        self, subscribed: list[str] | None, *, stacklevel: int, at_attach: bool
    ) -> None:
        """Warn once if subscribed channels rxpresence does not keep will time out."""
        config = getattr(self._pubnub, "config", None)
        if config is None:
            self._heartbeats_checked = True
            return
        if subscribed is not None:
            subscribed = [c for c in subscribed if c not in self._entries]
            if not subscribed:
                return  # nothing relies on subscribes alone (yet): look again later
        self._heartbeats_checked = True
        try:
            problem = heartbeats_off_problem(config, subscribed)
        except Exception:  # a check must never break the hub
            return
        if problem is not None:
            warnings.warn(problem, PresenceConfigWarning, stacklevel=stacklevel + 1)

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Leave every entered channel and stop (idempotent).

        On a threaded client this waits up to :data:`CLOSE_WAIT` seconds for the leave;
        on an asyncio client it only schedules it (see :meth:`aclose`).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._watch(False)
            if self._timer is not None:
                self._timer.dispose()
                self._timer = None
            channels = sorted(
                {name for name, entry in self._entries.items() if entry.sent} | set(self._leaving)
            )
            closed = AnnounceError("the presence hub was closed before the server confirmed")
            for entry in self._entries.values():
                self._settle_all(entry.waiters, closed)
            leave_waiters = [w for leaving in self._leaving.values() for w in leaving.waiters]
            self._entries.clear()
            self._leaving.clear()
            statuses = list(self._statuses.values())
            for latest in statuses:
                if latest.value is not OwnPresence.ABSENT:
                    latest.on_next(OwnPresence.ABSENT)
            in_flight, transport = self._in_flight, self._transport
            if channels and transport is not None:
                self._closing = self._leave_at_close(transport, channels, leave_waiters, in_flight)
            else:
                self._settle_all(leave_waiters, None)
        for latest in statuses:
            latest.on_completed()
        closing = self._closing
        if closing is not None and transport is not None and transport.blocking_close:
            try:
                closing.result(CLOSE_WAIT)
            except Exception as exc:  # a lost leave only delays the timeout
                log.warning("rxpresence leave on close not confirmed: %s", exc)

    def _leave_at_close(
        self,
        transport: AnnounceTransport,
        channels: list[str],
        waiters: list[_Waiter],
        in_flight: _Request | None,
    ) -> Future[None]:
        """Send one leave for ``channels`` once the request in flight has ended."""
        closing: Future[None] = Future()

        def finish(error: BaseException | None) -> None:
            failed = None if error is None else AnnounceError(f"the leave failed: {error}")
            self._settle_all(waiters, failed)
            if error is not None:
                log.warning("rxpresence leave on close failed: %s", error)
            if not closing.done():
                closing.set_result(None)

        def send(_: Any = None) -> None:
            try:
                transport.leave(channels, finish)
            except Exception as exc:
                finish(exc)

        if in_flight is None:
            send()
        else:
            # A heartbeat still in flight would join the client again after the leave.
            in_flight.finished.add_done_callback(send)
        return closing

    async def aclose(self) -> None:
        """:meth:`close`, then wait (up to :data:`CLOSE_WAIT` seconds) for the leave."""
        self.close()
        closing = self._closing
        if closing is None:
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(closing), CLOSE_WAIT)
        except Exception as exc:  # a lost leave only delays the timeout
            log.warning("rxpresence leave on close not confirmed: %s", exc)
