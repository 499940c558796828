"""The hub: PubNub listener callbacks in, hot presence streams out."""

from __future__ import annotations

from typing import Any


class PresenceStreams:
    """Placeholder until the hub lands."""

    def __init__(self, pubnub: Any, *, scheduler: Any = None) -> None:
        raise NotImplementedError
