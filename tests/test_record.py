"""Recording presence events to JSON Lines and replaying them."""

from __future__ import annotations

import doctest
import gzip
import io
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import reactivex
from reactivex import Subject
from reactivex.scheduler import HistoricalScheduler
from reactivex.testing import ReactiveTest, TestScheduler

import rxpresence.record as record_module
from rxpresence import PresenceEvent
from rxpresence.record import (
    BadLine,
    BadLineWarning,
    read_events,
    record,
    replay,
    write_events,
)
from rxpresence.simulate import simulate

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error

JOIN = PresenceEvent("join", "lobby", "ada", occupancy=1, timestamp=1, timetoken=10_000_000)
LEAVE = PresenceEvent("leave", "lobby", "ada", occupancy=0, timestamp=2, timetoken=20_000_000)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- round trips --------------------------------------------------------------------------


def test_write_and_read_a_simulation(tmp_path: Path) -> None:
    sim = simulate(duration=600, seed=3)
    path = tmp_path / "sim.jsonl"
    assert write_events(sim, path) == len(sim)
    assert read_events(path) == list(sim)
    first = lines(path)[0]
    assert first == {"t": sim[0][0], "event": sim[0][1].to_dict()}


def test_gzip_round_trip(tmp_path: Path) -> None:
    sim = simulate(duration=120, seed=1)
    path = tmp_path / "sim.jsonl.gz"
    write_events(sim, path)
    with gzip.open(path, "rt", encoding="utf-8") as file:
        assert json.loads(file.readline())["t"] == sim[0][0]
    assert read_events(path) == list(sim)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    interval = PresenceEvent(
        "interval",
        "big",
        occupancy=30,
        timestamp=5,
        timetoken=50_000_000,
        subscription="b.*",
        join=["a", "b"],
        leave=["c"],
        timeout=["d"],
    )
    refresh = PresenceEvent(
        "interval",
        "big",
        occupancy=31,
        timetoken=60_000_000,
        here_now_refresh=True,
        source="resync",
    )
    state = PresenceEvent(
        "state-change",
        "lobby",
        "ada",
        occupancy=1,
        timetoken=70_000_000,
        state={"status": "away", "tags": ["x"], "ünï": "çødé"},
    )
    pairs = [(0.0, interval), (1.25, refresh), (2.5, state)]
    path = tmp_path / "all.jsonl"
    write_events(pairs, path)
    back = read_events(path)
    assert back == pairs
    assert [dict(e.state) if e.state else None for _, e in back] == [
        None,
        None,
        {"status": "away", "tags": ["x"], "ünï": "çødé"},
    ]
    assert "çødé" in path.read_text(encoding="utf-8")


def test_record_a_simulation_in_virtual_time(tmp_path: Path) -> None:
    sim = simulate(duration=900, seed=4)
    ts = TestScheduler()
    path = tmp_path / "rec.jsonl"
    recording = record(sim.observable(scheduler=ts), path, scheduler=ts)
    assert recording.path == path and recording.count == 0 and not recording.done
    ts.start()
    assert recording.done and recording.error is None
    assert recording.count == len(sim)
    assert read_events(path) == list(sim)
    assert repr(recording) == f"Recording({str(path)!r}, {len(sim)} events, done)"


def test_record_then_replay_on_the_same_offsets(tmp_path: Path) -> None:
    ts = TestScheduler()
    source = ts.create_hot_observable(
        on_next(210.5, JOIN), on_next(215.0, LEAVE), on_completed(300.0)
    )
    path = tmp_path / "rec.jsonl"
    ts.schedule_absolute(200.0, lambda *_: record(source, path, scheduler=ts))
    ts.start()
    assert [(r["t"], r["event"]) for r in lines(path)] == [
        (10.5, JOIN.to_dict()),
        (15.0, LEAVE.to_dict()),
    ]
    ts2 = TestScheduler()
    got = ts2.start(lambda: replay(path, speed=1.0, scheduler=ts2))
    assert got.messages == [on_next(210.5, JOIN), on_next(215.0, LEAVE), on_completed(215.0)]


# -- recording ----------------------------------------------------------------------------


def test_record_writes_and_flushes_each_line_as_it_arrives(tmp_path: Path) -> None:
    subject: Subject[PresenceEvent] = Subject()
    path = tmp_path / "live.jsonl"
    hs = HistoricalScheduler(datetime(2024, 5, 14, 14, tzinfo=UTC))
    with record(subject, path, scheduler=hs) as recording:
        hs.advance_by(1.5)
        subject.on_next(JOIN)
        assert [r["t"] for r in lines(path)] == [1.5]  # on disk before anything else
        hs.advance_by(2.0)
        subject.on_next(LEAVE)
        assert [r["t"] for r in lines(path)] == [1.5, 3.5]
    assert recording.done and recording.count == 2
    subject.on_next(JOIN)  # after the recording stopped: not written
    assert len(lines(path)) == 2


def test_record_takes_anything_with_an_events_observable(tmp_path: Path) -> None:
    subject: Subject[PresenceEvent] = Subject()
    streams = SimpleNamespace(events=subject)
    recording = record(streams, tmp_path / "x.jsonl")
    subject.on_next(JOIN)
    subject.on_completed()
    assert recording.done and recording.count == 1
    assert [e for _, e in read_events(tmp_path / "x.jsonl")] == [JOIN]


def test_record_rejects_what_is_not_a_stream(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="record\\(\\) needs an Observable\\[PresenceEvent\\]"):
        record(SimpleNamespace(events=[JOIN]), tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()


def test_dispose_stops_the_subscription(tmp_path: Path) -> None:
    ts = TestScheduler()
    source = ts.create_hot_observable(on_next(210.0, JOIN), on_next(230.0, LEAVE))
    path = tmp_path / "rec.jsonl"
    recordings = []
    ts.schedule_absolute(200.0, lambda *_: recordings.append(record(source, path, scheduler=ts)))
    ts.schedule_absolute(220.0, lambda *_: recordings[0].dispose())
    ts.start()
    assert source.subscriptions == [ReactiveTest.subscribe(200.0, 220.0)]
    assert [r["t"] for r in lines(path)] == [10.0]
    assert recordings[0].done and recordings[0].error is None


def test_source_error_ends_the_recording_and_keeps_the_lines(tmp_path: Path) -> None:
    ts = TestScheduler()
    boom = RuntimeError("connection lost")
    source = ts.create_hot_observable(on_next(210.0, JOIN), on_error(220.0, boom))
    path = tmp_path / "rec.jsonl"
    recordings = []
    ts.schedule_absolute(200.0, lambda *_: recordings.append(record(source, path, scheduler=ts)))
    ts.start()
    recording = recordings[0]
    assert recording.done and recording.error is boom
    assert recording.count == 1 and len(lines(path)) == 1
    assert repr(recording).endswith("1 events, failed)")


def test_a_value_that_is_not_an_event_ends_the_recording(tmp_path: Path) -> None:
    subject: Subject[object] = Subject()
    recording = record(subject, tmp_path / "x.jsonl")
    subject.on_next(JOIN)
    subject.on_next("not an event")  # does not raise into the source
    subject.on_next(LEAVE)
    assert recording.done and isinstance(recording.error, TypeError)
    assert str(recording.error) == "can only record PresenceEvent values, got 'not an event'"
    assert recording.count == 1
    assert not subject.observers  # unsubscribed


def test_a_file_object_is_flushed_and_left_open() -> None:
    out = io.StringIO()
    recording = record(reactivex.of(JOIN, LEAVE), out)
    assert recording.done and recording.count == 2 and recording.path is None
    assert not out.closed
    assert [json.loads(line)["event"]["action"] for line in out.getvalue().splitlines()] == [
        "join",
        "leave",
    ]
    assert repr(recording) == "Recording('file object', 2 events, done)"


def test_a_synchronous_source_completes_during_record(tmp_path: Path) -> None:
    recording = record(reactivex.of(JOIN), tmp_path / "x.jsonl")
    assert recording.done and recording.count == 1
    recording.dispose()  # idempotent
    assert recording.done


# -- replay -----------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "three.jsonl"
    write_events([(1.0, JOIN), (2.5, LEAVE), (4.0, JOIN)], path)
    return path


def test_replay_as_fast_as_possible(recorded: Path) -> None:
    ts = TestScheduler()
    got = ts.start(lambda: replay(recorded, scheduler=ts))
    assert got.messages == [
        on_next(200.0, JOIN),
        on_next(200.0, LEAVE),
        on_next(200.0, JOIN),
        on_completed(200.0),
    ]
    plain: list[PresenceEvent] = []
    replay(recorded).subscribe(plain.append)  # on the current thread, synchronously
    assert plain == [JOIN, LEAVE, JOIN]


def test_replay_at_recorded_pace_and_faster(recorded: Path) -> None:
    ts = TestScheduler()
    got = ts.start(lambda: replay(recorded, speed=1.0, scheduler=ts))
    assert got.messages == [
        on_next(201.0, JOIN),
        on_next(202.5, LEAVE),
        on_next(204.0, JOIN),
        on_completed(204.0),
    ]
    ts = TestScheduler()
    got = ts.start(lambda: replay(recorded, speed=2.0, scheduler=ts))
    assert got.messages == [
        on_next(200.5, JOIN),
        on_next(201.25, LEAVE),
        on_next(202.0, JOIN),
        on_completed(202.0),
    ]


def test_replay_is_cold_and_read_once(recorded: Path) -> None:
    source = replay(recorded, speed=1.0)
    recorded.unlink()  # the file was read when replay() was called
    ts = TestScheduler()
    first = ts.start(lambda: source)
    assert len(first.messages) == 4
    ts = TestScheduler()
    second = ts.start(lambda: source, subscribed=300.0)
    assert second.messages[0] == on_next(301.0, JOIN)


def test_replay_on_a_historical_scheduler(recorded: Path) -> None:
    start = datetime(2024, 5, 14, 14, tzinfo=UTC)
    hs = HistoricalScheduler(start)
    seen: list[tuple[float, str | None]] = []
    replay(recorded, speed=1.0, scheduler=hs).subscribe(
        lambda e: seen.append(((hs.now - start).total_seconds(), e.action.value))
    )
    hs.start()
    assert seen == [(1.0, "join"), (2.5, "leave"), (4.0, "join")]


def test_replay_rejects_a_bad_speed(recorded: Path) -> None:
    with pytest.raises(ValueError, match=r"^speed must be a finite number > 0 or None"):
        replay(recorded, speed=-1.0)


def test_missing_file_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        replay(tmp_path / "nope.jsonl")


# -- bad lines --------------------------------------------------------------------------

GOOD = '{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "u", "occupancy": 1}}'
BAD_LINES = [
    ("{not json", "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"event": {"action": "join", "channel": "a", "uuid": "u"}}', "t is missing"),
    ('{"t": -1, "event": {}}', "t must be a finite number >= 0, got -1"),
    ('{"t": "3", "event": {}}', "t must be a finite number >= 0, got '3'"),
    ('{"t": true, "event": {}}', "t must be a finite number >= 0, got True"),
    ('{"t": NaN, "event": {}}', "t must be a finite number >= 0, got nan"),
    ('{"t": 2}', "event is missing"),
    ('{"t": 2, "event": [1]}', "bad event: event must be a mapping, got [1]"),
    (
        '{"t": 2, "event": {"action": "dance", "channel": "a"}}',
        "bad event: action must be one of ['interval', 'join', 'leave', 'state-change',"
        " 'timeout'], got 'dance'",
    ),
    (
        '{"t": 2, "event": {"action": "join", "channel": "a", "uuid": "u", "occupancy": "3"}}',
        "bad event: occupancy must be an int >= 0, got '3'",
    ),
]


def write_file(path: Path) -> None:
    body = [GOOD, *(text for text, _ in BAD_LINES), "", "   ", GOOD.replace('"t": 1', '"t": 9')]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")


def test_bad_lines_are_reported_with_their_numbers_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    write_file(path)
    bad: list[BadLine] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a callback means no warning
        events = read_events(path, on_bad_line=bad.append)
    assert [(t, e.uuid) for t, e in events] == [(1.0, "u"), (9.0, "u")]
    assert bad == [
        BadLine(n, message, text) for n, (text, message) in enumerate(BAD_LINES, start=2)
    ]
    assert str(bad[1]) == "line 3: expected a JSON object, got list"


def test_bad_lines_warn_once_without_a_callback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    write_file(path)
    with pytest.warns(BadLineWarning) as caught:
        events = read_events(path)
    assert len(events) == 2
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"{path}: skipped 11 bad line(s): line 2: invalid JSON")
    assert message.endswith("; and 6 more")


def test_replay_reports_bad_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    write_file(path)
    bad: list[BadLine] = []
    got: list[PresenceEvent] = []
    replay(path, on_bad_line=bad.append).subscribe(got.append)
    assert len(bad) == 11 and len(got) == 2


def test_undecodable_bytes_make_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(GOOD.encode() + b"\n\xff\xfe{\n" + GOOD.encode() + b"\n")
    bad: list[BadLine] = []
    assert len(read_events(path, on_bad_line=bad.append)) == 2
    assert [b.line for b in bad] == [2]


def test_read_from_a_file_object() -> None:
    source = io.StringIO(GOOD + "\r\n" + "oops\n")
    bad: list[BadLine] = []
    assert [t for t, _ in read_events(source, on_bad_line=bad.append)] == [1.0]
    assert bad == [BadLine(2, "invalid JSON: Expecting value at column 1", "oops")]


def test_module_examples() -> None:
    result = doctest.testmod(record_module)
    assert result.failed == 0 and result.attempted >= 10


# -- hostile lines and files cut short ----------------------------------------------------

DEEP_LINE = "[" * 200_000 + "]" * 200_000
HOSTILE_LINES: list[tuple[bytes, str]] = [
    (DEEP_LINE.encode(), "invalid JSON: nested too deep"),
    (('{"t": 1, "event": ' + '{"a": ' * 100_000).encode(), "invalid JSON: nested too deep"),
    (
        b'{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "u", "occupancy": '
        + b"9" * 5000
        + b"}}",
        "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion",
    ),
    (
        b'{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "u", "timetoken": '
        + b"9" * 4000
        + b"}}",
        "bad event: timetoken must be an int below 2**64, got <int of about 40",
    ),
    (b'{"t": ' + b"9" * 4000 + b', "event": {}}', "t must be a finite number >= 0, got"),
    (
        b'{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "\xff\xfeu"}}',
        "invalid UTF-8 at byte 63",
    ),
    (
        b'{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "\\ud800"}}',
        "bad event: uuid must be valid Unicode (no lone surrogates), got '\\ud800'",
    ),
    (
        b'{"t": 1, "event": {"action": "interval", "channel": "a", "join": ["b", ""]}}',
        "bad event: join[1] must be a non-empty string, got ''",
    ),
    (
        b'{"t": 1, "event": {"action": "join", "channel": "a", "uuid": "u", "state": '
        + b'{"k": ' * 40
        + b"1"
        + b"}" * 40
        + b"}}",
        "bad event: state must be nested at most 32 deep",
    ),
    (b'{"t": 1, "event": {"uuid": "' + b"x" * (50 * 1024 * 1024) + b'"}}', "longer than"),
]


def hostile_body() -> tuple[bytes, list[int]]:
    """Good lines around each hostile one; and the line numbers of the good ones."""
    body, good = [GOOD.encode()], [1]
    for text, _ in HOSTILE_LINES:
        body += [text, GOOD.encode()]
        good.append(len(body))
    return b"\n".join(body) + b"\n", good


@pytest.mark.parametrize("name", ["hostile.jsonl", "hostile.jsonl.gz"])
def test_hostile_lines_are_reported_and_the_rest_replays(tmp_path: Path, name: str) -> None:
    body, good = hostile_body()
    path = tmp_path / name
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    bad: list[BadLine] = []
    events = read_events(path, on_bad_line=bad.append)
    assert len(events) == len(good) == len(HOSTILE_LINES) + 1
    assert [b.line for b in bad] == [n + 1 for n in good[:-1]]
    for report, (_, message) in zip(bad, HOSTILE_LINES, strict=True):
        assert report.message.startswith(message), report.message
        assert len(report.message) < 300 and len(report.text) <= 1000


def test_a_line_longer_than_the_limit_from_a_text_file_object() -> None:
    source = io.StringIO(GOOD + "\n" + "x" * (record_module.MAX_LINE_LENGTH + 10) + "\n" + GOOD)
    bad: list[BadLine] = []
    assert len(read_events(source, on_bad_line=bad.append)) == 2
    assert [(b.line, b.message, len(b.text)) for b in bad] == [
        (2, f"longer than {record_module.MAX_LINE_LENGTH} bytes", 1000)
    ]


def test_a_binary_file_object_is_read_too() -> None:
    source = io.BytesIO(GOOD.encode() + b"\n\xc3(\n")
    bad: list[BadLine] = []
    assert len(read_events(source, on_bad_line=bad.append)) == 1
    assert [(b.line, b.message) for b in bad] == [(2, "invalid UTF-8 at byte 1")]


def live_gzip_recording(tmp_path: Path, count: int) -> tuple[list[bytes], list[PresenceEvent]]:
    """What a crash would leave of a ``.gz`` recording: its bytes after each line.

    ``record`` flushes every line, so the file holds each complete line at once, but
    the gzip trailer is only written on close.
    """
    path = tmp_path / "live.jsonl.gz"
    ts, source = TestScheduler(), Subject[PresenceEvent]()
    recording = record(source, path, scheduler=ts)
    sent = [JOIN.replace(uuid=f"u{i}", timetoken=10_000_000 + i) for i in range(count)]
    snapshots = [path.read_bytes()]
    for event in sent:
        ts.advance_by(1)
        source.on_next(event)
        snapshots.append(path.read_bytes())
    recording.dispose()
    return snapshots, sent


def test_a_gzip_recording_cut_short_replays_every_complete_line(tmp_path: Path) -> None:
    snapshots, sent = live_gzip_recording(tmp_path, 40)
    assert snapshots[0] == b""  # nothing written yet: an empty file, an empty recording
    cut = tmp_path / "cut.jsonl.gz"
    for complete in range(1, len(snapshots)):
        # Cut right after a line, and in the middle of the one before it.
        middle = (len(snapshots[complete - 1]) + len(snapshots[complete])) // 2
        for end, lines_read in [(len(snapshots[complete]), complete), (middle, complete - 1)]:
            cut.write_bytes(snapshots[-1][:end])
            bad: list[BadLine] = []
            events = read_events(cut, on_bad_line=bad.append)
            assert [e for _, e in events] == sent[:lines_read], (complete, end)
            assert bad[-1].line == lines_read + 1
            assert bad[-1].message.startswith("the file ends here, unread: the compressed")


def test_a_gzip_recording_cut_short_warns_without_a_callback(tmp_path: Path) -> None:
    snapshots, sent = live_gzip_recording(tmp_path, 3)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(snapshots[-1])  # the writer died before closing the file
    with pytest.warns(BadLineWarning, match=r"line 4: the file ends here, unread: the compressed"):
        events = read_events(cut)
    assert [e for _, e in events] == sent
    got: list[PresenceEvent] = []
    with pytest.warns(BadLineWarning):
        replay(cut).subscribe(got.append)
    assert got == sent


def test_corrupt_gzip_data_is_reported_after_the_lines_before_it(tmp_path: Path) -> None:
    sent = [JOIN.replace(uuid=f"u{i}", timetoken=10_000_000 + i) for i in range(2000)]
    path = tmp_path / "corrupt.jsonl.gz"
    write_events(((float(i), e) for i, e in enumerate(sent)), path)
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF  # damage the compressed data three quarters in
    path.write_bytes(bytes(data))
    bad: list[BadLine] = []
    events = [e for _, e in read_events(path, on_bad_line=bad.append)]
    # The lines before the damage are intact. After it, deflate may decode garbage that
    # still looks like events (back-references copy earlier text); gzip's checksum, at
    # the end, tells: the failure is reported, never raised.
    half = len(sent) // 2
    assert events[:half] == sent[:half]
    assert bad[-1].message.startswith("the file ends here, unread: ")
