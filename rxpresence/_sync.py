"""Per-channel sync: here-now snapshots folded into live rosters, without a gap.

Presence events alone never give a true roster: whoever was present before we
subscribed never sends a join, an interval event may carry no names, and during a
network outage every event is missed. So each tracked channel also gets here-now
snapshots, and this module decides when to ask and how to fold an answer in.

Folding a snapshot in
---------------------

Live events keep being applied while a here-now is in flight; the answer is then
compared with the roster *as it is when the answer arrives* and the difference is
emitted as synthetic join / leave / state-change events (``source="resync"``) through
the same reducer, :meth:`Roster.apply`, and onto ``events``, so diffs, graced rosters and
UIs see one consistent story. Every synthetic event carries the timetoken

    ``T = (the roster's newest applied timetoken when the request was SENT) + 1``

and :meth:`Roster.apply` ignores an event older than the last one applied to its uuid,
and remembers departures (tombstones). Why that timetoken is right:

* Everything applied before the request was sent happened before the server answered,
  so the snapshot already reflects it; ``T`` is newer than all of it, so the snapshot
  wins over those events (it fixes what they missed: people present before we
  subscribed, departures lost in an outage, interval events without names).
* A live event that arrives while the request is in flight was published after the
  roster's newest event, so its timetoken is above ``T``. It wins over the snapshot
  whether the snapshot saw it or not:

  - a join racing the bootstrap is applied live; the snapshot then either lists the
    uuid (it is already a member: nothing is emitted) or does not (the synthetic leave
    at ``T`` is older than the join: nothing is emitted). It appears exactly once.
  - a leave racing the bootstrap leaves a tombstone newer than ``T``; a snapshot still
    listing the uuid produces no synthetic join, so the uuid is not resurrected.
  - a live event delivered *after* the answer was folded in (the server processed it
    before the here-now, the SDK delivered it later) is newer than ``T`` too: a join
    only refreshes the member the snapshot added, a leave removes it once.

* The difference is only emitted for uuids whose newest event is older than ``T``, so
  every synthetic event changes the roster (no no-op events on ``events``).

Ordering uses timetokens the roster already holds, never the local clock, so it is
immune to clock skew between this machine and PubNub.

When to ask
-----------

A channel is tracked once its roster, occupancy or users are requested (every channel
once :meth:`SyncManager.rosters` is). It is (re)synced:

* at once when first tracked (the bootstrap);
* on ``PNConnectedCategory`` / ``PNReconnectedCategory``: a bootstrap taken before the
  client subscribed misses whoever joined in between (PubNub's Chat SDK has exactly
  that race), and after a reconnect the events of the outage are gone;
* from the moment a disconnect is reported, until a here-now succeeds. The asyncio
  client's event engine retries with backoff and, once the network is back, resumes
  with no status at all, so on a quiet channel nothing else says the connection
  returned. A successful here-now is itself the sign that it did. Rosters are marked
  stale (with the time) meanwhile; a snapshot requested after the disconnect clears it;
* on the first live event after an outage (the subscribe loop is back);
* on an ``interval`` event without arrays whose occupancy disagrees with the roster:
  the Python SDK drops ``here_now_refresh``, so "no arrays" means "membership
  unknown". An interval without arrays whose occupancy matches the roster is the
  periodic no-change interval PubNub sends every period and triggers nothing;
* when PubNub's occupancy disagrees with the roster's size for several consecutive
  live events (drift);
* on :meth:`SyncManager.resync`.

At most one here-now is in flight per channel; triggers meanwhile coalesce into one
follow-up. A successful answer is treated as current for ``cache_ttl`` seconds (PubNub
caches here-now answers for about 3 s on its side, so asking sooner returns the same
answer): a trigger inside that window is served by one follow-up when it ends.
Event-driven triggers wait ``settle`` seconds first, so a burst of events (a catch-up
backlog, several intervals at once) costs one request. A failed request is reported on
``errors`` as ``ErrorReport("here-now", ...)`` and retried with exponential backoff on
the hub's scheduler (so tests run it in virtual time); a roster that never synced keeps
``synced_at=None``. A channel only the occupancy of which is wanted uses a count-only
here-now (``include_uuids=False``).

Everything here runs under the hub's lock: hub calls hold it, the scheduler is the
hub's :class:`LockedScheduler`, and here-now callbacks take it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import immutables
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from ._event import Action, PresenceEvent
from ._fanout import Latest
from ._herenow import MAX_PAGE, HereNowError, HereNowPage, HereNowRequest, HereNowSource
from ._reports import ConnectionStatus
from ._roster import Roster

if TYPE_CHECKING:
    from ._streams import PresenceStreams, _Channel

__all__ = ["ResyncSettings", "SyncManager"]

_INTERVAL = Action.INTERVAL
_EMPTY_ROSTERS: immutables.Map[str, Roster] = immutables.Map()


@dataclass(frozen=True, slots=True)
class ResyncSettings:
    """When and how rosters are (re)synced from here-now snapshots.

    Attributes:
        cache_ttl: Seconds a here-now answer counts as current: triggers inside the
            window are served by one follow-up when it ends (PubNub: about 3 s).
        settle: Seconds an event-driven trigger waits, so a burst costs one request.
        retry_initial: Seconds before the first retry of a failed here-now.
        retry_max: Longest wait between two retries.
        retry_factor: Growth of the wait after each failure.
        retry_jitter: Random extra wait, as a fraction of the wait (0 for none).
        drift_events: Consecutive live events whose occupancy disagrees with the
            roster's size that trigger a resync (0 disables the check).
        page_size: uuids per here-now page (at most 1000, PubNub's limit).
        include_state: Whether snapshots carry each uuid's state.
    """

    cache_ttl: float = 3.0
    settle: float = 0.1
    retry_initial: float = 1.0
    retry_max: float = 30.0
    retry_factor: float = 2.0
    retry_jitter: float = 0.1
    drift_events: int = 3
    page_size: int = MAX_PAGE
    include_state: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "include_state":
                if not isinstance(value, bool):
                    raise TypeError(f"ResyncSettings.include_state must be a bool, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"ResyncSettings.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"ResyncSettings.{f.name} must be a finite number >= 0, got {value!r}"
                )
        if not isinstance(self.drift_events, int):
            raise TypeError(
                f"ResyncSettings.drift_events must be an int, got {self.drift_events!r}"
            )
        if not isinstance(self.page_size, int) or not 1 <= self.page_size <= MAX_PAGE:
            raise ValueError(
                f"ResyncSettings.page_size must be an int in 1..{MAX_PAGE}, got {self.page_size!r}"
            )
        if self.retry_initial <= 0 or self.retry_max < self.retry_initial:
            raise ValueError("ResyncSettings needs 0 < retry_initial <= retry_max")
        if self.retry_factor < 1:
            raise ValueError(f"ResyncSettings.retry_factor must be >= 1, got {self.retry_factor!r}")

    def backoff(self, failures: int, rand: float = 0.0) -> float:
        """Seconds to wait after ``failures`` consecutive failures (``rand`` in [0, 1))."""
        delay = self.retry_initial * self.retry_factor ** max(0, failures - 1)
        return min(self.retry_max, delay) * (1.0 + self.retry_jitter * rand)


def _same_state(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    # PubNub clears state to nothing; an empty object and no state are the same.
    return (a or None) == (b or None)


class _Fetch:
    """One here-now (all of its pages) for one channel."""

    __slots__ = ("base_tt", "occupancy", "occupants", "offset", "seq", "uuids")

    def __init__(self, uuids: bool, base_tt: int, seq: int) -> None:
        self.uuids = uuids
        self.base_tt = base_tt  # the roster's newest timetoken when it was sent
        self.seq = seq  # orders sends against stale marks
        self.offset = 0
        self.occupancy = 0
        self.occupants: dict[str, Mapping[str, Any] | None] = {}


class _Track:
    """The sync state of one tracked channel."""

    __slots__ = (
        "drift",
        "failures",
        "fetch",
        "name",
        "not_before",
        "settle_due",
        "stale_seq",
        "synced",
        "timer",
        "timer_due",
        "uuids",
        "wanted",
    )

    def __init__(self, name: str, uuids: bool) -> None:
        self.name = name
        self.uuids = uuids  # membership wanted (else a count-only here-now suffices)
        self.wanted = False  # a trigger is not yet covered by a request sent after it
        self.fetch: _Fetch | None = None  # the request in flight
        self.timer: abc.DisposableBase | None = None
        self.timer_due = 0.0
        self.settle_due: float | None = None
        self.not_before = 0.0  # cache window or retry backoff
        self.failures = 0
        self.drift = 0
        self.stale_seq: int | None = None  # seq of the last stale mark, while stale
        self.synced = False


class SyncManager:
    """Tracks channels for a hub and keeps their rosters equal to here-now snapshots.

    Args:
        hub: The :class:`PresenceStreams` it serves.
        source: Where snapshots come from, or None (then channels are tracked for
            :meth:`rosters` but never fetched).
        settings: Timing and paging.
    """

    def __init__(
        self, hub: PresenceStreams, source: HereNowSource | None, settings: ResyncSettings
    ) -> None:
        self._hub = hub
        self._source = source
        self._settings = settings
        self._scheduler = hub._scheduler
        self._tracks: dict[str, _Track] = {}
        self._seq = itertools.count(1)
        self._closed = False
        self._armed = False  # resync on the first live event (an outage was reported)
        self._drifting: set[str] = set()  # channels with a drift streak in progress
        self._outage_since: float | None = None
        self._outage_seq = 0
        self._random = random.Random()
        self._track_all = False
        self._all: Latest[immutables.Map[str, Roster]] | None = None
        self._feeds = CompositeDisposable()

    @property
    def source(self) -> HereNowSource | None:
        """The here-now source, or None."""
        return self._source

    @property
    def settings(self) -> ResyncSettings:
        """The settings in use."""
        return self._settings

    def tracked(self) -> dict[str, bool]:
        """Tracked channels -> whether their membership (not just the count) is wanted."""
        with self._hub._lock:
            return {name: t.uuids for name, t in self._tracks.items()}

    def in_flight(self, channel: str) -> bool:
        """Whether a here-now for ``channel`` is in flight."""
        with self._hub._lock:
            track = self._tracks.get(channel)
            return track is not None and track.fetch is not None

    # -- time -------------------------------------------------------------------------

    def _now(self) -> float:
        """The scheduler's clock, in Unix seconds (virtual under a TestScheduler)."""
        return self._scheduler.now.timestamp()

    # -- tracking ---------------------------------------------------------------------

    def track(self, channel: str, *, uuids: bool) -> None:
        """Keep ``channel`` synced; ``uuids=False`` needs only its occupancy.

        The first call starts the bootstrap; asking for uuids on a channel tracked for
        its count only upgrades it at once (a count-only answer cannot serve it).
        """
        if self._closed:
            return
        track = self._tracks.get(channel)
        if track is None:
            track = self._tracks[channel] = _Track(channel, uuids)
            if self._outage_since is not None:
                self._mark_stale(track, self._outage_since)
            self._trigger(track)
        elif uuids and not track.uuids:
            track.uuids = True
            track.not_before = 0.0
            self._trigger(track)

    def on_new_channel(self, name: str, channel: _Channel) -> None:
        """The hub created the raw streams of ``name`` (first event or first request)."""
        if self._all is not None:
            self._watch_roster(name, channel)
        if self._track_all:
            self.track(name, uuids=True)

    def resync(self, channel: str | None = None) -> None:
        """Resync ``channel`` (tracking it if needed), or every tracked channel."""
        if channel is not None:
            track = self._tracks.get(channel)
            if track is None or not track.uuids:
                self.track(channel, uuids=True)  # the bootstrap (or upgrade) is the resync
            else:
                self._trigger(track, urgent=True)
            return
        for track in list(self._tracks.values()):
            self._trigger(track, urgent=True)

    # -- triggers ---------------------------------------------------------------------

    def on_status(self, status: ConnectionStatus) -> None:
        """React to the SDK's connection status."""
        if self._closed:
            return
        if status.disconnected:
            now = self._now()
            if self._outage_since is None:
                self._outage_since = now
            self._outage_seq = next(self._seq)
            self._armed = True
            self._set_alert()
            for track in list(self._tracks.values()):
                self._mark_stale(track, self._outage_since)
                self._trigger(track)
        elif status.connected:
            self._armed = False
            self._set_alert()
            self._outage_since = None
            for track in list(self._tracks.values()):
                self._trigger(track, urgent=True)

    def _set_alert(self) -> None:
        """Tell the hub's fast path whether every live event needs :meth:`watch`.

        Otherwise the fast path calls it only when PubNub's count disagrees with the
        roster, which is all the drift check needs while no streak is in progress.
        """
        self._hub._sync_alert = self._armed or bool(self._drifting)

    def watch(self, channel: str, roster: Roster, event: PresenceEvent | None) -> None:
        """Look at the roster after a live event (``event`` is None on the fast path).

        The general path calls it for every event it applies; the hub's fast path only
        when the counts disagree or an alert is set (see :meth:`_set_alert`).
        """
        if event is not None and event[12] != "live":
            return
        if self._armed:
            self._after_outage()
        track = self._tracks.get(channel)
        if track is None or not track.uuids:
            return
        if event is not None and event[0] is _INTERVAL:
            if event.here_now_refresh:
                self._trigger(track, settle=True)
                return
            if not (event.join or event.leave or event.timeout):
                # No arrays: a dropped refresh flag, or PubNub's periodic no-change
                # interval. Only a count that disagrees says membership changed.
                if roster._occupancy != roster._count:
                    self._trigger(track, settle=True)
                return
            # An interval with deltas counts towards drift like any other event.
        limit = self._settings.drift_events
        if not limit or track.fetch is not None or not track.synced:
            return
        if roster._occupancy != roster._count:
            track.drift += 1
            if track.drift >= limit:
                self._end_drift(track)
                self._trigger(track, settle=True)
            elif track.name not in self._drifting:
                self._drifting.add(track.name)
                self._set_alert()
        elif track.drift:
            self._end_drift(track)

    def _end_drift(self, track: _Track) -> None:
        track.drift = 0
        if track.name in self._drifting:
            self._drifting.discard(track.name)
            self._set_alert()

    def _after_outage(self) -> None:
        self._armed = False
        self._set_alert()
        for track in list(self._tracks.values()):
            self._trigger(track, urgent=True, settle=True)

    def _trigger(self, track: _Track, *, urgent: bool = False, settle: bool = False) -> None:
        if self._closed or self._source is None:
            return
        track.wanted = True
        now = self._now()
        if urgent and track.failures:
            # The network is back (or the app asked): skip the rest of the backoff.
            track.failures = 0
            track.not_before = now
        if settle and track.settle_due is None and self._settings.settle > 0:
            track.settle_due = now + self._settings.settle
        self._pump(track)

    def _pump(self, track: _Track) -> None:
        """Send the owed request now, or arm the timer for when it may be sent."""
        if self._closed or track.fetch is not None or not track.wanted:
            return
        now = self._now()
        due = track.not_before
        if track.settle_due is not None and track.settle_due > due:
            due = track.settle_due
        if due <= now:
            self._send(track)
            return
        if track.timer is not None:
            if track.timer_due == due:
                return
            track.timer.dispose()

        def fire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if track.timer is timer_ref[0]:
                track.timer = None
            self._pump(track)

        timer_ref: list[abc.DisposableBase | None] = [None]
        track.timer_due = due
        timer_ref[0] = track.timer = self._scheduler.schedule_relative(due - now, fire)

    # -- requests ---------------------------------------------------------------------

    def _raw(self, name: str) -> _Channel:
        hub = self._hub
        return hub._channels.get(name) or hub._channel(name)

    def _send(self, track: _Track) -> None:
        track.wanted = False
        track.settle_due = None
        self._end_drift(track)
        if track.timer is not None:
            track.timer.dispose()
            track.timer = None
        roster = self._raw(track.name).roster.value
        fetch = track.fetch = _Fetch(track.uuids, roster._timetoken, next(self._seq))
        self._request_page(track, fetch)

    def _request_page(self, track: _Track, fetch: _Fetch) -> None:
        settings = self._settings
        request = HereNowRequest(
            track.name,
            include_uuids=fetch.uuids,
            include_state=settings.include_state and fetch.uuids,
            limit=settings.page_size,
            offset=fetch.offset,
        )

        def done(outcome: HereNowPage | BaseException) -> None:
            self._on_page(track, fetch, request, outcome)

        source = self._source
        assert source is not None
        try:
            source.here_now(request, done)
        except Exception as exc:  # a broken source is a failed request
            done(exc)

    def _on_page(
        self,
        track: _Track,
        fetch: _Fetch,
        request: HereNowRequest,
        outcome: HereNowPage | BaseException,
    ) -> None:
        hub = self._hub
        try:
            with hub._lock:
                if self._closed or hub._closed or track.fetch is not fetch:
                    return
                if isinstance(outcome, BaseException):
                    self._failed(track, request, outcome)
                    return
                if not isinstance(outcome, HereNowPage):
                    self._failed(track, request, HereNowError(f"not a HereNowPage: {outcome!r}"))
                    return
                if fetch.uuids:
                    if outcome.occupants is None:
                        error = HereNowError(f"here-now of {track.name!r} returned no uuids")
                        self._failed(track, request, error)
                        return
                    fetch.occupants.update(outcome.occupants)
                    fetch.occupancy = outcome.occupancy
                    got = len(outcome.occupants)
                    if got >= request.limit and request.offset + got < outcome.occupancy:
                        fetch.offset = request.offset + got
                        self._request_page(track, fetch)
                        return
                else:
                    fetch.occupancy = outcome.occupancy
                track.fetch = None
                track.failures = 0
                track.not_before = self._now() + self._settings.cache_ttl
                if self._outage_since is not None and fetch.seq > self._outage_seq:
                    self._outage_since = None  # a here-now got through: the network is back
                self._fold(track, fetch)
                self._pump(track)
        except Exception as exc:  # must not reach the SDK's thread or loop
            hub._report("resync", exc, request)

    def _failed(self, track: _Track, request: HereNowRequest, error: BaseException) -> None:
        track.fetch = None
        track.failures += 1
        track.wanted = True
        delay = self._settings.backoff(track.failures, self._random.random())
        track.not_before = self._now() + delay
        self._hub._report("here-now", error, request)
        self._pump(track)

    # -- folding ----------------------------------------------------------------------

    def _fold(self, track: _Track, fetch: _Fetch) -> None:
        """Fold a complete answer into the channel's rosters (see the module docstring)."""
        hub = self._hub
        streams = self._raw(track.name)
        old = streams.roster.value
        tt = fetch.base_tt + 1
        clears = track.stale_seq is None or fetch.seq > track.stale_seq
        events: list[PresenceEvent] = []
        if fetch.uuids:
            events, new = self._differences(old, fetch, tt)
            # Live events newer than the snapshot carry the newer count.
            occupancy = fetch.occupancy if new.timetoken <= tt else new.occupancy
            new = new.with_sync(new, occupancy=occupancy, timetoken=tt)
            if not clears:
                new = new.with_stale(old.stale_since)
            track.synced = True
            hub._announce.on_snapshot(track.name, fetch.occupants)  # announce hook
        else:
            new = old
            if old._timetoken <= tt and old._occupancy != fetch.occupancy:
                new = old._only_occupancy(fetch.occupancy, old._timetoken)
            if clears:
                new = new.with_stale(None)
        if clears:
            track.stale_seq = None
        if new is not old:
            streams.emit(old, new)
        if events and hub._events._observers:
            for event in events:
                hub._events.on_next(event)
        for (name, _), graced in list(hub._graced.items()):
            if name == track.name:
                self._mark_graced(graced, fetch, tt, clears)

    def _differences(
        self, roster: Roster, fetch: _Fetch, tt: int
    ) -> tuple[list[PresenceEvent], Roster]:
        """Synthetic events that turn ``roster`` into the snapshot, and the roster after them.

        Each candidate goes through :meth:`Roster.apply`, the reducer live events use, and
        is kept only if it changed the members: one whose uuid saw a newer event (or a
        newer departure) is dropped, so every event emitted changes something.
        """
        channel = roster.channel
        snapshot = fetch.occupants
        occupancy = fetch.occupancy
        stamp = int(self._now())
        with_state = self._settings.include_state
        candidates: list[PresenceEvent] = [
            PresenceEvent(Action.LEAVE, channel, uuid, occupancy, stamp, tt, source="resync")
            for uuid in roster.members
            if uuid not in snapshot
        ]
        for uuid, state in snapshot.items():
            current = roster.members.get(uuid)
            if current is None:
                action = Action.JOIN
            elif with_state and not _same_state(current.state, state):
                action = Action.STATE_CHANGE
            else:
                continue
            candidates.append(
                PresenceEvent(
                    action,
                    channel,
                    uuid,
                    occupancy,
                    stamp,
                    tt,
                    state if with_state else None,
                    source="resync",
                )
            )
        events: list[PresenceEvent] = []
        for event in candidates:
            applied = roster.apply(event)
            if applied._entries is not roster._entries:
                events.append(event)
            roster = applied
        return events, roster

    def _mark_graced(self, graced: _Channel, fetch: _Fetch, tt: int, clears: bool) -> None:
        old = graced.roster.value
        new = old
        if fetch.uuids:
            new = old.with_sync(old, occupancy=old._occupancy, timetoken=tt)
            if not clears:
                new = new.with_stale(old.stale_since)
        elif clears:
            new = old.with_stale(None)
        if new is not old:
            graced.emit(old, new)

    def _mark_stale(self, track: _Track, since: float) -> None:
        track.stale_seq = next(self._seq)
        hub = self._hub
        targets = [self._raw(track.name)]
        targets += [g for (name, _), g in hub._graced.items() if name == track.name]
        for streams in targets:
            old = streams.roster.value
            if old.stale_since is None:
                streams.emit(old, old.with_stale(since))

    # -- all rosters ------------------------------------------------------------------

    def rosters(self) -> Observable[immutables.Map[str, Roster]]:
        """Every raw roster by channel: the current map at once, then each change.

        Tracks every channel the hub knows or learns (through channel groups and
        wildcards too), so each is bootstrapped when there is a here-now source.
        """
        from ._streams import _view

        hub = self._hub
        if self._all is None:
            self._all = Latest(hub._lock, hub._report, _EMPTY_ROSTERS)
            self._track_all = True
            for name in self._subscribed_channels():
                self._raw(name)  # creates it: on_new_channel tracks and watches it
            for name, channel in list(hub._channels.items()):
                if name not in self._all.value:
                    self._watch_roster(name, channel)
                self.track(name, uuids=True)
        return _view(self._all)

    def where_is(self, uuid: str) -> Observable[frozenset[str]]:
        """The channels ``uuid`` is present on: at once, then each change."""

        def channels(rosters: immutables.Map[str, Roster]) -> frozenset[str]:
            return frozenset(name for name, roster in rosters.items() if uuid in roster)

        return self.rosters().pipe(ops.map(channels), ops.distinct_until_changed())

    def _subscribed_channels(self) -> list[str]:
        pubnub = self._hub._pubnub
        get = getattr(pubnub, "get_subscribed_channels", None)
        if not callable(get):
            return []
        try:
            names = list(get() or ())
        except Exception:  # not subscribed yet, or an SDK without it
            return []
        return [
            n
            for n in names
            if isinstance(n, str) and n and not n.endswith("-pnpres") and not n.endswith(".*")
        ]

    def _watch_roster(self, name: str, channel: _Channel) -> None:
        def on_next(roster: Roster) -> None:
            latest = self._all
            if latest is not None and latest.value.get(name) is not roster:
                latest.on_next(latest.value.set(name, roster))

        self._feeds.add(channel.roster.subscribe(on_next))

    # -- leave and close --------------------------------------------------------------

    def own_channels(self, uuid: str) -> Iterable[str]:
        """Channels whose raw roster lists ``uuid``."""
        return [name for name, ch in self._hub._channels.items() if uuid in ch.roster.value]

    def close(self) -> None:
        """Stop timers, ignore answers still in flight, close the source."""
        self._closed = True
        for track in self._tracks.values():
            if track.timer is not None:
                track.timer.dispose()
                track.timer = None
            track.fetch = None
        self._feeds.dispose()
        if self._all is not None:
            self._all.on_completed()
        if self._source is not None:
            try:
                self._source.close()
            except Exception as exc:
                self._hub._report("here-now", exc, None)
