"""Rosters: immutable snapshots of who is on a channel, and the pure reducer behind them.

``Roster.apply(event)`` is the whole presence state machine: it never mutates, and it
returns ``self`` when an event changes nothing, so ``new is old`` is a cheap "no change"
test. Members live in an ``immutables.Map`` (a hash array mapped trie): one update costs
O(log n) and shares everything else with the previous snapshot.

Ordering: each member carries the timetoken of the last event applied to it, and recent
departures are remembered in two generations of tombstones, so an event older than the
last one applied for its uuid is ignored and an exact duplicate changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import immutables

from ._event import INTERVAL_SOURCE, Action, PresenceEvent

__all__ = ["Member", "Roster", "RosterDiff"]

_JOIN = Action.JOIN
_LEAVE = Action.LEAVE
_TIMEOUT = Action.TIMEOUT
_STATE = Action.STATE_CHANGE
_INTERVAL = Action.INTERVAL
_FROM_INTERVAL = INTERVAL_SOURCE
_EMPTY_MAP: immutables.Map[str, Any] = immutables.Map()
_TOMBSTONE_MIN = 1024
_new_member = tuple.__new__  # skips NamedTuple's keyword handling on the hot path
_new_roster = object.__new__
# The joined_at of the last member created: equal timestamps reuse one int object.
# Shared by all rosters and threads; a lost race only means one unshared int.
_last_timestamp: list[int] = [0]


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

    def _repr_html_(self) -> str:
        from ._html import diff_html

        return diff_html(self)


class _Meta(NamedTuple):
    channel: str
    gone_old: immutables.Map[str, int]
    synced_at: int | None
    stale_since: float | None


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
    __slots__ = ("_gone", "_members", "_meta", "_occupancy", "_timetoken")

    _members: immutables.Map[str, Member]
    _occupancy: int
    _timetoken: int
    _gone: immutables.Map[str, int]
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
        built: dict[str, Member] = {}
        for m in items:
            if not isinstance(m, Member):
                raise TypeError(f"members must be Member values, got {m!r}")
            built[m.uuid] = m
        if occupancy is not None and (type(occupancy) is not int or occupancy < 0):
            raise ValueError(f"occupancy must be an int >= 0, got {occupancy!r}")
        self._members = immutables.Map(built)
        self._occupancy = len(built) if occupancy is None else occupancy
        self._timetoken = timetoken
        self._gone = _EMPTY_MAP
        self._meta = _Meta(channel, _EMPTY_MAP, synced_at, None)

    # -- read-only view -------------------------------------------------------------

    @property
    def channel(self) -> str:
        """The channel this roster describes."""
        return self._meta.channel

    @property
    def members(self) -> Mapping[str, Member]:
        """Read-only mapping uuid -> Member."""
        return self._members

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
        return frozenset(self._members.keys())

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._members

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __getitem__(self, uuid: str) -> Member:
        return self._members[uuid]

    def get(self, uuid: str) -> Member | None:
        """The member with this uuid, or None."""
        return self._members.get(uuid)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Roster):
            return NotImplemented
        return (
            self._meta.channel == other._meta.channel
            and self._occupancy == other._occupancy
            and self._members == other._members
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(sorted(self._members.keys())[:8])
        more = "" if len(self._members) <= 8 else f", ... ({len(self._members)} in all)"
        stale = ", stale" if self.stale else ""
        return f"Roster({self.channel!r}, occupancy={self._occupancy}, [{shown}{more}]{stale})"

    def _repr_html_(self) -> str:
        from ._html import roster_html

        return roster_html(self)

    # -- transitions ------------------------------------------------------------------

    def _with(
        self,
        members: immutables.Map[str, Member],
        occupancy: int,
        timetoken: int,
        gone: immutables.Map[str, int] | None = None,
    ) -> Roster:
        new = _new_roster(Roster)
        new._members = members
        new._occupancy = occupancy
        new._timetoken = timetoken
        meta = self._meta
        if gone is None:
            gone = self._gone
        elif len(gone) > _TOMBSTONE_MIN and len(gone) > len(members):
            # Two generations keep tombstones bounded without scanning for old ones.
            meta = meta._replace(gone_old=gone)
            gone = _EMPTY_MAP
        new._gone = gone
        new._meta = meta
        return new

    def _departed_at(self, uuid: str) -> int:
        tt = self._gone.get(uuid)
        if tt is None:
            tt = self._meta.gone_old.get(uuid, -1)
        return tt

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
        # One slice-and-unpack is cheaper than seven attribute lookups (hot path).
        action, channel, uuid, occupancy, timestamp, tt, state = event[:7]
        if channel != self._meta.channel:
            return self
        if state is None and action is _JOIN and event[12] == _FROM_INTERVAL:
            # An interval array's join never carries state: keep the one known.
            current = self._members.get(uuid)  # type: ignore[arg-type]
            if current is not None:
                state = current[1]
        if action is _INTERVAL:
            if tt >= self._timetoken:
                return self._apply_interval(event, occupancy, tt)
            return self._apply_interval(event, self._occupancy, self._timetoken)
        # Validated by PresenceEvent: every non-interval event names a uuid.
        return self._step(action, uuid, occupancy, timestamp, tt, state)  # type: ignore[arg-type]

    def _step(
        self,
        action: Action,
        uuid: str,
        occupancy: int,
        timestamp: int,
        tt: int,
        state: Mapping[str, Any] | None,
    ) -> Roster:
        """``apply`` for one validated non-interval event of this channel.

        The hub calls this directly with fields it has already checked, so the common
        event costs one Python frame; snapshots and members are built inline for the
        same reason.
        """
        timetoken = self._timetoken
        if tt >= timetoken:
            timetoken = tt
        else:
            occupancy = self._occupancy
        members = self._members
        current = members.get(uuid)
        if action is _JOIN or action is _STATE:
            if current is None:
                departed = self._gone.get(uuid)
                if departed is None:
                    departed = self._meta.gone_old.get(uuid, -1)
                if tt < departed:
                    return self._only_occupancy(occupancy, timetoken)
                # Members that join in the same second share one int for joined_at.
                if timestamp == _last_timestamp[0]:
                    timestamp = _last_timestamp[0]
                else:
                    _last_timestamp[0] = timestamp
                member = _new_member(Member, (uuid, state, timestamp, tt))
            else:
                if tt < current[3]:
                    return self._only_occupancy(occupancy, timetoken)
                if tt == current[3] and state == current[1]:
                    return self._only_occupancy(occupancy, timetoken)
                member = _new_member(Member, (uuid, state, current[2], tt))
            new = _new_roster(Roster)
            new._members = members.set(uuid, member)
            new._occupancy = occupancy
            new._timetoken = timetoken
            new._gone = self._gone
            new._meta = self._meta
            return new
        # leave / timeout
        if current is None:
            if tt > self._departed_at(uuid):
                # Remember it: a join older than this departure may still arrive.
                return self._with(members, occupancy, timetoken, self._gone.set(uuid, tt))
            return self._only_occupancy(occupancy, timetoken)
        if tt < current[3]:
            return self._only_occupancy(occupancy, timetoken)
        return self._with(members.delete(uuid), occupancy, timetoken, self._gone.set(uuid, tt))

    def _only_occupancy(self, occupancy: int, timetoken: int) -> Roster:
        if occupancy == self._occupancy and timetoken == self._timetoken:
            return self
        return self._with(self._members, occupancy, timetoken)

    def _apply_interval(self, event: PresenceEvent, occupancy: int, timetoken: int) -> Roster:
        tt = event.timetoken
        timestamp = event.timestamp
        changed = tombstoned = False
        with self._members.mutate() as members, self._gone.mutate() as gone:
            for uuid in event.join:
                current = members.get(uuid)
                if current is None:
                    if tt >= self._departed_at(uuid):
                        members.set(uuid, Member(uuid, None, timestamp, tt))
                        changed = True
                elif tt > current.timetoken:
                    members.set(uuid, current._replace(timetoken=tt))
                    changed = True
            for uuid in (*event.leave, *event.timeout):
                current = members.get(uuid)
                if current is not None and tt >= current.timetoken:
                    del members[uuid]
                    gone.set(uuid, tt)
                    changed = True
                elif current is None and tt > self._departed_at(uuid):
                    gone.set(uuid, tt)
                    tombstoned = True
            new_members = members.finish()
            new_gone = gone.finish()
        if not changed:
            if tombstoned:
                return self._with(self._members, occupancy, timetoken, new_gone)
            return self._only_occupancy(occupancy, timetoken)
        return self._with(new_members, occupancy, timetoken, new_gone)

    # -- snapshots ------------------------------------------------------------------

    def diff(self, newer: Roster) -> RosterDiff:
        """What changed from this snapshot to ``newer``."""
        old, new = self._members, newer._members
        if old is new:
            return RosterDiff()
        joined = tuple(m for u, m in new.items() if u not in old)
        left = tuple(m for u, m in old.items() if u not in new)
        updated = tuple(
            m for u, m in new.items() if (o := old.get(u)) is not None and o.state != m.state
        )
        return RosterDiff(joined, left, updated)

    def with_sync(
        self,
        members: Iterable[Member],
        *,
        occupancy: int,
        timetoken: int,
    ) -> Roster:
        """A snapshot replaced by a here-now result, marked synced and not stale.

        Members whose state is unchanged keep their ``joined_at``.
        """
        old = self._members
        merged: dict[str, Member] = {}
        for m in members:
            prev = old.get(m.uuid)
            if prev is not None and prev.state == m.state:
                merged[m.uuid] = prev
            elif prev is not None:
                merged[m.uuid] = m._replace(joined_at=prev.joined_at)
            else:
                merged[m.uuid] = m
        new = self._with(immutables.Map(merged), occupancy, max(timetoken, self._timetoken))
        new._meta = new._meta._replace(synced_at=timetoken, stale_since=None)
        return new

    def with_stale(self, since: float | None) -> Roster:
        """A copy marked stale since ``since`` (Unix seconds), or fresh with None."""
        if since == self._meta.stale_since:
            return self
        new = self._with(self._members, self._occupancy, self._timetoken)
        new._meta = new._meta._replace(stale_since=since)
        return new
