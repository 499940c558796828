"""The console's state: fed by presence streams on any thread, read as snapshots.

:class:`ConsoleModel` receives events, roster snapshots (raw and flicker-suppressed),
connection statuses and error reports, each under one short lock, and answers
:meth:`ConsoleModel.snapshot` with an immutable :class:`ViewState` that the renderers
turn into text. It never calls back into the hub, so it cannot deadlock with it.

An interval event that names nobody (nothing changed, or PubNub asks for a here-now
refresh) comes every few seconds while a busy channel is quiet. The log says so once
per situation: repeats on the same channel with the same occupancy, with no other
membership event between them, are folded into the first one's line as a count, and
their records are marked ``repeat`` so that plain lines skip them (JSON lines keep
every event).

Flickers are not judged here: :meth:`ConsoleModel.on_flicker` receives the ones the
hub's graced roster hid (``PresenceStreams.flickers``), so the count is exactly what
the flicker-suppressed roster never showed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rxpresence import Action, ConnectionStatus, ErrorReport, HiddenFlicker, PresenceEvent, Roster

__all__ = [
    "DEFAULT_GRACE",
    "ChannelView",
    "ConsoleModel",
    "EventRecord",
    "FlickerRecord",
    "LogLine",
    "MemberView",
    "NoticeRecord",
    "Record",
    "ViewHeader",
    "ViewState",
]

DEFAULT_GRACE = 10.0
"""The flicker grace period of ``demo`` and ``watch``, in seconds.

Ten seconds, the example the library's docs give: longer than a page reload or a
short network drop, short enough that a real departure shows soon.
"""

_RATE_WINDOW = 5.0
"""Seconds of events the events-per-second figure averages over."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the scrolling log.

    Attributes:
        wall: Unix seconds when it was received.
        channel: The channel, or ``""`` for connection notices.
        action: ``join``, ``leave``, ``timeout``, ``state-change``, ``interval``,
            ``flicker``, ``status`` or ``error``.
        who: The uuid concerned, or ``""``.
        occupancy: The occupancy PubNub reported with the event, if any.
        detail: A short free-text description (state, interval deltas...).
    """

    wall: float
    channel: str
    action: str
    who: str = ""
    occupancy: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MemberView:
    """One member as the console shows it.

    Attributes:
        uuid: The uuid.
        state: Its presence state, or None.
        joined_at: Unix seconds of its join (0 if unknown).
        held: True when PubNub already timed it out and the grace period still shows
            it (the raw roster no longer has it).
    """

    uuid: str
    state: Mapping[str, Any] | None
    joined_at: int
    held: bool = False


@dataclass(frozen=True, slots=True)
class ChannelView:
    """One channel as the console shows it.

    Attributes:
        name: The channel.
        members: Members of the flicker-suppressed roster, sorted by uuid.
        occupancy: The occupancy PubNub last reported, or None before any roster.
        smoothed: The flicker-suppressed occupancy, or None before any roster.
        rate: Events per second over the last few seconds.
        events: Events PubNub delivered on the channel (synthetic resync events are
            logged and counted apart, under their ``source``).
        flickers: Flickers hidden by the grace period.
        interval_mode: Whether the last membership event was an ``interval`` event.
        stale: Whether the roster is marked stale (the connection was lost).
    """

    name: str
    members: tuple[MemberView, ...] = ()
    occupancy: int | None = None
    smoothed: int | None = None
    rate: float = 0.0
    events: int = 0
    flickers: int = 0
    interval_mode: bool = False
    stale: bool = False


@dataclass(frozen=True, slots=True)
class ViewHeader:
    """What the console says about itself in its title line.

    Attributes:
        title: E.g. ``"rxpresence demo"``.
        where: Where it is connected, e.g. ``"local server 127.0.0.1:8090"``.
        notes: Further short facts, e.g. ``("seed 1",)``.
        duration: Planned run time in seconds, or None to run until stopped.
    """

    title: str
    where: str
    notes: tuple[str, ...] = ()
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class ViewState:
    """An immutable snapshot of everything the live view shows.

    Attributes:
        header: The title line's facts.
        now: Unix seconds of the snapshot (for "since" columns).
        elapsed: Seconds since the model was created.
        connection: The last connection status, in words.
        connected: Whether the last status means connected.
        grace: The flicker grace period in seconds.
        channels: The channels, in the order they were first seen.
        log: The newest log entries, oldest first.
        counts: Events received, by action.
        flickers: Flickers hidden, over all channels.
    """

    header: ViewHeader
    now: float
    elapsed: float
    connection: str
    connected: bool
    grace: float
    channels: tuple[ChannelView, ...]
    log: tuple[LogLine, ...]
    counts: Mapping[str, int]
    flickers: int


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event for the line-based outputs, with its arrival time (Unix seconds).

    ``repeat`` marks an interval event without names that only repeats the channel's
    previous one (same occupancy, nothing else between): plain lines leave it out.
    """

    event: PresenceEvent
    wall: float
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class FlickerRecord:
    """A flicker the grace period hid: ``uuid`` rejoined ``gap`` seconds after timing out."""

    channel: str
    uuid: str
    gap: float
    wall: float


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    """A connection status or an error report, in words."""

    kind: str
    text: str
    wall: float


Record = EventRecord | FlickerRecord | NoticeRecord


@dataclass(slots=True)
class _Channel:
    name: str
    raw: Roster | None = None
    graced: Roster | None = None
    times: deque[float] = field(default_factory=deque)
    events: int = 0
    flickers: int = 0
    interval_mode: bool = False
    # The log line of the last interval event without names, and how many such events
    # it stands for, until another membership event arrives on the channel.
    quiet_line: LogLine | None = None
    quiet_count: int = 0


class ConsoleModel:
    """The console's state, safe to feed from any thread.

    Args:
        grace: The flicker grace period in seconds (0: no suppression, no flickers).
        record: Whether to queue :data:`Record` values for :meth:`take_records`
            (plain and JSON outputs); the live view leaves it off.
        log_size: How many log entries to keep.
        monotonic: Monotonic clock, in seconds.
        wall: Wall clock, in Unix seconds.
    """

    def __init__(
        self,
        grace: float,
        *,
        record: bool = False,
        log_size: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.grace = grace
        self._record = record
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._started = monotonic()
        self._channels: dict[str, _Channel] = {}
        self._log: deque[LogLine] = deque(maxlen=log_size)
        self._records: list[Record] = []
        self._counts: Counter[str] = Counter()
        self._flickers = 0
        self._connection = "connecting"
        self._connected = False
        self._statuses: list[ConnectionStatus] = []

    # -- input (any thread) ---------------------------------------------------------

    def add_channel(self, name: str) -> None:
        """Show ``name`` even before any event arrives on it."""
        with self._lock:
            self._channel(name)

    def on_event(self, event: PresenceEvent) -> None:
        """Record one presence event."""
        mono, wall = self._monotonic(), self._wall()
        live = event.source == "live"
        with self._lock:
            channel = self._channel(event.channel)
            if event.redundant:
                # Nothing new for the roster (a join a snapshot already showed): each
                # arrival is announced once. JSON lines keep it, marked.
                self._counts["redundant"] += 1
                if self._record:
                    self._records.append(EventRecord(event, wall, True))
                return
            repeat = self._log_event(channel, event, wall)
            if self._record:
                self._records.append(EventRecord(event, wall, repeat))
            if not live:
                # Synthetic events from a here-now resync: not something PubNub sent.
                self._counts[event.source] += 1
                return
            channel.events += 1
            channel.times.append(mono)
            self._counts[event.action.value] += 1
            if event.action is Action.INTERVAL:
                channel.interval_mode = True
            elif event.action is not Action.STATE_CHANGE:
                channel.interval_mode = False

    def on_flicker(self, flicker: HiddenFlicker) -> None:
        """Record a flicker the graced roster hid (``PresenceStreams.flickers``)."""
        wall = self._wall()
        with self._lock:
            channel = self._channel(flicker.channel)
            channel.flickers += 1
            self._flickers += 1
            text = _flicker_text(flicker.gap)
            self._log.append(LogLine(wall, channel.name, "flicker", flicker.uuid, None, text))
            if self._record:
                self._records.append(FlickerRecord(channel.name, flicker.uuid, flicker.gap, wall))

    def on_roster(self, roster: Roster) -> None:
        """Record a raw roster snapshot (what PubNub reported, no grace)."""
        with self._lock:
            self._channel(roster.channel).raw = roster

    def on_graced(self, roster: Roster) -> None:
        """Record a flicker-suppressed roster snapshot."""
        with self._lock:
            self._channel(roster.channel).graced = roster

    def on_status(self, status: ConnectionStatus) -> None:
        """Record a connection status from the SDK."""
        wall = self._wall()
        text = _status_text(status)
        with self._lock:
            self._statuses.append(status)
            if status.connected:
                self._connected = True
            elif status.disconnected or status.error:
                self._connected = False
            if not (status.connected or status.disconnected or status.error):
                return  # acknowledgments of leave and set-state calls: not news
            self._connection = text
            self._log.append(LogLine(wall, "", "status", detail=text))
            if self._record:
                self._records.append(NoticeRecord("status", text, wall))

    def on_error(self, report: ErrorReport) -> None:
        """Record a failure rxpresence caught (malformed event, failing observer...)."""
        wall = self._wall()
        text = str(report)
        with self._lock:
            self._log.append(LogLine(wall, "", "error", detail=text))
            if self._record:
                self._records.append(NoticeRecord("error", text, wall))

    # -- output (any thread) --------------------------------------------------------

    def channel_names(self) -> list[str]:
        """The channels seen so far, in the order they were first seen."""
        with self._lock:
            return list(self._channels)

    def take_records(self) -> list[Record]:
        """The records queued since the last call (empty unless ``record`` is on)."""
        with self._lock:
            records, self._records = self._records, []
        return records

    def statuses(self) -> list[ConnectionStatus]:
        """Every connection status received so far."""
        with self._lock:
            return list(self._statuses)

    def counts(self) -> dict[str, int]:
        """Events received so far, by action."""
        with self._lock:
            return dict(self._counts)

    @property
    def flickers(self) -> int:
        """Flickers hidden so far, over all channels."""
        with self._lock:
            return self._flickers

    def shown_rosters(self) -> dict[str, Roster]:
        """The roster shown for each channel that has one.

        That is the flicker-suppressed roster, or the raw one when ``grace`` is 0.
        """
        with self._lock:
            out: dict[str, Roster] = {}
            for channel in self._channels.values():
                roster = channel.graced if channel.graced is not None else channel.raw
                if roster is not None:
                    out[channel.name] = roster
            return out

    def snapshot(self, header: ViewHeader, log_lines: int = 50) -> ViewState:
        """An immutable view of the current state.

        Args:
            header: The title line's facts.
            log_lines: How many of the newest log entries to include.

        Returns:
            The snapshot.
        """
        mono, wall = self._monotonic(), self._wall()
        with self._lock:
            elapsed = mono - self._started
            channels = tuple(self._channel_view(c, mono, elapsed) for c in self._channels.values())
            log = tuple(self._log)[-log_lines:] if log_lines > 0 else ()
            return ViewState(
                header=header,
                now=wall,
                elapsed=elapsed,
                connection=self._connection,
                connected=self._connected,
                grace=self.grace,
                channels=channels,
                log=log,
                counts=dict(self._counts),
                flickers=self._flickers,
            )

    # -- internals (lock held) ------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = _Channel(name)
        return channel

    def _log_event(self, channel: _Channel, event: PresenceEvent, wall: float) -> bool:
        """Log ``event``; True if it only repeated the last interval without names."""
        quiet = event.action is Action.INTERVAL and not event.has_deltas
        line = channel.quiet_line
        if quiet and line is not None and line.occupancy == event.occupancy:
            folded = replace(line, detail=_no_names_text(channel.quiet_count + 1))
            if self._replace_log_line(line, folded):
                channel.quiet_line = folded
                channel.quiet_count += 1
                return True
            # The first line scrolled out of the log: start again with a new one.
        entry = _log_entry(event, wall)
        self._log.append(entry)
        if quiet:
            channel.quiet_line, channel.quiet_count = entry, 1
        elif event.action is not Action.STATE_CHANGE:
            channel.quiet_line = None
        return False

    def _replace_log_line(self, old: LogLine, new: LogLine) -> bool:
        """Put ``new`` where ``old`` is in the log; False if ``old`` is gone."""
        for back, entry in enumerate(reversed(self._log)):
            if entry is old:
                self._log[len(self._log) - 1 - back] = new
                return True
        return False

    def _channel_view(self, channel: _Channel, mono: float, elapsed: float) -> ChannelView:
        times = channel.times
        while times and mono - times[0] > _RATE_WINDOW:
            times.popleft()
        window = min(_RATE_WINDOW, max(elapsed, 1.0))
        raw, graced = channel.raw, channel.graced
        shown = graced if graced is not None else raw
        members: tuple[MemberView, ...] = ()
        if shown is not None:
            present = raw.uuids if raw is not None else shown.uuids
            members = tuple(
                MemberView(m.uuid, m.state, m.joined_at, m.uuid not in present)
                for m in sorted(shown, key=lambda m: m.uuid)
            )
        return ChannelView(
            name=channel.name,
            members=members,
            occupancy=None if raw is None else raw.occupancy,
            smoothed=None if shown is None else shown.occupancy,
            rate=len(times) / window,
            events=channel.events,
            flickers=channel.flickers,
            interval_mode=channel.interval_mode,
            stale=bool(raw is not None and raw.stale),
        )


def state_text(state: Mapping[str, Any] | None, limit: int = 60, *, compact: bool = False) -> str:
    """A one-line rendering of a presence state.

    ``{"status": "away", "typing": True}`` becomes ``status=away typing`` (or
    ``away typing`` when ``compact``); a false or null value is shown as
    ``key=false``/``key=null``, other values as ``key=value``.

    Args:
        state: The state, or None.
        limit: Longest result; longer text ends with an ellipsis.
        compact: Show string values without their keys (for narrow columns).

    Returns:
        The text (empty for no state).
    """
    if not state:
        return ""
    parts: list[str] = []
    for key, value in state.items():
        if value is True:
            parts.append(str(key))
        elif isinstance(value, str):
            parts.append(value if compact else f"{key}={value}")
        elif value is None or value is False:
            parts.append(f"{key}={'null' if value is None else 'false'}")
        else:
            parts.append(f"{key}={value!r}")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log_entry(event: PresenceEvent, wall: float) -> LogLine:
    action = event.action
    if action is Action.INTERVAL:
        detail = interval_text(event)
        return LogLine(wall, event.channel, action.value, "", event.occupancy, detail)
    detail = state_text(event.state)
    if action is Action.STATE_CHANGE and not detail:
        detail = "state cleared"
    if action is Action.TIMEOUT:
        detail = "no heartbeat: timed out"
    elif action is Action.LEAVE:
        detail = "left"
    if event.source != "live":
        detail = f"({event.source} from here-now) {detail}".rstrip()
    return LogLine(wall, event.channel, action.value, event.uuid or "", event.occupancy, detail)


def interval_text(event: PresenceEvent, shown: int = 4) -> str:
    """What an interval event says: ``joined a,b; left c; timed out d``.

    Args:
        event: An interval event.
        shown: Most uuids named per array; the rest are counted.

    Returns:
        The text; an interval event without arrays asks for a here-now refresh.
    """
    if not event.has_deltas:
        return _no_names_text()
    parts: list[str] = []
    for name, uuids in (
        ("joined", event.join),
        ("left", event.leave),
        ("timed out", event.timeout),
    ):
        if uuids:
            more = f" +{len(uuids) - shown}" if len(uuids) > shown else ""
            parts.append(f"{name} {','.join(uuids[:shown])}{more}")
    return "; ".join(parts)


def _no_names_text(in_a_row: int = 1) -> str:
    """What an interval event without arrays means, and how many came in a row.

    The count comes first, so that a narrow log column cuts the explanation, not it.
    """
    # The SDK drops here_now_refresh: "no changes" and "ask here-now" look the same.
    repeats = f" ({in_a_row} in a row)" if in_a_row > 1 else ""
    return f"no names{repeats}: nothing changed, or a here-now refresh"


def _flicker_text(gap: float) -> str:
    return f"back {gap:.1f} s after its timeout: hidden"


def _status_text(status: ConnectionStatus) -> str:
    name = status.category.removeprefix("PN").removesuffix("Category")
    words = {
        "Connected": "connected",
        "Reconnected": "reconnected",
        "UnexpectedDisconnect": "connection lost, retrying",
        "NetworkIssues": "network issues, retrying",
        "Timeout": "request timed out",
        "ConnectionError": "connection error, retrying",
        "AccessDenied": "access denied (403)",
        "BadRequest": "request rejected (400)",
        "Disconnected": "disconnected",
        "Acknowledgment": "acknowledged",
    }
    return words.get(name, name)
