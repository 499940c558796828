"""HTML for Jupyter: ``Roster._repr_html_``, ``RosterDiff._repr_html_`` and live views.

Every piece of data (channel, uuid, state) is escaped; tables are plain HTML with a few
inline styles, so they render the same in JupyterLab, VS Code and static HTML exports.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol


# What the tables read, described here so that this module imports nothing of the
# package: rosters render themselves by calling in here (``Roster._repr_html_``).
class _MemberShape(Protocol):
    @property
    def uuid(self) -> str: ...
    @property
    def state(self) -> Mapping[str, Any] | None: ...
    @property
    def joined_at(self) -> int: ...


class _RosterShape(Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def occupancy(self) -> int: ...
    @property
    def stale(self) -> bool: ...
    @property
    def stale_since(self) -> float | None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


class _DiffShape(Protocol):
    @property
    def joined(self) -> tuple[Any, ...]: ...
    @property
    def left(self) -> tuple[Any, ...]: ...
    @property
    def updated(self) -> tuple[Any, ...]: ...
    def __bool__(self) -> bool: ...


MAX_ROWS = 50
"""Members listed before a table says "and N more"."""

_STATE_CHARS = 120
_TABLE = '<table class="rxpresence" style="border-collapse:collapse">'
_CAPTION = '<caption style="text-align:left;font-weight:bold">'
_MUTED = 'style="color:#6a737d"'
_MARKS = {
    "+": ("+", "color:#1a7f37", "joined"),
    "-": ("&minus;", "color:#cf222e", "left"),
    "~": ("~", "color:#9a6700", "state changed"),
}


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _state(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return ""
    text = json.dumps(dict(state), default=str, ensure_ascii=False, sort_keys=True)
    if len(text) <= _STATE_CHARS:
        return f"<code>{_text(text)}</code>"
    return f'<code title="{_text(text)}">{_text(text[: _STATE_CHARS - 1])}&hellip;</code>'


def _when(unix: float | None) -> str:
    if not unix:
        return f"<span {_MUTED}>&mdash;</span>"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))
    return f'<span title="{_text(unix)}">{stamp}</span>'


def _row(member: _MemberShape, mark: str | None) -> str:
    cells = ""
    if mark is not None:
        symbol, style, title = _MARKS[mark]
        cells = f'<td style="{style};font-weight:bold" title="{title}">{symbol}</td>'
    return (
        f"<tr>{cells}<td><code>{_text(member.uuid)}</code></td><td>{_state(member.state)}</td>"
        f"<td>{_when(member.joined_at)}</td></tr>"
    )


def _head(marked: bool) -> str:
    first = "<th></th>" if marked else ""
    return (
        f'<tr>{first}<th style="text-align:left">uuid</th><th style="text-align:left">state</th>'
        '<th style="text-align:left">since (UTC)</th></tr>'
    )


def _note(text: str, columns: int) -> str:
    return f"<tr><td colspan={columns} {_MUTED}><i>{text}</i></td></tr>"


def _rows(
    groups: Iterable[tuple[str | None, Iterable[_MemberShape]]], columns: int, max_rows: int
) -> str:
    out: list[str] = []
    total = 0
    for mark, members in groups:
        for member in sorted(members, key=lambda m: m.uuid):
            total += 1
            if total <= max_rows:
                out.append(_row(member, mark))
    if total > max_rows:
        out.append(_note(f"&hellip; and {total - max_rows} more", columns))
    return "".join(out)


def roster_html(roster: _RosterShape, *, max_rows: int = MAX_ROWS) -> str:
    """An HTML table of a roster's members (sorted by uuid), with channel and occupancy.

    The caption tells the member count, the occupancy PubNub reported when it differs
    (members it did not name), and whether the roster is stale.
    """
    count = len(roster)
    caption = f"{_text(roster.channel)} &middot; {count} member{'' if count == 1 else 's'}"
    if roster.occupancy != count:
        caption += f" &middot; occupancy {roster.occupancy}"
    if roster.stale:
        caption += (
            f' &middot; <span style="color:#cf222e">stale since {_when(roster.stale_since)}</span>'
        )
    body = _rows([(None, roster)], 3, max_rows) or _note("nobody here", 3)
    return f"{_TABLE}{_CAPTION}{caption}</caption>{_head(False)}{body}</table>"


def diff_html(diff: _DiffShape, *, max_rows: int = MAX_ROWS) -> str:
    """An HTML table of a roster diff: joined (+), left (-) and updated (~) members."""
    counts = [
        f"{len(members)} {word}"
        for members, word in (
            (diff.joined, "joined"),
            (diff.left, "left"),
            (diff.updated, "updated"),
        )
        if members
    ]
    caption = " &middot; ".join(counts) or "no change"
    groups = (("+", diff.joined), ("-", diff.left), ("~", diff.updated))
    body = _rows(groups, 4, max_rows) if diff else ""
    head = _head(True) if diff else ""
    return f"{_TABLE}{_CAPTION}{caption}</caption>{head}{body}</table>"


def value_html(value: object) -> str:
    """HTML for any value: its own ``_repr_html_``, a table for a mapping, else its repr."""
    own = getattr(value, "_repr_html_", None)
    if callable(own) and not isinstance(value, type):
        rendered = own()
        if isinstance(rendered, str):
            return rendered
    if isinstance(value, Mapping) and value:
        rows = "".join(
            f'<tr><th style="text-align:left;vertical-align:top">{_text(k)}</th>'
            f"<td>{value_html(v)}</td></tr>"
            for k, v in value.items()
        )
        return f"{_TABLE}{rows}</table>"
    return f"<pre>{_text(repr(value))}</pre>"


def status_html(text: str, *, failed: bool = False) -> str:
    """A one-line status note, e.g. under a live view that stopped."""
    style = "color:#cf222e" if failed else "color:#6a737d"
    return f'<div style="{style};font-size:smaller">{_text(text)}</div>'
