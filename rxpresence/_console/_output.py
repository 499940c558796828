"""The three displays (live view, plain lines, JSON lines) and the loop driving one.

A display has ``tick()``, called a few times a second from the main thread, and
``close()``. Nothing is written from the SDK's threads: they only feed the model,
and the main thread turns the model into output. :func:`run_loop` ticks until a
deadline, a stop request or Ctrl-C.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

from rich.console import Console
from rich.live import Live

from ._lines import RosterTracker, event_json, plain_line, to_json_line
from ._model import ConsoleModel, EventRecord, FlickerRecord, NoticeRecord, ViewHeader
from ._view import render_view

__all__ = [
    "Display",
    "JsonDisplay",
    "LiveDisplay",
    "OutputClosed",
    "PlainDisplay",
    "quiet_sdk_logging",
    "run_loop",
]


class OutputClosed(BrokenPipeError):
    """The reader of our output went away (``| head``, a closed pipe)."""


class Display(Protocol):
    """Something that shows the model: ticked from the main thread, then closed."""

    def tick(self) -> None:
        """Bring the output up to date."""

    def close(self) -> None:
        """Write what is left and release the terminal."""


class LiveDisplay:
    """The live terminal view (``rich.live.Live``), redrawn on every tick.

    Args:
        console: The terminal.
        model: The model to show.
        header: The title line's facts.
    """

    def __init__(self, console: Console, model: ConsoleModel, header: ViewHeader) -> None:
        self._console = console
        self._model = model
        self._header = header
        self._live = Live(
            console=console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self._live.start()

    def set_header(self, header: ViewHeader) -> None:
        """Change the title line's facts from the next tick on."""
        self._header = header

    def tick(self) -> None:
        """Redraw the view from a fresh snapshot."""
        width, height = self._console.size
        state = self._model.snapshot(self._header, log_lines=height)  # at most a screenful
        self._live.update(render_view(state, width, height), refresh=True)

    def close(self) -> None:
        """Draw the last frame and leave it on the screen."""
        try:
            self.tick()
        finally:
            self._live.stop()


class PlainDisplay:
    """One plain-text line per event, flicker and notice.

    An interval event without names that repeats the previous one of its channel
    (same occupancy, nothing between) gets no line.

    Args:
        out: Where to write.
        model: The model, created with ``record=True``.
        start: Unix seconds the run started; lines show the seconds since.
    """

    def __init__(self, out: IO[str], model: ConsoleModel, start: float) -> None:
        self._out = out
        self._model = model
        self._start = start

    def tick(self) -> None:
        """Write the records that arrived since the last tick."""
        records = self._model.take_records()
        # A repeated interval without names says nothing new (see ConsoleModel).
        shown = [r for r in records if not (isinstance(r, EventRecord) and r.repeat)]
        lines = [plain_line(r, self._start) for r in shown]
        _write(self._out, lines)

    def close(self) -> None:
        """Write what is left."""
        self.tick()


class JsonDisplay:
    """JSON lines: events and roster changes on ``out``, notices on ``err``.

    Roster lines are emitted after the events of the same tick, once per channel
    whose roster (flicker-suppressed if a grace period is set) changed.

    Args:
        out: Where the JSON lines go.
        err: Where connection notices and errors go, as ``prog: text`` lines.
        model: The model, created with ``record=True``.
        prog: The prefix of notice lines.
    """

    def __init__(self, out: IO[str], err: IO[str], model: ConsoleModel, prog: str) -> None:
        self._out = out
        self._err = err
        self._model = model
        self._prog = prog
        self._rosters = RosterTracker()

    def tick(self) -> None:
        """Write the events and roster changes since the last tick."""
        lines: list[str] = []
        notices: list[str] = []
        for record in self._model.take_records():
            if isinstance(record, EventRecord):
                lines.append(to_json_line(event_json(record.event)))
            elif isinstance(record, NoticeRecord):
                notices.append(f"{self._prog}: {record.kind}: {record.text}")
            elif isinstance(record, FlickerRecord):
                pass  # visible as a timeout then a join, with no roster change between
        lines += [to_json_line(r) for r in self._rosters.changes(self._model.shown_rosters())]
        _write(self._out, lines)
        if notices:
            _write(self._err, notices)

    def close(self) -> None:
        """Write what is left."""
        self.tick()


def _write(out: IO[str], lines: list[str]) -> None:
    if not lines:
        return
    try:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


def run_loop(
    tick: Callable[[], None],
    *,
    until: float | None,
    stop: threading.Event,
    period: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Call ``tick`` every ``period`` seconds until ``until``, ``stop`` or Ctrl-C.

    Args:
        tick: What to do on each tick.
        until: Monotonic deadline, or None to run until stopped.
        stop: Ends the loop when set (from any thread).
        period: Seconds between ticks.
        clock: Monotonic clock.

    Returns:
        True if Ctrl-C ended the loop, False otherwise.
    """
    try:
        while True:
            tick()
            if stop.is_set():
                return False
            now = clock()
            if until is not None and now >= until:
                return False
            wait = period if until is None else min(period, until - now)
            stop.wait(max(wait, 0.0))
    except KeyboardInterrupt:
        return True


def quiet_sdk_logging() -> None:
    """Keep the SDK's log records off the terminal.

    The SDK logs every failed request at error level; with no handler configured,
    Python would print them over the live view. The console reports connection
    trouble from the SDK's statuses instead.
    """
    logger = logging.getLogger("pubnub")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
