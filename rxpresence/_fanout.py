"""Hot multicast streams that isolate their observers from each other.

RxPY's ``Subject`` stops delivering a value at the first observer that raises, and does
not serialise concurrent ``on_next`` calls. :class:`Fanout` calls every observer in
turn, hands any exception to a report callback and carries on; its producer calls it
only while holding the lock it was given (the channel registry's), so deliveries never
overlap. :class:`Latest` also remembers the last value and gives it to each new
subscriber at once.

Neither is an ``Observable``: an RxPY observable carries a lock of its own, and a hub
watching thousands of channels would pay for thousands of them. :meth:`Fanout.view`
hands out a plain ``Observable`` over it instead (callers cannot push into it either).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["Fanout", "Latest", "Report"]

_T = TypeVar("_T")

#: Called with ``(where, exception, payload)`` when something fails; never raises.
Report = Callable[[str, BaseException, Any], None]


class Fanout(Generic[_T]):
    """A hot stream whose observers cannot break each other.

    Args:
        lock: The lock the producer holds while calling :meth:`on_next`; subscribing
            takes it too, so a new observer starts cleanly between two values.
        report: Called with ``("subscriber", exception, value)`` when an observer raises.
    """

    __slots__ = ("_done", "_lock", "_report", "observers")

    def __init__(self, lock: threading.RLock, report: Report) -> None:
        self._lock = lock
        self._report = report
        #: The observers, in subscription order (replaced, never changed in place; read
        #: once per event to skip work nobody would see).
        self.observers: tuple[abc.ObserverBase[_T], ...] = ()
        self._done = False

    @property
    def has_observers(self) -> bool:
        """Whether anyone is subscribed."""
        return bool(self.observers)

    def view(self) -> Observable[_T]:
        """An ``Observable`` subscribing to this stream."""
        return Observable(self.subscribe_core)

    def subscribe_core(
        self,
        observer: abc.ObserverBase[_T],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Add ``observer`` (RxPY's subscribe function signature)."""
        with self._lock:
            if self._done:
                observer.on_completed()
                return Disposable()
            self._on_subscribe(observer)
            self.observers = (*self.observers, observer)

        def remove() -> None:
            with self._lock:
                self.observers = tuple(o for o in self.observers if o is not observer)

        return Disposable(remove)

    def _on_subscribe(self, observer: abc.ObserverBase[_T]) -> None:
        """Hook for subclasses: runs under the lock before the observer is added."""

    def on_next(self, value: _T) -> None:
        """Deliver ``value`` to every observer; call with the lock held."""
        for observer in self.observers:
            try:
                observer.on_next(value)
            except Exception as exc:  # isolate observers from each other
                self._report("subscriber", exc, value)

    def on_completed(self) -> None:
        """Complete every observer and refuse new ones (they complete at once)."""
        with self._lock:
            observers, self.observers, self._done = self.observers, (), True
        for observer in observers:
            try:
                observer.on_completed()
            except Exception as exc:
                self._report("subscriber", exc, None)


class Latest(Fanout[_T], Generic[_T]):
    """A :class:`Fanout` that gives each new subscriber the current value at once."""

    __slots__ = ("value",)

    def __init__(self, lock: threading.RLock, report: Report, value: _T) -> None:
        super().__init__(lock, report)
        self.value = value

    def _on_subscribe(self, observer: abc.ObserverBase[_T]) -> None:
        try:
            observer.on_next(self.value)
        except Exception as exc:
            self._report("subscriber", exc, self.value)

    def on_next(self, value: _T) -> None:
        """Remember ``value`` and deliver it; call with the lock held."""
        self.value = value
        Fanout.on_next(self, value)
