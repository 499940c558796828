"""Which held long polls a new log entry concerns: an index from channel to waiting polls.

Waking every held poll for every entry made each presence event cost as much as the
number of polls held, whatever they subscribe to: with 500 polls held, 2,000 joins on
an unrelated channel cost three times the CPU. :class:`WaitingPolls` indexes the polls
by the exact names they subscribe to (``room``, ``room-pnpres``); the few that
subscribe to a wildcard or a channel group are matched one by one with the same
:meth:`Subscription.match` the log scan uses, against the groups' members at the time
of the entry. An entry wakes exactly the polls it would be delivered to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from ._presence import LogEntry, Subscription

__all__ = ["WaitingPolls"]

Poll = TypeVar("Poll")
Matcher = Callable[[Subscription, LogEntry], str | None]


class WaitingPolls(Generic[Poll]):
    """Held polls by what they listen to.

    Args:
        matches: Decides whether an entry reaches a subscription (the book's matcher,
            which knows the channel groups' members).
    """

    def __init__(self, matches: Matcher) -> None:
        self._matches = matches
        self._by_name: dict[tuple[str, str], dict[Poll, None]] = {}
        self._with_patterns: dict[Poll, Subscription] = {}
        self._subscriptions: dict[Poll, Subscription] = {}

    def __len__(self) -> int:
        return len(self._subscriptions)

    def add(self, poll: Poll, subscription: Subscription) -> None:
        """Index a poll that starts waiting.

        Args:
            poll: The poll (any hashable object).
            subscription: What it listens to.
        """
        self._subscriptions[poll] = subscription
        for name in subscription.exact_names:
            self._by_name.setdefault((subscription.sub_key, name), {})[poll] = None
        if subscription.has_patterns:
            self._with_patterns[poll] = subscription

    def remove(self, poll: Poll) -> None:
        """Forget a poll that stopped waiting (unknown polls are ignored).

        Args:
            poll: The poll.
        """
        subscription = self._subscriptions.pop(poll, None)
        if subscription is None:
            return
        for name in subscription.exact_names:
            key = (subscription.sub_key, name)
            polls = self._by_name.get(key)
            if polls is not None:
                polls.pop(poll, None)
                if not polls:
                    del self._by_name[key]
        self._with_patterns.pop(poll, None)

    def concerned(self, entries: Iterable[LogEntry]) -> list[Poll]:
        """The polls that at least one of ``entries`` is delivered to, each once.

        Args:
            entries: New log entries.

        Returns:
            The polls to wake.
        """
        found: dict[Poll, None] = {}
        for entry in entries:
            found.update(self._by_name.get((entry.sub_key, entry.channel), {}))
            for poll, subscription in self._with_patterns.items():
                if poll not in found and self._matches(subscription, entry) is not None:
                    found[poll] = None
        return list(found)
