"""``for_channel``: keep the events of some channels, groups or wildcards."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable
from reactivex import operators as ops

from .._event import PresenceEvent


def for_channel_(
    *channels: str,
) -> Callable[[Observable[PresenceEvent]], Observable[PresenceEvent]]:
    if not channels:
        raise ValueError("for_channel needs at least one channel")
    for name in channels:
        if not isinstance(name, str) or not name:
            raise ValueError(f"channels must be non-empty strings, got {name!r}")
    wanted = frozenset(channels)

    def matches(event: PresenceEvent) -> bool:
        # Groups and wildcards deliver presence with the group or pattern in `subscription`.
        return event.channel in wanted or event.subscription in wanted

    return ops.filter(matches)
