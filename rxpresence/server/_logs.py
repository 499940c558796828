"""Logging that a hostile client cannot turn against the server.

Two dangers, one fix each:

* **Volume.** aiohttp logs a request it cannot parse with the parser's error, which
  quotes the raw bytes received: a well-formed request followed by 128 KiB of garbage
  costs about 370 KB of log. :class:`BoundedLines`, a filter on the logger handed to
  aiohttp (:func:`http_logger`), turns every record into one line of bounded length
  without the traceback, and lets at most a few lines a second through, saying how
  many it dropped.
* **Blocking.** A handler writing to a pipe nobody reads blocks once the pipe is full
  (64 KiB), and with it the event loop that logged. :class:`NonBlockingStderr`, the
  handler of the ``serve`` command, only puts formatted lines in a bounded queue; a
  thread of its own writes them out, and lines that do not fit in the queue are
  dropped and counted.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["HTTP_LOGGER", "BoundedLines", "NonBlockingStderr", "http_logger"]

HTTP_LOGGER = "rxpresence.server.http"
"""Name of the logger the HTTP layer (aiohttp's request handler) logs to."""

# aiohttp's wording, and what the line says instead.
_RENAMED_PREFIXES = {"Error handling request from": "bad request from"}
# Never look at more of a message than this many times the line's length.
_READ_FACTOR = 4
_ELLIPSIS = "…"


class BoundedLines(logging.Filter):
    """Make every record one line of at most ``max_chars``, and rate-limit them.

    The exception a record carries is folded into its line (its type and the start of
    its message) and its traceback dropped. At most ``per_window`` records pass per
    ``window`` seconds; the first record after a window in which records were dropped
    says how many.

    Args:
        max_chars: Longest line kept (the note about dropped lines comes on top).
        per_window: Records let through per window.
        window: Length of a window, in seconds.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        *,
        max_chars: int = 240,
        per_window: int = 10,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.max_chars = max_chars
        self.per_window = per_window
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._passed = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` as one bounded line, or drop it when over the rate.

        Args:
            record: The record.

        Returns:
            Whether the record is logged.
        """
        note = self._admit()
        if note is None:
            return False
        line = self._one_line(record)
        record.msg = line + note
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True

    def _admit(self) -> str | None:
        """None to drop the record; else the note to append (empty if nothing was dropped)."""
        with self._lock:
            now = self._clock()
            note = ""
            elapsed = now - self._window_start
            if elapsed >= self.window:
                if self._dropped:
                    note = f" ({self._dropped} similar lines dropped in the last {elapsed:.1f} s)"
                self._window_start, self._passed, self._dropped = now, 0, 0
            if self._passed >= self.per_window:
                self._dropped += 1
                return None
            self._passed += 1
            return note

    def _one_line(self, record: logging.LogRecord) -> str:
        budget = self.max_chars * _READ_FACTOR
        text = _excerpt(record.msg if not record.args else record.getMessage(), budget)
        for prefix, renamed in _RENAMED_PREFIXES.items():
            if text.startswith(prefix):
                text = renamed + text[len(prefix) :]
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            # aiohttp's parser errors keep their text in .message; str() adds a header.
            detail = getattr(exc, "message", None)
            if not isinstance(detail, str):
                detail = str(exc)
            text = f"{text}: {type(exc).__name__}: {_excerpt(detail, budget)}"
        return _shorten(" ".join(text.split()), self.max_chars)


def _excerpt(value: object, budget: int) -> str:
    """The start of ``value`` as text, without reading past ``budget`` characters."""
    text = value if isinstance(value, str) else str(value)
    return text[:budget]


def _shorten(text: str, max_chars: int) -> str:
    """``text`` with non-printable characters escaped, cut to ``max_chars``."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(_ELLIPSIS)] + _ELLIPSIS


_bounded = BoundedLines()


def http_logger() -> logging.Logger:
    """The logger to give aiohttp's request handler, with :class:`BoundedLines` on it.

    Returns:
        The ``rxpresence.server.http`` logger.
    """
    logger = logging.getLogger(HTTP_LOGGER)
    if _bounded not in logger.filters:
        logger.addFilter(_bounded)
    return logger


class NonBlockingStderr(logging.Handler):
    """A handler for standard error that never makes the logging thread wait.

    ``emit`` formats the record and puts the line in a bounded queue; a daemon thread
    writes the queue to the file descriptor with ``os.write`` (no Python-level lock is
    held while it waits, so neither ``logging.shutdown`` nor the interpreter's exit can
    hang on it). When the queue is full the line is dropped, and the writer reports how
    many were dropped once it catches up.

    Args:
        fd: File descriptor to write to; standard error's by default.
        capacity: Lines the queue holds.
        close_timeout: Seconds :meth:`close` waits for queued lines to be written.
    """

    def __init__(self, fd: int | None = None, capacity: int = 1000, close_timeout: float = 1.0):
        super().__init__()
        self._fd = sys.stderr.fileno() if fd is None else fd
        self._queue: queue.Queue[str | None] = queue.Queue(capacity)
        self._close_timeout = close_timeout
        self.dropped = 0
        """Lines dropped so far because the queue was full."""
        self._thread = threading.Thread(
            target=self._write_forever, name="rxpresence-log-writer", daemon=True
        )
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record, or count it as dropped if the queue is full.

        Args:
            record: The record.
        """
        try:
            line = self.format(record) + "\n"
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
        except Exception:  # a record that cannot be formatted: never raise into the server
            self.dropped += 1

    def close(self) -> None:
        """Stop the writer after the lines already queued, waiting at most ``close_timeout``."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the writer is stuck on a full pipe: it is a daemon, let it be
        self._thread.join(self._close_timeout)
        super().close()

    def _write_forever(self) -> None:
        reported = 0
        while (line := self._queue.get()) is not None:
            dropped = self.dropped
            if dropped > reported:
                line = f"({dropped - reported} log lines dropped: standard error is slow)\n{line}"
                reported = dropped
            data = line.encode(errors="replace")
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
            except OSError:
                return  # standard error is gone: nothing more can be written
