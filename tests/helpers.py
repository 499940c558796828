"""Small builders shared by the unit tests."""

from __future__ import annotations

from typing import Any

from pubnub.models.consumer.pubsub import PNPresenceEventResult


class FakePubNub:
    """The part of ``PubNub`` that ``PresenceStreams`` touches: listener management."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Any) -> None:
        self.listeners.remove(listener)

    def presence(self, result: PNPresenceEventResult) -> None:
        """Deliver like the SDK's worker thread: every listener, in order."""
        for listener in list(self.listeners):
            listener.presence(self, result)

    def status(self, status: Any) -> None:
        for listener in list(self.listeners):
            listener.status(self, status)


def sdk_event(
    action: str,
    uuid: str | None = "alice",
    *,
    channel: str = "room",
    occupancy: int = 1,
    timetoken: int = 17_000_000_000_000_000,
    timestamp: int = 1_700_000_000,
    state: dict[str, Any] | None = None,
    subscription: str | None = None,
    join: list[str] | None = None,
    leave: list[str] | None = None,
    timeout: list[str] | None = None,
) -> PNPresenceEventResult:
    """A ``PNPresenceEventResult`` built by the SDK's own class."""
    return PNPresenceEventResult(
        event=action,
        uuid=uuid,
        timestamp=timestamp,
        occupancy=occupancy,
        subscription=subscription,
        channel=channel,
        timetoken=timetoken,
        state=state,
        join=join,
        leave=leave,
        timeout=timeout,
    )
