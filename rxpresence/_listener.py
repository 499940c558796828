"""The SDK listener: the only code the PubNub SDK calls, and it never raises.

The sync SDK runs ``presence`` and ``message`` on its ``SubscribeMessageWorker``
thread; an exception escaping any callback kills that thread for good and every later
event is silently lost. So each callback hands its argument on inside ``try`` and turns
any failure into a report. The whole per-event path is two calls: :func:`read_sdk`,
then the channel registry's ``fold``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pubnub.callbacks import SubscribeCallback

from ._event import PresenceEvent, PresenceEventError, read_sdk

__all__ = ["Listener"]


class Listener(SubscribeCallback):  # type: ignore[misc]
    """A ``SubscribeCallback`` that normalises presence events and isolates failures.

    Args:
        on_presence: Called with each presence event (the registry's ``fold``).
        on_status: Called with each SDK status object.
        report: Called with ``(where, exception, payload)`` for anything that failed.
    """

    def __init__(
        self,
        on_presence: Callable[[PresenceEvent], None],
        on_status: Callable[[Any], None],
        report: Callable[[str, BaseException, Any], None],
    ) -> None:
        self._on_presence = on_presence
        self._on_status = on_status
        self._report = report

    def presence(self, pubnub: Any, presence: Any) -> None:
        try:
            event = read_sdk(presence)
        except PresenceEventError as exc:
            self._safe_report("event", exc, presence)
            return
        except Exception as exc:  # never let it reach the SDK thread
            self._safe_report("event", PresenceEventError(f"unreadable event: {exc!r}"), presence)
            return
        try:
            self._on_presence(event)
        except Exception as exc:
            self._safe_report("listener", exc, presence)

    def status(self, pubnub: Any, status: Any) -> None:
        try:
            self._on_status(status)
        except Exception as exc:
            self._safe_report("listener", exc, status)

    def message(self, pubnub: Any, message: Any) -> None:
        """Messages are not presence; ignored."""

    def _safe_report(self, where: str, exc: BaseException, payload: Any) -> None:
        try:
            self._report(where, exc, payload)
        except Exception:  # last line of defence for the SDK thread
            pass
