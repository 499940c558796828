"""Line-based output: plain text for logs and pipes, JSON lines for ``jq``.

Plain lines start with the seconds since the start of the run::

      3.2s  lobby        join         alice          occupancy 3  status=available

JSON lines are one object each. An event is ``PresenceEvent.to_dict()`` with
``"type": "event"`` first; a roster change is::

    {"type": "roster", "channel": "lobby", "occupancy": 3, "uuids": ["alice", "bob"],
     "states": {"alice": {"status": "away"}}, "joined": ["bob"], "left": [], "updated": []}

where ``joined``, ``left`` and ``updated`` (state changed) compare with the previous
roster line of that channel. :class:`RosterTracker` decides when a roster changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rxpresence import Action, PresenceEvent, Roster

from ._model import EventRecord, FlickerRecord, Record, interval_text, state_text

__all__ = ["RosterTracker", "event_json", "plain_line", "roster_json", "to_json_line"]


def plain_line(record: Record, start: float) -> str:
    """One plain-text line for a record.

    Args:
        record: The record.
        start: Unix seconds of the start of the run.

    Returns:
        The line, without a newline.
    """
    at = f"{max(record.wall - start, 0.0):6.1f}s"
    if isinstance(record, EventRecord):
        event = record.event
        detail = _event_detail(event)
        who = event.uuid or ""
        return (
            f"{at}  {event.channel:<12} {event.action.value:<12} {who:<14} "
            f"occupancy {event.occupancy}{'  ' + detail if detail else ''}"
        )
    if isinstance(record, FlickerRecord):
        return (
            f"{at}  {record.channel:<12} {'flicker':<12} {record.uuid:<14} "
            f"back {record.gap:.1f} s after its timeout: hidden by the grace period"
        )
    return f"{at}  {'':<12} {record.kind:<12} {record.text}"


def _event_detail(event: PresenceEvent) -> str:
    if event.action is Action.INTERVAL:
        return interval_text(event, shown=50)
    detail = state_text(event.state, limit=200)
    if event.action is Action.STATE_CHANGE and not detail:
        detail = "state cleared"
    if event.action is Action.TIMEOUT:
        detail = "no heartbeat: timed out"
    if event.source != "live":
        detail = f"({event.source} from here-now) {detail}".rstrip()
    return detail


def event_json(event: PresenceEvent) -> dict[str, Any]:
    """The JSON object of an event line.

    Args:
        event: The event.

    Returns:
        ``{"type": "event", **event.to_dict()}``.
    """
    return {"type": "event", **event.to_dict()}


def roster_json(roster: Roster, previous: Roster | None = None) -> dict[str, Any]:
    """The JSON object of a roster line.

    Args:
        roster: The roster now.
        previous: The roster of the previous line of this channel, if any.

    Returns:
        The object (see the module docstring).
    """
    diff = (previous or Roster(roster.channel)).diff(roster)
    members = sorted(roster, key=lambda m: m.uuid)
    return {
        "type": "roster",
        "channel": roster.channel,
        "occupancy": roster.occupancy,
        "uuids": [m.uuid for m in members],
        "states": {m.uuid: dict(m.state) for m in members if m.state},
        "joined": sorted(m.uuid for m in diff.joined),
        "left": sorted(m.uuid for m in diff.left),
        "updated": sorted(m.uuid for m in diff.updated),
    }


def to_json_line(obj: Mapping[str, Any]) -> str:
    """Serialise one JSON line (non-ASCII kept as is)."""
    return json.dumps(obj, ensure_ascii=False, default=str)


def _roster_key(roster: Roster) -> tuple[int, tuple[tuple[str, str], ...]]:
    return (
        roster.occupancy,
        tuple(
            sorted(
                (m.uuid, json.dumps(dict(m.state), sort_keys=True, default=str) if m.state else "")
                for m in roster
            )
        ),
    )


class RosterTracker:
    """Turns the latest rosters into roster lines, one per channel that changed.

    A roster counts as changed when its members, their states or its occupancy differ
    from the last one emitted for the channel (an empty roster at first, so an empty
    first snapshot emits nothing).
    """

    def __init__(self) -> None:
        self._last: dict[str, Roster] = {}

    def changes(self, rosters: Mapping[str, Roster]) -> list[dict[str, Any]]:
        """Roster lines for the channels whose roster changed since the last call.

        Args:
            rosters: The latest roster of each channel.

        Returns:
            The JSON objects, in the order of ``rosters``.
        """
        out: list[dict[str, Any]] = []
        for channel, roster in rosters.items():
            previous = self._last.get(channel)
            if _roster_key(roster) == _roster_key(previous or Roster(channel)):
                continue
            self._last[channel] = roster
            out.append(roster_json(roster, previous))
        return out
