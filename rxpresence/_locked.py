"""The hub's schedulers: its own timer thread, and a wrapper that takes the hub's lock.

Timer callbacks (flicker grace windows) fire on scheduler threads while the SDK
delivers on its own. Taking the hub's lock first, before any operator's own lock,
keeps one lock order everywhere and so rules out deadlocks between the two.

An action that raises is reported, not propagated: on an ``EventLoopScheduler`` (the
hub's default) an exception would end the one thread every later timer runs on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.scheduler import EventLoopScheduler
from reactivex.scheduler.scheduler import Scheduler

__all__ = ["LockedScheduler", "TimerThread"]

_T = TypeVar("_T")


def _daemon(target: Callable[[], None]) -> threading.Thread:
    return threading.Thread(target=target, name="rxpresence-timers", daemon=True)


class TimerThread(EventLoopScheduler):
    """One daemon thread for all the timers of a hub, on a monotonic clock.

    RxPY's ``TimeoutScheduler`` starts a thread per scheduled item, and the hub's
    timers (held departures share one item, see ``_deadlines.py``; here-now paging and
    retries have their own) would each cost a thread start on the SDK's thread. This
    runs them all on one thread, started while a timer is pending and ended when none
    is (or by :meth:`dispose`). ``EventLoopScheduler`` keeps its queue in wall-clock
    time, where a step of the system clock would delay or hasten every pending grace
    period; ``now`` here is the wall clock at creation plus monotonic time since.

    Args:
        clock: Monotonic seconds (``time.monotonic``; replaceable in tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(_daemon, exit_if_empty=True)
        self._clock = clock
        self._origin = datetime.now(UTC) - timedelta(seconds=clock())

    @property
    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self._clock())


class LockedScheduler(Scheduler):
    """Delegates to ``inner``; each scheduled action runs while holding ``lock``.

    Args:
        inner: The scheduler that keeps the time and runs the actions.
        lock: Taken around every action.
        report: Called with ``("timer", exception, None)`` when an action raises.
    """

    def __init__(
        self,
        inner: abc.SchedulerBase,
        lock: threading.RLock,
        report: Callable[[str, BaseException, Any], None],
    ) -> None:
        super().__init__()
        self._inner = inner
        self._lock = lock
        self._report = report

    @property
    def inner(self) -> abc.SchedulerBase:
        """The wrapped scheduler."""
        return self._inner

    @property
    def now(self) -> datetime:
        return self._inner.now

    def _locked(self, action: typing.ScheduledAction[_T]) -> typing.ScheduledAction[_T]:
        def run(scheduler: abc.SchedulerBase, state: _T | None = None) -> Any:
            try:
                with self._lock:
                    return action(self, state)
            except Exception as exc:
                self._report("timer", exc, None)
                return None

        return run

    def schedule(
        self, action: typing.ScheduledAction[_T], state: _T | None = None
    ) -> abc.DisposableBase:
        return self._inner.schedule(self._locked(action), state)

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: typing.ScheduledAction[_T],
        state: _T | None = None,
    ) -> abc.DisposableBase:
        return self._inner.schedule_relative(duetime, self._locked(action), state)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: typing.ScheduledAction[_T],
        state: _T | None = None,
    ) -> abc.DisposableBase:
        return self._inner.schedule_absolute(duetime, self._locked(action), state)
