"""The roster rules as a plain-dict reference model, shared by the property tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rxpresence import PresenceEvent


class ChannelModel:
    """The roster rules in plain dicts: members keep the timetoken of their last event,
    departures leave a tombstone; anything older than either is ignored. Joins and state
    changes set the state; an interval event's join array keeps the state of a member
    already present (the arrays carry none)."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[Mapping[str, Any] | None, int]] = {}
        self.gone: dict[str, int] = {}
        self.occupancy = 0
        self.timetoken = 0

    def apply(self, e: PresenceEvent) -> None:
        tt = e.timetoken
        if tt >= self.timetoken:
            self.timetoken, self.occupancy = tt, e.occupancy
        if e.action == "interval":
            for u in e.join:
                self._arrive(u, tt, None, keep_state=True)
            for u in (*e.leave, *e.timeout):
                self._depart(u, tt)
        elif e.action in ("join", "state-change"):
            # A join states the uuid's whole state, except one made from an interval
            # event's arrays (``expand_intervals``), which never carries any.
            from_arrays = e.action == "join" and e.source == "interval"
            self._arrive(e.uuid or "", tt, e.state, keep_state=from_arrays)
        else:
            self._depart(e.uuid or "", tt)

    def _arrive(self, u: str, tt: int, state: Any, *, keep_state: bool) -> None:
        current = self.members.get(u)
        if current is None:
            if tt >= self.gone.get(u, -1):
                self.members[u] = (state, tt)
        elif tt >= current[1]:
            self.members[u] = (current[0] if keep_state and state is None else state, tt)

    def _depart(self, u: str, tt: int) -> None:
        current = self.members.get(u)
        if current is not None and tt >= current[1]:
            del self.members[u]
            self.gone[u] = tt
        elif current is None:
            self.gone[u] = max(self.gone.get(u, -1), tt)

    def view(self) -> tuple[dict[str, Any], int]:
        return {u: plain_state(s) for u, (s, _) in self.members.items()}, self.occupancy


def plain_state(state: Mapping[str, Any] | None) -> Any:
    return None if state is None else dict(state)
