"""Presence operators for ``Observable.pipe``.

Each function returns an operator (``Observable -> Observable``), so the pieces compose
like RxPY's own operators::

    import rxpresence.operators as rxo

    events.pipe(
        rxo.for_channel("lobby"),
        rxo.suppress_flicker(10),
        rxo.to_roster("lobby"),
    ).subscribe(print)

Every operator keeps its state per subscription: two subscribers to the same piped
observable never share a roster or a timer.

The marble diagrams name events by uuid: a lower-case letter is a join of that uuid, the
upper-case letter its timeout (or leave); ``{a, b}`` is a roster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from reactivex import Observable, abc

from .._event import PresenceEvent
from .._roster import Roster, RosterDiff

__all__ = [
    "expand_intervals",
    "for_channel",
    "roster_diffs",
    "suppress_flicker",
    "to_occupancy",
    "to_roster",
]


def for_channel(*channels: str) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    """Keeps the events of some channels.

    An event matches on its ``channel`` or on its ``subscription``, so a channel group or
    a wildcard pattern (``"a.*"``) selects every event it delivered.

    ```text
    -a-b-a-c-g-|
    [for_channel("a", "g")]
    -a---a---g-|
    ```

    (letters are the events' channels; ``g`` is delivered through group ``g``)

    Example:
        >>> lobby = events.pipe(for_channel("lobby"))

    Args:
        *channels: Channel names, channel groups or wildcard patterns.

    Returns:
        An operator keeping the matching :class:`~rxpresence.PresenceEvent` values.

    Raises:
        ValueError: No channel, or a channel that is not a non-empty string.
    """
    from ._channel import for_channel_

    return for_channel_(*channels)


def expand_intervals() -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    """Replaces each interval event by one join, leave or timeout event per uuid.

    The events it emits carry the interval event's channel, timetoken, timestamp,
    subscription and occupancy, and no state; joins come first, then leaves, then
    timeouts (the order :meth:`Roster.apply <rxpresence.Roster.apply>` uses). An interval
    event without arrays (PubNub asking for a here-now call) passes through unchanged, as
    do all other events.

    ```text
    -a----I------B-|
    [expand_intervals()]
    -a----(bcD)--B-|
    ```

    (``I`` is an interval event with ``join=["b", "c"]`` and ``timeout=["d"]``)

    Returns:
        An operator expanding interval events.
    """
    from ._intervals import expand_intervals_

    return expand_intervals_()


def suppress_flicker(
    grace: float | timedelta,
    *,
    actions: Iterable[str] = ("timeout",),
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    """Holds departures for a grace period; a rejoin within it cancels both.

    Each leave or timeout whose action is in ``actions`` is held, per (channel, uuid), for
    ``grace``. If the same uuid joins the same channel within the window, neither event is
    emitted; if that rejoin carries a state different from the last one seen for the uuid
    (on its joins and state changes), a ``state-change`` with the join's timetoken and
    occupancy is emitted instead. Otherwise the departure is emitted when the window
    ends. On completion the departures still held are emitted at once, in the order they
    were held, then the completion; an error or a dispose cancels them.

    Occupancy: PubNub's occupancy drops as soon as a departure happens, so while one is
    held every event emitted on its channel has its ``occupancy`` raised by the number of
    departures held there. A swallowed rejoin is never emitted, so the occupancy seen
    downstream never dips for a flicker. A departure released after newer events of its
    channel went through takes the newest timetoken emitted on that channel and the
    occupancy of the moment, so that a roster built downstream (which keeps the
    occupancy of its newest event only) stays consistent.

    Interval events are handled in place: the uuids of their ``leave``/``timeout`` arrays
    are held like individual departures (stripped from the arrays, released together as
    one interval event carrying only them), and a uuid in a ``join`` array cancels its
    held departure and is stripped. An interval event left with no uuids at all is not
    emitted, since one without arrays means "ask here-now". Interval events without
    arrays pass through. ``expand_intervals()`` before this operator works too.

    Exact duplicates (the same event delivered through a channel and a group
    subscription) are handled: a second departure of a held uuid, or the same swallowed
    rejoin again, is dropped. A departure older than the uuid's last join passes through
    at once (a roster ignores it), and a departure that is not held (a leave, by
    default) replaces a held one of the same uuid.

    Events out of timetoken order keep a roster downstream equal to one fed the raw
    events: a departure of a uuid already gone downstream is not held; events of a uuid
    older than a rejoin it swallowed are dropped (a roster ignores them, and the one
    downstream never saw the rejoin); a newer departure of a held uuid moves the hold's
    timetoken, which a rejoin must beat, and an older one is dropped; and events of a
    uuid arriving after its departure was released with a newer timetoken, but newer
    than the departure itself, are lifted to that timetoken (the uuids of an interval
    event that need it go out in an event of their own, so one interval event may come
    out as two), and one older than an event already lifted is dropped. The rejoin of
    a uuid never seen joining (before the subscription) is emitted, not swallowed: the
    roster downstream may not have it.

    ```text
    -a-A--a--B--------b-C-----|
    [   suppress_flicker(5)   ]
    -a------------B---b------C|
    ```

    (one dash is one second: ``a`` rejoins 3 s after its timeout, so neither is emitted;
    ``B`` and ``C`` are emitted 5 s late)

    Thread safety: timers fire on the scheduler's threads. Per-subscription state is
    guarded by a re-entrant lock and events are emitted while holding it, so the output
    is serialized and never loses nor duplicates an event. An observer must therefore not
    block in ``on_next`` waiting for another thread that feeds the same subscription.

    Example:
        >>> roster = events.pipe(suppress_flicker(10), to_roster("lobby"))

    Args:
        grace: How long to hold a departure: seconds, or a :class:`~datetime.timedelta`.
            0 disables the operator (the source is returned as is).
        actions: The departures to hold: ``"timeout"`` (the default; a timeout is what
            a page reload or a flaky network produces) and/or ``"leave"``. Leaves pass
            through at once unless listed; an empty ``actions`` disables the operator.
        scheduler: Scheduler for the timers. Defaults to the scheduler given at
            subscribe time, else :class:`~reactivex.scheduler.TimeoutScheduler`, which
            starts a thread per held departure: on a busy stream pass one
            :class:`~reactivex.scheduler.EventLoopScheduler` (one thread for every
            timer; the hub does so). If the scheduler cannot schedule a timer, the
            departure goes out at once (nothing is held for good) and the error is
            raised to the source.

    Returns:
        An operator suppressing leave/timeout-then-join flicker.

    Raises:
        TypeError: ``grace`` is not a number or a timedelta.
        ValueError: ``grace`` is negative or not finite, or ``actions`` names something
            else than ``"leave"`` and ``"timeout"``.
    """
    from ._flicker import suppress_flicker_

    return suppress_flicker_(grace, actions, scheduler)


def to_roster(
    channel: str | None = None,
    *,
    initial: Roster | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[Roster]]:
    """Folds events into :class:`~rxpresence.Roster` snapshots of one channel.

    Each event goes through :meth:`Roster.apply <rxpresence.Roster.apply>`, and the new
    snapshot is emitted whenever ``apply`` returned a new one (it returns the same object
    when an event changes nothing, so no comparison is needed). Events of other
    channels, older events and exact duplicates emit nothing. A snapshot can differ from
    the previous one in bookkeeping only (the timetoken of a repeated join, a leave of an
    unknown uuid); to skip those, add ``ops.distinct_until_changed`` with a key of what
    matters, e.g. ``lambda r: (r.uuids, r.occupancy)``. The seed itself is not emitted
    (``ops.start_with(initial)`` does that).

    ```text
    -a------b------z------A-----|
    [    to_roster("room")      ]
    -{a}----{a,b}---------{b}---|
    ```

    (``z`` is an event of another channel)

    Example:
        >>> rosters = events.pipe(to_roster("lobby"))

    Args:
        channel: The channel. With None, the channel of ``initial``, else of the first
            event.
        initial: The roster to start from (for instance a here-now snapshot); an empty
            roster by default.

    Returns:
        An operator emitting roster snapshots.

    Raises:
        ValueError: ``channel`` is empty, or is not the channel of ``initial``.
        TypeError: ``initial`` is not a Roster.
    """
    from ._roster import to_roster_

    return to_roster_(channel, initial)


def roster_diffs() -> Callable[[Observable[Roster]], Observable[RosterDiff]]:
    """Emits what changed between consecutive roster snapshots.

    The first snapshot of a channel is diffed against an empty roster of that channel;
    empty diffs (occupancy-only changes) are skipped. Snapshots are paired per channel,
    so a merged stream of several channels' rosters works too.

    ```text
    -{a}---{a,b}---{a,b}---{b}-|
    [      roster_diffs()      ]
    -+a----+b--------------(-a)|
    ```

    Returns:
        An operator emitting :class:`~rxpresence.RosterDiff` values.
    """
    from ._diffs import roster_diffs_

    return roster_diffs_()


def to_occupancy() -> Callable[[Observable[PresenceEvent | Roster]], Observable[int]]:
    """Emits the occupancy of each event or roster, skipping consecutive repeats.

    For a :class:`~rxpresence.Roster` that is ``roster.occupancy``, for a
    :class:`~rxpresence.PresenceEvent` PubNub's ``event.occupancy``. Events of several
    channels are not told apart: filter with :func:`for_channel` first.

    ```text
    -1--2--2--3--1--1-|
    [  to_occupancy()  ]
    -1--2-----3--1----|
    ```

    Returns:
        An operator emitting occupancy counts.
    """
    from ._occupancy import to_occupancy_

    return to_occupancy_()
