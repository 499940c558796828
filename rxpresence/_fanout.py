"""Hot multicast observables that isolate their observers from each other.

RxPY's ``Subject`` stops delivering a value at the first observer that raises, and
does not serialise concurrent ``on_next`` calls. :class:`Fanout` calls every observer
in turn, hands any exception to a report callback and carries on; the hub calls it
only while holding its own lock, so deliveries never overlap. :class:`Latest` also
remembers the last value and gives it to each new subscriber at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.observer.autodetachobserver import AutoDetachObserver

__all__ = ["Fanout", "Latest"]

_T = TypeVar("_T")

Report = Callable[[str, BaseException, Any], None]


class _Open:
    """Stands in for the ``is_stopped`` flag of observers that have none."""

    __slots__ = ()
    is_stopped = False


_OPEN = _Open()


def _sink(observer: abc.ObserverBase[Any]) -> tuple[Any, Callable[[Any], Any]]:
    """``(gate, on_next)`` for delivering to ``observer`` without a wrapper frame.

    ``Observable.subscribe`` wraps every subscriber in an ``AutoDetachObserver`` whose
    ``on_next`` only checks ``is_stopped`` and calls the user's function. Delivering as
    ``if not gate.is_stopped: on_next(value)`` does exactly that, one Python call
    cheaper per value and subscriber (the per-event hot path).
    """
    if type(observer) is AutoDetachObserver:
        return observer, observer._on_next
    return _OPEN, observer.on_next


class Fanout(Observable[_T], Generic[_T]):
    """A hot observable whose observers cannot break each other.

    Args:
        lock: The lock the producer holds while calling ``on_next``; subscribing takes
            it too, so a new observer starts cleanly between two values.
        report: Called with ``("subscriber", exception, value)`` when an observer raises.
    """

    def __init__(self, lock: threading.RLock, report: Report) -> None:
        super().__init__()
        self._lock = lock
        self._report = report
        self._observers: tuple[abc.ObserverBase[_T], ...] = ()
        # Parallel to _observers: (gate, on_next) pairs the hot path delivers through.
        self._sinks: tuple[tuple[Any, Callable[[_T], Any]], ...] = ()
        self._done = False

    @property
    def has_observers(self) -> bool:
        """Whether anyone is subscribed (cheap: checked on the hot path)."""
        return bool(self._observers)

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[_T],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        with self._lock:
            if self._done:
                observer.on_completed()
                return Disposable()
            self._on_subscribe(observer)
            self._observers = (*self._observers, observer)
            self._sinks = (*self._sinks, _sink(observer))

        def remove() -> None:
            with self._lock:
                kept = [i for i, o in enumerate(self._observers) if o is not observer]
                self._observers = tuple(self._observers[i] for i in kept)
                self._sinks = tuple(self._sinks[i] for i in kept)

        return Disposable(remove)

    def _on_subscribe(self, observer: abc.ObserverBase[_T]) -> None:
        """Hook for subclasses: runs under the lock before the observer is added."""

    def on_next(self, value: _T) -> None:
        """Deliver ``value`` to every observer; call with the lock held."""
        for gate, on_next in self._sinks:
            if not gate.is_stopped:
                try:
                    on_next(value)
                except Exception as exc:  # isolate observers from each other
                    self._report("subscriber", exc, value)

    def on_completed(self) -> None:
        """Complete every observer and refuse new ones (they complete at once)."""
        with self._lock:
            observers, self._observers, self._done = self._observers, (), True
            self._sinks = ()
        for observer in observers:
            try:
                observer.on_completed()
            except Exception as exc:
                self._report("subscriber", exc, None)


class Latest(Fanout[_T], Generic[_T]):
    """A :class:`Fanout` that gives each new subscriber the current value at once."""

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
        if self._sinks:
            Fanout.on_next(self, value)
