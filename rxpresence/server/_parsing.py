"""Request parsing and validation for the local presence server.

The SDKs build URLs by hand, so they are parsed by hand too. Channel lists in a path
segment are split on ``,`` *before* percent-decoding (each name is encoded on its own,
so a ``,`` inside a name arrives as ``%2C``). Lists in the query string (``channel-group``,
``add``, ``remove``) are decoded *first*: the JavaScript SDK encodes the joined list as
one value, so its separators arrive as ``%2C``. The uuid arrives unencoded. Every
problem raises :class:`ApiError`, which the HTTP layer turns into a PubNub-style JSON
error; nothing here touches server state.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from ._filter import FilterSyntaxError, MessageFilter, compile_filter
from ._presence import JsonObject, is_presence_name
from ._settings import ServerSettings

__all__ = [
    "ApiError",
    "Query",
    "decode_segment",
    "parse_custom_message_type",
    "parse_filter",
    "parse_int",
    "parse_json",
    "parse_json_object",
    "parse_presence_timeout",
    "parse_state_by_channel",
    "parse_timetoken",
    "reject_presence_names",
    "split_names",
    "split_query_names",
    "validate_name",
    "validate_uuid",
]

_MAX_TIMETOKEN_DIGITS = 20
_MAX_PRESENCE_TIMEOUT = 86_400.0
# The SDKs document a custom message type as 3-50 case-sensitive alphanumerics, with
# "-" and "_" as the only other characters allowed.
_CUSTOM_MESSAGE_TYPE = re.compile(r"[A-Za-z0-9_-]{3,50}")


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and a message naming the problem.

    Args:
        message: What is wrong and, where useful, how to fix it.
        status: HTTP status code (400 unless said otherwise).
        service: The ``service`` field of the error body.
    """

    def __init__(self, message: str, status: int = 400, service: str = "Presence") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.service = service

    def body(self) -> JsonObject:
        """The PubNub-style JSON error body.

        Returns:
            ``{"status", "error", "message", "service"}``.
        """
        return {
            "status": self.status,
            "error": True,
            "message": self.message,
            "service": self.service,
        }


def decode_segment(raw: str, what: str) -> str:
    """Percent-decode one path segment or query value as UTF-8.

    ``+`` stays a plus sign: the SDK encodes spaces as ``%20`` and plus signs as ``%2B``,
    but sends the uuid unencoded, where a ``+`` is literal.

    Args:
        raw: The raw text.
        what: What it is, for the error message.

    Returns:
        The decoded text.

    Raises:
        ApiError: If the bytes are not valid UTF-8.
    """
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(f"Invalid {what}: not valid percent-encoded UTF-8") from None


def validate_name(name: str, what: str, settings: ServerSettings) -> str:
    """Check a channel, channel group or uuid name.

    Args:
        name: The decoded name.
        what: ``"channel"``, ``"channel group"`` or ``"uuid"``, for the error message.
        settings: Server settings (for the length limit).

    Returns:
        The name.

    Raises:
        ApiError: If it is empty, too long or holds control characters.
    """
    if not name:
        raise ApiError(f"Invalid {what}: empty name")
    if len(name) > settings.max_name_length:
        raise ApiError(
            f"Invalid {what}: {len(name)} characters, over the {settings.max_name_length} limit"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ApiError(f"Invalid {what} {name!r}: control characters are not allowed")
    return name


def validate_uuid(raw: str | None, settings: ServerSettings, *, source: str = "query") -> str:
    """Check the uuid (the SDK sends it unencoded, so it must be printable ASCII).

    Args:
        raw: The raw value, or None if missing.
        settings: Server settings.
        source: Where it came from, for the error message.

    Returns:
        The decoded uuid.

    Raises:
        ApiError: If it is missing, empty, too long or not printable ASCII.
    """
    if raw is None or raw == "":
        raise ApiError(f"Missing uuid: every request needs a non-empty uuid ({source})")
    uuid = decode_segment(raw, "uuid")
    if not uuid.isascii() or not uuid.isprintable():
        raise ApiError(
            f"Invalid uuid {uuid!r}: use printable ASCII only (the SDK sends it unencoded)"
        )
    return validate_name(uuid, "uuid", settings)


def split_names(raw: str, what: str, settings: ServerSettings) -> list[str]:
    """Split a comma-joined list of names from a path segment, then decode each one.

    ``","`` alone (the SDK's empty list) gives ``[]``; duplicates are dropped.

    Args:
        raw: The raw path segment.
        what: ``"channel"`` or ``"channel group"``.
        settings: Server settings.

    Returns:
        The names, in order of first appearance.

    Raises:
        ApiError: If a name is invalid or there are too many.
    """
    return _distinct_names((decode_segment(part, what) for part in raw.split(",")), what, settings)


def split_query_names(raw: str, what: str, settings: ServerSettings) -> list[str]:
    """Decode a comma-joined list of names from the query string, then split it.

    The JavaScript SDK percent-encodes the whole list (``a%2Cb``), the Python SDK each
    name (``a,b``): decoding first reads both the same way.

    Args:
        raw: The raw query value.
        what: ``"channel"`` or ``"channel group"``.
        settings: Server settings.

    Returns:
        The names, in order of first appearance.

    Raises:
        ApiError: If the value is not valid UTF-8, a name is invalid or there are too many.
    """
    return _distinct_names(decode_segment(raw, what).split(","), what, settings)


def _distinct_names(names: Iterable[str], what: str, settings: ServerSettings) -> list[str]:
    """Check decoded names, dropping empty ones and duplicates."""
    distinct: dict[str, None] = {}
    for name in names:
        if name:
            distinct[validate_name(name, what, settings)] = None
    if len(distinct) > settings.max_channels_per_request:
        raise ApiError(
            f"Too many {what}s: {len(distinct)}, the limit is {settings.max_channels_per_request}"
        )
    return list(distinct)


def parse_json_object(raw: str, what: str, settings: ServerSettings) -> JsonObject:
    """Parse a JSON object such as a presence state.

    Args:
        raw: The decoded JSON text.
        what: What it is (``"state"``, ``"meta"``), for the error message.
        settings: Server settings (for the size limit).

    Returns:
        The object.

    Raises:
        ApiError: If it is too large, not JSON, or not an object.
    """
    size = len(raw.encode())
    if size > settings.max_state_bytes:
        raise ApiError(
            f"Invalid {what}: {size} bytes, over the {settings.max_state_bytes}-byte limit"
        )
    value = parse_json(raw, what)
    if not isinstance(value, dict):
        raise ApiError(f"Invalid {what}: must be a JSON object, got {type(value).__name__}")
    return value


def parse_json(raw: str, what: str) -> Any:
    """Parse JSON text, refusing NaN and Infinity (they are not JSON).

    Args:
        raw: The text.
        what: What it is, for the error message.

    Returns:
        The value.

    Raises:
        ApiError: If the text is not valid JSON.
    """

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise ApiError(f"Invalid {what}: not valid JSON ({exc})") from None


def parse_state_by_channel(
    raw: str, channels: list[str], groups: list[str], settings: ServerSettings
) -> dict[str, JsonObject]:
    """Parse the ``state`` of a subscribe or heartbeat: a JSON object keyed by channel.

    Keys naming a group of the request are kept too (the HTTP layer spreads them over
    the group's members); other keys are ignored.

    Args:
        raw: The decoded JSON text.
        channels: Channels of the request.
        groups: Channel groups of the request.
        settings: Server settings.

    Returns:
        State by channel or group name.

    Raises:
        ApiError: If it is not a JSON object of JSON objects, or too large.
    """
    value = parse_json_object(raw, "state", settings)
    wanted = set(channels) | set(groups)
    out: dict[str, JsonObject] = {}
    for name, state in value.items():
        if not isinstance(state, dict):
            raise ApiError(
                f"Invalid state: the state for {name!r} must be a JSON object, "
                f"got {type(state).__name__}"
            )
        if name in wanted:
            out[name] = state
    return out


def parse_timetoken(raw: str | None) -> int:
    """Parse the ``tt`` parameter; missing means 0 (a handshake).

    Args:
        raw: The raw value.

    Returns:
        The timetoken.

    Raises:
        ApiError: If it is not a non-negative integer of at most 20 digits.
    """
    if raw is None or raw == "":
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_TIMETOKEN_DIGITS:
        raise ApiError(f"Invalid timetoken {raw[:40]!r}: tt must be a non-negative integer")
    return int(raw)


def parse_presence_timeout(raw: str | None) -> float | None:
    """Parse the ``heartbeat`` parameter (the uuid's presence timeout in seconds).

    Args:
        raw: The raw value; None, empty or 0 mean the server's default.

    Returns:
        The timeout, or None for the default.

    Raises:
        ApiError: If it is not a number between 0 and 86400.
    """
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"Invalid heartbeat {raw[:40]!r}: must be a number of seconds") from None
    if not math.isfinite(value) or value < 0 or value > _MAX_PRESENCE_TIMEOUT:
        raise ApiError(
            f"Invalid heartbeat {raw[:40]!r}: must be between 0 and {_MAX_PRESENCE_TIMEOUT:.0f}"
        )
    return None if value == 0 else value


def parse_filter(raw: str | None) -> MessageFilter | None:
    """Parse the ``filter-expr`` parameter of a subscribe.

    Args:
        raw: The decoded value, or None if absent.

    Returns:
        The compiled filter, or None when there is none (absent or empty).

    Raises:
        ApiError: If the expression cannot be parsed; the message names the problem.
    """
    if raw is None or not raw.strip():
        return None
    try:
        return compile_filter(raw)
    except FilterSyntaxError as exc:
        raise ApiError(f"Invalid filter-expr {raw[:80]!r}: {exc}") from None


def parse_custom_message_type(raw: str | None) -> str | None:
    """Parse the ``custom_message_type`` parameter of a publish.

    Args:
        raw: The decoded value, or None if absent.

    Returns:
        The type, or None when absent or empty.

    Raises:
        ApiError: If it is not 3-50 letters, digits, ``-`` or ``_``.
    """
    if raw is None or raw == "":
        return None
    if _CUSTOM_MESSAGE_TYPE.fullmatch(raw) is None:
        raise ApiError(
            f"Invalid custom_message_type {raw[:60]!r}: use 3 to 50 letters, digits, '-' or '_'"
        )
    return raw


def parse_int(raw: str | None, what: str, default: int, low: int, high: int) -> int:
    """Parse an integer parameter within bounds.

    Args:
        raw: The raw value, or None.
        what: Parameter name, for the error message.
        default: Value when missing.
        low: Smallest allowed value.
        high: Largest allowed value.

    Returns:
        The value.

    Raises:
        ApiError: If it is not an integer in ``[low, high]``.
    """
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        raise ApiError(f"Invalid {what} {raw[:40]!r}: must be an integer between {low} and {high}")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(f"Invalid {what} {value}: must be between {low} and {high}")
    return value


def reject_presence_names(names: list[str], what: str) -> None:
    """Refuse ``-pnpres`` names where only data channels make sense.

    Args:
        names: Channel or group names.
        what: What they are, for the error message.

    Raises:
        ApiError: If one ends in ``-pnpres``.
    """
    for name in names:
        if is_presence_name(name):
            raise ApiError(
                f"Invalid {what} {name!r}: names ending in -pnpres are reserved for presence"
            )


class Query:
    """The query string, parsed without decoding so lists can be split first.

    Args:
        raw: The raw query string (after ``?``).
    """

    def __init__(self, raw: str) -> None:
        self._raw: dict[str, str] = {}
        for part in raw.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            # First occurrence wins, as in most HTTP frameworks.
            self._raw.setdefault(unquote(name), value)

    def raw(self, name: str) -> str | None:
        """The raw (still encoded) value of a parameter.

        Args:
            name: Parameter name.

        Returns:
            The value, or None if absent.
        """
        return self._raw.get(name)

    def text(self, name: str) -> str | None:
        """The decoded value of a parameter.

        Args:
            name: Parameter name.

        Returns:
            The value, or None if absent.

        Raises:
            ApiError: If it is not valid percent-encoded UTF-8.
        """
        raw = self._raw.get(name)
        return None if raw is None else decode_segment(raw, name)

    def flag(self, name: str) -> bool:
        """Whether a ``0``/``1`` style parameter is set.

        Args:
            name: Parameter name.

        Returns:
            True for ``1`` or ``true``.
        """
        return (self._raw.get(name) or "").lower() in ("1", "true")

    def as_dict(self) -> dict[str, str]:
        """All parameters, decoded leniently (for the request log).

        Returns:
            Parameter name -> decoded value.
        """
        return {name: unquote(value, errors="replace") for name, value in self._raw.items()}
