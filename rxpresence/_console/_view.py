"""The live view: rich renderables built from a :class:`ViewState` snapshot.

:func:`render_view` lays out, for a terminal of a given size, a title line, one panel
per channel (occupancy as PubNub reports it next to the flicker-suppressed one, events
per second, flickers hidden, and the roster: uuid, state, time present), a line
explaining the smoothed occupancy, the newest log lines (as many as the height left
by the panels allows) and a totals line. Everything here is a pure function of the snapshot, so
tests render it into a string with ``Console(file=io.StringIO(), width=..., ...)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._words import quantity
from ._model import ChannelView, LogLine, MemberView, ViewState, state_text

__all__ = ["ACTION_STYLES", "Layout", "layout_for", "render_view", "since_text"]

ACTION_STYLES: Mapping[str, str] = {
    "join": "green",
    "leave": "yellow",
    "timeout": "red",
    "state-change": "cyan",
    "interval": "magenta",
    "flicker": "blue",
    "status": "bright_black",
    "error": "bold red",
}
"""The colour of each log action (leave and timeout are told apart)."""

_PANEL_WIDTH = 26  # narrowest channel panel that still shows uuid, state and time
_WIDE_PANEL = 40  # from this width on, panels show full states and longer labels
_PADDED_PANEL = 30  # from this width on, panels have a space inside their borders
_PANEL_OVERHEAD = 4  # two borders, the occupancy line and the table header
_ACTION_ORDER = ("join", "leave", "timeout", "state-change", "interval")


@dataclass(frozen=True, slots=True)
class Layout:
    """How a snapshot is fitted into the terminal.

    Attributes:
        columns: Channel panels per row.
        panel_rows: Rows of channel panels shown.
        member_rows: Roster lines per channel panel.
        log_rows: Log lines shown.
    """

    columns: int
    panel_rows: int
    member_rows: int
    log_rows: int


def layout_for(
    roster_sizes: Sequence[int], width: int, height: int, *, legend: bool = False
) -> Layout:
    """Fit the channel panels, the legend and the log into a ``width`` x ``height`` terminal.

    The log gets a share of the height first (a quarter, 3 to 12 lines); the panels
    may use the rest, but are only as tall as their rosters, and whatever they leave
    goes to the log too.

    Args:
        roster_sizes: How many members each channel's panel lists, in order.
        width: Terminal columns.
        height: Terminal lines.
        legend: Whether a legend line is shown between the panels and the log.

    Returns:
        The layout; channel panels that do not fit are left out.
    """
    # Title, totals, the legend and one spare line for the cursor.
    avail = max(height - 3 - legend, 8)
    channels = len(roster_sizes)
    columns = max(1, min(max(channels, 1), width // _PANEL_WIDTH))
    rows_needed = math.ceil(channels / columns) if channels else 0
    least_log_rows = min(max(avail // 4, 3), 12)
    panel_space = avail - least_log_rows - 2
    panel_rows = min(rows_needed, max(1, panel_space // (_PANEL_OVERHEAD + 1)))
    per_row = panel_space // panel_rows if panel_rows else 0
    member_rows = max(1, per_row - _PANEL_OVERHEAD)
    panels_height = sum(
        _PANEL_OVERHEAD
        + min(max(*roster_sizes[row * columns : (row + 1) * columns], 1), member_rows)
        for row in range(panel_rows)
    )
    if not channels:
        panels_height = 1  # the "waiting for presence events" line
    log_rows = max(least_log_rows, avail - panels_height - 2)  # 2: the log's borders
    return Layout(columns, panel_rows, member_rows, log_rows)


def render_view(state: ViewState, width: int, height: int) -> RenderableType:
    """The whole live view.

    Args:
        state: The snapshot to show.
        width: Terminal columns.
        height: Terminal lines; the view never takes more than ``height - 1``.

    Returns:
        A renderable.
    """
    legend = state.grace > 0 and bool(state.channels)
    layout = layout_for([len(c.members) for c in state.channels], width, height, legend=legend)
    parts: list[RenderableType] = [_title(state, width)]
    shown = layout.columns * layout.panel_rows
    if state.channels:
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in range(layout.columns):
            grid.add_column(ratio=1)
        panel_width = (width - layout.columns + 1) // layout.columns
        panels = [
            _channel_panel(c, state, layout.member_rows, panel_width)
            for c in state.channels[:shown]
        ]
        for start in range(0, len(panels), layout.columns):
            row: list[RenderableType] = list(panels[start : start + layout.columns])
            row += [Text("")] * (layout.columns - len(row))
            grid.add_row(*row)
        parts.append(grid)
    else:
        parts.append(Text("waiting for presence events…", style="dim"))
    if legend:
        parts.append(_smoothed_legend(state.grace, width))
    parts.append(_log_panel(state.log, layout.log_rows))
    parts.append(_totals(state, width, hidden=max(0, len(state.channels) - shown)))
    return Group(*parts)


def since_text(now: float, joined_at: int) -> str:
    """How long a member has been present: ``"42s"``, ``"3m05s"``, ``"2h03m"``.

    Args:
        now: Unix seconds now.
        joined_at: Unix seconds of the join; 0 or less when unknown.

    Returns:
        The text, or ``""`` when the join time is unknown.
    """
    if joined_at <= 0:
        return ""
    seconds = max(0, int(now - joined_at))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _fit(parts: list[tuple[str, str, bool]], width: int) -> Text:
    """Join ``(text, style, optional)`` parts, leaving out optional ones that do not fit.

    Optional parts are dropped from the last one backwards until the line fits.
    """
    kept = list(parts)
    while sum(len(t) for t, _, _ in kept) > width:
        optional = [i for i, (_, _, o) in enumerate(kept) if o]
        if not optional:
            break
        del kept[optional[-1]]
    text = Text(no_wrap=True, overflow="ellipsis")
    for part, style, _ in kept:
        text.append(part, style=style)
    return text


def _title(state: ViewState, width: int) -> Text:
    header = state.header
    if header.duration is not None:
        clock = f" · {min(state.elapsed, header.duration):.0f}/{header.duration:.0f} s"
    else:
        clock = f" · {state.elapsed:.0f} s"
    parts: list[tuple[str, str, bool]] = [
        (header.title, "bold", False),
        (f" · {header.where}", "dim", True),
        *((f" · {note}", "dim", True) for note in header.notes),
        (clock, "", False),
        (" · ", "", False),
        ("● " + state.connection, "green" if state.connected else "yellow", False),
    ]
    if state.grace > 0:
        parts.append((f" · grace {state.grace:g} s", "dim", True))
    return _fit(parts, width)


def _channel_panel(channel: ChannelView, state: ViewState, rows: int, width: int) -> Panel:
    wide = width >= _WIDE_PANEL
    title = Text(f" {channel.name} ", style="bold")
    if channel.interval_mode:
        title.append("interval ", style="magenta")
    if channel.stale:
        title.append("stale ", style="red")
    info = Text(no_wrap=True, overflow="ellipsis")
    occupancy = "-" if channel.occupancy is None else str(channel.occupancy)
    if state.grace > 0:
        smoothed = "-" if channel.smoothed is None else str(channel.smoothed)
        held = channel.smoothed is not None and channel.smoothed != channel.occupancy
        info.append("occupancy: PubNub " if wide else "PubNub ", style="dim")
        info.append(occupancy, style="bold")
        info.append(" │ ", style="dim")
        info.append("smoothed ", style="dim")
        info.append(smoothed, style="bold blue" if held else "bold")
    else:
        info.append("occupancy ", style="dim")
        info.append(occupancy, style="bold")
    subtitle = Text(f" {channel.rate:.1f}{' ev/s' if wide else '/s'} ", style="dim")
    if state.grace > 0:
        subtitle.append(
            f"· {quantity(channel.flickers, 'flicker')}{' hidden' if wide else ''} ",
            style="blue" if channel.flickers else "dim",
        )
    table = Table(
        box=None,
        expand=True,
        show_header=True,
        header_style="dim",
        pad_edge=False,
        padding=(0, 1),
    )
    table.add_column("uuid", ratio=4, no_wrap=True, overflow="ellipsis")
    table.add_column("state", ratio=5, no_wrap=True, overflow="ellipsis")
    table.add_column("since", justify="right", no_wrap=True, min_width=4)
    members = channel.members
    if not members:
        table.add_row(Text("nobody", style="dim"), "", "")
    visible = members if len(members) <= rows else members[: max(rows - 1, 0)]
    for member in visible:
        table.add_row(*_member_cells(member, state.now, wide))
    if len(visible) < len(members):
        table.add_row(Text(f"+{len(members) - len(visible)} more", style="dim"), "", "")
    return Panel(
        Group(info, table),
        title=title,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        box=box.ROUNDED,
        padding=(0, 1) if width >= _PADDED_PANEL else (0, 0),
    )


def _smoothed_legend(grace: float, width: int) -> Text:
    """What "smoothed" means, in one line under the panels."""
    return _fit(
        [
            ("smoothed", "bold", False),
            (
                f": PubNub's occupancy, but a member that times out stays counted for the "
                f"{grace:g} s grace period",
                "dim",
                False,
            ),
            ("; back within it, it never left (a hidden flicker)", "dim", True),
        ],
        width,
    )


def _member_cells(member: MemberView, now: float, wide: bool) -> tuple[Text, Text, Text]:
    if member.held:
        return (
            Text(member.uuid, style="dim italic"),
            Text("timed out, in grace", style="dim italic"),
            Text("held", style="blue"),
        )
    return (
        Text(member.uuid),
        Text(state_text(member.state, compact=not wide), style="cyan"),
        Text(since_text(now, member.joined_at), style="dim"),
    )


def _log_panel(entries: tuple[LogLine, ...], rows: int) -> Panel:
    table = Table(box=None, expand=True, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column("time", no_wrap=True, style="dim", width=8)
    table.add_column("channel", no_wrap=True, overflow="ellipsis", max_width=14)
    table.add_column("action", no_wrap=True, width=12)
    table.add_column("who", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("occ", no_wrap=True, width=6, style="dim")
    table.add_column("detail", no_wrap=True, overflow="ellipsis", ratio=1)
    shown = entries[-rows:] if rows > 0 else ()
    for entry in shown:
        style = ACTION_STYLES.get(entry.action, "")
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(entry.wall)),
            entry.channel,
            Text(entry.action, style=style),
            entry.who,
            "" if entry.occupancy is None else f"occ {entry.occupancy}",
            Text(entry.detail, style="dim" if entry.action != "error" else style),
        )
    for _ in range(rows - len(shown)):
        table.add_row("", "", "", "", "", "")
    return Panel(table, title=" events ", title_align="left", box=box.ROUNDED, padding=(0, 1))


def _totals(state: ViewState, width: int, hidden: int) -> Text:
    counts = state.counts
    parts: list[tuple[str, str, bool]] = [(quantity(sum(counts.values()), "event"), "bold", False)]
    shown = [a for a in _ACTION_ORDER if counts.get(a)]
    for i, action in enumerate(shown):
        label = "state" if action == "state-change" else action
        parts.append((": " if i == 0 else " · ", "dim", False))
        parts.append((f"{label} {counts[action]}", ACTION_STYLES[action], False))
    if state.grace > 0:
        parts.append((f" │ {quantity(state.flickers, 'flicker')} hidden", "blue", False))
    if hidden:
        parts.append((f" │ {quantity(hidden, 'more channel')} not shown", "yellow", False))
    parts.append((" │ Ctrl-C to stop", "dim", True))
    return _fit(parts, width)
