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
