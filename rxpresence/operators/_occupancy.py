"""``to_occupancy``: occupancy counts of events or rosters, without repeats."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from .._event import PresenceEvent
from .._roster import Roster


def to_occupancy_() -> Callable[[Observable[PresenceEvent | Roster]], Observable[int]]:
    def operator(source: Observable[PresenceEvent | Roster]) -> Observable[int]:
        def subscribe(
            observer: abc.ObserverBase[int],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            last: int | None = None

            def on_next(value: PresenceEvent | Roster) -> None:
                nonlocal last
                # Events and rosters both carry `occupancy`: PubNub's count after the event.
                occupancy = value.occupancy
                if occupancy != last:
                    last = occupancy
                    observer.on_next(occupancy)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
