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
    initial: Roster | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    """Holds departures for a grace period; a rejoin within it cancels both.

    Each leave or timeout whose action is in ``actions`` is held, per channel and uuid,
    for ``grace``. If the uuid rejoins within the window, neither event is emitted (a
    ``state-change`` is, if the rejoin brought a different state); otherwise the
    departure is emitted when the window ends. While departures are held, the occupancy
    of the channel's other events is raised by their number, so counts do not dip.
    Interval events are handled uuid by uuid, and events out of timetoken order keep a
    roster downstream equal to one fed the raw events once the grace is over: the exact
    rules are in the documentation's "Flicker" page. On completion the departures still
    held are emitted at once, in the order they were held; an error or a dispose
    cancels them.

    ```text
    -a-A--a--B--------b-C-----|
    [   suppress_flicker(5)   ]
    -a------------B---b------C|
    ```

    (one dash is one second: ``a`` rejoins 3 s after its timeout, so neither is emitted;
    ``B`` and ``C`` are emitted 5 s late)

    Example:
        >>> roster = events.pipe(suppress_flicker(10), to_roster("lobby"))

    Args:
        grace: How long to hold a departure: seconds, or a :class:`~datetime.timedelta`.
            0 disables the operator (the source is returned as is).
        actions: The departures to hold: ``"timeout"`` (the default; a timeout is what
            a page reload or a flaky network produces) and/or ``"leave"``. An empty
            ``actions`` disables the operator.
        scheduler: Scheduler for the timers (one scheduler item per subscription, for
            the earliest deadline). Defaults to the scheduler given at subscribe time,
            else :class:`~reactivex.scheduler.TimeoutScheduler`. If it cannot schedule a
            timer, the departure goes out at once and the error is raised to the source.
        initial: The roster the one downstream starts from (for instance
            ``presence.current(channel)``): its members' flickers are swallowed like
            those of members seen joining. By default only uuids seen joining are.

    Returns:
        An operator suppressing leave/timeout-then-join flicker.

    Raises:
        ValueError: ``grace`` is not a finite number of seconds >= 0 or a timedelta, or
            ``actions`` names something else than ``"leave"`` and ``"timeout"``.
        TypeError: ``initial`` is not a Roster.
    """
    from ._flicker import suppress_flicker_

    return suppress_flicker_(grace, actions, scheduler, initial)


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
