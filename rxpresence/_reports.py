"""Values that report on the connection and on failures: nothing here ever raises.

The SDK's ``PNStatus`` objects are turned into :class:`ConnectionStatus` records so
that SDK types never travel downstream; failures become :class:`ErrorReport` values
on ``PresenceStreams.errors`` instead of exceptions on the SDK's callback thread.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["ConnectionStatus", "ErrorReport"]


class ConnectionStatus(NamedTuple):
    """A connection status reported by the SDK.

    Attributes:
        category: The SDK's category name, e.g. ``"PNConnectedCategory"``.
        error: Whether the SDK flagged the status as an error.
        channels: Channels the status concerns (may be empty).
        groups: Channel groups the status concerns (may be empty).
    """

    category: str
    error: bool = False
    channels: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def connected(self) -> bool:
        """True for the connected and reconnected categories."""
        return self.category in ("PNConnectedCategory", "PNReconnectedCategory")

    @property
    def disconnected(self) -> bool:
        """True for categories that mean the subscribe loop lost the network."""
        return self.category in _DOWN

    @classmethod
    def from_sdk(cls, status: Any) -> ConnectionStatus:
        """Build a record from the SDK's ``PNStatus`` (tolerates missing fields)."""
        category = getattr(status, "category", None)
        name = getattr(category, "name", None) or str(category)
        return cls(
            name,
            bool(getattr(status, "error", False)),
            _names(getattr(status, "affected_channels", None)),
            _names(getattr(status, "affected_groups", None)),
        )


_DOWN = frozenset(
    {
        "PNUnexpectedDisconnectCategory",
        "PNNetworkIssuesCategory",
        "PNTimeoutCategory",
        "PNConnectionErrorCategory",
    }
)


def _names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        return (str(value),)


class ErrorReport(NamedTuple):
    """A failure rxpresence caught so that delivery could go on.

    Attributes:
        where: What failed: ``"event"`` (a malformed presence event),
            ``"subscriber"`` (an observer raised), ``"listener"`` (an unexpected
            failure inside rxpresence's SDK listener), ``"here-now"`` (a snapshot
            request failed), ``"announce"`` (a heartbeat or leave of the client's
            own presence failed; it is retried), ``"resync"`` or ``"timer"`` (a
            scheduled action, such as the end of a grace period, raised).
        error: The exception.
        payload: What was being handled: the SDK object, the event or the roster.
    """

    where: str
    error: BaseException
    payload: Any = None

    def __str__(self) -> str:
        return f"{self.where}: {type(self.error).__name__}: {self.error}"
