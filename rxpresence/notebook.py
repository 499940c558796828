"""Exploring presence in Jupyter: live views of streams, and events as DataFrames.

* :func:`show` keeps one output area up to date with the latest value of a stream (a
  roster, an occupancy count, anything), a few times a second at most. Re-running the
  cell replaces the previous view instead of leaving it running; :func:`stop_all` stops
  every view.
* :func:`to_dataframe` turns events, or ``(offset, event)`` pairs from
  :mod:`rxpresence.simulate` and :mod:`rxpresence.record`, into a pandas DataFrame for
  timelines and plots.

Rosters and roster diffs render as HTML tables on their own (``_repr_html_``).

pandas and IPython come with the ``notebook`` extra: ``pip install "rxpresence[notebook]"``.
Outside IPython, :func:`show` prints each update as text instead, which keeps scripts
and terminals useful.

Example:
    >>> from rxpresence.simulate import simulate
    >>> sim = simulate(duration=600, seed=1)
    >>> frame = to_dataframe(sim)
    >>> lobby = frame[frame.channel == "lobby"].set_index("time")["occupancy"]
    >>> int(lobby.iloc[-1]) == sim.occupancy("lobby", 600.0)  # lobby.plot() draws it
    True

    In a notebook, follow a roster live::

        view = show(presence.roster("lobby"))   # one output area, redrawn in place
        view.dispose()                          # or re-run the cell
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable
from reactivex.scheduler import TimeoutScheduler

from ._event import PresenceEvent
from ._html import status_html, value_html
from ._words import quantity

if TYPE_CHECKING:
    import pandas

__all__ = ["COLUMNS", "LiveView", "show", "stop_all", "to_dataframe"]

_INSTALL = 'pip install "rxpresence[notebook]"'


# -- live views -------------------------------------------------------------------------


class _Frame:
    """What a live view displays: the latest value and, once stopped, a status line."""

    __slots__ = ("failed", "repeat", "status", "value")

    def __init__(
        self, value: object, status: str = "", failed: bool = False, repeat: bool = False
    ) -> None:
        self.value = value
        self.status = status
        self.failed = failed
        self.repeat = repeat  # the value is the one drawn last time

    def _repr_html_(self) -> str:
        body = value_html(self.value) if self.value is not _NOTHING else ""
        return body + (status_html(self.status, failed=self.failed) if self.status else "")

    def __repr__(self) -> str:
        body = repr(self.value) if self.value is not _NOTHING else ""
        status = f"[{self.status}]" if self.status else ""
        return "\n".join(part for part in (body, status) if part)


class _Text(str):
    """A string ``render`` returned: shown as text, not as a Python value in quotes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self)}</pre>"


class _Nothing:
    def __repr__(self) -> str:
        return "<nothing yet>"


_NOTHING: Any = _Nothing()


class _Output(Protocol):
    def update(self, obj: Any) -> None: ...


class _Printer:
    """The output of a live view outside IPython: each update printed as text."""

    def update(self, obj: Any) -> None:
        if isinstance(obj, _Frame) and obj.repeat and obj.status:
            print(f"[{obj.status}]", flush=True)  # the value is on screen already
        else:
            print(repr(obj), flush=True)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _open_output() -> _Output:
    """One display area, reserved now in the running cell, updated in place later."""
    if not _in_ipython():
        return _Printer()
    import IPython.display

    display: Callable[..., Any] = IPython.display.display
    handle: _Output = display(_Frame(_NOTHING, "waiting for the first value"), display_id=True)
    return handle


_views: dict[Hashable, LiveView] = {}
_views_lock = threading.Lock()


class LiveView(abc.DisposableBase):
    """A running :func:`show`: one output area following a stream.

    Dispose it to stop following; it stops by itself when the stream completes or
    fails, or when ``show`` is called again with the same key. The last value stays
    on display, with a status line saying why the view stopped.

    Evaluating a view in a cell displays nothing more: its output area is the live one.

    Attributes:
        key: The registry key (``show``'s ``key``, or the source's id).
        values: How many values the stream emitted.
        updates: How many times the output area was redrawn.
        latest: The latest value, or None before the first.
        done: Whether the view has stopped.
        error: The stream's (or ``render``'s) error, if that is why it stopped.
    """

    key: Hashable
    values: int
    updates: int
    done: bool
    error: BaseException | None

    def __init__(
        self,
        source: Observable[Any],
        key: Hashable,
        throttle: float,
        render: Callable[[Any], Any] | None,
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self.key = key
        self.values = 0
        self.updates = 0
        self.done = False
        self.error = None
        self._source = source  # held so that id(source) stays unique while registered
        self._throttle = throttle
        self._render = render
        self._given_scheduler = scheduler
        self._scheduler = scheduler or TimeoutScheduler.singleton()
        self._lock = threading.RLock()
        self._latest: Any = _NOTHING
        self._shown: Any = _NOTHING  # the value last drawn, after render
        self._pending = False
        self._last_draw: datetime | None = None
        self._timer = SerialDisposable()
        self._subscription = SerialDisposable()
        self._output = _open_output()

    def _start(self) -> None:
        subscription = self._source.subscribe(
            self._on_next, self._on_error, self._on_completed, scheduler=self._given_scheduler
        )
        self._subscription.disposable = subscription
        if self.done:  # completed while subscribing
            self._subscription.dispose()

    @property
    def latest(self) -> Any:
        """The last value received, or None before the first."""
        return None if self._latest is _NOTHING else self._latest

    def _draw(self, status: str = "", failed: bool = False) -> None:
        """Redraw with the latest value (caller holds the lock)."""
        repeat = not self._pending and self._shown is not _NOTHING
        if not repeat:
            value = self._latest
            if value is not _NOTHING and self._render is not None:
                value = self._render(value)
                if isinstance(value, str):
                    value = _Text(value)
            self._shown = value
        self._pending = False
        self._last_draw = self._scheduler.now
        self._output.update(_Frame(self._shown, status, failed, repeat))
        self.updates += 1

    def _on_next(self, value: Any) -> None:
        with self._lock:
            if self.done:
                return
            self.values += 1
            self._latest = value
            self._pending = True
            if self._timer.disposable is not None:
                return  # a redraw is already scheduled and will show this value
            elapsed = (
                math.inf
                if self._last_draw is None
                else (self._scheduler.now - self._last_draw).total_seconds()
            )
            if elapsed >= self._throttle:
                self._safe_draw()
            else:
                self._timer.disposable = self._scheduler.schedule_relative(
                    self._throttle - elapsed, self._on_timer
                )

    def _on_timer(self, _: abc.SchedulerBase, __: Any = None) -> None:
        with self._lock:
            self._timer.disposable = None
            if not self.done and self._pending:
                self._safe_draw()

    def _safe_draw(self) -> None:
        try:
            self._draw()
        except Exception as error:  # a failing render must not break the source
            self._finish(f"render failed: {error!r}", error)

    def _on_error(self, error: Exception) -> None:
        self._finish(f"stream failed: {error!r}", error)

    def _on_completed(self) -> None:
        self._finish(f"stream completed after {quantity(self.values, 'value')}", None)

    def _finish(self, status: str, error: BaseException | None) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
            self.error = error
            self._timer.dispose()
            try:
                self._draw(status, failed=error is not None)
            except Exception:
                self._output.update(_Frame(self._shown, status, True, repeat=True))
        self._subscription.dispose()
        with _views_lock:
            if _views.get(self.key) is self:
                del _views[self.key]

    def dispose(self) -> None:
        """Stop following the stream; the last value stays on display."""
        self._finish(f"stopped after {quantity(self.values, 'value')}", None)

    def _ipython_display_(self) -> None:
        """Nothing to display: the view's output area is already on the page."""

    def __repr__(self) -> str:
        status = "live" if not self.done else "failed" if self.error else "done"
        values, updates = quantity(self.values, "value"), quantity(self.updates, "update")
        return f"LiveView(key={self.key!r}, {values}, {updates}, {status})"


def show(
    source: Observable[Any],
    *,
    throttle: float = 0.25,
    key: Hashable | None = None,
    render: Callable[[Any], Any] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> LiveView:
    """Show the latest value of a stream in one output area, updated in place.

    The first value is drawn at once; later ones at most every ``throttle`` seconds,
    and the latest value is always drawn in the end. Values with a ``_repr_html_`` (a
    :class:`~rxpresence.Roster`, a DataFrame) render as HTML; mappings as a table.
    Outside IPython every update is printed as text instead.

    Calling ``show`` again with the same ``key`` (by default, the same source object)
    stops the previous view first, so re-running a cell never leaves two views running.

    Args:
        source: The stream to follow, e.g. ``presence.roster("lobby")``.
        throttle: Least seconds between two redraws; 0 redraws on every value.
        key: Identifies the view across re-runs; defaults to ``id(source)``.
        render: Turns each value into what is displayed, e.g. ``lambda r: r.occupancy``;
            a string it returns is shown as text (``lambda n: f"{n} online"``).
        scheduler: The clock and timers for throttling, also passed on to
            ``subscribe``; a ``TestScheduler`` for virtual time. Defaults to
            ``TimeoutScheduler`` (and to nothing passed on).

    Returns:
        The running :class:`LiveView`; dispose it to stop.

    Raises:
        ValueError: ``throttle`` is negative or not finite.

    Example:
        >>> import reactivex
        >>> view = show(reactivex.of(1, 2, 3), throttle=0)  # outside IPython: printed
        1
        2
        3
        [stream completed after 3 values]
        >>> view.done
        True
    """
    if (
        not isinstance(throttle, int | float)
        or isinstance(throttle, bool)
        or not math.isfinite(throttle)
        or throttle < 0
    ):
        raise ValueError(f"throttle must be a finite number >= 0, got {throttle!r}")
    key = id(source) if key is None else key
    with _views_lock:
        previous = _views.pop(key, None)
    if previous is not None:
        previous.dispose()
    view = LiveView(source, key, float(throttle), render, scheduler)
    with _views_lock:
        _views[key] = view
    view._start()
    return view


def stop_all() -> int:
    """Stop every live view; returns how many were running.

    Example:
        >>> stop_all()
        0
    """
    with _views_lock:
        views = list(_views.values())
    for view in views:
        view.dispose()
    return len(views)


# -- DataFrames -------------------------------------------------------------------------

COLUMNS = (
    "t",
    "time",
    "action",
    "channel",
    "uuid",
    "occupancy",
    "timestamp",
    "timetoken",
    "state",
    "joins",
    "leaves",
    "timeouts",
    "here_now_refresh",
    "subscription",
    "source",
)
"""The columns of :func:`to_dataframe`, in order."""


def to_dataframe(events: Iterable[PresenceEvent | tuple[float, PresenceEvent]]) -> pandas.DataFrame:
    """Events as a pandas DataFrame, one row per event, for timelines and plots.

    Columns (see :data:`COLUMNS`): ``t`` (the offset of each ``(offset, event)`` pair,
    or for plain events seconds since the first event's timetoken), ``time`` (the
    timetoken as a UTC timestamp), ``action`` (its string value), ``channel``, ``uuid``
    (None on interval events), ``occupancy``, ``timestamp``, ``timetoken``, ``state``
    (a dict or None), ``joins``/``leaves``/``timeouts`` (how many uuids an interval
    event names), ``here_now_refresh``, ``subscription`` and ``source``.

    Args:
        events: :class:`~rxpresence.PresenceEvent` values, or ``(offset, event)`` pairs
            such as a :class:`~rxpresence.simulate.Simulation` or
            :func:`~rxpresence.record.read_events`'s result.

    Returns:
        The DataFrame, in the order given.

    Raises:
        ImportError: pandas is not installed (``pip install "rxpresence[notebook]"``).
        TypeError: An item is neither an event nor an ``(offset, event)`` pair.

    Example:
        >>> from rxpresence import PresenceEvent
        >>> frame = to_dataframe([PresenceEvent("join", "lobby", "ada", occupancy=1,
        ...                                     timetoken=17156952000000000)])
        >>> frame[["action", "uuid", "occupancy"]].to_dict("records")
        [{'action': 'join', 'uuid': 'ada', 'occupancy': 1}]
        >>> str(frame.loc[0, "time"])
        '2024-05-14 14:00:00+00:00'
    """
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(f"to_dataframe needs pandas: {_INSTALL}") from error

    offsets: list[float | None] = []
    rows: list[PresenceEvent] = []
    for item in events:
        if isinstance(item, PresenceEvent):
            offsets.append(None)
            rows.append(item)
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[1], PresenceEvent)
            and isinstance(item[0], int | float)
        ):
            offsets.append(float(item[0]))
            rows.append(item[1])
        else:
            raise TypeError(f"expected PresenceEvent or (offset, PresenceEvent), got {item!r}")
    first_tt = rows[0].timetoken if rows else 0

    def column(values: list[Any], dtype: str) -> pandas.Series:
        return pd.Series(values, dtype=dtype)

    frame = pd.DataFrame(
        {
            "t": column(
                [
                    (e.timetoken - first_tt) / 10**7 if t is None else t
                    for t, e in zip(offsets, rows, strict=True)
                ],
                "float64",
            ),
            "time": pd.to_datetime(
                column([e.timetoken * 100 for e in rows], "int64"), unit="ns", utc=True
            ),
            "action": column([e.action.value for e in rows], "object"),
            "channel": column([e.channel for e in rows], "object"),
            "uuid": column([e.uuid for e in rows], "object"),
            "occupancy": column([e.occupancy for e in rows], "int64"),
            "timestamp": column([e.timestamp for e in rows], "int64"),
            "timetoken": column([e.timetoken for e in rows], "int64"),
            "state": column([None if e.state is None else dict(e.state) for e in rows], "object"),
            "joins": column([len(e.join) for e in rows], "int64"),
            "leaves": column([len(e.leave) for e in rows], "int64"),
            "timeouts": column([len(e.timeout) for e in rows], "int64"),
            "here_now_refresh": column([e.here_now_refresh for e in rows], "bool"),
            "subscription": column([e.subscription for e in rows], "object"),
            "source": column([e.source for e in rows], "object"),
        },
        columns=list(COLUMNS),
    )
    return frame
