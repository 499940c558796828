"""HTML tables for Jupyter: ``Roster._repr_html_`` and ``RosterDiff._repr_html_``."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._roster import Member, Roster, RosterDiff


def _state(state: Mapping[str, Any] | None) -> str:
    return "" if state is None else html.escape(json.dumps(dict(state), default=str))


def _rows(members: Iterable[Member], mark: str = "") -> str:
    return "".join(
        f"<tr><td>{mark}</td><td>{html.escape(m.uuid)}</td>"
        f"<td><code>{_state(m.state)}</code></td><td>{m.joined_at}</td></tr>"
        for m in sorted(members, key=lambda m: m.uuid)
    )


_HEAD = "<tr><th></th><th>uuid</th><th>state</th><th>since</th></tr>"


def roster_html(roster: Roster) -> str:
    """An HTML table of a roster's members, with its channel and occupancy."""
    stale = " &middot; <b>stale</b>" if roster.stale else ""
    caption = (
        f"<caption>{html.escape(roster.channel)} &middot; {len(roster)} members"
        f" &middot; occupancy {roster.occupancy}{stale}</caption>"
    )
    return f"<table>{caption}{_HEAD}{_rows(roster)}</table>"


def diff_html(diff: RosterDiff) -> str:
    """An HTML table of a roster diff: joined (+), left (-) and updated (~) members."""
    body = _rows(diff.joined, "+") + _rows(diff.left, "&minus;") + _rows(diff.updated, "~")
    return f"<table>{_HEAD}{body or '<tr><td colspan=4>no change</td></tr>'}</table>"
