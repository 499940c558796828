"""Late events under flicker suppression: what a graced roster must drop or lift.

Flicker suppression hides events from the roster downstream (a swallowed rejoin) or
shows them late and with a newer timetoken (a released departure). Events of the same
uuid that arrive out of timetoken order afterwards would then be judged differently
downstream than by the raw roster. :class:`LateEvents` keeps, for one channel, what
it takes to repair that, so that the graced roster applies exactly what the raw one
applies once the grace is over:

* ``swallowed``: uuid -> timetoken of the rejoin that cancelled a held departure. The
  roster downstream never saw it, so events of the uuid older than it (the same rejoin
  delivered again by a group subscription, a late departure) are dropped: the raw
  roster ignores them, the one downstream would not.
* ``released``: uuid -> (departed, target, seen) for a departure released with a newer
  timetoken (``target``). Events of the uuid between ``departed`` and ``target``,
  arriving late, are lifted to ``target`` so that the roster downstream applies them as
  the raw roster does; they then share one timetoken, so one older than the newest
  lifted so far (``seen``) is dropped. An event newer than ``target`` ends the entry.
* ``absent``: uuid -> timetoken of the departure last emitted for it, until a join
  newer than it: a departure of a uuid already absent downstream is passed on, not
  held (holding it would make a rejoin look like a flicker and swallow it).

No timers and no I/O: :class:`rxpresence._grace.FlickerSuppressor` calls it. The
contract as users see it is in ``docs/concepts/flicker.md``.
"""

from __future__ import annotations

from typing import TypeVar

from ._event import PresenceEvent

__all__ = ["DROP", "LateEvents"]

_V = TypeVar("_V")

# Departures remembered for late events, per channel (the oldest are dropped first).
# Late events come seconds late at most (a catch-up, a resync, a second subscription);
# these cover that on all but enormous channels, at under 1 MB each when full.
RELEASED_MAX = 1024
ABSENT_MAX = 4096
#: From :meth:`LateEvents.lift`: drop the event (timetokens are never negative).
DROP = -1


def _put_newest(table: dict[str, _V], uuid: str, value: _V, limit: int) -> None:
    """Set ``table[uuid]`` as its newest entry; drop the oldest beyond ``limit``."""
    table.pop(uuid, None)
    table[uuid] = value
    if len(table) > limit:
        del table[next(iter(table))]


class LateEvents:
    """The late-event tables of one channel (see the module docstring)."""

    __slots__ = ("absent", "released", "swallowed")

    def __init__(self) -> None:
        self.swallowed: dict[str, int] = {}
        self.released: dict[str, tuple[int, int, int]] = {}
        self.absent: dict[str, int] = {}

    def before_swallowed(self, uuid: str, tt: int, *, or_same: bool = False) -> bool:
        """Whether ``tt`` is older than (or, with ``or_same``, as old as) a rejoin
        swallowed for ``uuid``: the raw roster ignores such an event."""
        swallowed = self.swallowed.get(uuid)
        return swallowed is not None and (tt < swallowed or (or_same and tt == swallowed))

    def lift(self, uuid: str, tt: int) -> int | None:
        """Where an event of ``uuid`` at ``tt`` goes after a release.

        None: as it is (no release, or older than the departure, or newer than the
        timetoken it was emitted with, which ends the entry). :data:`DROP`: nowhere, it
        is older than an event already lifted. Otherwise the timetoken to lift it to.
        """
        released = self.released.get(uuid) if self.released else None
        if released is None:
            return None
        departed, target, seen = released
        if tt >= target:
            # Newer than the release: later events older than it are ignored by a raw
            # roster, and by the one downstream unless lifted, so the entry is done.
            del self.released[uuid]
            return None
        if tt < departed:
            return None
        if tt < seen:
            return DROP
        self.released[uuid] = (departed, target, tt)
        return target

    def in_order(
        self, event: PresenceEvent, occupancy: int, *, or_same: bool = False
    ) -> PresenceEvent | None:
        """``event`` as the roster downstream must get it, or None to drop it.

        Dropped: events older than a rejoin swallowed for its uuid (see
        :meth:`before_swallowed`) or than one already lifted; lifted: late events after
        a release (see :meth:`lift`), which then carry ``occupancy`` (PubNub's newest
        count: the raw roster applies them but keeps the count of its newer events).
        """
        uuid, tt = event.uuid or "", event.timetoken
        if self.before_swallowed(uuid, tt, or_same=or_same):
            return None
        target = self.lift(uuid, tt)
        if target is None:
            return event
        if target == DROP:
            return None
        return event.replace(timetoken=target, occupancy=occupancy)

    def released_at(self, uuid: str, departed: int, target: int) -> None:
        """A departure at ``departed`` went out at ``target`` (> ``departed``)."""
        _put_newest(self.released, uuid, (departed, target, departed), RELEASED_MAX)

    def mark_absent(self, uuid: str, tt: int) -> None:
        """A departure at ``tt`` went downstream (or the uuid was already gone)."""
        _put_newest(self.absent, uuid, max(self.absent.get(uuid, -1), tt), ABSENT_MAX)

    def arrived(self, uuid: str, tt: int) -> None:
        """A join or state change at ``tt`` went downstream: the uuid may be back."""
        gone = self.absent.get(uuid)
        if gone is not None and tt >= gone:
            del self.absent[uuid]

    def clear(self) -> None:
        """Forget everything (the subscription ended)."""
        self.swallowed.clear()
        self.released.clear()
        self.absent.clear()
