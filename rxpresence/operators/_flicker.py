"""``suppress_flicker``: hold departures for a grace period; a quick rejoin cancels both.

Shaped like RxPY's ``_debounce``: everything lives in the closure of one subscription.
The per-channel rules (what to hold, swallow, lift or drop) are
:class:`rxpresence._grace.FlickerSuppressor`, shared with the hub's graced rosters; this
module adds the clock (one :class:`rxpresence._deadlines.DeadlineQueue`, so one
scheduler item whatever the number of held departures) and the lock.

Timers fire on the scheduler's threads while events arrive on the source's thread, so
every callback takes the subscription's lock and emits while holding it: downstream sees
one serialized, ordered stream, and a timer can never release a departure that a
concurrent rejoin has just cancelled (nor the other way round). The lock is re-entrant so
that a downstream observer may dispose its subscription from inside ``on_next``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import TimeoutScheduler

from .._deadlines import DeadlineQueue
from .._event import PresenceEvent
from .._grace import FlickerSuppressor, Hold, grace_seconds, held_actions
from .._roster import Roster


def suppress_flicker_(
    grace: float | timedelta,
    actions: Iterable[str] = ("timeout",),
    scheduler: abc.SchedulerBase | None = None,
    initial: Roster | None = None,
) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    seconds = grace_seconds(grace)
    held = held_actions(actions)
    if initial is not None and not isinstance(initial, Roster):
        raise TypeError(f"initial must be a Roster or None, got {initial!r}")

    def operator(source: Observable[PresenceEvent]) -> Observable[PresenceEvent]:
        if seconds == 0 or not held:
            return source

        def subscribe(
            observer: abc.ObserverBase[PresenceEvent],
            scheduler_: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            _scheduler = scheduler or scheduler_ or TimeoutScheduler.singleton()
            lock = threading.RLock()
            channels: dict[str, FlickerSuppressor] = {}
            done = False
            disposed = False

            def release(hold: Hold) -> None:
                if not done:
                    hold.release()

            deadlines: DeadlineQueue[Hold] = DeadlineQueue(_scheduler, release, lock)

            def start_hold(hold: Hold) -> None:
                deadlines.push(seconds, hold)

            def suppressor(channel: str) -> FlickerSuppressor:
                found = channels.get(channel)
                if found is None:
                    found = FlickerSuppressor(channel, held, observer.on_next, start_hold)
                    channels[channel] = found
                return found

            if initial is not None:
                # The roster downstream starts from it: its members' flickers are
                # swallowed like those of members seen joining.
                suppressor(initial.channel).seed((m.uuid, m.state, m.timetoken) for m in initial)

            def on_next(event: PresenceEvent) -> None:
                with lock:
                    if not done:
                        suppressor(event.channel).on_next(event)

            def on_error(error: Exception) -> None:
                with lock:
                    if not done:
                        dispose()
                        observer.on_error(error)

            def on_completed() -> None:
                nonlocal done
                with lock:
                    if done:
                        return
                    done = True
                    # The source is over, so no rejoin can come to cancel a held
                    # departure: release them all now, in the order they were held. An
                    # observer may dispose while being flushed to: then nothing is left.
                    for hold in deadlines.drain():
                        hold.release()
                    if not disposed:
                        observer.on_completed()

            def dispose() -> None:
                nonlocal done, disposed
                with lock:
                    done = disposed = True
                    deadlines.clear()
                    for channel in channels.values():
                        channel.clear()

            subscription = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler_)
            return CompositeDisposable(subscription, Disposable(dispose))

        return Observable(subscribe)

    return operator
