"""Connect a :class:`~rxpresence.PresenceStreams` hub to a console model.

Only rxpresence's public API is used: ``events``, ``status``, ``errors``, and
``roster(channel)`` / ``roster(channel, grace=...)`` / ``flickers(channel, grace=...)``
for each channel. Whatever a
roster stream emits first (an empty roster today, a here-now snapshot once the hub
bootstraps rosters) is shown as is.

Channels named up front are watched at once. Channels discovered through events (a
channel group's members, the channels behind a wildcard) are watched by
:meth:`Binding.attach_discovered`, which the display loop calls from its own thread:
never from the SDK's callback thread, which must not be kept waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from reactivex.disposable import CompositeDisposable

from rxpresence import PresenceStreams

from ._model import ConsoleModel

__all__ = ["Binding"]


class Binding:
    """Feeds a :class:`ConsoleModel` from a hub until :meth:`close`.

    Args:
        presence: The hub.
        model: The model to feed; its ``grace`` is the flicker grace period used.
        channels: Channels to watch from the start.
    """

    def __init__(
        self, presence: PresenceStreams, model: ConsoleModel, channels: Iterable[str] = ()
    ) -> None:
        self._presence = presence
        self._model = model
        self._lock = threading.Lock()
        self._watched: set[str] = set()
        self._subscriptions = CompositeDisposable()
        # Events first: for channels watched later, a roster change then follows the
        # event that caused it.
        self._subscriptions.add(presence.events.subscribe(model.on_event))
        self._subscriptions.add(presence.status.subscribe(model.on_status))
        self._subscriptions.add(presence.errors.subscribe(model.on_error))
        for channel in channels:
            self.watch(channel)

    def watch(self, channel: str) -> None:
        """Show ``channel``'s raw and flicker-suppressed rosters (idempotent).

        Args:
            channel: The channel.
        """
        with self._lock:
            if channel in self._watched:
                return
            self._watched.add(channel)
        self._model.add_channel(channel)
        presence, model = self._presence, self._model
        self._subscriptions.add(presence.roster(channel).subscribe(model.on_roster))
        if model.grace > 0:
            graced = presence.roster(channel, grace=model.grace)
            self._subscriptions.add(graced.subscribe(model.on_graced))
            # Counted by the rule the graced roster applies: the rejoins it swallowed.
            flickers = presence.flickers(channel, grace=model.grace)
            self._subscriptions.add(flickers.subscribe(model.on_flicker))

    def attach_discovered(self) -> None:
        """Watch the channels that events revealed since the last call."""
        for channel in self._model.channel_names():
            if channel not in self._watched:
                self.watch(channel)

    def close(self) -> None:
        """Stop feeding the model."""
        self._subscriptions.dispose()
