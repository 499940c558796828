"""The marker of the hub's state streams: observables whose each value replaces the last.

A roster, an occupancy count, the map of every roster, where a uuid is, the users of a
channel and this client's own presence are *states*: a subscriber that only wants to
show the present can skip values it had no time to look at. Events and diffs are not:
skipping one loses information. :class:`StateView` lets a consumer such as
:func:`rxpresence.aio.values` tell the two apart without knowing the hub: the hub hands
out its state streams as instances of it.

Operators return plain observables, so piping a state stream (which may turn it into
anything) drops the marker; only what the hub itself returns carries it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from reactivex import Observable, abc

__all__ = ["StateView", "state_view"]

_T = TypeVar("_T")


class StateView(Observable[_T], Generic[_T]):
    """An observable of successive states: a value makes every earlier one stale."""


def state_view(source: Observable[_T]) -> StateView[_T]:
    """``source`` marked as a state stream (subscribing subscribes to ``source``).

    Args:
        source: Any observable whose values are successive states.

    Returns:
        A :class:`StateView` over it.
    """

    def subscribe(
        observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return source.subscribe(observer, scheduler=scheduler)

    return StateView(subscribe)
