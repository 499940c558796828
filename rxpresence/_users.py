"""Users rather than uuids: one entry per person, however many devices they use.

PubNub counts uuids. Apps that give each device (phone, laptop, browser tab) its own
uuid see one person come and go every time a device does, and a person "leaves" when
one tab closes while another is still open. Phoenix Presence solves this with one key
per user and a list of "metas", one per connection; :class:`UserRoster` is the same
model over a :class:`Roster`: a ``key`` function maps each uuid (and its state) to a
user id, a user is online while any of their devices is, carries every device with its
state, and goes offline only when the last device leaves.

The grouping is incremental: only the users whose devices changed between two roster
snapshots are rebuilt. :meth:`Roster.changed_since` names the uuids an event touched
without looking at the others, so an event costs about the same with 100 members as
with 50,000; only a snapshot that is not the direct successor of the previous one (the
first, or one after skipped snapshots) is compared entry by entry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

import immutables
from reactivex import Observable, abc

from ._roster import Member, Roster

__all__ = ["User", "UserDiff", "UserKey", "UserRoster", "to_users"]

#: Maps a uuid and its state on the channel to a user id.
UserKey = Callable[[str, "Mapping[str, Any] | None"], str]

_Report = Callable[[str, BaseException, Any], None]
_EMPTY_USERS: immutables.Map[str, User] = immutables.Map()
_EMPTY_KEYS: immutables.Map[str, str] = immutables.Map()


class User(NamedTuple):
    """One person on a channel, with every device (uuid) they are present from.

    Attributes:
        id: The user id the ``key`` function gave.
        devices: Their members (one per uuid), oldest join first.
    """

    id: str
    devices: tuple[Member, ...]

    @property
    def uuids(self) -> tuple[str, ...]:
        """The uuids of their devices, in the order of :attr:`devices`."""
        return tuple(m.uuid for m in self.devices)

    @property
    def joined_at(self) -> int:
        """Unix seconds of the earliest device's join."""
        return min((m.joined_at for m in self.devices), default=0)


class UserDiff(NamedTuple):
    """What changed between two :class:`UserRoster` snapshots.

    Attributes:
        joined: Users online now and not before (their first device arrived).
        left: Users online before and not now (their last device left), as they were.
        updated: Users online in both whose devices or device states changed.
    """

    joined: tuple[User, ...] = ()
    left: tuple[User, ...] = ()
    updated: tuple[User, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.joined or self.left or self.updated)


def _device_order(member: Member) -> tuple[int, str]:
    return (member.joined_at, member.uuid)


class UserRoster:
    """An immutable snapshot of the users on one channel, built from a :class:`Roster`.

    Mapping-like: ``roster["alice"]`` is a :class:`User`, ``"alice" in roster`` tests
    whether alice is online, ``len`` counts users, iteration yields :class:`User`
    values (as iterating a :class:`Roster` yields members).

    Attributes:
        channel: The channel.
        users: Read-only mapping user id -> :class:`User`.
        roster: The uuid roster it was built from.
    """

    __slots__ = ("_keys", "_roster", "_users")

    _roster: Roster
    _users: immutables.Map[str, User]
    _keys: immutables.Map[str, str]

    def __init__(self, roster: Roster, key: UserKey) -> None:
        built = _build(None, roster, key, None)
        self._roster = built._roster
        self._users = built._users
        self._keys = built._keys

    @classmethod
    def _make(
        cls, roster: Roster, users: immutables.Map[str, User], keys: immutables.Map[str, str]
    ) -> UserRoster:
        new = object.__new__(cls)
        new._roster = roster
        new._users = users
        new._keys = keys
        return new

    # -- read-only view -------------------------------------------------------------

    @property
    def channel(self) -> str:
        """The channel of the underlying roster."""
        return self._roster.channel

    @property
    def users(self) -> Mapping[str, User]:
        """Read-only mapping user id -> User."""
        return self._users

    @property
    def roster(self) -> Roster:
        """The uuid roster these users were grouped from."""
        return self._roster

    @property
    def ids(self) -> frozenset[str]:
        """The ids of the users online."""
        return frozenset(self._users.keys())

    @property
    def occupancy(self) -> int:
        """PubNub's occupancy of the channel (it counts uuids, not users)."""
        return self._roster.occupancy

    @property
    def synced_at(self) -> int | None:
        """As :attr:`Roster.synced_at`."""
        return self._roster.synced_at

    @property
    def stale_since(self) -> float | None:
        """As :attr:`Roster.stale_since`."""
        return self._roster.stale_since

    @property
    def stale(self) -> bool:
        """As :attr:`Roster.stale`."""
        return self._roster.stale

    def user_of(self, uuid: str) -> User | None:
        """The user a present uuid belongs to, or None."""
        user_id = self._keys.get(uuid)
        return None if user_id is None else self._users.get(user_id)

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._users

    def __iter__(self) -> Iterator[User]:
        return iter(self._users.values())

    def __getitem__(self, user_id: str) -> User:
        return self._users[user_id]

    def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        return self._users.get(user_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UserRoster):
            return NotImplemented
        return self.channel == other.channel and self._users == other._users

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = sorted(self._users.keys())
        shown = ", ".join(names[:8])
        more = "" if len(names) <= 8 else f", ... ({len(names)} in all)"
        stale = ", stale" if self.stale else ""
        return f"UserRoster({self.channel!r}, [{shown}{more}]{stale})"

    def diff(self, newer: UserRoster) -> UserDiff:
        """What changed from this snapshot to ``newer``."""
        old, new = self._users, newer._users
        if old is new:
            return UserDiff()
        joined = tuple(u for i, u in new.items() if i not in old)
        left = tuple(u for i, u in old.items() if i not in new)
        updated = tuple(u for i, u in new.items() if (o := old.get(i)) is not None and o != u)
        return UserDiff(joined, left, updated)


def _key_of(key: UserKey, member: Member, report: _Report | None) -> str:
    try:
        user_id = key(member.uuid, member.state)
        if not isinstance(user_id, str) or not user_id:
            raise TypeError(f"a user key must return a non-empty string, got {user_id!r}")
        return user_id
    except Exception as exc:
        if report is None:
            raise
        report("subscriber", exc, member)
        return member.uuid


def _build(
    prev: UserRoster | None, roster: Roster, key: UserKey, report: _Report | None
) -> UserRoster:
    """The users of ``roster``, reusing ``prev`` (built from an earlier snapshot)."""
    changed: Collection[str]
    if prev is None:
        changed = list(roster.members)
        old_keys, old_users = _EMPTY_KEYS, _EMPTY_USERS
    else:
        old_keys, old_users = prev._keys, prev._users
        changed = roster.changed_since(prev._roster)
        if not changed:
            return UserRoster._make(roster, old_users, old_keys)
    # Map each changed uuid to its user (again: its state may have moved it).
    touched: dict[str, None] = {}
    fresh: list[str] = []
    with old_keys.mutate() as keys:
        for uuid in changed:
            member = roster.get(uuid)
            before = keys.get(uuid)
            if member is None:  # gone (or a departure remembered for ordering)
                if before is not None:
                    touched[before] = None
                    del keys[uuid]
                continue
            user_id = _key_of(key, member, report)
            if before is not None and before != user_id:
                touched[before] = None
            keys[uuid] = user_id
            touched[user_id] = None
            fresh.append(uuid)
        new_keys = keys.finish()
    if not touched:
        return UserRoster._make(roster, old_users, new_keys)
    # uuids per touched user: their previous devices plus uuids now mapped to them.
    candidates: dict[str, set[str]] = {user_id: set() for user_id in touched}
    for user_id in touched:
        user = old_users.get(user_id)
        if user is not None:
            candidates[user_id].update(m.uuid for m in user.devices)
    for uuid in fresh:
        candidates[new_keys[uuid]].add(uuid)
    changed_users = False
    with old_users.mutate() as users:
        for user_id, uuids in candidates.items():
            devices = [
                m for u in uuids if new_keys.get(u) == user_id and (m := roster.get(u)) is not None
            ]
            if devices:
                devices.sort(key=_device_order)
                before_user = users.get(user_id)
                if before_user is not None and _same_devices(before_user.devices, devices):
                    continue  # only timetokens moved: keep the user as it was
                users[user_id] = User(user_id, tuple(devices))
                changed_users = True
            elif user_id in users:
                del users[user_id]
                changed_users = True
        new_users = users.finish() if changed_users else old_users
    return UserRoster._make(roster, new_users, new_keys)


def _same_devices(old: tuple[Member, ...], new: list[Member]) -> bool:
    """Whether two device lists show the same uuids, states and join times."""
    return len(old) == len(new) and all(
        a.uuid == b.uuid and a.state == b.state and a.joined_at == b.joined_at
        for a, b in zip(old, new, strict=True)
    )


def to_users(
    key: UserKey, report: _Report | None = None
) -> Callable[[Observable[Roster]], Observable[UserRoster]]:
    """Group each roster of a stream into users; emits when users or roster flags change.

    Args:
        key: Maps a uuid and its state to a user id.
        report: Called as ``report("subscriber", exception, member)`` when ``key``
            raises (the uuid is then its own user); None lets the exception through.

    Returns:
        An operator ``Observable[Roster] -> Observable[UserRoster]``.
    """
    if not callable(key):
        raise TypeError(f"key must be a function (uuid, state) -> user id, got {key!r}")

    def operator(source: Observable[Roster]) -> Observable[UserRoster]:
        def subscribe(
            observer: abc.ObserverBase[UserRoster], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            last: list[UserRoster | None] = [None]

            def on_next(roster: Roster) -> None:
                prev = last[0]
                try:
                    current = _build(prev, roster, key, report)
                except Exception as exc:  # only without a report callback
                    observer.on_error(exc)
                    return
                last[0] = current
                if (
                    prev is None
                    or current._users is not prev._users
                    or roster.synced_at != prev.synced_at
                    or roster.stale_since != prev.stale_since
                    or roster.occupancy != prev.occupancy
                ):
                    observer.on_next(current)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
