"""Many deadlines on one scheduler item: a heap with lazy cancellation.

A busy channel holds a departure for every flicker; one scheduler item per hold costs
a heap entry in the scheduler (or, with RxPY's ``TimeoutScheduler``, a thread) and a
cancellation per swallowed rejoin. :class:`DeadlineQueue` keeps the deadlines in a heap
of its own and keeps exactly one item scheduled: the earliest deadline. A cancelled
entry is not removed; the ``due`` callback is expected to ignore it when it comes due
(a released or cancelled :class:`rxpresence._grace.Hold` does nothing).

Deadlines are absolute scheduler times (``scheduler.now + delay``), so a queue on a
``TestScheduler`` fires at exactly the virtual time a ``schedule_relative(delay)`` at
push time would have (RxPY's virtual schedulers add a delay to ``now`` the same way),
and two queues given the same pushes fire alike.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from reactivex import abc
from reactivex.disposable import SerialDisposable

__all__ = ["DeadlineQueue"]

_T = TypeVar("_T")
_NO_TIME = timedelta(0)


class DeadlineQueue(Generic[_T]):
    """Items that come due at deadlines, with one scheduler item for the earliest.

    Args:
        scheduler: Keeps the time and runs the one pending item.
        due: Called with each item when its deadline has passed, in deadline order
            (items pushed with the same deadline in push order).
        lock: Held while the pending item runs; the caller holds it around every other
            call, so that ``due`` never races them. None when the scheduler already runs
            its actions under the caller's lock.
    """

    __slots__ = ("_armed_for", "_due", "_heap", "_lock", "_order", "_scheduler", "_timer")

    def __init__(
        self,
        scheduler: abc.SchedulerBase,
        due: Callable[[_T], None],
        lock: threading.RLock | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._due = due
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._heap: list[tuple[datetime, int, _T]] = []
        self._order = itertools.count()
        self._timer = SerialDisposable()
        self._armed_for: datetime | None = None

    def __len__(self) -> int:
        """Entries queued, cancelled ones included until their deadline."""
        return len(self._heap)

    def push(self, delay: float, item: _T) -> None:
        """Queue ``item`` to come due ``delay`` seconds from now.

        Raises:
            Exception: Whatever the scheduler raises when it cannot schedule the item
                (a process at its thread limit). The item stays queued but will not come
                due on its own; the caller decides what to do with it.
        """
        deadline = self._scheduler.now + timedelta(seconds=delay)
        heapq.heappush(self._heap, (deadline, next(self._order), item))
        if self._armed_for is None or deadline < self._armed_for:
            self._arm(deadline)

    def drain(self) -> list[_T]:
        """Every queued item in deadline order, emptying the queue and its timer."""
        items = [heapq.heappop(self._heap)[2] for _ in range(len(self._heap))]
        self.clear()
        return items

    def clear(self) -> None:
        """Drop every entry and cancel the pending scheduler item."""
        self._heap.clear()
        self._armed_for = None
        self._timer.disposable = None

    def _arm(self, deadline: datetime) -> None:
        # Schedule first: if the scheduler raises, the item armed before stays armed.
        delay = max(deadline - self._scheduler.now, _NO_TIME)
        pending = self._scheduler.schedule_relative(delay, self._fire)
        self._armed_for = deadline
        self._timer.disposable = pending

    def _fire(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        with self._lock:
            self._release_due()

    def _release_due(self) -> None:
        armed, self._armed_for = self._armed_for, None
        if armed is None:  # cleared meanwhile
            return
        heap = self._heap
        # Compared with the deadline armed for, not with ``now``: a clock that rounds
        # (virtual time in microseconds) must not make a due entry wait for ever.
        while heap and heap[0][0] <= armed:
            self._due(heapq.heappop(heap)[2])
        # ``due`` may have pushed (and armed for) new items: arm for the earliest.
        if heap and (self._armed_for is None or heap[0][0] < self._armed_for):
            try:
                self._arm(heap[0][0])
            except Exception:
                # No timer for the rest: they come due now rather than never.
                for item in self.drain():
                    self._due(item)
                raise
