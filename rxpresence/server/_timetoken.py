"""A strictly increasing timetoken clock.

PubNub timetokens are 17-digit integers counting 100 ns units since the Unix epoch.
Subscribers resume from the last timetoken they saw and receive only newer entries,
so no two entries may share one: each call to :meth:`TimetokenClock.next` returns
``max(previous + 1, now)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TICKS_PER_SECOND", "TimetokenClock"]

TICKS_PER_SECOND = 10_000_000


class TimetokenClock:
    """Hands out strictly increasing timetokens, safely from any thread.

    Args:
        wall: Wall clock in Unix seconds; injectable for tests.
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._last = 0
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        """The most recent timetoken handed out (0 before the first)."""
        return self._last

    def next(self) -> int:
        """Return a timetoken greater than every one returned before.

        Returns:
            The new timetoken.
        """
        with self._lock:
            self._last = max(self._last + 1, int(self._wall() * TICKS_PER_SECOND))
            return self._last

    def at(self, seconds: float) -> int:
        """Convert Unix seconds to timetoken units, without reserving it.

        Args:
            seconds: Unix time in seconds.

        Returns:
            The timetoken for that instant.
        """
        return int(seconds * TICKS_PER_SECOND)
