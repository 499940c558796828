"""``roster_diffs``: what changed between consecutive roster snapshots."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from .._roster import Roster, RosterDiff


def roster_diffs_() -> Callable[[Observable[Roster]], Observable[RosterDiff]]:
    def operator(source: Observable[Roster]) -> Observable[RosterDiff]:
        def subscribe(
            observer: abc.ObserverBase[RosterDiff],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            # Keyed by channel so that a merged stream of several rosters diffs correctly.
            previous: dict[str, Roster] = {}

            def on_next(roster: Roster) -> None:
                old = previous.get(roster.channel)
                if old is None:
                    old = Roster(roster.channel)
                previous[roster.channel] = roster
                diff = old.diff(roster)
                if diff:
                    observer.on_next(diff)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
