"""A scheduler wrapper that runs every action under the hub's lock.

Timer callbacks (flicker grace windows) fire on scheduler threads while the SDK
delivers on its own. Taking the hub's lock first, before any operator's own lock,
keeps one lock order everywhere and so rules out deadlocks between the two.

An action that raises is reported, not propagated: on an ``EventLoopScheduler`` (the
hub's default) an exception would end the one thread every later timer runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.scheduler.scheduler import Scheduler

__all__ = ["LockedScheduler"]

_T = TypeVar("_T")


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
