"""Configuration guardrails: warn about PubNub settings that make presence lie.

The mistakes checked here are silent in the SDK and show up much later as "random"
timeouts and flickering rosters, so :class:`PresenceStreams` checks the client's
``PNConfiguration`` once, when it is attached, and issues a
:class:`PresenceConfigWarning` that names the fix:

* Presence heartbeats every ``heartbeat_interval`` seconds, against a presence timeout
  of ``presence_timeout`` seconds: an interval above half the timeout means one late or
  lost heartbeat times the client out. The SDK's own defaults (280 s against 300 s) do
  exactly that once heartbeats are switched on; ``set_presence_timeout(T)`` picks
  ``T/2 - 1``.
* With presence heartbeats off, only subscribe requests renew a client's presence, and
  a subscribe long poll is held about 280 s on a quiet channel: a presence timeout
  shorter than that times the client out between two polls.
  That check is about the channels the app subscribed to itself: channels entered with
  :meth:`PresenceStreams.enter` are kept present by rxpresence's own heartbeats, so the
  announcing side (``_announce``) runs it with :func:`heartbeats_off_problem`, naming
  only subscribed channels that are not entered.
* PubNub's smallest presence timeout is 20 s; smaller values are raised to 20 s by the
  service, so the client does not behave as configured. Not checked for a loopback
  ``origin``: the local presence server honours short timeouts (tests and demos use them).
* The largest presence timeout PubNub's clients declare is 320 s; larger ones are
  capped, so the client is timed out sooner than configured.
* ``config.presence_timeout = T`` (and ``heartbeat_interval``) is silently ignored: the
  attributes are read-only properties and the SDK's ``__setattr__`` stores the value
  beside them. Only ``set_presence_timeout`` and
  ``set_presence_timeout_with_custom_interval`` take effect.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Collection
from typing import Any

__all__ = [
    "PresenceConfigWarning",
    "check_config",
    "heartbeats_off_problem",
    "is_loopback_host",
    "is_loopback_origin",
    "warn_about_config",
]

#: About how long PubNub holds a subscribe long poll on a quiet channel, in seconds.
SUBSCRIBE_HOLD = 280.0
#: PubNub's smallest presence timeout, in seconds.
MIN_PRESENCE_TIMEOUT = 20.0
#: The largest presence timeout PubNub's clients declare, in seconds.
MAX_PRESENCE_TIMEOUT = 320.0


class PresenceConfigWarning(UserWarning):
    """A PubNub configuration that makes presence unreliable; the message names the fix."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


def is_loopback_origin(origin: Any) -> bool:
    """Whether a ``PNConfiguration.origin`` (``host[:port]``) names this machine."""
    if not isinstance(origin, str) or not origin:
        return False
    host = origin.split("://")[-1].split("/")[0]
    host = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    return is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, no port) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: Any, *, heartbeats_off: bool = True) -> list[str]:
    """Problems with a ``PNConfiguration``, each naming its fix (empty if none).

    Args:
        config: The client's configuration (anything without the attributes passes).
        heartbeats_off: Whether to include the heartbeats-off problem (see
            :func:`heartbeats_off_problem`).

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    timeout = _number(getattr(config, "presence_timeout", None))
    interval = _number(getattr(config, "heartbeat_interval", None))
    if timeout is None:
        return problems
    raw = getattr(config, "__dict__", {})
    for name in ("presence_timeout", "heartbeat_interval"):
        if name in raw and raw[name] != getattr(config, name, None):
            problems.append(
                f"config.{name} = {raw[name]!r} has no effect (the SDK keeps "
                f"{getattr(config, name)!r}): call config.set_presence_timeout(T), or "
                "config.set_presence_timeout_with_custom_interval(T, I), instead."
            )
    heartbeats = bool(getattr(config, "enable_presence_heartbeat", False)) and (
        interval is not None and interval > 0
    )
    if heartbeats and interval is not None and interval > timeout / 2:
        problems.append(
            f"the presence heartbeat interval ({_fmt(interval)}) is more than half the "
            f"presence timeout ({_fmt(timeout)}): one late heartbeat times the client out. "
            f"Fix: config.set_presence_timeout({timeout:g}) (heartbeats every "
            f"{timeout / 2 - 1:g} s), or set_presence_timeout_with_custom_interval("
            f"{timeout:g}, {timeout / 2:g}) or less."
        )
    if heartbeats_off:
        problem = heartbeats_off_problem(config, None)
        if problem is not None:
            problems.append(problem)
    loopback = is_loopback_origin(getattr(config, "origin", None))
    if timeout < MIN_PRESENCE_TIMEOUT and not loopback:
        problems.append(
            f"the presence timeout ({_fmt(timeout)}) is below PubNub's minimum of "
            f"{_fmt(MIN_PRESENCE_TIMEOUT)}; the service raises it, so the client does not "
            f"behave as configured. Fix: config.set_presence_timeout({MIN_PRESENCE_TIMEOUT:g}) "
            "or more."
        )
    if timeout > MAX_PRESENCE_TIMEOUT and not loopback:
        problems.append(
            f"the presence timeout ({_fmt(timeout)}) is above {_fmt(MAX_PRESENCE_TIMEOUT)}, "
            "the largest PubNub's clients declare; it is capped, so the client times out "
            f"sooner than configured. Fix: config.set_presence_timeout({MAX_PRESENCE_TIMEOUT:g}) "
            "or less."
        )
    return problems


def heartbeats_off_problem(config: Any, channels: Collection[str] | None) -> str | None:
    """The heartbeats-off problem of ``config`` for ``channels``, or None.

    With presence heartbeats off, only subscribe requests renew the client's presence,
    and a subscribe long poll is held about 280 s on a quiet channel: a shorter presence
    timeout times the client out between two polls.

    Args:
        config: The client's configuration.
        channels: The channels whose presence relies on subscribe requests (named in
            the message), or None when unknown.

    Returns:
        The message naming the fix, or None.
    """
    timeout = _number(getattr(config, "presence_timeout", None))
    interval = _number(getattr(config, "heartbeat_interval", None))
    if timeout is None or timeout >= SUBSCRIBE_HOLD:
        return None
    if bool(getattr(config, "enable_presence_heartbeat", False)) and interval and interval > 0:
        return None
    where = f" on {', '.join(sorted(channels))}" if channels else ""
    return (
        f"presence heartbeats are off and the presence timeout ({_fmt(timeout)}) is "
        f"shorter than a subscribe long poll (about {_fmt(SUBSCRIBE_HOLD)}): the client "
        f"times out between two polls on a quiet channel{where}. Fix: "
        "presence.enter(channel) to have rxpresence keep it present, "
        "config.enable_presence_heartbeat = True, or a presence timeout of at least 300 s."
    )


def warn_about_config(
    pubnub: Any, stacklevel: int = 2, *, heartbeats_off: bool = True
) -> list[str]:
    """Issue a :class:`PresenceConfigWarning` for each problem in ``pubnub.config``.

    Args:
        pubnub: The client (anything without a ``config`` passes).
        stacklevel: As for :func:`warnings.warn`, counted from the caller of this function.
        heartbeats_off: As for :func:`check_config`.

    Returns:
        The messages warned about.
    """
    config = getattr(pubnub, "config", None)
    if config is None:
        return []
    try:
        problems = check_config(config, heartbeats_off=heartbeats_off)
    except Exception:  # a check must never break attaching the hub
        return []
    for message in problems:
        warnings.warn(message, PresenceConfigWarning, stacklevel=stacklevel + 1)
    return problems
