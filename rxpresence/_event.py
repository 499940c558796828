"""The normalised presence event record, built from SDK objects or JSON dicts.

Every stream in rxpresence carries :class:`PresenceEvent` values; SDK objects never
travel downstream. The record is a typed, immutable tuple subclass rather than a frozen
dataclass because it is built once per event on the SDK's hot path, where a frozen
dataclass's ``__init__`` costs about five times as much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from ._limits import (
    MAX_CHANNEL_LENGTH,
    MAX_COUNT,
    MAX_UUID_LENGTH,
    LimitError,
    check_channel,
    check_count,
    check_state,
    check_text,
    check_uuid,
    check_uuids,
    excerpt,
)

__all__ = [
    "INTERVAL_SOURCE",
    "RESYNC_SOURCE",
    "Action",
    "PresenceEvent",
    "PresenceEventError",
    "read_sdk",
]

#: ``source`` of the events ``expand_intervals`` makes from an interval event's arrays.
INTERVAL_SOURCE = "interval"
#: ``source`` of the events a here-now snapshot makes (see ``Roster.reconcile``).
RESYNC_SOURCE = "resync"
_LIVE = "live"


class PresenceEventError(ValueError):
    """A presence event (SDK object or dict) is malformed.

    The message names the offending field and shows an excerpt of the value, e.g.
    ``occupancy must be an int >= 0, got '3'``. The limits every field must keep are
    listed in ``docs/concepts/events.md`` ("Limits").
    """


class Action(StrEnum):
    """A presence action, valued as on the wire."""

    JOIN = "join"
    LEAVE = "leave"
    TIMEOUT = "timeout"
    STATE_CHANGE = "state-change"
    INTERVAL = "interval"


_ACTIONS: dict[str, Action] = {a.value: a for a in Action}
# An enum member read from its class costs about ten times a module global: the
# per-event paths compare with these.
_INTERVAL = Action.INTERVAL
_NEEDS_UUID = frozenset({Action.JOIN, Action.LEAVE, Action.TIMEOUT, Action.STATE_CHANGE})
_EMPTY: tuple[str, ...] = ()


class _Fields(NamedTuple):
    action: Action
    channel: str
    uuid: str | None
    occupancy: int
    timestamp: int
    timetoken: int
    state: Mapping[str, Any] | None
    subscription: str | None
    join: tuple[str, ...]
    leave: tuple[str, ...]
    timeout: tuple[str, ...]
    here_now_refresh: bool
    source: str
    redundant: bool


def _fail(field: str, expected: str, value: object) -> PresenceEventError:
    return PresenceEventError(f"{field} must be {expected}, got {excerpt(value)}")


def _action(value: object) -> Action:
    action = _ACTIONS.get(value) if isinstance(value, str) else None
    if action is None:
        raise _fail("action", f"one of {sorted(_ACTIONS)}", value)
    return action


def _uuid(action: Action, value: object) -> str | None:
    if action in _NEEDS_UUID:
        if not isinstance(value, str) or not value:
            raise _fail("uuid", f"a non-empty string on a {action.value} event", value)
    elif value is None:
        return None
    return check_uuid("uuid", value)


def _subscription(value: object) -> str | None:
    return None if value is None else check_channel("subscription", value)


class PresenceEvent(_Fields):
    """One presence event on one channel.

    Attributes:
        action: What happened (:class:`Action`).
        channel: The channel, without the ``-pnpres`` suffix.
        uuid: Who it happened to; ``None`` on interval events.
        occupancy: The channel's occupancy after the event, as PubNub reports it.
        timestamp: Unix time in seconds, as PubNub reports it.
        timetoken: PubNub's 17-digit timetoken (100 ns units); orders events. On
            ``source="resync"`` events it is not a time but a place in that order: just
            after the newest event the roster had applied when the here-now snapshot
            was asked for (so ``1`` for a channel nothing had been seen on yet), which
            lets every live event that comes later win over the snapshot.
        state: The uuid's state (read-only mapping) on joins and state changes, else None.
        subscription: The channel group or wildcard that matched, or None.
        join: Uuids that joined (interval events only; empty otherwise).
        leave: Uuids that left (interval events only).
        timeout: Uuids that timed out (interval events only).
        here_now_refresh: True when PubNub dropped the interval arrays and asks for a
            here-now call. The Python SDK drops this flag, so an interval event without
            arrays means the same.
        source: ``"live"`` for events PubNub delivered, ``"resync"`` for the synthetic
            events rxpresence emits after comparing a roster with a here-now snapshot,
            ``"interval"`` for the events ``expand_intervals`` makes from an interval
            event's arrays (their joins carry no state by nature).
        redundant: True when the hub found nothing new in it: its roster already held
            what the event says (a live join after a snapshot that listed the uuid, a
            second delivery, an event older than what the roster applied). Such events
            still reach ``events``, marked; the per-action streams (``joins``...) skip
            them, so each arrival and departure is announced once.

    The constructor validates every field and raises :class:`PresenceEventError` naming
    the bad one. Events compare equal only to events, and hash without their state.
    """

    __slots__ = ()

    def __new__(
        cls,
        action: Action | str,
        channel: str,
        uuid: str | None = None,
        occupancy: int = 0,
        timestamp: int = 0,
        timetoken: int = 0,
        state: Mapping[str, Any] | None = None,
        subscription: str | None = None,
        join: Sequence[str] | None = None,
        leave: Sequence[str] | None = None,
        timeout: Sequence[str] | None = None,
        here_now_refresh: bool = False,
        source: str = "live",
        redundant: bool = False,
    ) -> PresenceEvent:
        act = _action(action)
        try:  # the checks raise LimitError naming the field: re-raised as ours
            fields = (
                act,
                check_channel("channel", channel),
                _uuid(act, uuid),
                check_count("occupancy", occupancy),
                check_count("timestamp", timestamp),
                check_count("timetoken", timetoken),
                check_state("state", state),
                _subscription(subscription),
                check_uuids("join", join),
                check_uuids("leave", leave),
                check_uuids("timeout", timeout),
                bool(here_now_refresh),
                check_text("source", source, MAX_UUID_LENGTH),
                _bool("redundant", redundant),
            )
        except LimitError as error:
            raise PresenceEventError(str(error)) from None
        return tuple.__new__(cls, fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.action, self.channel, self.uuid, self.timetoken, self.join))

    def __repr__(self) -> str:
        parts = [f"{self.action.value}", f"channel={self.channel!r}"]
        if self.uuid is not None:
            parts.append(f"uuid={self.uuid!r}")
        parts += [f"occupancy={self.occupancy}", f"timetoken={self.timetoken}"]
        if self.state is not None:
            parts.append(f"state={dict(self.state)!r}")
        if self.subscription is not None:
            parts.append(f"subscription={self.subscription!r}")
        for name in ("join", "leave", "timeout"):
            if getattr(self, name):
                parts.append(f"{name}={list(getattr(self, name))!r}")
        if self.here_now_refresh:
            parts.append("here_now_refresh=True")
        if self.source != "live":
            parts.append(f"source={self.source!r}")
        if self.redundant:
            parts.append("redundant=True")
        return f"PresenceEvent({', '.join(parts)})"

    def replace(self, **changes: Any) -> PresenceEvent:
        """Return a copy with some fields changed (validated like the constructor)."""
        if changes.keys() <= _COUNT_NAMES:
            # Only counts change (flicker suppression adjusts occupancy on every event it
            # passes on): the other fields are valid already, check just these.
            values = list(self)
            try:
                for index, name in _COUNTS:  # in the constructor's order, for the same error
                    if name in changes:
                        values[index] = check_count(name, changes[name])
            except LimitError as error:
                raise PresenceEventError(str(error)) from None
            return tuple.__new__(PresenceEvent, values)
        fields = self._asdict()
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"PresenceEvent has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return PresenceEvent(**fields)

    def with_occupancy(self, occupancy: int) -> PresenceEvent:
        """A copy with another occupancy (flicker suppression adjusts it on nearly every
        event it passes on, so this skips :meth:`replace`'s general path).

        Raises:
            PresenceEventError: ``occupancy`` is not an int in ``0..2**64``.
        """
        if type(occupancy) is not int or not 0 <= occupancy < MAX_COUNT:
            return self.replace(occupancy=occupancy)  # raises, naming the field
        values = list(self)
        values[_OCCUPANCY] = occupancy
        return tuple.__new__(PresenceEvent, values)

    @property
    def has_deltas(self) -> bool:
        """Whether an interval event names who joined, left or timed out."""
        return bool(self.join or self.leave or self.timeout)

    @classmethod
    def from_sdk(cls, result: Any) -> PresenceEvent:
        """Build an event from the SDK's ``PNPresenceEventResult`` (see :func:`read_sdk`).

        Raises:
            PresenceEventError: The result is malformed (wrong types, unknown action).
        """
        return read_sdk(result)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PresenceEvent:
        """Build an event from the JSON shape used in PubNub's docs.

        Accepts ``state`` or its wire name ``data``. Missing ``occupancy``,
        ``timestamp`` and ``timetoken`` default to 0.

        Raises:
            PresenceEventError: A field is missing or malformed.
        """
        if not isinstance(data, Mapping):
            raise _fail("event", "a mapping", data)
        if "action" not in data:
            raise PresenceEventError("action is missing")
        if "channel" not in data:
            raise PresenceEventError("channel is missing")
        state = data.get("state")
        if state is None:
            state = data.get("data")
        return cls(
            data["action"],
            data["channel"],
            data.get("uuid"),
            data.get("occupancy", 0),
            data.get("timestamp", 0),
            data.get("timetoken", 0),
            state,
            data.get("subscription"),
            data.get("join"),
            data.get("leave"),
            data.get("timeout"),
            _bool("here_now_refresh", data.get("here_now_refresh", False)),
            data.get("source", "live"),
            _bool("redundant", data.get("redundant", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready inverse of :meth:`from_dict` (empty fields are left out)."""
        out: dict[str, Any] = {
            "action": self.action.value,
            "channel": self.channel,
            "occupancy": self.occupancy,
            "timestamp": self.timestamp,
            "timetoken": self.timetoken,
        }
        if self.uuid is not None:
            out["uuid"] = self.uuid
        if self.state is not None:
            out["state"] = dict(self.state)
        if self.subscription is not None:
            out["subscription"] = self.subscription
        for name in ("join", "leave", "timeout"):
            value = getattr(self, name)
            if value:
                out[name] = list(value)
        if self.here_now_refresh:
            out["here_now_refresh"] = True
        if self.source != "live":
            out["source"] = self.source
        if self.redundant:
            out["redundant"] = True
        return out


_COUNT_NAMES = frozenset({"occupancy", "timestamp", "timetoken"})
_OCCUPANCY = _Fields._fields.index("occupancy")
_COUNTS = [(i, name) for i, name in enumerate(_Fields._fields) if name in _COUNT_NAMES]


def _bool(field: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _fail(field, "a bool", value)


def read_sdk(result: Any) -> PresenceEvent:
    """The event a PubNub SDK ``PNPresenceEventResult`` stands for.

    The only place rxpresence reads an SDK presence object. A well-formed join, leave
    or timeout (the common case) is checked field by field here with the constructor's
    rules and limits; anything else (state, interval events, unusual types) goes through
    the constructor, which checks and reports it.

    Raises:
        PresenceEventError: The result is malformed (wrong types, unknown action, or not
            a presence result at all).
    """
    try:
        action = _ACTIONS[result.event]
        channel = result.channel
        uuid = result.uuid
        occupancy = result.occupancy
        timestamp = result.timestamp
        timetoken = result.timetoken
        state = result.state
        subscription = result.subscription
        plain = result.join is None and result.leave is None and result.timeout is None
    except (KeyError, TypeError, AttributeError):
        raise _unreadable(result) from None
    # The common well-formed join, leave or timeout: the constructor's checks and the
    # limits (see _limits.py) as a few cheap comparisons. A state (walked for its
    # limits), a non-ASCII uuid or channel, and interval events take the constructor.
    if (
        plain
        and state is None
        and action is not _INTERVAL
        and type(uuid) is str
        and 0 < len(uuid) <= MAX_UUID_LENGTH
        and uuid.isascii()
        and type(channel) is str
        and 0 < len(channel) <= MAX_CHANNEL_LENGTH
        and channel.isascii()
        and type(occupancy) is int
        and 0 <= occupancy < MAX_COUNT
        and type(timestamp) is int
        and 0 <= timestamp < MAX_COUNT
        and type(timetoken) is int
        and 0 <= timetoken < MAX_COUNT
        and (
            subscription is None
            or (
                type(subscription) is str
                and 0 < len(subscription) <= MAX_CHANNEL_LENGTH
                and subscription.isascii()
            )
        )
    ):
        # Built without the constructor: its checks were just made, field by field,
        # and on this path (every event from the SDK) they would cost as much again.
        return tuple.__new__(
            PresenceEvent,
            (
                action, channel, uuid, occupancy, timestamp, timetoken, state, subscription,
                _EMPTY, _EMPTY, _EMPTY, False, _LIVE, False,
            ),
        )  # fmt: skip
    return PresenceEvent(
        action,
        channel,
        uuid,
        occupancy,
        timestamp,
        timetoken,
        state,
        subscription,
        result.join,
        result.leave,
        result.timeout,
        # The SDK drops the flag; keep it if a future SDK version passes it on.
        bool(getattr(result, "here_now_refresh", False)),
    )


def _unreadable(result: Any) -> PresenceEventError:
    """Why :func:`read_sdk` cannot read ``result``: a bad action, or a missing field."""
    kind = getattr(result, "event", None)
    if type(kind) is not str or kind not in _ACTIONS:
        return _fail("action", f"one of {sorted(_ACTIONS)}", kind)
    missing = [name for name in _SDK_FIELDS if not hasattr(result, name)]
    return PresenceEventError(f"not a PubNub presence event: no {', '.join(missing)}")


_SDK_FIELDS = (
    "channel", "uuid", "occupancy", "timestamp", "timetoken", "state", "subscription",
    "join", "leave", "timeout",
)  # fmt: skip
