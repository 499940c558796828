"""``argparse`` types shared by the ``rxpresence`` command and ``python -m rxpresence.server``.

Each takes the argument's text and returns the value, or raises
``argparse.ArgumentTypeError`` with a one-line message saying what was wrong; argparse
prints it after the option's name (``argument --port: must be between 0 and 65535,
got '99999'``) and exits with status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re

__all__ = ["count", "host", "non_negative_count", "port", "positive_seconds", "seconds"]

# One DNS label: letters, digits and inner hyphens, at most 63 characters (RFC 1123).
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_MAX_HOST_NAME = 253


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more.

    Args:
        text: The argument.

    Returns:
        The seconds.

    Raises:
        argparse.ArgumentTypeError: If it is not such a number.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds, more than 0.

    Args:
        text: The argument.

    Returns:
        The seconds.

    Raises:
        argparse.ArgumentTypeError: If it is not such a number.
    """
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535.

    Args:
        text: The argument.

    Returns:
        The port.

    Raises:
        argparse.ArgumentTypeError: If it is not a port number.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text!r}")
    return value


def host(text: str) -> str:
    """An interface to bind: an IPv4 or IPv6 address, or a host name, without a port.

    Args:
        text: The argument.

    Returns:
        The host, as given (an IPv6 address without brackets).

    Raises:
        argparse.ArgumentTypeError: If it is neither an address nor a valid host name.
    """
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if "://" in text or "/" in text:
        raise argparse.ArgumentTypeError(f"a host name or address, not a URL: {text!r}")
    if ":" in text:
        raise argparse.ArgumentTypeError(
            f"a host name or address without a port (use --port): {text!r}"
        )
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > _MAX_HOST_NAME or not all(map(_LABEL.fullmatch, name.split("."))):
        raise argparse.ArgumentTypeError(f"not a host name or IP address: {text!r}")
    return text


def count(text: str) -> int:
    """A whole number, 1 or more.

    Args:
        text: The argument.

    Returns:
        The number.

    Raises:
        argparse.ArgumentTypeError: If it is not such a number.
    """
    return _whole_number(text, minimum=1)


def non_negative_count(text: str) -> int:
    """A whole number, 0 or more.

    Args:
        text: The argument.

    Returns:
        The number.

    Raises:
        argparse.ArgumentTypeError: If it is not such a number.
    """
    return _whole_number(text, minimum=0)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {text!r}")
    return value
