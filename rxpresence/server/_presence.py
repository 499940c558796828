"""Presence bookkeeping of the local server: occupants, the event log, groups, interval mode.

Nothing here does I/O or knows about HTTP or asyncio. A :class:`PresenceBook` is
changed by plain method calls (``touch`` for a subscribe or heartbeat, ``leave``,
``set_state``, ``sweep`` for timeouts and interval flushes, ...); each call applies at
once and returns the :class:`LogEntry` objects it appended to the log. Clocks are
injected, so tests drive timeouts and interval mode without sleeping.

The log holds published messages and presence events in timetoken order. Subscribers
read it with :meth:`PresenceBook.scan` through a :class:`Subscription`, which decides
whether an entry reaches them and what its ``b`` (subscription match) field says.

Conventions, as PubNub has them:

* A channel whose name ends in ``-pnpres`` is never a presence channel: presence events
  for ``room`` are logged on ``room-pnpres``. ``room-pnpres-pnpres`` delivers nothing.
* ``occupancy`` in an event is the count after the change.
* A uuid is counted once per channel however many clients share it.

Not thread-safe: the server calls one book from a single event-loop thread.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left, bisect_right, insort
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._settings import ServerSettings
from ._timetoken import TimetokenClock

__all__ = [
    "PRESENCE_SUFFIX",
    "JsonObject",
    "LogEntry",
    "Occupant",
    "PresenceBook",
    "Subscription",
    "is_presence_name",
    "is_wildcard",
]

JsonObject = dict[str, Any]

PRESENCE_SUFFIX = "-pnpres"
_SUFFIX_LEN = len(PRESENCE_SUFFIX)
# Set-state for a uuid that is not present is kept until it joins; bounded so a client
# looping over random channels cannot grow it without limit.
_MAX_PENDING_STATES = 10_000


def is_presence_name(name: str) -> bool:
    """Whether ``name`` is a presence channel or group name (ends in ``-pnpres``).

    Args:
        name: A channel or channel group name.

    Returns:
        True for ``-pnpres`` names.
    """
    return name.endswith(PRESENCE_SUFFIX)


def is_wildcard(name: str) -> bool:
    """Whether ``name`` is a wildcard pattern such as ``a.*``.

    Args:
        name: A channel name.

    Returns:
        True for names ending in ``.*``.
    """
    return name.endswith(".*")


@dataclass(slots=True)
class Occupant:
    """One uuid present on one channel.

    Attributes:
        last_seen: Monotonic seconds of the last subscribe or heartbeat.
        timeout: Presence timeout in seconds for this uuid: the one it last declared,
            else the default.
        state: The uuid's state on the channel, or None.
    """

    last_seen: float
    timeout: float
    state: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A published message or a presence event, as kept in the log.

    Attributes:
        tt: Timetoken, unique and strictly increasing along the log.
        sub_key: Subscribe key the entry belongs to.
        channel: Channel it was logged on (``room`` or ``room-pnpres``).
        payload: The message, or the presence event's ``d`` object.
        publisher: Uuid of the publisher, for messages.
        meta: Publish metadata (``u`` on the wire), for messages.
        custom_message_type: The publisher's label (``cmt`` on the wire), for messages.
    """

    tt: int
    sub_key: str
    channel: str
    payload: Any
    publisher: str | None = None
    meta: Any = None
    custom_message_type: str | None = None

    @property
    def is_presence(self) -> bool:
        """Whether the entry is on a ``-pnpres`` channel."""
        return is_presence_name(self.channel)

    def to_message(self, subscription_match: str) -> JsonObject:
        """Render the entry as one element of a subscribe response's ``m`` list.

        Args:
            subscription_match: What the subscriber matched: the channel, group or pattern.

        Returns:
            The wire form. ``p.t`` is a string, as PubNub sends it; the SDK calls ``int()``.
        """
        message: JsonObject = {
            "a": "2",
            "f": 0,
            "p": {"t": str(self.tt), "r": 1},
            "k": self.sub_key,
            "c": self.channel,
            "b": subscription_match,
            "d": self.payload,
        }
        # What both SDKs read from a published message besides the above: the publisher,
        # the meta and the custom message type when set. No message type ``e``: both
        # read its absence as a plain message, and the JavaScript SDK reads e=0 as a file.
        if self.publisher is not None:
            message["i"] = self.publisher
        if self.meta is not None:
            message["u"] = self.meta
        if self.custom_message_type is not None:
            message["cmt"] = self.custom_message_type
        return message


class Subscription:
    """What one subscribe request listens to, compiled for fast matching.

    Args:
        sub_key: The subscribe key.
        channels: Channel names from the path: plain, ``-pnpres``, ``a.*`` or ``a.*-pnpres``.
        groups: Channel group names from ``channel-group``: ``g`` or ``g-pnpres``.
        message_filter: The subscriber's ``filter-expr``, compiled: published messages
            it rejects are not delivered. Presence events always are.
    """

    __slots__ = (
        "_exact",
        "_groups",
        "_message_filter",
        "_prefixes",
        "_presence_groups",
        "_presence_prefixes",
        "sub_key",
    )

    def __init__(
        self,
        sub_key: str,
        channels: Iterable[str],
        groups: Iterable[str] = (),
        message_filter: Callable[[LogEntry], bool] | None = None,
    ) -> None:
        self.sub_key = sub_key
        self._message_filter = message_filter
        self._exact: dict[str, str] = {}
        self._prefixes: list[tuple[str, str]] = []
        self._presence_prefixes: list[tuple[str, str]] = []
        self._groups: list[str] = []
        self._presence_groups: list[tuple[str, str]] = []
        for name in channels:
            if is_presence_name(name):
                base = name[:-_SUFFIX_LEN]
                if is_presence_name(base):
                    continue  # X-pnpres-pnpres: accepted, delivers nothing
                if is_wildcard(base):
                    self._presence_prefixes.append((base[:-1], name))
                else:
                    self._exact[name] = name
            elif is_wildcard(name):
                self._prefixes.append((name[:-1], name))
            else:
                self._exact[name] = name
        for group in groups:
            if is_presence_name(group):
                base = group[:-_SUFFIX_LEN]
                if not is_presence_name(base):
                    self._presence_groups.append((base, group))
            else:
                self._groups.append(group)

    @property
    def exact_names(self) -> Collection[str]:
        """The channel names matched as they are (``room``, ``room-pnpres``)."""
        return self._exact.keys()

    @property
    def has_patterns(self) -> bool:
        """Whether it also listens to wildcards or channel groups."""
        return bool(
            self._prefixes or self._presence_prefixes or self._groups or self._presence_groups
        )

    def match(self, entry: LogEntry, members: Callable[[str], Collection[str]]) -> str | None:
        """Decide whether ``entry`` reaches this subscription.

        Args:
            entry: A log entry.
            members: Returns the member channels of a group (on this subscribe key).

        Returns:
            The ``b`` field (the channel, pattern or group that matched), or None.
        """
        if entry.sub_key != self.sub_key:
            return None
        channel = entry.channel
        exact = self._exact.get(channel)
        if entry.is_presence:
            if exact is not None:
                return exact
            base = channel[:-_SUFFIX_LEN]
            for prefix, name in self._presence_prefixes:
                if len(base) > len(prefix) and base.startswith(prefix):
                    return name
            for group, name in self._presence_groups:
                if base in members(group):
                    return name
            return None
        match = exact if exact is not None else self._data_match(channel, members)
        if match is None or self._message_filter is None or self._message_filter(entry):
            return match
        return None

    def _data_match(self, channel: str, members: Callable[[str], Collection[str]]) -> str | None:
        """The pattern or group through which a published message's channel reaches us."""
        for prefix, name in self._prefixes:
            if len(channel) > len(prefix) and channel.startswith(prefix):
                return name
        for group in self._groups:
            if channel in members(group):
                return group
        return None


@dataclass(slots=True)
class _Interval:
    """Interval-mode bookkeeping of one channel for the current period."""

    next_flush: float
    # Membership of every uuid that changed this period, as it was when the period began.
    was_present: dict[str, bool] = field(default_factory=dict)
    # How each uuid last went away: "leave" or "timeout".
    removal: dict[str, str] = field(default_factory=dict)

    def note(self, uuid: str, action: str) -> None:
        self.was_present.setdefault(uuid, action != "join")
        if action != "join":
            self.removal[uuid] = action


@dataclass(slots=True)
class _Room:
    """One (subscribe key, channel): its occupants and interval-mode status.

    ``sorted_uuids`` holds the occupants' uuids in order, changed together with
    ``occupants`` (through :meth:`admit` and :meth:`discharge` only), so a here-now page
    is a slice of it instead of a sort of every occupant. Keeping it costs a binary
    search and a list insertion or deletion per join or departure.
    """

    occupants: dict[str, Occupant] = field(default_factory=dict)
    interval: _Interval | None = None
    sorted_uuids: list[str] = field(default_factory=list)

    def admit(self, uuid: str, occupant: Occupant) -> None:
        """Add an occupant that is not present yet."""
        self.occupants[uuid] = occupant
        insort(self.sorted_uuids, uuid)

    def discharge(self, uuid: str) -> Occupant | None:
        """Remove an occupant; returns it, or None if it was not present."""
        occupant = self.occupants.pop(uuid, None)
        if occupant is not None:
            del self.sorted_uuids[bisect_left(self.sorted_uuids, uuid)]
        return occupant


class PresenceBook:
    """All presence and message state of the server, for every subscribe key.

    Args:
        settings: Server settings (presence timeout, announce max, interval, log size...).
        clock: Timetoken clock; a new one on ``wall`` by default.
        monotonic: Monotonic seconds, used for liveness and interval periods.
        wall: Unix seconds, used for event ``timestamp`` fields.
        on_append: Called with the entries just appended to the log.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        clock: TimetokenClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_append: Callable[[list[LogEntry]], None] | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.clock = clock or TimetokenClock(wall)
        self._monotonic = monotonic
        self._wall = wall
        self.on_append = on_append
        self._rooms: dict[tuple[str, str], _Room] = {}
        self._groups: dict[tuple[str, str], dict[str, None]] = {}
        self._pending: OrderedDict[tuple[str, str, str], JsonObject] = OrderedDict()
        self._log: list[LogEntry] = []
        self._events_by_channel: Counter[tuple[str, str]] = Counter()
        self.presence_events_emitted = 0
        """Presence events logged so far, injected ones included."""

    # ----------------------------------------------------------------- presence changes

    def presence_channels(
        self, sub_key: str, channels: Iterable[str], groups: Iterable[str] = ()
    ) -> list[str]:
        """Resolve a request's channels and groups to the channels whose presence it affects.

        ``-pnpres`` names and wildcards are dropped; a group stands for its members now.

        Args:
            sub_key: The subscribe key.
            channels: Channel names from the request path.
            groups: Channel group names from ``channel-group``.

        Returns:
            Distinct channel names, in request order.
        """
        out: dict[str, None] = {}
        for channel in channels:
            if not is_presence_name(channel) and not is_wildcard(channel):
                out[channel] = None
        for group in groups:
            if not is_presence_name(group):
                for channel in self.group_channels(sub_key, group):
                    out[channel] = None
        return list(out)

    def touch(
        self,
        sub_key: str,
        uuid: str,
        channels: Iterable[str],
        *,
        timeout: float | None = None,
        states: Mapping[str, JsonObject] | None = None,
    ) -> list[LogEntry]:
        """Record a subscribe or heartbeat: join where absent, renew liveness where present.

        Args:
            sub_key: The subscribe key.
            uuid: The client's uuid.
            channels: Presence channels (already resolved, see :meth:`presence_channels`).
            timeout: The ``heartbeat`` parameter. None keeps the timeout a present uuid
                last declared (a new occupant gets the default presence timeout).
            states: State by channel sent along; changes it where it differs.

        Returns:
            The entries logged (joins and state-changes).
        """
        now = self._monotonic()
        ttl = self.settings.presence_timeout if timeout is None else timeout
        logged: list[LogEntry] = []
        for channel in channels:
            room = self._rooms.setdefault((sub_key, channel), _Room())
            new_state = states.get(channel) if states is not None else None
            occupant = room.occupants.get(uuid)
            if occupant is None:
                pending = self._pending.pop((sub_key, channel, uuid), None)
                state = _normalise(new_state if new_state is not None else pending)
                room.admit(uuid, Occupant(now, ttl, state))
                logged += self._announce(sub_key, channel, room, "join", uuid, state)
            else:
                occupant.last_seen = now
                # A request that declares nothing keeps the declared timeout: the
                # JavaScript SDK's event engine declares it only on /heartbeat, and its
                # subscribe polls would otherwise stretch it back to the default.
                if timeout is not None:
                    occupant.timeout = timeout
                if new_state is not None:
                    logged += self._change_state(sub_key, channel, room, uuid, new_state)
        return self._appended(logged)

    def leave(self, sub_key: str, uuid: str, channels: Iterable[str]) -> list[LogEntry]:
        """Record a graceful leave; a uuid or channel that is unknown is ignored.

        Args:
            sub_key: The subscribe key.
            uuid: The leaving uuid.
            channels: Presence channels (already resolved).

        Returns:
            The leave events logged.
        """
        logged: list[LogEntry] = []
        for channel in channels:
            self._pending.pop((sub_key, channel, uuid), None)
            room = self._rooms.get((sub_key, channel))
            if room is not None and room.discharge(uuid) is not None:
                logged += self._announce(sub_key, channel, room, "leave", uuid)
                self._forget_if_empty(sub_key, channel, room)
        return self._appended(logged)

    def expire(self, sub_key: str, channel: str, uuid: str) -> list[LogEntry]:
        """Time a uuid out now, as if its presence timeout had passed.

        Args:
            sub_key: The subscribe key.
            channel: The channel.
            uuid: The uuid.

        Returns:
            The timeout event logged, or nothing if the uuid was not present.
        """
        room = self._rooms.get((sub_key, channel))
        if room is None or room.discharge(uuid) is None:
            return []
        logged = self._announce(sub_key, channel, room, "timeout", uuid)
        self._forget_if_empty(sub_key, channel, room)
        return self._appended(logged)

    def set_state(
        self, sub_key: str, uuid: str, channels: Iterable[str], state: JsonObject
    ) -> list[LogEntry]:
        """Replace a uuid's state on some channels; ``{}`` clears it.

        A state-change is logged only where the uuid is present and the state differs.
        For a uuid not present the state is kept and applied when it joins.

        Args:
            sub_key: The subscribe key.
            uuid: The uuid.
            channels: Presence channels (already resolved).
            state: The new state.

        Returns:
            The state-change events logged.
        """
        logged: list[LogEntry] = []
        for channel in channels:
            room = self._rooms.get((sub_key, channel))
            if room is not None and uuid in room.occupants:
                logged += self._change_state(sub_key, channel, room, uuid, state)
                continue
            key = (sub_key, channel, uuid)
            if _normalise(state) is None:
                self._pending.pop(key, None)
            else:
                self._pending[key] = dict(state)
                self._pending.move_to_end(key)
                while len(self._pending) > _MAX_PENDING_STATES:
                    self._pending.popitem(last=False)
        return self._appended(logged)

    def sweep(self) -> list[LogEntry]:
        """Time out silent uuids and flush interval-mode channels that are due.

        Returns:
            The timeout and interval events logged.
        """
        now = self._monotonic()
        logged: list[LogEntry] = []
        for (sub_key, channel), room in list(self._rooms.items()):
            expired = [
                uuid
                for uuid, occupant in room.occupants.items()
                if now - occupant.last_seen > occupant.timeout
            ]
            for uuid in expired:
                room.discharge(uuid)
                logged += self._announce(sub_key, channel, room, "timeout", uuid)
            if room.interval is not None and now >= room.interval.next_flush:
                logged.append(self._flush(sub_key, channel, room, now))
            self._forget_if_empty(sub_key, channel, room)
        return self._appended(logged)

    # ------------------------------------------------------------------ other entries

    def publish(
        self,
        sub_key: str,
        channel: str,
        message: Any,
        publisher: str,
        meta: Any = None,
        custom_message_type: str | None = None,
    ) -> LogEntry:
        """Log a published message.

        Args:
            sub_key: The subscribe key.
            channel: A channel that is not a ``-pnpres`` name.
            message: The message (any JSON value).
            publisher: Uuid of the publisher.
            meta: Optional publish metadata.
            custom_message_type: Optional label of the message (``cmt`` on the wire).

        Returns:
            The logged entry.
        """
        entry = LogEntry(
            self.clock.next(), sub_key, channel, message, publisher, meta, custom_message_type
        )
        self._log_entry(entry)
        return self._appended([entry])[0]

    def inject(self, sub_key: str, channel: str, payload: Any) -> LogEntry:
        """Log an arbitrary presence payload on ``channel``'s ``-pnpres`` channel.

        Nothing is checked, so tests can deliver malformed events on purpose.

        Args:
            sub_key: The subscribe key.
            channel: A channel that is not a ``-pnpres`` name.
            payload: The ``d`` object (any JSON value).

        Returns:
            The logged entry.

        Raises:
            ValueError: If ``channel`` is a ``-pnpres`` name.
        """
        if is_presence_name(channel):
            raise ValueError(f"inject() takes the data channel, not {channel!r}")
        entry = LogEntry(self.clock.next(), sub_key, channel + PRESENCE_SUFFIX, payload)
        self._log_entry(entry)
        return self._appended([entry])[0]

    # ------------------------------------------------------------------ channel groups

    def add_to_group(self, sub_key: str, group: str, channels: Iterable[str]) -> None:
        """Add channels to a group, creating it if needed.

        Args:
            sub_key: The subscribe key.
            group: The group name.
            channels: Channels to add.
        """
        members = self._groups.setdefault((sub_key, group), {})
        for channel in channels:
            members[channel] = None

    def remove_from_group(self, sub_key: str, group: str, channels: Iterable[str]) -> None:
        """Remove channels from a group; an empty group is deleted.

        Args:
            sub_key: The subscribe key.
            group: The group name.
            channels: Channels to remove.
        """
        members = self._groups.get((sub_key, group))
        if members is None:
            return
        for channel in channels:
            members.pop(channel, None)
        if not members:
            del self._groups[(sub_key, group)]

    def delete_group(self, sub_key: str, group: str) -> None:
        """Delete a group.

        Args:
            sub_key: The subscribe key.
            group: The group name.
        """
        self._groups.pop((sub_key, group), None)

    def group_channels(self, sub_key: str, group: str) -> list[str]:
        """Member channels of a group, sorted (empty for an unknown group).

        Args:
            sub_key: The subscribe key.
            group: The group name.

        Returns:
            The channel names.
        """
        return sorted(self._groups.get((sub_key, group), ()))

    def group_size(self, sub_key: str, group: str) -> int:
        """Number of channels in a group.

        Args:
            sub_key: The subscribe key.
            group: The group name.

        Returns:
            The count (0 for an unknown group).
        """
        return len(self._groups.get((sub_key, group), ()))

    def groups(self, sub_key: str) -> list[str]:
        """All channel groups of a subscribe key, sorted.

        Args:
            sub_key: The subscribe key.

        Returns:
            The group names.
        """
        return sorted(group for key, group in self._groups if key == sub_key)

    # ------------------------------------------------------------------------ queries

    def occupants(self, sub_key: str, channel: str) -> dict[str, JsonObject | None]:
        """Uuids present on a channel and their states, sorted by uuid.

        Args:
            sub_key: The subscribe key.
            channel: The channel.

        Returns:
            A new dict uuid -> state (None where no state is set).
        """
        return dict(self.occupant_page(sub_key, channel, 0, None))

    def occupant_page(
        self, sub_key: str, channel: str, offset: int, limit: int | None
    ) -> list[tuple[str, JsonObject | None]]:
        """One page of a channel's occupants in uuid order, as here-now pages them.

        The occupants are kept sorted, so a page costs its own length, not a sort of
        the whole channel.

        Args:
            sub_key: The subscribe key.
            channel: The channel.
            offset: How many occupants to skip.
            limit: Most occupants returned; None for all from ``offset`` on.

        Returns:
            (uuid, copy of its state or None) pairs.
        """
        room = self._rooms.get((sub_key, channel))
        if room is None:
            return []
        end = None if limit is None else offset + limit
        occupants = room.occupants
        return [(uuid, _copy(occupants[uuid].state)) for uuid in room.sorted_uuids[offset:end]]

    def occupancy(self, sub_key: str, channel: str) -> int:
        """Number of uuids present on a channel.

        Args:
            sub_key: The subscribe key.
            channel: The channel.

        Returns:
            The occupancy.
        """
        room = self._rooms.get((sub_key, channel))
        return 0 if room is None else len(room.occupants)

    def occupied_channels(self, sub_key: str) -> list[str]:
        """Channels of a subscribe key with at least one occupant, sorted.

        Args:
            sub_key: The subscribe key.

        Returns:
            The channel names.
        """
        return sorted(
            ch for (key, ch), room in self._rooms.items() if key == sub_key and room.occupants
        )

    def where_now(self, sub_key: str, uuid: str) -> list[str]:
        """Channels where a uuid is present, sorted.

        Args:
            sub_key: The subscribe key.
            uuid: The uuid.

        Returns:
            The channel names.
        """
        return sorted(
            ch
            for (key, ch), room in self._rooms.items()
            if key == sub_key and uuid in room.occupants
        )

    def get_state(self, sub_key: str, uuid: str, channel: str) -> JsonObject | None:
        """A uuid's state on a channel: its occupant state, else a state set before it joined.

        Args:
            sub_key: The subscribe key.
            uuid: The uuid.
            channel: The channel.

        Returns:
            A copy of the state, or None.
        """
        room = self._rooms.get((sub_key, channel))
        if room is not None and uuid in room.occupants:
            return _copy(room.occupants[uuid].state)
        return _copy(self._pending.get((sub_key, channel, uuid)))

    def events_on(self, sub_key: str, channel: str) -> int:
        """Number of presence events logged for a channel.

        Args:
            sub_key: The subscribe key.
            channel: The data channel (without ``-pnpres``).

        Returns:
            The count.
        """
        return self._events_by_channel[(sub_key, channel)]

    def presence_log(self, sub_key: str, channel: str) -> list[tuple[int, Any]]:
        """Presence payloads still in the log for a channel, oldest first.

        Args:
            sub_key: The subscribe key.
            channel: The data channel (without ``-pnpres``).

        Returns:
            (timetoken, ``d`` payload) pairs.
        """
        target = channel + PRESENCE_SUFFIX
        return [
            (e.tt, e.payload) for e in self._log if e.sub_key == sub_key and e.channel == target
        ]

    # --------------------------------------------------------------- subscriber reads

    def handshake_cursor(self, sub_key: str, uuid: str, channels: Iterable[str]) -> int:
        """The cursor a ``tt=0`` handshake answers with, taken before its join is logged.

        If this uuid's own presence events on these channels were logged within
        ``handshake_lookback`` seconds (a heartbeat can reach the server before the
        handshake), the cursor goes just before the earliest, so the client still
        receives them.

        Args:
            sub_key: The subscribe key.
            uuid: The uuid.
            channels: Presence channels of the request (already resolved).

        Returns:
            The cursor timetoken.
        """
        cursor = self.clock.next()
        lookback = self.settings.handshake_lookback
        if lookback <= 0 or not self._log:
            return cursor
        targets = {channel + PRESENCE_SUFFIX for channel in channels}
        since = self.clock.at(self._wall() - lookback)
        earliest: int | None = None
        for entry in reversed(self._log):
            if entry.tt < since:
                break
            if (
                entry.sub_key == sub_key
                and entry.channel in targets
                and isinstance(entry.payload, dict)
                and entry.payload.get("uuid") == uuid
            ):
                earliest = entry.tt
        return cursor if earliest is None else min(cursor, earliest - 1)

    def scan(
        self, subscription: Subscription, after: int, limit: int
    ) -> tuple[list[tuple[LogEntry, str]], int]:
        """Find log entries newer than ``after`` that reach ``subscription``.

        Args:
            subscription: The subscriber.
            after: Only entries with a larger timetoken are considered.
            limit: At most this many matches are returned.

        Returns:
            The matches as (entry, ``b`` field) pairs in log order, and the timetoken of
            the last entry examined (``after`` if none), from which a later scan may go on.
        """
        matches: list[tuple[LogEntry, str]] = []
        last = after
        log = self._log
        members = self._member_lookup(subscription.sub_key)
        for index in range(bisect_right(log, after, key=_entry_tt), len(log)):
            entry = log[index]
            last = entry.tt
            match = subscription.match(entry, members)
            if match is not None:
                matches.append((entry, match))
                if len(matches) >= limit:
                    break
        return matches, last

    def matches(self, subscription: Subscription, entry: LogEntry) -> str | None:
        """Whether ``entry`` reaches ``subscription``, with the groups' members as of now.

        Args:
            subscription: The subscriber.
            entry: A log entry.

        Returns:
            The ``b`` field (the channel, pattern or group that matched), or None.
        """
        return subscription.match(entry, self._member_lookup(subscription.sub_key))

    # ----------------------------------------------------------------------- internals

    def _member_lookup(self, sub_key: str) -> Callable[[str], Collection[str]]:
        groups = self._groups

        def members(group: str) -> Collection[str]:
            return groups.get((sub_key, group), ())

        return members

    def _change_state(
        self, sub_key: str, channel: str, room: _Room, uuid: str, state: JsonObject
    ) -> list[LogEntry]:
        occupant = room.occupants[uuid]
        new_state = _normalise(state)
        # The sync SDK sends the same state twice (set-state, then the next heartbeat):
        # only a real change is announced.
        if occupant.state == new_state:
            return []
        occupant.state = new_state
        return [
            self._event(
                sub_key, channel, "state-change", uuid, len(room.occupants), new_state or {}
            )
        ]

    def _announce(
        self,
        sub_key: str,
        channel: str,
        room: _Room,
        action: str,
        uuid: str,
        state: JsonObject | None = None,
    ) -> list[LogEntry]:
        """Log a join/leave/timeout, or fold it into the interval period in interval mode."""
        occupancy = len(room.occupants)
        if room.interval is None and occupancy > self.settings.announce_max:
            room.interval = _Interval(next_flush=self._monotonic() + self.settings.interval)
        if room.interval is not None:
            room.interval.note(uuid, action)
            return []
        return [self._event(sub_key, channel, action, uuid, occupancy, state)]

    def _flush(self, sub_key: str, channel: str, room: _Room, now: float) -> LogEntry:
        interval = room.interval
        assert interval is not None
        present = room.occupants
        payload: JsonObject = {
            "action": "interval",
            "timestamp": int(self._wall()),
            "occupancy": len(present),
        }
        if self.settings.presence_deltas:
            # Net changes over the period: a uuid that left and came back is not listed.
            joined = sorted(
                u for u, was in interval.was_present.items() if not was and u in present
            )
            gone = [u for u, was in interval.was_present.items() if was and u not in present]
            deltas = {
                "join": joined,
                "leave": sorted(u for u in gone if interval.removal.get(u) == "leave"),
                "timeout": sorted(u for u in gone if interval.removal.get(u) != "leave"),
            }
            deltas = {key: uuids for key, uuids in deltas.items() if uuids}
            size = len(json.dumps(deltas, separators=(",", ":")).encode())
            if size > self.settings.delta_limit:
                payload["here_now_refresh"] = True
            else:
                payload.update(deltas)
        if len(present) <= self.settings.announce_max:
            room.interval = None
        else:
            room.interval = _Interval(next_flush=now + self.settings.interval)
        entry = LogEntry(self.clock.next(), sub_key, channel + PRESENCE_SUFFIX, payload)
        self._log_entry(entry)
        return entry

    def _event(
        self,
        sub_key: str,
        channel: str,
        action: str,
        uuid: str,
        occupancy: int,
        data: JsonObject | None = None,
    ) -> LogEntry:
        payload: JsonObject = {
            "action": action,
            "uuid": uuid,
            "timestamp": int(self._wall()),
            "occupancy": occupancy,
        }
        if data is not None:
            payload["data"] = dict(data)
        entry = LogEntry(self.clock.next(), sub_key, channel + PRESENCE_SUFFIX, payload)
        self._log_entry(entry)
        return entry

    def _log_entry(self, entry: LogEntry) -> None:
        self._log.append(entry)
        if entry.is_presence:
            self.presence_events_emitted += 1
            self._events_by_channel[(entry.sub_key, entry.channel[:-_SUFFIX_LEN])] += 1
        # Trim in batches so appends stay O(1) amortised.
        size = self.settings.log_size
        if len(self._log) > size + max(size // 4, 1):
            del self._log[: len(self._log) - size]

    def _appended(self, entries: list[LogEntry]) -> list[LogEntry]:
        if entries and self.on_append is not None:
            self.on_append(entries)
        return entries

    def _forget_if_empty(self, sub_key: str, channel: str, room: _Room) -> None:
        if not room.occupants and room.interval is None:
            self._rooms.pop((sub_key, channel), None)


def _entry_tt(entry: LogEntry) -> int:
    return entry.tt


def _normalise(state: JsonObject | None) -> JsonObject | None:
    """An empty state is no state."""
    return dict(state) if state else None


def _copy(state: JsonObject | None) -> JsonObject | None:
    return None if state is None else json.loads(json.dumps(state))
