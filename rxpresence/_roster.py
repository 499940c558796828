"""Rosters: immutable snapshots of who is on a channel, and the pure reducer behind them.

``Roster.apply(event)`` is the whole presence state machine: it never mutates, and it
returns ``self`` when an event changes nothing, so ``new is old`` is a cheap "no change"
test. Entries live in an ``immutables.Map`` (a hash array mapped trie): one update costs
O(log n) and shares everything else with the previous snapshot.

Ordering: each member carries the timetoken of the last event applied to it, and
recent departures stay in the map as tombstones (then in an older generation), so an
event older than the last one applied for its uuid is ignored and an exact duplicate
changes nothing.

Encoding, for speed and memory (one map write per event, no record per member): an
entry is an int ``timetoken << 32 | joined_at`` for a member without state, a
:class:`Member` for one with state, or ``~timetoken`` (negative) for a departure.
:attr:`Roster.members` decodes on access.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias, overload

import immutables

from ._event import INTERVAL_SOURCE, RESYNC_SOURCE, Action, PresenceEvent

__all__ = ["Member", "ResyncEvents", "Roster", "RosterDiff", "Snapshot"]

_JOIN = Action.JOIN
_LEAVE = Action.LEAVE
_STATE = Action.STATE_CHANGE
_INTERVAL = Action.INTERVAL
_FROM_INTERVAL = INTERVAL_SOURCE
_TOMBSTONE_MIN = 1024
_TOUCHED_MAX = 64  # uuids a snapshot names for changed_since; more: compare instead
_LOW = (1 << 32) - 1  # joined_at bits of a packed entry
_new_member = tuple.__new__  # skips NamedTuple's keyword handling on the hot path
_new_roster = object.__new__
_serials = itertools.count()  # numbers every snapshot: see Roster.changed_since


class Member(NamedTuple):
    """One uuid present on a channel.

    Attributes:
        uuid: The PubNub uuid (user id).
        state: Its presence state on this channel (read-only mapping), or None.
        joined_at: Unix seconds of the join, or of the first event that named it.
        timetoken: Timetoken of the last event applied to this member.
    """

    uuid: str
    state: Mapping[str, Any] | None = None
    joined_at: int = 0
    timetoken: int = 0

    def __repr__(self) -> str:
        state = "" if self.state is None else f", state={dict(self.state)!r}"
        return f"Member({self.uuid!r}{state}, joined_at={self.joined_at})"

    def __str__(self) -> str:
        """The uuid, and its state as JSON if it has one: ``ada {"mood": "ok"}``."""
        return self.uuid if self.state is None else f"{self.uuid} {_json(self.state)}"


class RosterDiff(NamedTuple):
    """What changed between two roster snapshots.

    Attributes:
        joined: Members present now and not before.
        left: Members present before and not now (as they were).
        updated: Members present in both whose state changed (as they are now).
    """

    joined: tuple[Member, ...] = ()
    left: tuple[Member, ...] = ()
    updated: tuple[Member, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.joined or self.left or self.updated)

    def __repr__(self) -> str:
        parts = [
            f"{name}={[m.uuid for m in members]!r}"
            for name, members in (
                ("joined", self.joined),
                ("left", self.left),
                ("updated", self.updated),
            )
            if members
        ]
        return f"RosterDiff({', '.join(parts)})"

    def __str__(self) -> str:
        """One word per member: ``+ada -bo ~cy {"mood": "away"}`` (``no change`` if empty)."""
        words = [f"+{m}" for m in self.joined]
        words += [f"-{m.uuid}" for m in self.left]
        words += [f"~{m}" for m in self.updated]
        return " ".join(words) or "no change"

    def _repr_html_(self) -> str:
        from ._html import diff_html

        return diff_html(self)


def _json(state: Mapping[str, Any]) -> str:
    return json.dumps(dict(state), sort_keys=True, default=str, ensure_ascii=False)


# An entry of the map: packed int (present, no state), Member, or ~timetoken (departed).
_Entry: TypeAlias = int | Member
_EMPTY_MAP: immutables.Map[str, Any] = immutables.Map()


def _pack(uuid: str, state: Mapping[str, Any] | None, joined_at: int, tt: int) -> _Entry:
    """The canonical entry of a present member (packed whenever the fields allow)."""
    if state is None and type(joined_at) is int and type(tt) is int:
        if 0 <= joined_at <= _LOW and tt >= 0:
            return (tt << 32) | joined_at
    return _new_member(Member, (uuid, state, joined_at, tt))


def _decode(uuid: str, entry: _Entry) -> Member | None:
    """The member an entry stands for, or None for a departure."""
    if type(entry) is int:
        if entry < 0:
            return None
        return _new_member(Member, (uuid, None, entry & _LOW, entry >> 32))
    return entry  # type: ignore[return-value]


def _member_of(entries: immutables.Map[str, _Entry], uuid: object) -> Member | None:
    """The member ``uuid`` stands for in ``entries``, or None (absent or departed)."""
    entry = entries.get(uuid)  # type: ignore[call-overload]
    return None if entry is None else _decode(uuid, entry)  # type: ignore[arg-type]


def _has(entries: immutables.Map[str, _Entry], uuid: object) -> bool:
    """Whether ``uuid`` is present in ``entries`` (builds no record)."""
    entry = entries.get(uuid)  # type: ignore[call-overload]
    return entry is not None and _present(entry)


def _present(entry: _Entry) -> bool:
    return type(entry) is not int or entry >= 0


def _last_tt(entry: _Entry) -> int:
    """Timetoken of the last event applied to the entry's uuid."""
    if type(entry) is int:
        return ~entry if entry < 0 else entry >> 32
    return entry[3]  # type: ignore[index]


class _Meta(NamedTuple):
    channel: str
    gone_old: immutables.Map[str, int]  # the older generation of departures
    synced_at: int | None
    stale_since: float | None


class _Members(Mapping[str, Member]):
    """Read-only view uuid -> Member of one snapshot (departures hidden)."""

    __slots__ = ("_count", "_entries")

    def __init__(self, entries: immutables.Map[str, _Entry], count: int) -> None:
        self._entries = entries
        self._count = count

    def __getitem__(self, uuid: str) -> Member:
        member = _member_of(self._entries, uuid)
        if member is None:
            raise KeyError(uuid)
        return member

    def get(self, uuid: str, default: Any = None) -> Any:
        member = _member_of(self._entries, uuid)
        return default if member is None else member

    def __contains__(self, uuid: object) -> bool:
        return _has(self._entries, uuid)

    def __iter__(self) -> Iterator[str]:
        return (uuid for uuid, entry in self._entries.items() if _present(entry))

    def __len__(self) -> int:
        return self._count

    def values(self) -> Iterator[Member]:  # type: ignore[override]
        """The members (decoded while iterating)."""
        for uuid, entry in self._entries.items():
            member = _decode(uuid, entry)
            if member is not None:
                yield member

    def items(self) -> Iterator[tuple[str, Member]]:  # type: ignore[override]
        """(uuid, member) pairs."""
        for member in self.values():
            yield member[0], member

    def __repr__(self) -> str:
        return f"<members of a roster: {self._count}>"


class Snapshot(Mapping[str, "Mapping[str, Any] | None"]):
    """The occupants of one here-now answer, page by page, stored as roster entries.

    A mapping uuid -> state (None where none). Kept as the entries a roster would hold
    (one ``immutables.Map``, filled page by page while the next page is on its way), so
    that folding the snapshot into a roster that knows nobody yet (a bootstrap) takes
    that map as it is: one copy of a big channel, never two. Reading it ends the filling.
    It iterates in the answer's order.

    Args:
        timetoken: The timetoken the snapshot will be folded in with.
        timestamp: Unix seconds: the ``joined_at`` of the members it adds.
    """

    __slots__ = ("_entries", "_filling", "_order", "timestamp", "timetoken")

    def __init__(self, timetoken: int, timestamp: int) -> None:
        self.timetoken = timetoken
        self.timestamp = timestamp
        self._filling: Any = _EMPTY_MAP.mutate()  # an immutables.MapMutation
        self._entries: immutables.Map[str, _Entry] | None = None
        self._order: list[str] = []

    def add(self, occupants: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Add one page of occupants (uuid -> state).

        Raises:
            RuntimeError: The snapshot was read already.
        """
        if self._entries is not None:
            raise RuntimeError("a Snapshot is read-only once read")
        tt, stamp = self.timetoken, self.timestamp
        stateless = _pack("", None, stamp, tt)  # the same entry for every uuid
        self._filling.update(
            {u: stateless if s is None else _pack(u, s, stamp, tt) for u, s in occupants.items()}
        )
        self._order.extend(occupants)

    @property
    def _map(self) -> immutables.Map[str, _Entry]:
        if self._entries is None:
            self._entries = self._filling.finish()
            self._filling = None
        return self._entries

    def __getitem__(self, uuid: str) -> Mapping[str, Any] | None:
        return _decode(uuid, self._map[uuid]).state  # type: ignore[union-attr]

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self._map)

    @property
    def order(self) -> list[str]:
        """The uuids in the answer's order (each once)."""
        if len(self._order) != len(self._map):  # a uuid on two pages: keep its first
            self._order = list(dict.fromkeys(self._order))
        return self._order

    def items(self) -> Iterator[tuple[str, Mapping[str, Any] | None]]:  # type: ignore[override]
        """(uuid, state) pairs in the answer's order, decoded while iterating."""
        entries = self._map
        for uuid in self.order:
            yield uuid, _decode(uuid, entries[uuid]).state  # type: ignore[union-attr]

    def entries_for(self, timetoken: int, timestamp: int) -> immutables.Map[str, _Entry] | None:
        """The entries as they are, if they were packed with this timetoken and time."""
        if (timetoken, timestamp) == (self.timetoken, self.timestamp):
            return self._map
        return None


class ResyncEvents(Sequence[PresenceEvent]):
    """The synthetic events of one :meth:`Roster.reconcile`, built when read.

    A snapshot of a large channel differs from an empty roster by one join per member,
    and nobody may be listening to ``events``: only the uuids are kept (leaves first,
    then arrivals in the snapshot's order), and the records are made on access.
    """

    __slots__ = (
        "_arrivals",
        "_changed",
        "_channel",
        "_leaves",
        "_occupancy",
        "_states",
        "_timestamp",
        "_timetoken",
    )

    def __init__(
        self,
        channel: str,
        leaves: list[str],
        arrivals: Sequence[str],
        changed: frozenset[str],
        states: Mapping[str, Mapping[str, Any] | None] | None,
        occupancy: int,
        timestamp: int,
        timetoken: int,
    ) -> None:
        self._channel = channel
        self._leaves = leaves
        self._arrivals = arrivals  # joins, or state changes for the uuids in ``changed``
        self._changed = changed
        self._states = states  # uuid -> state, None when the snapshot carried none
        self._occupancy = occupancy
        self._timestamp = timestamp
        self._timetoken = timetoken

    def __len__(self) -> int:
        return len(self._leaves) + len(self._arrivals)

    @overload
    def __getitem__(self, index: int) -> PresenceEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[PresenceEvent]: ...
    def __getitem__(self, index: int | slice) -> PresenceEvent | list[PresenceEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("resync event index out of range")
        leaves = len(self._leaves)
        if index < leaves:
            return self._event(_LEAVE, self._leaves[index])
        return self._arrival(self._arrivals[index - leaves])

    def __iter__(self) -> Iterator[PresenceEvent]:
        for uuid in self._leaves:
            yield self._event(_LEAVE, uuid)
        for uuid in self._arrivals:
            yield self._arrival(uuid)

    def _arrival(self, uuid: str) -> PresenceEvent:
        state = None if self._states is None else self._states[uuid]
        return self._event(_STATE if uuid in self._changed else _JOIN, uuid, state)

    def _event(
        self, action: Action, uuid: str, state: Mapping[str, Any] | None = None
    ) -> PresenceEvent:
        return PresenceEvent(
            action,
            self._channel,
            uuid,
            self._occupancy,
            self._timestamp,
            self._timetoken,
            state,
            source=RESYNC_SOURCE,
        )

    def __repr__(self) -> str:
        return f"<{len(self)} resync events of {self._channel!r}>"


class Roster:
    """An immutable snapshot of the members of one channel.

    Build one with ``Roster(channel)`` (empty) or ``Roster(channel, members)``, then
    fold events into it with :meth:`apply`. Earlier snapshots never change.

    Attributes:
        channel: The channel this roster describes.
        members: Read-only mapping uuid -> :class:`Member`.
        occupancy: The occupancy PubNub last reported (the member count until then).
        timetoken: Timetoken of the newest event applied.
        synced_at: Timetoken of the last here-now snapshot folded in, or None.
        stale_since: Unix seconds since which the connection is down, or None.
    """

    # Fields that change on almost every event get their own slot; the rest share one
    # tuple, so a new snapshot costs five slot stores.
    __slots__ = (
        "_count",
        "_entries",
        "_meta",
        "_occupancy",
        "_origin",
        "_serial",
        "_timetoken",
        "_touched",
    )

    _entries: immutables.Map[str, _Entry]
    _count: int
    _occupancy: int
    _timetoken: int
    _meta: _Meta

    def __init__(
        self,
        channel: str,
        members: Iterable[Member] | Mapping[str, Member] = (),
        *,
        occupancy: int | None = None,
        timetoken: int = 0,
        synced_at: int | None = None,
    ) -> None:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"channel must be a non-empty string, got {channel!r}")
        items = members.values() if isinstance(members, Mapping) else members
        built: dict[str, _Entry] = {}
        for m in items:
            if not isinstance(m, Member):
                raise TypeError(f"members must be Member values, got {m!r}")
            built[m.uuid] = _pack(*m)
        if occupancy is not None and (type(occupancy) is not int or occupancy < 0):
            raise ValueError(f"occupancy must be an int >= 0, got {occupancy!r}")
        self._entries = immutables.Map(built)
        # For changed_since: which snapshot this one was made from (by serial number,
        # so as not to keep that one's map alive) and the uuids that step wrote.
        self._serial = next(_serials)
        self._origin = -1
        self._touched: str | tuple[str, ...] | None = None
        self._count = len(built)
        self._occupancy = len(built) if occupancy is None else occupancy
        self._timetoken = timetoken
        self._meta = _Meta(channel, _EMPTY_MAP, synced_at, None)

    # -- read-only view -------------------------------------------------------------

    @property
    def channel(self) -> str:
        """The channel this roster describes."""
        return self._meta.channel

    @property
    def members(self) -> Mapping[str, Member]:
        """Read-only mapping uuid -> Member."""
        return _Members(self._entries, self._count)

    @property
    def occupancy(self) -> int:
        """The occupancy PubNub last reported (the member count until then)."""
        return self._occupancy

    @property
    def timetoken(self) -> int:
        """Timetoken of the newest event applied."""
        return self._timetoken

    @property
    def synced_at(self) -> int | None:
        """Timetoken of the last here-now snapshot folded in, or None if never synced."""
        return self._meta.synced_at

    @property
    def stale_since(self) -> float | None:
        """Unix seconds since which the connection is down, or None."""
        return self._meta.stale_since

    @property
    def stale(self) -> bool:
        """Whether the connection was down since this snapshot was last synced."""
        return self._meta.stale_since is not None

    @property
    def uuids(self) -> frozenset[str]:
        """The uuids present."""
        return frozenset(self.members)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, uuid: object) -> bool:
        return _has(self._entries, uuid)

    def __iter__(self) -> Iterator[Member]:
        return _Members(self._entries, self._count).values()

    def __getitem__(self, uuid: str) -> Member:
        return self.members[uuid]

    def departed(self, uuid: str) -> bool:
        """Whether ``uuid`` is absent because a departure of it was applied (not merely
        never seen): the roster remembers recent departures, to order late events."""
        entry = self._entries.get(uuid)
        if entry is not None and _present(entry):
            return False
        return self._departed_at(uuid, entry) >= 0

    def get(self, uuid: str) -> Member | None:
        """The member with this uuid, or None."""
        return _member_of(self._entries, uuid)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Roster):
            return NotImplemented
        if (
            self._meta.channel != other._meta.channel
            or self._occupancy != other._occupancy
            or self._count != other._count
        ):
            return False
        if self._entries is other._entries:
            return True
        theirs = other._entries
        for uuid, entry in self._entries.items():
            if _present(entry):
                their = theirs.get(uuid)
                if their is None:
                    return False
                if their != entry and _decode(uuid, their) != _decode(uuid, entry):
                    return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(sorted(self.uuids)[:8])
        more = "" if self._count <= 8 else f", ... ({self._count} in all)"
        stale = ", stale" if self.stale else ""
        return f"Roster({self.channel!r}, occupancy={self._occupancy}, [{shown}{more}]{stale})"

    def __str__(self) -> str:
        """``lobby: ada, bo (2 present)``, the uuids sorted (eight at most)."""
        shown = ", ".join(sorted(self.uuids)[:8])
        more = "" if self._count <= 8 else ", ..."
        occupancy = "" if self._occupancy == self._count else f", occupancy {self._occupancy}"
        return f"{self.channel}: {shown}{more} ({self._count} present{occupancy})"

    def _repr_html_(self) -> str:
        from ._html import roster_html

        return roster_html(self)

    # -- transitions ------------------------------------------------------------------

    def _with(
        self,
        entries: immutables.Map[str, _Entry],
        count: int,
        occupancy: int,
        timetoken: int,
        touched: str | tuple[str, ...] | None = None,
    ) -> Roster:
        """A successor with these fields; ``touched``: the uuids whose entries the step
        wrote (None when unknown), for :meth:`changed_since`."""
        new = _new_roster(Roster)
        new._meta = self._meta
        new._serial = next(_serials)
        new._origin = self._serial
        new._touched = touched
        # Two generations keep tombstones bounded without scanning for old ones.
        if len(entries) > count + _TOMBSTONE_MIN and len(entries) > 2 * count:
            entries = new._rotate(entries)
            new._touched = None  # the rotation moved every departure
        new._entries = entries
        new._count = count
        new._occupancy = occupancy
        new._timetoken = timetoken
        return new

    def _rotate(self, entries: immutables.Map[str, _Entry]) -> immutables.Map[str, _Entry]:
        """Move the departures to the older generation (dropping the older one)."""
        kept: dict[str, _Entry] = {}
        gone: dict[str, int] = {}
        for uuid, entry in entries.items():
            if type(entry) is int and entry < 0:
                gone[uuid] = ~entry
            else:
                kept[uuid] = entry
        self._meta = self._meta._replace(gone_old=immutables.Map(gone))
        return immutables.Map(kept)

    def _departed_at(self, uuid: str, entry: _Entry | None) -> int:
        """Timetoken of the last departure known for an absent uuid, or -1."""
        if entry is not None:
            return ~entry  # type: ignore[operator]
        gone_old = self._meta.gone_old
        return gone_old.get(uuid, -1) if gone_old else -1

    def apply(self, event: PresenceEvent) -> Roster:
        """Fold one event into the roster and return the new snapshot.

        Events of other channels, events older than the last one applied for their
        uuid and events that change nothing return ``self``. Joins add (or refresh) a
        member with the join's state, leaves and timeouts remove it, state changes
        replace its state (adding it if unknown), interval events apply their
        join/leave/timeout arrays (keeping the state of members already present: the
        arrays carry none). A join without state leaves the member without state:
        PubNub clears state on a departure and sends a join's state with the join.
        """
        if event.channel != self._meta.channel:
            return self
        action = event.action
        tt = event.timetoken
        if action is _INTERVAL:
            if tt >= self._timetoken:
                return self._apply_interval(event, event.occupancy, tt)
            return self._apply_interval(event, self._occupancy, self._timetoken)
        uuid: str = event.uuid  # type: ignore[assignment]  # every other action names one
        state = event.state
        arrives = action is _JOIN or action is _STATE
        if state is None and action is _JOIN and event.source == _FROM_INTERVAL:
            # An interval array's join never carries state: keep the one known.
            current = self.get(uuid)
            if current is not None:
                state = current.state
        # One map lookup and one map write for the common event; the snapshot and the
        # entry are built inline because this runs once per presence event.
        timetoken = self._timetoken
        if tt >= timetoken:
            timetoken = tt
            occupancy = event.occupancy
        else:
            occupancy = self._occupancy
        entries = self._entries
        count = self._count
        # The last timetoken seen for the uuid, and joined_at if present (else -1).
        entry = entries.get(uuid)
        if entry is None:
            gone_old = self._meta.gone_old
            last = gone_old.get(uuid, -1) if gone_old else -1
            joined = -1
        elif isinstance(entry, int):
            if entry < 0:
                last = ~entry
                joined = -1
            else:
                last = entry >> 32
                joined = entry & _LOW
                if tt == last and arrives and state is None:  # an exact duplicate
                    return self._only_occupancy(occupancy, timetoken)
        else:
            last = entry.timetoken
            joined = entry.joined_at
            if tt == last and arrives and state == entry.state:
                return self._only_occupancy(occupancy, timetoken)
        if tt < last:  # older than the last event applied for this uuid
            return self._only_occupancy(occupancy, timetoken)
        value: _Entry
        if arrives:
            if joined == -1:
                joined = event.timestamp
                count += 1
            if state is None and 0 <= joined <= _LOW:
                value = (tt << 32) | joined  # _pack, inline: once per join
            else:
                value = _pack(uuid, state, joined, tt)
        elif joined == -1:
            if tt == last:  # this departure is already known
                return self._only_occupancy(occupancy, timetoken)
            value = ~tt  # remember it: a join older than this departure may still arrive
        else:
            count -= 1
            value = ~tt
        if not arrives:  # a tombstone: _with keeps them bounded
            return self._with(entries.set(uuid, value), count, occupancy, timetoken, uuid)
        new = _new_roster(Roster)
        new._meta = self._meta
        new._serial = next(_serials)
        new._origin = self._serial
        new._touched = uuid
        new._entries = entries.set(uuid, value)
        new._count = count
        new._occupancy = occupancy
        new._timetoken = timetoken
        return new

    def _only_occupancy(self, occupancy: int, timetoken: int) -> Roster:
        if occupancy == self._occupancy and timetoken == self._timetoken:
            return self
        new = _new_roster(Roster)
        new._entries = self._entries
        new._serial = next(_serials)
        new._origin = self._serial
        new._touched = ()
        new._count = self._count
        new._occupancy = occupancy
        new._timetoken = timetoken
        new._meta = self._meta
        return new

    def _apply_interval(self, event: PresenceEvent, occupancy: int, timetoken: int) -> Roster:
        tt = event.timetoken
        timestamp = event.timestamp
        count = self._count
        changed = False
        with self._entries.mutate() as entries:
            for uuid in event.join:
                entry = entries.get(uuid)
                if entry is None or not _present(entry):
                    if tt >= self._departed_at(uuid, entry):
                        entries.set(uuid, _pack(uuid, None, timestamp, tt))
                        count += 1
                        changed = True
                elif tt > _last_tt(entry):
                    member: Member = _decode(uuid, entry)  # type: ignore[assignment]
                    entries.set(uuid, _pack(uuid, member.state, member.joined_at, tt))
                    changed = True
            for uuid in (*event.leave, *event.timeout):
                entry = entries.get(uuid)
                if entry is not None and _present(entry):
                    if tt >= _last_tt(entry):
                        entries.set(uuid, ~tt)
                        count -= 1
                        changed = True
                elif tt > self._departed_at(uuid, entry):
                    entries.set(uuid, ~tt)
                    changed = True
            new_entries = entries.finish()
        if not changed:
            return self._only_occupancy(occupancy, timetoken)
        touched = (*event.join, *event.leave, *event.timeout)
        return self._with(new_entries, count, occupancy, timetoken, touched)

    # -- snapshots ------------------------------------------------------------------

    def diff(self, newer: Roster) -> RosterDiff:
        """What changed from this snapshot to ``newer``."""
        old, new = self._entries, newer._entries
        if old is new:
            return RosterDiff()
        joined: list[Member] = []
        updated: list[Member] = []
        for uuid, entry in new.items():
            member = _decode(uuid, entry)
            if member is None:
                continue
            before = old.get(uuid)
            if before is None or not _present(before):
                joined.append(member)
            elif before is not entry and _decode(uuid, before).state != member.state:  # type: ignore[union-attr]
                updated.append(member)
        left = [
            member
            for uuid, entry in old.items()
            if (member := _decode(uuid, entry)) is not None and uuid not in newer
        ]
        return RosterDiff(tuple(joined), tuple(left), tuple(updated))

    def changed_since(self, older: Roster) -> Collection[str]:
        """The uuids whose entries may differ between ``older`` and this snapshot.

        Present or not, state, timetoken: a uuid not listed is the same in both. When
        this snapshot was made from ``older`` by one step (one event, one snapshot
        folded in) that is the uuids the step wrote, found without looking at the
        others; otherwise both snapshots are compared entry by entry. For views kept
        up to date from consecutive snapshots, such as ``users()``.
        """
        old, new = older._entries, self._entries
        if new is old:
            return ()
        touched = self._touched
        if self._origin == older._serial and touched is not None:
            return (touched,) if isinstance(touched, str) else touched
        changed = [uuid for uuid, entry in new.items() if old.get(uuid) is not entry]
        changed += [uuid for uuid in old if uuid not in new]
        return changed

    def reconcile(
        self,
        occupants: Mapping[str, Mapping[str, Any] | None],
        *,
        occupancy: int,
        timetoken: int,
        timestamp: int = 0,
        with_state: bool = True,
    ) -> tuple[ResyncEvents, Roster]:
        """Fold a here-now snapshot in: the events it takes, and the roster after them.

        Pure, like :meth:`apply`, and judged the same way: each difference between this
        roster and ``occupants`` counts as an event at ``timetoken``, so a uuid whose last
        event (or departure) is newer keeps what it has. One pass over both, one map
        mutation. See ``docs/resync.md`` for why the caller passes the timetoken just
        after the newest event applied when the snapshot was requested.

        Args:
            occupants: uuid -> state (None for none) of everyone the snapshot lists.
            occupancy: The snapshot's occupancy (kept unless a newer event set the count).
            timetoken: Where the snapshot stands in the order of events.
            timestamp: Unix seconds, for the members it adds (``joined_at``).
            with_state: Whether ``occupants`` carries states; if not, states are kept.

        Returns:
            The synthetic ``source="resync"`` events, each of which changes the roster
            (leaves of members the snapshot does not list, then joins and state changes
            in the snapshot's order; built only when read), and the roster after them,
            marked synced at ``timetoken`` and not stale.
        """
        tt = timetoken
        old = self._entries
        states = occupants if with_state else None
        if not old and not self._meta.gone_old:
            # Nothing known yet (a bootstrap): every occupant joins. One map, built from a
            # dict or kept from the Snapshot as it is: by far the commonest snapshot of a
            # big channel.
            built = (
                occupants.entries_for(tt, timestamp)
                if with_state and isinstance(occupants, Snapshot)
                else None
            )
            if built is None:
                stateless = _pack("", None, timestamp, tt)  # the same entry for every uuid
                built = immutables.Map(
                    {
                        u: stateless if s is None or not with_state else _pack(u, s, timestamp, tt)
                        for u, s in occupants.items()
                    }
                )
            entries: immutables.Map[str, _Entry] = built
            order = occupants.order if isinstance(occupants, Snapshot) else list(occupants)
            events = ResyncEvents(
                self.channel, [], order, frozenset(), states, occupancy, timestamp, tt
            )
            count_now = occupancy if self._timetoken <= tt else self._occupancy
            new = self._with(entries, len(entries), count_now, max(self._timetoken, tt))
            new._meta = new._meta._replace(synced_at=tt, stale_since=None)
            return events, new
        count = self._count
        leaves: list[str] = []
        arrivals: list[str] = []
        changed: set[str] = set()
        with old.mutate() as mutation:
            for uuid, entry in old.items():
                if uuid not in occupants and _present(entry) and tt >= _last_tt(entry):
                    mutation.set(uuid, ~tt)
                    count -= 1
                    leaves.append(uuid)
            for uuid, state in occupants.items():
                if not with_state:
                    state = None
                found = old.get(uuid)
                if found is None or not _present(found):
                    if tt >= self._departed_at(uuid, found):
                        mutation.set(uuid, _pack(uuid, state, timestamp, tt))
                        count += 1
                        arrivals.append(uuid)
                    continue
                current: Member = _decode(uuid, found)  # type: ignore[assignment]
                if with_state and (current.state or None) != (state or None):
                    # PubNub clears state to nothing: an empty object and None are the same.
                    if tt >= current.timetoken:
                        mutation.set(uuid, _pack(uuid, state, current.joined_at, tt))
                        arrivals.append(uuid)
                        changed.add(uuid)
            new_entries = mutation.finish()
        newest = max(self._timetoken, tt)
        # Events newer than the snapshot carry a newer count than the snapshot's.
        count_now = occupancy if self._timetoken <= tt else self._occupancy
        touched = (*leaves, *arrivals) if len(leaves) + len(arrivals) <= _TOUCHED_MAX else None
        new = self._with(new_entries, count, count_now, newest, touched)
        new._meta = new._meta._replace(synced_at=tt, stale_since=None)
        events = ResyncEvents(
            self.channel, leaves, arrivals, frozenset(changed), states, occupancy, timestamp, tt
        )
        return events, new

    def synced(self, timetoken: int) -> Roster:
        """This snapshot marked synced at ``timetoken`` (and not stale), otherwise unchanged.

        For a roster derived from the raw one (a graced roster) when the raw one was
        reconciled with a snapshot: the events the snapshot made reach it on their own,
        so its members and its newest timetoken stay as they are.
        """
        if self._meta.synced_at == timetoken and self._meta.stale_since is None:
            return self
        new = self._with(self._entries, self._count, self._occupancy, self._timetoken, ())
        new._meta = new._meta._replace(synced_at=timetoken, stale_since=None)
        return new

    def with_occupancy(self, occupancy: int) -> Roster:
        """This snapshot with another occupancy (a count-only here-now answer)."""
        if occupancy == self._occupancy:
            return self
        return self._only_occupancy(occupancy, self._timetoken)

    def with_sync(
        self,
        members: Iterable[Member],
        *,
        occupancy: int,
        timetoken: int,
    ) -> Roster:
        """A snapshot replaced by a here-now result, marked synced and not stale.

        Members whose state is unchanged keep their ``joined_at``; departures already
        known stay remembered for ordering.
        """
        old = self._entries
        merged: dict[str, _Entry] = {
            uuid: entry for uuid, entry in old.items() if not _present(entry)
        }
        count = 0
        for m in members:
            uuid = m.uuid
            entry = old.get(uuid)
            prev = None if entry is None else _decode(uuid, entry)
            if prev is not None and prev.state == m.state:
                value = entry
            elif prev is not None:
                value = _pack(uuid, m.state, prev.joined_at, m.timetoken)
            else:
                value = _pack(*m)
            if uuid not in merged or not _present(merged[uuid]):
                count += 1
            merged[uuid] = value  # type: ignore[assignment]
        new = self._with(immutables.Map(merged), count, occupancy, max(timetoken, self._timetoken))
        new._meta = new._meta._replace(synced_at=timetoken, stale_since=None)
        return new

    def with_stale(self, since: float | None) -> Roster:
        """A copy marked stale since ``since`` (Unix seconds), or fresh with None."""
        if since == self._meta.stale_since:
            return self
        new = self._with(self._entries, self._count, self._occupancy, self._timetoken, ())
        new._meta = new._meta._replace(stale_since=since)
        return new
