"""Per-channel sync: here-now snapshots folded into live rosters, without a gap.

Presence events alone never give a true roster: whoever was present before we
subscribed never sends a join, an interval event may carry no names, and during a
network outage every event is missed. So each tracked channel also gets here-now
snapshots, and this module decides when to ask and how to fold an answer in.

Folding a snapshot in
---------------------

Live events keep being applied while a here-now is in flight; the answer is then
compared with the roster *as it is when the answer arrives* and the difference is
emitted as synthetic join / leave / state-change events (``source="resync"``) by
:meth:`Roster.reconcile`, which judges them exactly as :meth:`Roster.apply` judges live
events, and onto ``events``, so diffs, graced rosters and UIs see one consistent
story. Every synthetic event carries the timetoken

    ``T = (the roster's newest applied timetoken when the request was SENT) + 1``

and a roster ignores an event older than the last one applied to its uuid, and
remembers departures (tombstones). Why that timetoken is right:

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

A source that answers with something malformed (a bad occupancy, occupants of the wrong
shape), answers twice, raises, or does not answer within ``request_timeout`` seconds,
is treated like a failed request: reported, nothing changed, retried with backoff.

Everything here runs under the registry's lock: hub calls hold it, the scheduler is the
registry's, and here-now callbacks take it. The rosters themselves belong to the
:class:`~rxpresence._channels.ChannelRegistry`: this module only decides when to ask and
hands the answers over (:meth:`ChannelRegistry.reconcile`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from reactivex import abc

from ._channels import ChannelRegistry
from ._event import Action, PresenceEvent
from ._fanout import Report
from ._herenow import MAX_PAGE, HereNowError, HereNowPage, HereNowRequest, HereNowSource
from ._limits import LimitError, check_count, check_state, check_uuid, excerpt
from ._reports import ConnectionStatus
from ._roster import Roster, Snapshot

__all__ = ["ResyncSettings", "SyncManager", "channel_names"]

_INTERVAL = Action.INTERVAL
_PRESENCE_SUFFIX = "-pnpres"


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
        request_timeout: Seconds to wait for one page before counting the request as
            failed (a source that never answers must not stop resyncs for good).
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
    request_timeout: float = 30.0

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
        if self.request_timeout <= 0:
            raise ValueError(
                f"ResyncSettings.request_timeout must be > 0, got {self.request_timeout!r}"
            )

    def backoff(self, failures: int, rand: float = 0.0) -> float:
        """Seconds to wait after ``failures`` consecutive failures (``rand`` in [0, 1))."""
        delay = self.retry_initial * self.retry_factor ** max(0, failures - 1)
        return min(self.retry_max, delay) * (1.0 + self.retry_jitter * rand)


def channel_names(names: Iterable[Any]) -> list[str]:
    """The presence channels a subscription names: ``lobby-pnpres`` counts as ``lobby``
    (a presence-only subscription), wildcards and odd values are left out."""
    found: dict[str, None] = {}
    for name in names:
        if not isinstance(name, str):
            continue
        while name.endswith(_PRESENCE_SUFFIX):  # the SDK also lists X-pnpres-pnpres
            name = name[: -len(_PRESENCE_SUFFIX)]
        if name and not name.endswith(".*"):
            found[name] = None
    return list(found)


def checked_page(request: HereNowRequest, page: object) -> HereNowPage:
    """``page``, checked as an answer to ``request``, its states as read-only copies.

    The same limits as events (see ``_limits.py``): an occupancy is an int in
    ``0..2**64``, a uuid a non-empty string of at most 92 characters, a state a small
    JSON object.

    Raises:
        HereNowError: Naming what is wrong, with a bounded excerpt of the value.
    """
    where = f"here-now of {excerpt(request.channel)}"
    if not isinstance(page, HereNowPage):
        raise HereNowError(f"{where} must answer a HereNowPage, got {excerpt(page)}")
    try:
        occupancy = check_count("occupancy", page.occupancy)
        if not request.include_uuids:
            return HereNowPage(occupancy, None)
        occupants = page.occupants
        if not isinstance(occupants, Mapping):
            raise LimitError(f"occupants must be a mapping uuid -> state, got {excerpt(occupants)}")
        checked = {
            check_uuid("uuid", uuid): None if state is None else check_state("state", state)
            for uuid, state in occupants.items()
        }
    except LimitError as error:
        raise HereNowError(f"{where}: {error}") from None
    return HereNowPage(occupancy, checked)


class _Fetch:
    """One here-now (all of its pages) for one channel."""

    __slots__ = ("base_tt", "deadline", "occupancy", "occupants", "offset", "seq", "uuids")

    def __init__(self, uuids: bool, base_tt: int, seq: int) -> None:
        self.uuids = uuids
        self.base_tt = base_tt  # the roster's newest timetoken when it was sent
        self.seq = seq  # orders sends against stale marks
        self.offset = 0
        self.occupancy = 0
        self.occupants: Snapshot | None = None  # the pages so far, as roster entries
        self.deadline: abc.DisposableBase | None = None  # the page's request timeout


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
    """Tracks channels and keeps their rosters equal to here-now snapshots.

    Args:
        registry: The rosters (snapshots are folded in through it).
        source: Where snapshots come from, or None (then channels are tracked but never
            fetched).
        settings: Timing and paging.
        report: Where failed requests go (``"here-now"``, ``"resync"``).

    Attributes:
        on_snapshot: Called with ``(channel, occupants)`` after each complete here-now
            answer was folded in (the hub's announcer checks that its client is listed).
    """

    def __init__(
        self,
        registry: ChannelRegistry,
        source: HereNowSource | None,
        settings: ResyncSettings,
        report: Report,
    ) -> None:
        self._registry = registry
        self._lock = registry.lock
        self._scheduler = registry.scheduler
        self._source = source
        self._settings = settings
        self._report = report
        self._tracks: dict[str, _Track] = {}
        self._seq = itertools.count(1)
        self._closed = False
        self._armed = False  # resync on the first live event (an outage was reported)
        self._drifting: set[str] = set()  # channels with a drift streak in progress
        self._outage_since: float | None = None
        self._outage_seq = 0
        self._random = random.Random()
        self._track_all = False
        self.on_snapshot: Callable[[str, Mapping[str, Any]], None] | None = None
        self._set_alert()

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
        with self._lock:
            return {name: t.uuids for name, t in self._tracks.items()}

    def in_flight(self, channel: str) -> bool:
        """Whether a here-now for ``channel`` is in flight."""
        with self._lock:
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
        its count only upgrades it at once (a count-only answer cannot serve it). Without
        a source nothing is kept per channel: after an outage every roster is marked
        stale, and stays so (no snapshot will vouch for it).
        """
        if self._closed:
            return
        if self._source is None:
            # Nothing to fetch: only staleness, kept by the registry (no state per channel).
            if self._outage_since is not None:
                self._registry.mark_stale(channel, self._outage_since)
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

    def track_all(self, channels: Iterable[str] = ()) -> None:
        """Track ``channels``, every channel the registry knows, and every one it opens."""
        if self._closed:
            return
        if not self._track_all:
            self._track_all = True
            self._registry.on_open(self._opened)
        for name in channels:
            self._registry.channel(name)  # opening it tracks it
        for name in self._registry.names():
            self.track(name, uuids=True)

    def _opened(self, name: str) -> None:
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
        if self._track_all and (status.channels or status.groups):
            # Channels subscribed after rosters() was first asked for.
            self.track_all(channel_names(status.channels))
        if status.disconnected:
            now = self._now()
            if self._outage_since is None:
                self._outage_since = now
            self._outage_seq = next(self._seq)
            self._armed = True
            self._set_alert()
            if self._source is None:  # no snapshot will clear it: every roster may lag
                for name in self._registry.names():
                    self._registry.mark_stale(name, self._outage_since)
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
        """Tell the registry after which folds :meth:`watch` must run.

        After every live event while an outage is reported or a drift streak runs;
        otherwise only when PubNub's count disagrees with the roster (or for interval
        events), which is all the drift check needs.
        """
        if self._source is None or self._closed:
            self._registry.watch(None)
        else:
            self._registry.watch(self.watch, every_event=self._armed or bool(self._drifting))

    def watch(self, channel: str, roster: Roster, event: PresenceEvent) -> None:
        """Look at the raw roster after a live event was folded (see :meth:`_set_alert`)."""
        if event.source != "live":
            return
        if self._armed:
            self._after_outage()
        track = self._tracks.get(channel)
        if track is None or not track.uuids:
            return
        if event.action is _INTERVAL:
            if event.here_now_refresh:
                self._trigger(track, settle=True)
                return
            if not event.has_deltas:
                # No arrays: a dropped refresh flag, or PubNub's periodic no-change
                # interval. Only a count that disagrees says membership changed.
                if roster.occupancy != len(roster):
                    self._trigger(track, settle=True)
                return
            # An interval with deltas counts towards drift like any other event.
        limit = self._settings.drift_events
        if not limit or track.fetch is not None or not track.synced:
            return
        if roster.occupancy != len(roster):
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

    def _send(self, track: _Track) -> None:
        track.wanted = False
        track.settle_due = None
        self._end_drift(track)
        if track.timer is not None:
            track.timer.dispose()
            track.timer = None
        roster = self._registry.current(track.name)
        fetch = track.fetch = _Fetch(track.uuids, roster.timetoken, next(self._seq))
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
        answered = expired = False

        def done(outcome: HereNowPage | BaseException) -> None:
            nonlocal answered
            with self._lock:
                twice, answered = answered, True
            if expired:  # too late: counted as failed, and retried
                return
            if twice:  # the source broke its contract: the first answer counted
                error = HereNowError(f"here-now of {track.name!r} answered twice")
                self._report("here-now", error, request)
                return
            self._on_page(track, fetch, request, outcome)

        def expire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            nonlocal expired
            if not answered and track.fetch is fetch:
                expired = True
                wait = self._settings.request_timeout
                error = HereNowError(f"here-now of {track.name!r} got no answer in {wait:g} s")
                self._on_page(track, fetch, request, error)

        if fetch.deadline is not None:
            fetch.deadline.dispose()
        fetch.deadline = self._scheduler.schedule_relative(settings.request_timeout, expire)
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
        try:
            with self._lock:
                if self._closed or self._registry.closed or track.fetch is not fetch:
                    return
                if fetch.deadline is not None:
                    fetch.deadline.dispose()
                    fetch.deadline = None
                if isinstance(outcome, BaseException):
                    self._failed(track, request, outcome)
                    return
                try:
                    page = checked_page(request, outcome)
                except HereNowError as exc:
                    self._failed(track, request, exc)
                    return
                if fetch.uuids:
                    occupants = page.occupants
                    assert occupants is not None  # checked_page
                    if fetch.occupants is None:
                        fetch.occupants = Snapshot(fetch.base_tt + 1, int(self._now()))
                    fetch.occupants.add(occupants)
                    fetch.occupancy = page.occupancy
                    got = len(occupants)
                    if got >= request.limit and request.offset + got < page.occupancy:
                        fetch.offset = request.offset + got
                        self._request_page(track, fetch)
                        return
                else:
                    fetch.occupancy = page.occupancy
                track.fetch = None
                track.failures = 0
                track.not_before = self._now() + self._settings.cache_ttl
                if self._outage_since is not None and fetch.seq > self._outage_seq:
                    self._outage_since = None  # a here-now got through: the network is back
                self._fold(track, fetch)
                self._pump(track)
        except Exception as exc:  # must not reach the SDK's thread or loop
            self._report("resync", exc, request)

    def _failed(self, track: _Track, request: HereNowRequest, error: BaseException) -> None:
        fetch = track.fetch
        if fetch is not None and fetch.deadline is not None:
            fetch.deadline.dispose()
        track.fetch = None
        track.failures += 1
        track.wanted = True
        delay = self._settings.backoff(track.failures, self._random.random())
        track.not_before = self._now() + delay
        self._report("here-now", error, request)
        self._pump(track)

    # -- folding ----------------------------------------------------------------------

    def _fold(self, track: _Track, fetch: _Fetch) -> None:
        """Hand a complete answer to the registry (see the module docstring)."""
        tt = fetch.base_tt + 1
        clears = track.stale_seq is None or fetch.seq > track.stale_seq
        if fetch.uuids:
            snapshot = fetch.occupants or Snapshot(tt, int(self._now()))
            self._registry.reconcile(
                track.name,
                snapshot,
                occupancy=fetch.occupancy,
                timetoken=tt,
                timestamp=snapshot.timestamp,
                with_state=self._settings.include_state,
                clears_stale=clears,
            )
            track.synced = True
            if self.on_snapshot is not None:
                self.on_snapshot(track.name, snapshot)
        else:
            self._registry.set_occupancy(
                track.name, fetch.occupancy, timetoken=tt, clears_stale=clears
            )
        if clears:
            track.stale_seq = None

    def _mark_stale(self, track: _Track, since: float) -> None:
        track.stale_seq = next(self._seq)
        self._registry.mark_stale(track.name, since)

    # -- close ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop timers, ignore answers still in flight, close the source."""
        self._closed = True
        self._registry.watch(None)
        self._registry.on_open(None)
        for track in self._tracks.values():
            if track.timer is not None:
                track.timer.dispose()
                track.timer = None
            if track.fetch is not None and track.fetch.deadline is not None:
                track.fetch.deadline.dispose()
            track.fetch = None
        if self._source is not None:
            try:
                self._source.close()
            except Exception as exc:
                self._report("here-now", exc, None)
