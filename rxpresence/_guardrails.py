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
* PubNub's smallest presence timeout is 20 s; smaller values are raised to 20 s by the
  service, so the client does not behave as configured. Not checked for a loopback
  ``origin``: the local presence server honours short timeouts (tests and demos use them).
* ``config.presence_timeout = T`` (and ``heartbeat_interval``) is silently ignored: the
  attributes are read-only properties and the SDK's ``__setattr__`` stores the value
  beside them. Only ``set_presence_timeout`` and
  ``set_presence_timeout_with_custom_interval`` take effect.
"""

from __future__ import annotations

import ipaddress
import warnings
from typing import Any

__all__ = ["PresenceConfigWarning", "check_config", "is_loopback_host", "warn_about_config"]

#: About how long PubNub holds a subscribe long poll on a quiet channel, in seconds.
SUBSCRIBE_HOLD = 280.0
#: PubNub's smallest presence timeout, in seconds.
MIN_PRESENCE_TIMEOUT = 20.0


class PresenceConfigWarning(UserWarning):
    """A PubNub configuration that makes presence unreliable; the message names the fix."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


def _is_loopback(origin: Any) -> bool:
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


def check_config(config: Any) -> list[str]:
    """Problems with a ``PNConfiguration``, each naming its fix (empty if none).

    Args:
        config: The client's configuration (anything without the attributes passes).

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
    if not heartbeats and timeout < SUBSCRIBE_HOLD:
        problems.append(
            f"presence heartbeats are off and the presence timeout ({_fmt(timeout)}) is "
            f"shorter than a subscribe long poll (about {_fmt(SUBSCRIBE_HOLD)}): the client "
            "times out between two polls on a quiet channel. Fix: "
            "config.enable_presence_heartbeat = True, or a presence timeout of at least "
            "300 s."
        )
    if timeout < MIN_PRESENCE_TIMEOUT and not _is_loopback(getattr(config, "origin", None)):
        problems.append(
            f"the presence timeout ({_fmt(timeout)}) is below PubNub's minimum of "
            f"{_fmt(MIN_PRESENCE_TIMEOUT)}; the service raises it, so the client does not "
            f"behave as configured. Fix: config.set_presence_timeout({MIN_PRESENCE_TIMEOUT:g}) "
            "or more."
        )
    return problems


def warn_about_config(pubnub: Any, stacklevel: int = 2) -> list[str]:
    """Issue a :class:`PresenceConfigWarning` for each problem in ``pubnub.config``.

    Args:
        pubnub: The client (anything without a ``config`` passes).
        stacklevel: As for :func:`warnings.warn`, counted from the caller of this function.

    Returns:
        The messages warned about.
    """
    config = getattr(pubnub, "config", None)
    if config is None:
        return []
    try:
        problems = check_config(config)
    except Exception:  # a check must never break attaching the hub
        return []
    for message in problems:
        warnings.warn(message, PresenceConfigWarning, stacklevel=stacklevel + 1)
    return problems
