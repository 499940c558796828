"""The values of the announcing API: own presence, confirmations, errors, argument checks.

:meth:`PresenceStreams.enter`, :meth:`~PresenceStreams.update` and
:meth:`~PresenceStreams.leave` return a :class:`Confirmation`: a
``concurrent.futures.Future`` that can also be awaited, so a threaded app calls
``.result(timeout)`` and an asyncio app writes ``await``. It completes once the server
has confirmed, or fails with :class:`AnnounceTimeout` after the call's ``timeout``
(the library keeps trying in the background) or with :class:`AnnounceError` when the
request is superseded (a ``leave`` before the server confirmed an ``enter``) or the
hub is closed first.

:class:`OwnPresence` is what :meth:`PresenceStreams.own_presence` emits: whether the
server sees this client on a channel.

Exceptions::

    RuntimeError
     └── AnnounceError            the request will not be confirmed
          └── AnnounceTimeout     (also a TimeoutError) not confirmed in time
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Generator, Mapping
from concurrent.futures import Future, InvalidStateError
from datetime import timedelta
from enum import StrEnum
from typing import Any

from ._limits import excerpt

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "MAX_STATE_BYTES",
    "AnnounceError",
    "AnnounceTimeout",
    "Confirmation",
    "OwnPresence",
    "check_channel",
    "check_state",
    "check_timeout",
    "settle",
]

#: The longest channel name PubNub accepts, in characters.
MAX_CHANNEL_LENGTH = 92
#: The largest state one channel may carry, as compact JSON, in bytes. Heartbeats carry
#: the state of every entered channel in their query string, so this is kept well under
#: PubNub's 32 KiB limit for one request's state.
MAX_STATE_BYTES = 8 * 1024


class OwnPresence(StrEnum):
    """Whether the server sees this client on a channel, as far as it can tell.

    Attributes:
        ABSENT: Not entered (or left, and the server confirmed the leave).
        ENTERING: Entered; the server has not confirmed it yet.
        PRESENT: The server confirmed the client's presence, with its state.
        REENTERING: The server has dropped the client (its own timeout or leave event,
            a snapshot without it, or no confirmation for a whole presence timeout);
            rxpresence is asserting its presence and state again.
        LEAVING: A leave was asked for; the server has not confirmed it yet.
    """

    ABSENT = "absent"
    ENTERING = "entering"
    PRESENT = "present"
    REENTERING = "re-entering"
    LEAVING = "leaving"


class AnnounceError(RuntimeError):
    """An enter, update or leave will not be confirmed; the message says why."""


class AnnounceTimeout(AnnounceError, TimeoutError):
    """The server did not confirm within the call's ``timeout``.

    rxpresence keeps trying in the background (an enter or update until the channel is
    left; a leave until the server must have timed the client out anyway).
    """


class Confirmation(Future[None]):
    """The server's confirmation of one enter, update or leave.

    A ``concurrent.futures.Future``: threaded code calls ``result(timeout)`` or
    ``add_done_callback``. It is awaitable too, on any event loop: ``await
    presence.enter("lobby")``. The result is None; failures are :class:`AnnounceError`
    (or :class:`AnnounceTimeout`).

    Args:
        action: ``"enter"``, ``"update"`` or ``"leave"``.
        channel: The channel.
    """

    def __init__(self, action: str, channel: str) -> None:
        super().__init__()
        self.action = action
        self.channel = channel

    def __await__(self) -> Generator[Any, None, None]:
        return asyncio.wrap_future(self).__await__()

    def __repr__(self) -> str:
        done = "cancelled" if self.cancelled() else "done" if self.done() else "pending"
        return f"<Confirmation {self.action}({self.channel!r}) {done}>"


def settle(confirmation: Confirmation, error: BaseException | None = None) -> None:
    """Complete ``confirmation`` (with ``error`` if given) unless it is already done."""
    if confirmation.done():
        return
    try:
        if error is None:
            confirmation.set_result(None)
        else:
            confirmation.set_exception(error)
    except InvalidStateError:  # cancelled by its owner meanwhile
        pass


def check_channel(channel: Any) -> str:
    """``channel`` if PubNub accepts it as a channel to announce presence on.

    Raises:
        ValueError: It is not a non-empty string, is too long, names several channels
            (a comma), a wildcard (``*``) or a presence channel (``-pnpres``).
    """
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"channel must be a non-empty string, got {excerpt(channel)}")
    if len(channel) > MAX_CHANNEL_LENGTH:
        raise ValueError(
            f"channel {channel[:20]!r}... has {len(channel)} characters; PubNub accepts at "
            f"most {MAX_CHANNEL_LENGTH}"
        )
    if "," in channel:
        raise ValueError(
            f"channel {channel!r} contains a comma, which separates channels in requests: "
            "enter each channel on its own"
        )
    if "*" in channel:
        raise ValueError(f"channel {channel!r} is a wildcard: presence is announced per channel")
    if channel.endswith("-pnpres"):
        raise ValueError(
            f"channel {channel!r} is a presence channel: announce on {channel[:-7]!r} instead"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in channel):
        raise ValueError(f"channel {channel!r} contains control characters")
    return channel


def check_state(state: Any) -> dict[str, Any]:
    """A private JSON copy of ``state`` (None means no state: ``{}``).

    Raises:
        ValueError: ``state`` is not a mapping with string keys, holds values JSON
            cannot carry (NaN, infinities, sets, objects...), or is larger than
            :data:`MAX_STATE_BYTES` as JSON.
    """
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise ValueError(
            f"state must be a JSON object (a dict) or None, got {type(state).__name__}"
        )
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise ValueError(f"state keys must be strings, got {excerpt(bad_keys[0])}")
    try:
        text = json.dumps(dict(state), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"state must hold only JSON values: {exc}") from None
    size = len(text.encode())
    if size > MAX_STATE_BYTES:
        raise ValueError(
            f"state is {size} bytes as JSON; at most {MAX_STATE_BYTES} are allowed "
            "(keep state small: PubNub sends it with every heartbeat)"
        )
    copied: dict[str, Any] = json.loads(text)
    return copied


def check_timeout(timeout: Any) -> float | None:
    """``timeout`` in seconds (None: wait as long as it takes).

    Raises:
        ValueError: It is not None, a positive finite number or a positive timedelta.
    """
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(
            f"timeout must be a positive number of seconds or None, got {excerpt(timeout)}"
        )
    return float(seconds)
