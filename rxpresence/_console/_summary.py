"""The end-of-run summary, and the check of the watcher's rosters against the server.

:func:`compare` sets a roster the console built from events beside the server's
here-now answer for the same channel (uuids and states); :func:`wait_for_match`
repeats the comparison until every channel matches or a deadline passes, since the
last events may still be in flight (and a channel in interval mode only reports its
changes every few seconds). :func:`render_summary` renders a :class:`Summary`.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from rxpresence import Roster

from .._words import quantity
from ._model import state_text

__all__ = [
    "RosterCheck",
    "Summary",
    "compare",
    "print_summary",
    "render_summary",
    "summary_text",
    "wait_for_match",
]

State = Mapping[str, Any] | None
_ACTION_ORDER = ("join", "leave", "timeout", "state-change", "interval")


def _normal(state: State) -> Any:
    """A comparable form of a state: plain JSON values, and no state for ``{}``."""
    if not state:
        return None
    return json.loads(json.dumps(dict(state), sort_keys=True, default=str))


@dataclass(frozen=True, slots=True)
class RosterCheck:
    """One channel's final roster, and how it compares with the server.

    Attributes:
        channel: The channel.
        watcher: uuid -> state, as the watcher's roster has them.
        server: uuid -> state from the server's here-now, or None if not compared.
    """

    channel: str
    watcher: Mapping[str, State]
    server: Mapping[str, State] | None = None

    @property
    def missing(self) -> list[str]:
        """Uuids the server has and the watcher does not."""
        return sorted(set(self.server or {}) - set(self.watcher))

    @property
    def extra(self) -> list[str]:
        """Uuids the watcher has and the server does not."""
        if self.server is None:
            return []
        return sorted(set(self.watcher) - set(self.server))

    @property
    def state_differs(self) -> list[str]:
        """Uuids both have, with different states."""
        server = self.server or {}
        return sorted(
            u
            for u in set(self.watcher) & set(server)
            if _normal(self.watcher[u]) != _normal(server[u])
        )

    @property
    def matches(self) -> bool | None:
        """True or False once compared with the server, None otherwise."""
        if self.server is None:
            return None
        return not (self.missing or self.extra or self.state_differs)


def compare(roster: Roster, server: Mapping[str, State] | None) -> RosterCheck:
    """Set a watcher's roster beside the server's here-now answer.

    Args:
        roster: The watcher's roster of the channel.
        server: uuid -> state from the server, or None to skip the comparison.

    Returns:
        The check.
    """
    watcher = {m.uuid: m.state for m in roster}
    return RosterCheck(roster.channel, watcher, None if server is None else dict(server))


def wait_for_match(
    check: Callable[[], Sequence[RosterCheck]],
    timeout: float,
    *,
    poll: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], object] | None = None,
) -> tuple[list[RosterCheck], bool]:
    """Repeat ``check`` until every roster matches or ``timeout`` seconds passed.

    Args:
        check: Compares every channel once.
        timeout: Longest wait in seconds.
        poll: Seconds between two comparisons.
        clock: Monotonic clock.
        wait: Sleeps for the given seconds (interruptible by Ctrl-C by default).

    Returns:
        The last checks, and whether they all matched.
    """
    pause = wait or threading.Event().wait
    deadline = clock() + timeout
    while True:
        checks = list(check())
        if all(c.matches is not False for c in checks):
            return checks, True
        remaining = deadline - clock()
        if remaining <= 0:
            return checks, False
        pause(min(poll, remaining))


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run saw, for the lines printed at its end.

    Attributes:
        title: The command, e.g. ``"rxpresence demo"``.
        elapsed: Seconds the run lasted.
        counts: Events seen, by action.
        flickers: Flickers hidden by the grace period.
        grace: The grace period in seconds.
        checks: The final rosters, compared with the server or not.
        seed: The cast's seed, for the demo.
        interrupted: Whether Ctrl-C ended the run.
        facts: Further lines about the run (e.g. the size of the cast).
        notes: Problems met along the way.
    """

    title: str
    elapsed: float
    counts: Mapping[str, int]
    flickers: int
    grace: float
    checks: tuple[RosterCheck, ...]
    seed: int | None = None
    interrupted: bool = False
    facts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def compared(self) -> list[RosterCheck]:
        """The checks that were compared with the server."""
        return [c for c in self.checks if c.matches is not None]

    @property
    def ok(self) -> bool:
        """Whether no compared roster differed from the server."""
        return all(c.matches is not False for c in self.checks)


def render_summary(summary: Summary, *, names: int = 24) -> Group:
    """The summary, ready for ``console.print``.

    Args:
        summary: The summary.
        names: Most uuids listed per channel.

    Returns:
        A renderable: a few lines, a table of the final rosters, the verdict.
    """
    return Group(*_summary_parts(summary, names))


def _summary_parts(summary: Summary, names: int) -> list[RenderableType]:
    parts: list[RenderableType] = []
    head = Text(f"{summary.title}: ", style="bold")
    how = "stopped by Ctrl-C after" if summary.interrupted else "ran"
    head.append(f"{how} {summary.elapsed:.1f} s")
    if summary.seed is not None:
        head.append(f" (seed {summary.seed}: repeat with --seed {summary.seed})")
    parts.append(head)

    counts = summary.counts
    total = sum(counts.values())
    listed = [f"{a} {counts[a]}" for a in _ACTION_ORDER if counts.get(a)]
    listed += [f"{a} {n}" for a, n in sorted(counts.items()) if a not in _ACTION_ORDER and n]
    parts.append(Text(f"events seen: {total}" + (f" ({', '.join(listed)})" if listed else "")))
    if summary.grace > 0:
        parts.append(Text(f"flickers hidden: {summary.flickers} (grace {summary.grace:g} s)"))
    parts.extend(Text(fact) for fact in summary.facts)

    compared = summary.compared
    if summary.checks:
        parts.append(
            Text(
                "final rosters, watcher vs the server's here-now:" if compared else "final rosters:"
            )
        )
        parts.append(_roster_table(summary.checks, names))
    for check in summary.checks:
        if check.matches is False:
            parts.append(Text(f"  {check.channel}: {_problems(check)}", style="red"))
    for note in summary.notes:
        parts.append(Text(note, style="yellow"))
    if compared:
        bad = [c for c in compared if not c.matches]
        if bad:
            verdict = f"{len(bad)} of {quantity(len(compared), 'roster')} did not match the server"
            parts.append(Text(verdict, style="bold red"))
        else:
            matched = quantity(len(compared), "roster matches", "rosters match")
            parts.append(Text(f"all {matched} the server", style="bold green"))
    return parts


def summary_text(summary: Summary, width: int = 100) -> str:
    """The summary as plain text, ``width`` columns wide (for logs and tests).

    Args:
        summary: The summary.
        width: Columns to wrap at.

    Returns:
        The text.
    """
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        for part in _summary_parts(summary, names=24):
            # Lines stay whole (logs and grep); only the roster table wraps.
            console.print(part, highlight=False, soft_wrap=isinstance(part, Text))
    return "".join(line.rstrip() + "\n" for line in capture.get().splitlines())


def print_summary(console: Console, summary: Summary) -> None:
    """Print the summary: styled on a terminal, plain text without padding otherwise.

    Args:
        console: Where to print.
        summary: The summary.
    """
    if console.is_terminal:
        console.print(render_summary(summary), highlight=False)
    else:
        console.file.write(summary_text(summary, console.width))
        console.file.flush()


def _roster_table(checks: Sequence[RosterCheck], names: int) -> Table:
    compared = any(c.matches is not None for c in checks)
    table = Table.grid(padding=(0, 2), pad_edge=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("present", justify="right", no_wrap=True)
    if compared:
        table.add_column("verdict", no_wrap=True)
    table.add_column("members", ratio=1)
    for check in checks:
        members = sorted(check.watcher)
        shown = [_member_text(u, check.watcher[u]) for u in members[:names]]
        if len(members) > names:
            shown.append(f"… ({len(members)} in all)")
        verdict = Text("")
        if check.matches is True:
            verdict = Text("match", style="green")
        elif check.matches is False:
            verdict = Text("MISMATCH", style="bold red")
        listed = Text(", ".join(shown), style="cyan") if shown else Text("nobody", style="dim")
        cells = (verdict, listed) if compared else (listed,)
        table.add_row(f"  {check.channel}", f"{len(members)} present", *cells)
    return table


def _problems(check: RosterCheck) -> str:
    problems: list[str] = []
    if check.missing:
        problems.append(f"missing on the watcher: {', '.join(check.missing)}")
    if check.extra:
        problems.append(f"not on the server: {', '.join(check.extra)}")
    for uuid in check.state_differs:
        server = (check.server or {}).get(uuid)
        problems.append(
            f"{uuid}'s state: watcher {state_text(check.watcher[uuid]) or 'none'}, "
            f"server {state_text(server) or 'none'}"
        )
    return "; ".join(problems)


def _member_text(uuid: str, state: State) -> str:
    text = state_text(state, limit=30)
    return f"{uuid} ({text})" if text else uuid
