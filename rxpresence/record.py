"""Record presence events to JSON Lines files and play them back as observables.

A recording is a text file with one JSON object per line: the offset ``t`` in seconds
since the recording started, read from the scheduler's clock, and the event as
:meth:`PresenceEvent.to_dict` writes it::

    {"t":12.5,"event":{"action":"join","channel":"lobby","occupancy":3,...}}

Files whose name ends in ``.gz`` are gzip-compressed. The pieces:

* :func:`record` subscribes to a live stream (or anything with an ``.events``
  observable, such as :class:`~rxpresence.PresenceStreams`) and writes each event as it
  arrives, flushing line by line; it returns a :class:`Recording` to stop it with.
* :func:`write_events` writes ``(offset, event)`` pairs, e.g. a
  :class:`~rxpresence.simulate.Simulation`, without any stream.
* :func:`read_events` reads a file back into ``(offset, event)`` pairs, and
  :func:`replay` plays it as an ``Observable[PresenceEvent]``: at the recorded pace, sped
  up, in virtual time on a ``TestScheduler``, or all at once.

Bad lines:
    A line that is not valid UTF-8 or valid JSON, is longer than 4 MiB
    (:data:`MAX_LINE_LENGTH`), is not an object, lacks a valid ``t`` or holds an event
    that :class:`~rxpresence.PresenceEventError` rejects is skipped and reported as a
    :class:`BadLine` (line number, reason, the start of the line) to the
    ``on_bad_line`` callback. Without a callback, one :class:`BadLineWarning` per file
    lists them. Blank lines are ignored; no other line is lost. A file that ends early
    (a gzip recording cut short by a crash: the writer flushes every line, so every
    complete line can still be read) or cannot be read to its end gives every line up
    to that point and one more :class:`BadLine` saying where and why it stopped.

Example:
    >>> import io
    >>> from rxpresence.simulate import simulate
    >>> buffer = io.StringIO()
    >>> written = write_events(simulate(duration=60, seed=1), buffer)
    >>> _ = buffer.seek(0)
    >>> len(read_events(buffer)) == written
    True
"""

from __future__ import annotations

import gzip
import json
import math
import os
import threading
import warnings
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from reactivex import Observable, abc
from reactivex.scheduler import TimeoutScheduler

from ._event import PresenceEvent, PresenceEventError
from ._limits import excerpt
from .simulate import timed_observable

__all__ = [
    "MAX_LINE_LENGTH",
    "BadLine",
    "BadLineWarning",
    "Recording",
    "read_events",
    "record",
    "replay",
    "write_events",
]

PathOrFile = str | os.PathLike[str] | IO[str]
"""A file name, or a text file opened by the caller (left open)."""

MAX_LINE_LENGTH = 4 * 1024 * 1024
"""Longest line :func:`read_events` reads, in bytes (characters for a text file object).

An event within the limits (state at most 32 KiB, names at most 2,048 characters)
takes a few dozen KiB at most; a longer line is skipped without being held in memory.
"""

_SHOWN_CHARS = 1000  # how much of a bad line BadLine.text keeps


class BadLine(NamedTuple):
    """A line of a recording that was skipped.

    Attributes:
        line: Its 1-based line number.
        message: Why it was skipped, e.g. ``t is missing``.
        text: The line itself, without its line break, cut to its first 1,000
            characters (undecodable bytes shown as U+FFFD); empty when the file ended
            or failed before the line could be read.
    """

    line: int
    message: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class BadLineWarning(UserWarning):
    """Lines of a recording were skipped and no ``on_bad_line`` callback was given."""


def _open(target: str | os.PathLike[str], mode: str) -> IO[str]:
    path = Path(target)
    if path.suffix == ".gz":
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8", errors="replace"))
    return open(path, mode, encoding="utf-8", errors="replace")


def _open_bytes(target: str | os.PathLike[str]) -> IO[bytes]:
    # Read as bytes and decode line by line: an undecodable line is then reported,
    # not read with replacement characters (which could pass as a uuid).
    path = Path(target)
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _line(t: float, event: PresenceEvent) -> str:
    record = {"t": t, "event": event.to_dict()}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


# -- writing ----------------------------------------------------------------------------


class Recording(abc.DisposableBase):
    """A running recording, as returned by :func:`record`.

    Dispose it (or leave its ``with`` block) to stop recording and close the file; it
    also stops when the source completes or fails. Writing never raises into the
    source: a value that is not a :class:`~rxpresence.PresenceEvent`, or a failed write,
    ends the recording and is kept in :attr:`error`.

    Attributes:
        path: The file written, or None when writing to a file object.
        count: Events written so far.
        done: Whether the recording has stopped.
        error: Why it stopped early (the source's error or a write error), or None.
    """

    path: Path | None
    count: int
    done: bool
    error: BaseException | None

    def __init__(
        self,
        source: Observable[PresenceEvent],
        target: PathOrFile,
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self._lock = threading.RLock()
        if isinstance(target, str | os.PathLike):
            self.path = Path(target)
            self._file: IO[str] = _open(target, "w")
            self._owned = True
        else:
            self.path = None
            self._file = target
            self._owned = False
        self.count = 0
        self.done = False
        self.error = None
        self._scheduler = scheduler or TimeoutScheduler.singleton()  # the clock
        self._origin = self._scheduler.now
        self._subscription: abc.DisposableBase | None = None
        subscription = source.subscribe(
            self._on_next, self._on_error, self._on_completed, scheduler=scheduler
        )
        with self._lock:
            if self.done:
                subscription.dispose()
            else:
                self._subscription = subscription

    def _on_next(self, event: PresenceEvent) -> None:
        with self._lock:
            if self.done:
                return
            try:
                if not isinstance(event, PresenceEvent):
                    raise TypeError(f"can only record PresenceEvent values, got {event!r}")
                t = (self._scheduler.now - self._origin).total_seconds()
                self._file.write(_line(round(t, 6), event))
                self._file.flush()
            except Exception as error:
                self._stop(error)
                return
            self.count += 1

    def _on_error(self, error: Exception) -> None:
        self._stop(error)

    def _on_completed(self) -> None:
        self._stop(None)

    def _stop(self, error: BaseException | None) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
            self.error = error
            subscription, self._subscription = self._subscription, None
            try:
                if self._owned:
                    self._file.close()
                else:
                    self._file.flush()
            except Exception as close_error:
                self.error = self.error or close_error
        if subscription is not None:
            subscription.dispose()

    def dispose(self) -> None:
        """Stop recording and close the file (a file object passed in is left open)."""
        self._stop(None)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "file object"
        status = "recording" if not self.done else "failed" if self.error else "done"
        return f"Recording({where!r}, {self.count} events, {status})"


def record(
    source: Observable[PresenceEvent] | Any,
    target: PathOrFile,
    *,
    scheduler: abc.SchedulerBase | None = None,
) -> Recording:
    """Write every event of ``source`` to a JSON Lines file as it arrives.

    Args:
        source: An ``Observable[PresenceEvent]``, or an object with an ``events``
            observable attribute (e.g. a :class:`~rxpresence.PresenceStreams`).
        target: A file name (created or truncated; ``.gz`` compresses) or a text file
            object, which is flushed after every line and left open.
        scheduler: Whose clock gives the offsets, also passed on to ``subscribe``; a
            ``TestScheduler`` records virtual time. Defaults to the real clock (and to
            nothing passed on).

    Returns:
        The running :class:`Recording`; dispose it to stop. It is also a context manager.

    Raises:
        TypeError: ``source`` is neither an observable nor has an ``events`` observable.
        OSError: The file cannot be opened.

    Example:
        >>> import io
        >>> from reactivex.testing import TestScheduler
        >>> from rxpresence.simulate import simulated_events
        >>> ts, out = TestScheduler(), io.StringIO()
        >>> recording = record(simulated_events(duration=30, seed=2, scheduler=ts), out,
        ...                    scheduler=ts)
        >>> _ = ts.start()
        >>> recording.done, recording.count == len(out.getvalue().splitlines())
        (True, True)
    """
    observable = source if isinstance(source, Observable) else getattr(source, "events", None)
    if not isinstance(observable, Observable):
        raise TypeError(
            "record() needs an Observable[PresenceEvent] or an object with an `events`"
            f" observable, got {source!r}"
        )
    return Recording(observable, target, scheduler)


def write_events(events: Iterable[tuple[float, PresenceEvent]], target: PathOrFile) -> int:
    """Write ``(offset, event)`` pairs to a JSON Lines file, with no stream involved.

    Args:
        events: The pairs, e.g. a :class:`~rxpresence.simulate.Simulation` or the result
            of :func:`read_events`.
        target: A file name (created or truncated; ``.gz`` compresses) or a text file
            object, left open.

    Returns:
        How many events were written.

    Example:
        >>> import io
        >>> from rxpresence import PresenceEvent
        >>> out = io.StringIO()
        >>> write_events([(1.5, PresenceEvent("join", "lobby", "ada", occupancy=1))], out)
        1
        >>> out.getvalue()
        '{"t":1.5,"event":{"action":"join","channel":"lobby","occupancy":1,"timestamp":0,"timetoken":0,"uuid":"ada"}}\\n'
    """
    if isinstance(target, str | os.PathLike):
        with _open(target, "w") as file:
            return write_events(events, file)
    count = 0
    for t, event in events:
        target.write(_line(t, event))
        count += 1
    target.flush()
    return count


# -- reading ----------------------------------------------------------------------------


def _parse(number: int, text: str) -> tuple[float, PresenceEvent] | BadLine:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return _bad(number, f"invalid JSON: {error.msg} at column {error.colno}", text)
    except ValueError as error:  # e.g. an int of more than 4,300 digits
        return _bad(number, f"invalid JSON: {str(error).split(';')[0]}", text)
    except RecursionError:  # json recurses once per level of nesting
        return _bad(number, "invalid JSON: nested too deep", text)
    if not isinstance(data, dict):
        return _bad(number, f"expected a JSON object, got {type(data).__name__}", text)
    if "t" not in data:
        return _bad(number, "t is missing", text)
    t = data["t"]
    if not _is_offset(t):
        return _bad(number, f"t must be a finite number >= 0, got {excerpt(t)}", text)
    if "event" not in data:
        return _bad(number, "event is missing", text)
    try:
        event = PresenceEvent.from_dict(data["event"])
    except PresenceEventError as error:
        return _bad(number, f"bad event: {error}", text)
    return float(t), event


def _is_offset(t: object) -> bool:
    if not isinstance(t, int | float) or isinstance(t, bool):
        return False
    try:
        return math.isfinite(t) and t >= 0
    except OverflowError:  # an int too large for a float
        return False


def _bad(number: int, message: str, text: str) -> BadLine:
    return BadLine(number, message, text[:_SHOWN_CHARS])


def read_events(
    source: PathOrFile | IO[bytes],
    *,
    on_bad_line: Callable[[BadLine], None] | None = None,
) -> list[tuple[float, PresenceEvent]]:
    """Read a recording into ``(offset, event)`` pairs, in file order.

    Args:
        source: A file name (``.gz`` is decompressed) or a file object (text, or
            binary holding UTF-8).
        on_bad_line: Called with a :class:`BadLine` for each line skipped, and for a
            file that ends early or fails while being read. Without it, one
            :class:`BadLineWarning` lists them.

    Returns:
        The events of every good line.

    Raises:
        OSError: The file cannot be opened.

    Example:
        >>> import io
        >>> lines = io.StringIO('{"t": 0.5, "event": {"action": "join", "channel": "a",'
        ...                     ' "uuid": "u"}}\\nnot json\\n')
        >>> skipped = []
        >>> [(t, e.uuid) for t, e in read_events(lines, on_bad_line=skipped.append)]
        [(0.5, 'u')]
        >>> [str(bad) for bad in skipped]
        ['line 2: invalid JSON: Expecting value at column 1']
    """
    if isinstance(source, str | os.PathLike):
        with _open_bytes(source) as file:
            return _read(file, str(source), on_bad_line)
    return _read(source, getattr(source, "name", "<file>"), on_bad_line)


def _read(
    file: IO[str] | IO[bytes], name: object, on_bad_line: Callable[[BadLine], None] | None
) -> list[tuple[float, PresenceEvent]]:
    events: list[tuple[float, PresenceEvent]] = []
    bad: list[BadLine] = []
    for parsed in _parsed_lines(file):
        if isinstance(parsed, BadLine):
            if on_bad_line is None:
                bad.append(parsed)
            else:
                on_bad_line(parsed)
        else:
            events.append(parsed)
    if bad:
        listed = "; ".join(str(b) for b in bad[:5])
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        warnings.warn(
            f"{name}: skipped {len(bad)} bad line(s): {listed}{more}",
            BadLineWarning,
            stacklevel=3,
        )
    return events


# A compressed file cut short ends in EOFError; corrupt data raises zlib.error or
# gzip.BadGzipFile (an OSError, as is a failing disk); a text file object opened with
# strict decoding raises UnicodeDecodeError, after which it cannot be read on.
_READ_ERRORS = (EOFError, OSError, zlib.error, UnicodeDecodeError)


def _parsed_lines(
    file: IO[str] | IO[bytes],
) -> Iterable[tuple[float, PresenceEvent] | BadLine]:
    """Each non-blank line of ``file`` parsed, or the BadLine that says why it is not.

    Lines are read at most :data:`MAX_LINE_LENGTH` at a time, so a longer one is
    skipped without being held in memory whole.
    """
    number = 0
    while True:
        number += 1
        try:
            raw: str | bytes = file.readline(MAX_LINE_LENGTH + 1)
            too_long = len(raw) > MAX_LINE_LENGTH
            if too_long:
                _skip_rest_of_line(file, raw)
        except _READ_ERRORS as error:
            yield BadLine(number, f"the file ends here, unread: {_reason(error)}", "")
            return
        if not raw:
            return
        if too_long:
            yield _bad(number, f"longer than {MAX_LINE_LENGTH} bytes", _shown(raw))
            continue
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                reason = f"invalid UTF-8 at byte {error.start + 1}"
                yield _bad(number, reason, _shown(raw).rstrip("\r\n"))
                continue
        else:
            text = raw
        text = text.rstrip("\r\n")
        if text.strip():
            yield _parse(number, text)


def _skip_rest_of_line(file: IO[str] | IO[bytes], start: str | bytes) -> None:
    end = "\n" if isinstance(start, str) else b"\n"
    chunk = start
    while chunk and not chunk.endswith(end):  # type: ignore[arg-type]
        chunk = file.readline(MAX_LINE_LENGTH)


def _shown(raw: str | bytes) -> str:
    """The start of a line for BadLine.text, decodable or not."""
    if isinstance(raw, str):
        return raw[:_SHOWN_CHARS]
    return raw[: _SHOWN_CHARS * 4].decode("utf-8", "replace")[:_SHOWN_CHARS]


def _reason(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "the compressed data stops short (the file was cut, e.g. by a crash)"
    return f"{type(error).__name__}: {excerpt(str(error))}"


def replay(
    source: PathOrFile | IO[bytes],
    *,
    speed: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    on_bad_line: Callable[[BadLine], None] | None = None,
) -> Observable[PresenceEvent]:
    """Play a recording back as a cold ``Observable[PresenceEvent]``.

    The file is read once, when ``replay`` is called (so bad lines are reported then);
    every subscription plays the same events.

    Args:
        source: A file name or a file object, as for :func:`read_events`.
        speed: None (the default) emits every event at once on subscription; 1.0 plays
            each at its recorded offset after subscription, 10.0 ten times faster. On a
            ``TestScheduler`` (whose clock counts seconds) ``speed=1.0`` puts the events
            at their recorded offsets in virtual time.
        scheduler: Where to schedule the events; defaults to the scheduler given to
            ``subscribe``, then to ``TimeoutScheduler`` (or ``CurrentThreadScheduler``
            when ``speed`` is None).
        on_bad_line: As for :func:`read_events`.

    Returns:
        The events, completing after the last one.

    Raises:
        ValueError: ``speed`` is not None or a finite number > 0.
        OSError: The file cannot be opened.

    Example:
        >>> import io
        >>> from reactivex.testing import TestScheduler
        >>> lines = io.StringIO('{"t": 2.5, "event": {"action": "join", "channel": "a",'
        ...                     ' "uuid": "u"}}\\n')
        >>> ts = TestScheduler()
        >>> got = ts.start(lambda: replay(lines, speed=1.0, scheduler=ts))
        >>> [(m.time, m.value.kind) for m in got.messages]
        [(202.5, 'N'), (202.5, 'C')]
    """
    events = read_events(source, on_bad_line=on_bad_line)
    return timed_observable(events, speed=speed, scheduler=scheduler)
