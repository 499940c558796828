"""``to_roster``: fold events into :class:`Roster` snapshots of one channel."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from .._event import PresenceEvent
from .._roster import Roster


def to_roster_(
    channel: str | None = None,
    initial: Roster | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[Roster]]:
    if channel is not None and (not isinstance(channel, str) or not channel):
        raise ValueError(f"channel must be a non-empty string or None, got {channel!r}")
    if initial is not None:
        if not isinstance(initial, Roster):
            raise TypeError(f"initial must be a Roster or None, got {initial!r}")
        if channel is not None and initial.channel != channel:
            raise ValueError(
                f"initial is the roster of {initial.channel!r}, not of channel {channel!r}"
            )

    def operator(source: Observable[PresenceEvent]) -> Observable[Roster]:
        def subscribe(
            observer: abc.ObserverBase[Roster],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            # Per subscription: every subscriber folds from the same seed on its own.
            roster: Roster | None = initial
            if roster is None and channel is not None:
                roster = Roster(channel)

            def on_next(event: PresenceEvent) -> None:
                nonlocal roster
                old = roster
                if old is None:
                    old = roster = Roster(event.channel)
                elif event.channel != old.channel:
                    return
                # apply returns the same object when nothing changed: no comparison needed.
                new = old.apply(event)
                if new is not old:
                    roster = new
                    observer.on_next(new)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
