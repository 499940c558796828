"""Small builders shared by the unit tests."""

from __future__ import annotations

from typing import Any

from pubnub.enums import PNStatusCategory
from pubnub.models.consumer.common import PNStatus
from pubnub.models.consumer.pubsub import PNPresenceEventResult

from rxpresence import Member, PresenceEvent, Roster


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


def sdk_status(category: str) -> PNStatus:
    """An SDK status of the given category name, e.g. ``"PNConnectedCategory"``."""
    result = PNStatus()
    result.category = getattr(PNStatusCategory, category)
    return result


# -- virtual-time builders: times are whole seconds, timetokens ``t * TT`` ----------------

ROOM = "room"
TT = 10_000_000  # timetoken units per second


def ev(
    action: str,
    uuid: str | None,
    t: int,
    occupancy: int,
    *,
    channel: str = ROOM,
    state: dict[str, Any] | None = None,
    subscription: str | None = None,
    **arrays: list[str],
) -> PresenceEvent:
    """A PresenceEvent at second ``t`` (timestamp ``t``, timetoken ``t * TT``)."""
    return PresenceEvent(
        action,
        channel,
        uuid,
        occupancy,
        timestamp=t,
        timetoken=t * TT,
        state=state,
        subscription=subscription,
        **arrays,  # type: ignore[arg-type]
    )


def member(uuid: str, joined: int, last: int | None = None, state: Any = None) -> Member:
    """A Member that joined at second ``joined`` and was last updated at ``last``."""
    return Member(uuid, state, joined, (joined if last is None else last) * TT)


def roster(occupancy: int, *members: Member, channel: str = ROOM) -> Roster:
    """A Roster of ``channel`` with these members and occupancy."""
    return Roster(channel, members, occupancy=occupancy)


def nested_list(depth: int, leaf: Any = "x") -> Any:
    """``[[[...leaf...]]]``, ``depth`` lists deep (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_state(depth: int) -> dict[str, Any]:
    """A state object ``depth`` objects deep, the state itself included."""
    state: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        state = {"k": state}
    return state
