"""Input limits: what a presence event's fields may hold, checked in one place.

Every entry point (``PresenceEvent`` and its ``from_dict`` / ``from_sdk``, recordings,
here-now answers, the hub's listener) checks its fields with the functions here, so a
value that passes can later be printed, compared, written to a recording and sent back
to PubNub. The limits are PubNub's own where PubNub states one:

* uuids: non-empty strings of at most 92 characters (PubNub's user ID length limit);
* channel names, and the group or pattern of ``subscription``: non-empty strings of at
  most 2,048 characters (PubNub's channel name length limit);
* every string: valid Unicode. A lone surrogate (``"\\ud800"``, which JSON's ``\\u``
  escapes can produce) cannot be encoded as UTF-8, so it could neither be written to a
  recording nor sent in a request;
* occupancy, timestamp and timetoken: ints with ``0 <= n < 2**64`` (a timetoken is a
  17-digit count of 100 ns; an int with thousands of digits cannot even be printed);
* state: a JSON object (string keys; values null, booleans, 64-bit ints, finite
  floats, strings, arrays and objects) nested at most 32 deep and at most 32 KiB as
  compact UTF-8 JSON. PubNub documents no separate state limit, but state travels in
  the query string of a GET request, whose length PubNub caps at about 32 KiB.

A check returns the value (state: as a read-only copy) or raises :class:`LimitError`,
whose message names the field and shows :func:`excerpt` of the value: never the whole
value, so a 10 MB string makes a short message, and never by unbounded recursion, so a
value nested 200,000 deep is described, not walked. Callers turn ``LimitError`` into
their own error type (``PresenceEventError``, ``HereNowError``).
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "MAX_COUNT",
    "MAX_STATE_BYTES",
    "MAX_STATE_DEPTH",
    "MAX_UUID_LENGTH",
    "LimitError",
    "check_channel",
    "check_count",
    "check_state",
    "check_text",
    "check_uuid",
    "check_uuids",
    "excerpt",
]

MAX_UUID_LENGTH = 92
MAX_CHANNEL_LENGTH = 2048
MAX_COUNT = 2**64  # occupancy, timestamp and timetoken are below this
MAX_STATE_DEPTH = 32  # the state object itself is depth 1
MAX_STATE_BYTES = 32 * 1024
_MIN_STATE_INT = -(2**63)
_EXCERPT_CHARS = 40


class LimitError(ValueError):
    """A value is of the wrong type or breaks a limit; the message names the field."""


# -- excerpts ----------------------------------------------------------------------------


class _Excerpt(reprlib.Repr):
    """``reprlib`` with small limits, and ints too long to print described by size."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = _EXCERPT_CHARS
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 4
        self.maxfrozenset = self.maxdeque = self.maxarray = 4
        self.maxlong = _EXCERPT_CHARS

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a 5,000-digit int raises ValueError
            return f"<int of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            return super().repr_instance(x, level)
        except Exception:  # a repr that raises (or recurses too deep) is not ours to fix
            return f"<{type(x).__name__}>"


_excerpt = _Excerpt()
_EXCERPT_MAX = 160  # characters of an excerpt, whatever the value


def excerpt(value: object) -> str:
    """A short, bounded description of ``value`` for an error message.

    Strings (and bytes) show their start and their length, containers their first items
    down to three levels (with their size at the top), long ints their number of
    digits; anything else its ``repr`` cut short. Never raises, never recurses without
    bound, and the result is at most a few hundred characters.
    """
    try:
        if isinstance(value, str) and len(value) > _EXCERPT_CHARS:
            return f"{value[:_EXCERPT_CHARS]!r}... ({len(value)} characters)"
        if isinstance(value, bytes | bytearray) and len(value) > _EXCERPT_CHARS:
            return f"{bytes(value[:_EXCERPT_CHARS])!r}... ({len(value)} bytes)"
        shown = _excerpt.repr(value)
        if len(shown) > _EXCERPT_MAX:  # wide containers of long keys add up
            shown = f"{shown[:_EXCERPT_MAX]}..."
        if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > 4:
            shown = f"{shown} ({len(value)} items)"
        return shown
    except Exception:
        return f"<{type(value).__name__}>"


def _fail(field: str, expected: str, value: object) -> LimitError:
    return LimitError(f"{field} must be {expected}, got {excerpt(value)}")


# -- scalars -----------------------------------------------------------------------------


def check_count(field: str, value: object) -> int:
    """``value`` if it is an int with ``0 <= value < 2**64`` (not a bool), else raise."""
    if type(value) is int and 0 <= value < MAX_COUNT:
        return value
    if type(value) is int and value >= 0:
        raise _fail(field, "an int below 2**64", value)
    raise _fail(field, "an int >= 0", value)


def check_text(field: str, value: object, max_length: int) -> str:
    """``value`` if it is a non-empty, valid Unicode string of at most ``max_length``."""
    if type(value) is str and 0 < len(value) <= max_length and value.isascii():
        return value  # the common case, decided without encoding
    if not isinstance(value, str) or not value:
        raise _fail(field, "a non-empty string", value)
    if len(value) > max_length:
        raise _fail(field, f"at most {max_length} characters", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(field, "valid Unicode (no lone surrogates)", value) from None
    return value


def check_uuid(field: str, value: object) -> str:
    """``value`` if it is a valid uuid: non-empty, at most 92 characters, valid Unicode."""
    if type(value) is str and 0 < len(value) <= MAX_UUID_LENGTH and value.isascii():
        return value
    return check_text(field, value, MAX_UUID_LENGTH)


def check_channel(field: str, value: object) -> str:
    """``value`` if it is a valid channel, group or pattern name (at most 2,048 chars)."""
    if type(value) is str and 0 < len(value) <= MAX_CHANNEL_LENGTH and value.isascii():
        return value
    return check_text(field, value, MAX_CHANNEL_LENGTH)


def check_uuids(field: str, value: object) -> tuple[str, ...]:
    """A list or tuple of valid uuids (None: empty), as a tuple."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise _fail(field, "a list of uuid strings", value)
    for index, uuid in enumerate(value):
        if type(uuid) is not str or not 0 < len(uuid) <= MAX_UUID_LENGTH or not uuid.isascii():
            check_uuid(f"{field}[{index}]", uuid)
    return tuple(value)


# -- state -------------------------------------------------------------------------------


def check_state(field: str, value: object) -> Mapping[str, Any] | None:
    """A read-only copy of ``value`` if it is None or a JSON object within the limits.

    The object is walked without recursion, and the walk stops at the first value that
    breaks a limit, so a state nested 200,000 deep or holding a million items costs
    little more than one within the limits. Only a state that might pass 32 KiB is
    encoded to measure it.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(field, "a mapping or None", value)
    state = dict(value)
    if _check_json(field, state) > MAX_STATE_BYTES:
        try:
            size = len(_ENCODER.encode(state).encode("utf-8"))
        except (ValueError, TypeError, RecursionError):  # the walk lets none through
            raise _fail(field, "JSON-serialisable", value) from None
        if size > MAX_STATE_BYTES:
            raise _too_big(field, value)
    return MappingProxyType(state)


# One encoder, built once: json.dumps with non-default options builds one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

# Most bytes one value can take in compact JSON, its comma included: a character of a
# string at most 6 (an escape such as \u001f), an int 21, a float's repr 24.
_ESCAPED = 6
_INT_BYTES = 22
_FLOAT_BYTES = 25


def _check_json(field: str, state: dict[Any, Any]) -> int:
    """Raise unless ``state`` holds only JSON values, nested and sized within the limits.

    Returns an upper bound of its compact JSON size in bytes. ``budget`` counts down a
    lower bound of the same size (quotes, colons and brackets; no commas), so that a
    huge state is refused as soon as it is known to be too big. Exact types are tested
    first: they are what JSON gives, and cost a fraction of an ``isinstance``.
    """
    budget = MAX_STATE_BYTES
    bound = 0
    pending: list[tuple[Any, int]] = [(state, 1)]
    while pending:
        node, depth = pending.pop()
        items: Any
        if isinstance(node, dict):
            for key in node:
                if type(key) is not str and not isinstance(key, str):
                    raise _fail(f"{field} keys", "strings", key)
                budget -= len(key) + 3
                bound += _ESCAPED * len(key) + 4
                if budget < 0:
                    break  # reported below
                if not key.isascii():
                    _check_string(field, key)
            items = node.values()
        else:
            items = node
        budget -= 2
        bound += 3
        if budget < 0:
            raise _too_big(field, state)
        for item in items:
            kind = type(item)
            if kind is str:
                budget -= len(item) + 2
                bound += _ESCAPED * len(item) + 3
                if budget >= 0 and not item.isascii():
                    _check_string(field, item)
            elif kind is int:
                if not _MIN_STATE_INT <= item < MAX_COUNT:
                    raise _fail(f"{field} values", "ints of at most 64 bits", item)
                budget -= 1
                bound += _INT_BYTES
            elif kind is dict or kind is list:
                _nest(field, item, depth, pending)
            elif kind is bool or item is None:
                budget -= 4
                bound += 6
            elif kind is float:
                if not math.isfinite(item):
                    raise _fail(f"{field} values", "finite numbers", item)
                budget -= 3
                bound += _FLOAT_BYTES
            else:
                low, high = _check_other(field, item, depth, pending)
                budget -= low
                bound += high
            if budget < 0:
                raise _too_big(field, state)
    return bound


def _nest(field: str, item: object, depth: int, pending: list[tuple[Any, int]]) -> None:
    if depth >= MAX_STATE_DEPTH:
        raise LimitError(f"{field} must be nested at most {MAX_STATE_DEPTH} deep")
    pending.append((item, depth + 1))


def _check_other(
    field: str, item: object, depth: int, pending: list[tuple[Any, int]]
) -> tuple[int, int]:
    """``_check_json`` for tuples and subclasses of the JSON types: (lower, upper) size."""
    if isinstance(item, bool):
        return 4, 6
    if isinstance(item, str):
        if not item.isascii():
            _check_string(field, item)
        return len(item) + 2, _ESCAPED * len(item) + 3
    if isinstance(item, int):
        if not _MIN_STATE_INT <= item < MAX_COUNT:
            raise _fail(f"{field} values", "ints of at most 64 bits", item)
        return 1, _INT_BYTES
    if isinstance(item, float):
        if not math.isfinite(item):
            raise _fail(f"{field} values", "finite numbers", item)
        return 3, _FLOAT_BYTES
    if isinstance(item, dict | list | tuple):
        _nest(field, item, depth, pending)
        return 0, 0
    raise _fail(f"{field} values", "JSON values", item)


def _too_big(field: str, state: object) -> LimitError:
    return LimitError(
        f"{field} must be at most {MAX_STATE_BYTES} bytes as JSON, got more: {excerpt(state)}"
    )


def _check_string(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(f"{field} strings", "valid Unicode (no lone surrogates)", text) from None
