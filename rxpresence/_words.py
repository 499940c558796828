"""Counts in words, for text a person reads (the console, notebook status lines)."""

from __future__ import annotations

__all__ = ["quantity"]


def quantity(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is one.

    Args:
        count: How many.
        noun: The singular, e.g. ``"event"``; it may be several words
            (``"roster matches"``).
        plural: The plural when it is not ``noun + "s"``.

    Returns:
        The text.

    Example:
        >>> quantity(1, "event"), quantity(0, "event")
        ('1 event', '0 events')
        >>> quantity(3, "roster matches", "rosters match")
        '3 rosters match'
    """
    if count == 1:
        return f"1 {noun}"
    return f"{count} {plural if plural is not None else noun + 's'}"
