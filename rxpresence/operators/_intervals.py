"""``expand_intervals``: one join/leave/timeout event per uuid of an interval event."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from .._event import INTERVAL_SOURCE, Action, PresenceEvent

_INTERVAL = Action.INTERVAL


def expand_intervals_() -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    def operator(source: Observable[PresenceEvent]) -> Observable[PresenceEvent]:
        def subscribe(
            observer: abc.ObserverBase[PresenceEvent],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            def on_next(event: PresenceEvent) -> None:
                if event.action is not _INTERVAL or not event.has_deltas:
                    # Without arrays the interval means "ask here-now": pass it on as is.
                    observer.on_next(event)
                    return
                # Joins first, then departures: the order Roster.apply folds the arrays in.
                for action, uuids in (
                    (Action.JOIN, event.join),
                    (Action.LEAVE, event.leave),
                    (Action.TIMEOUT, event.timeout),
                ):
                    for uuid in uuids:
                        observer.on_next(
                            PresenceEvent(
                                action,
                                event.channel,
                                uuid,
                                event.occupancy,
                                event.timestamp,
                                event.timetoken,
                                subscription=event.subscription,
                                # Marks joins that carry no state by nature (see
                                # Roster.apply), unlike a live join without state.
                                source=INTERVAL_SOURCE,
                            )
                        )

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
