"""Settings of the local presence server.

Every field defaults to PubNub's documented behaviour or, where PubNub documents
nothing, to a limit generous enough that the real SDK never meets it. Tests use
:meth:`ServerSettings.fast` to shorten the long poll and the interval period.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["ServerSettings"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the local presence server behaves.

    Attributes:
        hold_timeout: Seconds a subscribe long poll is held open when nothing matches.
            PubNub holds about 280 s, under the SDK's 310 s request timeout.
        presence_timeout: Presence timeout in seconds for a uuid that sends no
            ``heartbeat`` parameter (PubNub: 300).
        announce_max: Above this occupancy a channel switches to interval mode
            (PubNub's default "Announce Max": 20).
        interval: Seconds between two ``interval`` events in interval mode (PubNub: 10).
        presence_deltas: Whether ``interval`` events carry ``join``/``leave``/``timeout``
            arrays (PubNub's "Presence Deltas" option, on by default).
        delta_limit: Byte size of the delta arrays' JSON above which an ``interval``
            event carries ``here_now_refresh: true`` instead (PubNub: about 30 KB).
        max_request_bytes: Largest request target (path and query) and largest body,
            in bytes. Longer targets get 414, larger bodies 413.
        max_state_bytes: Largest presence state, as JSON, in bytes (PubNub: 32 KiB).
        max_channels_per_request: Most channels (plus channel groups) one request may name.
        max_channels_per_group: Most channels one channel group may hold.
        max_held_polls_per_client: Most long polls held at once for one
            (subscribe key, uuid); a newer poll releases the oldest one.
        max_messages_per_poll: Most messages one subscribe response carries (PubNub: 100).
        max_name_length: Longest channel, channel group or uuid, in characters.
        handshake_lookback: Seconds a handshake looks back for the uuid's own presence
            events, so a heartbeat that beat the handshake is still delivered.
        sweep_interval: Seconds between two sweeps for timeouts and interval flushes.
        log_size: How many published messages and presence events are kept for
            subscribers to catch up on.
        request_log_size: How many requests the in-process server remembers.
        listen_backlog: Connections the kernel queues before the server accepts them.
            A burst of clients larger than the queue has some connections dropped (the
            client retries its SYN after a second or more). Linux silently caps the
            value at ``/proc/sys/net/core/somaxconn`` (4096 on recent kernels, 128
            on older ones).
    """

    hold_timeout: float = 280.0
    presence_timeout: float = 300.0
    announce_max: int = 20
    interval: float = 10.0
    presence_deltas: bool = True
    delta_limit: int = 30_000
    max_request_bytes: int = 64 * 1024
    max_state_bytes: int = 32 * 1024
    max_channels_per_request: int = 1000
    max_channels_per_group: int = 2000
    max_held_polls_per_client: int = 10
    max_messages_per_poll: int = 100
    max_name_length: int = 92
    handshake_lookback: float = 2.0
    sweep_interval: float = 0.25
    log_size: int = 50_000
    request_log_size: int = 2_000
    listen_backlog: int = 2048

    def __post_init__(self) -> None:
        positive = (
            "hold_timeout",
            "presence_timeout",
            "interval",
            "delta_limit",
            "max_request_bytes",
            "max_state_bytes",
            "max_channels_per_request",
            "max_channels_per_group",
            "max_held_polls_per_client",
            "max_messages_per_poll",
            "max_name_length",
            "sweep_interval",
            "log_size",
            "request_log_size",
            "listen_backlog",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"ServerSettings.{name} must be a positive number, got {value!r}")
        if isinstance(self.announce_max, bool) or not isinstance(self.announce_max, int):
            raise ValueError(
                f"ServerSettings.announce_max must be an int, got {self.announce_max!r}"
            )
        if self.announce_max < 0:
            raise ValueError(f"ServerSettings.announce_max must be >= 0, got {self.announce_max}")
        if self.handshake_lookback < 0:
            raise ValueError(
                f"ServerSettings.handshake_lookback must be >= 0, got {self.handshake_lookback}"
            )

    def replace(self, **changes: Any) -> ServerSettings:
        """Return a copy with some fields changed.

        Args:
            **changes: Field names and their new values.

        Returns:
            The new settings.

        Raises:
            TypeError: If a name is not a field of ``ServerSettings``.
            ValueError: If a value is out of range.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown server setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def fast(cls, **changes: Any) -> ServerSettings:
        """Settings for tests: a 1 s long poll, 1 s intervals and a 50 ms sweep.

        Args:
            **changes: Fields to override on top of the fast settings.

        Returns:
            The settings.
        """
        return cls(hold_timeout=1.0, interval=1.0, sweep_interval=0.05).replace(**changes)
