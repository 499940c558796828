"""Live views and DataFrames for Jupyter, with a fake display and virtual time."""

from __future__ import annotations

import doctest
import sys
from collections.abc import Iterator
from typing import Any

import IPython.display
import pandas as pd
import pytest
from reactivex import Subject
from reactivex.testing import ReactiveTest, TestScheduler

import rxpresence.notebook as notebook
from rxpresence import Member, PresenceEvent, Roster
from rxpresence.notebook import COLUMNS, LiveView, show, stop_all, to_dataframe
from rxpresence.simulate import ChannelProfile, simulate

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error


class FakeHandle:
    """Stands in for IPython's DisplayHandle, noting what was drawn and when."""

    def __init__(self, display: FakeDisplay, obj: Any) -> None:
        self.display = display
        self.drawn: list[Any] = [obj]

    def update(self, obj: Any) -> None:
        self.drawn.append(obj)
        self.display.log.append((self.display.clock(), obj))


class FakeDisplay:
    def __init__(self) -> None:
        self.handles: list[FakeHandle] = []
        self.log: list[tuple[float, Any]] = []
        self.clock = lambda: 0.0

    def __call__(self, obj: Any, *, display_id: bool = False) -> FakeHandle:
        assert display_id is True
        handle = FakeHandle(self, obj)
        self.handles.append(handle)
        return handle

    def frames(self) -> list[tuple[float, object, str]]:
        return [(t, f.value, f.status) for t, f in self.log]


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDisplay]:
    fake = FakeDisplay()
    monkeypatch.setattr(notebook, "_in_ipython", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake)
    yield fake
    stop_all()


@pytest.fixture
def ts(display: FakeDisplay) -> TestScheduler:
    scheduler = TestScheduler()
    display.clock = lambda: scheduler.clock
    return scheduler


# -- show ---------------------------------------------------------------------------------


def test_one_area_updated_in_place_and_throttled(display: FakeDisplay, ts: TestScheduler) -> None:
    source = ts.create_hot_observable(
        on_next(210.0, 1),
        on_next(210.1, 2),
        on_next(210.2, 3),
        on_next(210.3, 4),
        on_next(210.6, 5),
        on_next(212.0, 6),
        on_next(212.05, 7),
        on_completed(213.0),
    )
    views: list[LiveView] = []
    ts.schedule_absolute(200.0, lambda *_: views.append(show(source, scheduler=ts)))
    ts.start()
    assert len(display.handles) == 1  # one output area, reserved when show() was called
    placeholder = display.handles[0].drawn[0]
    assert placeholder.status == "waiting for the first value"
    assert display.frames() == [
        (210.0, 1, ""),  # the first value at once
        (210.25, 3, ""),  # then at most every 0.25 s, with the latest value
        (210.5, 4, ""),
        (210.75, 5, ""),
        (212.0, 6, ""),  # quiet for long enough: at once again
        (212.25, 7, ""),
        (213.0, 7, "stream completed after 7 values"),  # the latest, with why it stopped
    ]
    view = views[0]
    assert view.done and view.error is None
    assert (view.values, view.updates, view.latest) == (7, 7, 7)
    assert source.subscriptions == [ReactiveTest.subscribe(200.0, 213.0)]
    assert repr(view).endswith("7 values, 7 updates, done)")


def test_completion_draws_a_pending_value_at_once(display: FakeDisplay, ts: TestScheduler) -> None:
    source = ts.create_hot_observable(on_next(210.0, "a"), on_next(210.1, "b"), on_completed(210.2))
    ts.schedule_absolute(200.0, lambda *_: show(source, scheduler=ts))
    ts.start()
    assert display.frames() == [(210.0, "a", ""), (210.2, "b", "stream completed after 2 values")]


def test_throttle_zero_draws_every_value(display: FakeDisplay, ts: TestScheduler) -> None:
    source = ts.create_hot_observable(on_next(210.0, 1), on_next(210.0, 2), on_next(210.1, 3))
    ts.schedule_absolute(200.0, lambda *_: show(source, throttle=0, scheduler=ts))
    ts.start()
    assert [v for _, v, _ in display.frames()] == [1, 2, 3]


def test_an_error_stops_the_view_and_says_so(display: FakeDisplay, ts: TestScheduler) -> None:
    boom = RuntimeError("network down")
    source = ts.create_hot_observable(on_next(210.0, 1), on_error(211.0, boom))
    views: list[LiveView] = []
    ts.schedule_absolute(200.0, lambda *_: views.append(show(source, scheduler=ts)))
    ts.start()
    last = display.log[-1][1]
    assert (last.value, last.status, last.failed) == (
        1,
        "stream failed: RuntimeError('network down')",
        True,
    )
    assert views[0].done and views[0].error is boom
    assert "network down" in last._repr_html_() and "color:#cf222e" in last._repr_html_()
    assert repr(views[0]).endswith("failed)")


def test_rerunning_with_the_same_key_replaces_the_view(
    display: FakeDisplay, ts: TestScheduler
) -> None:
    source = ts.create_hot_observable(on_next(210.0, "a"), on_next(230.0, "b"))
    views: list[LiveView] = []
    ts.schedule_absolute(200.0, lambda *_: views.append(show(source, key="cell", scheduler=ts)))
    ts.schedule_absolute(220.0, lambda *_: views.append(show(source, key="cell", scheduler=ts)))
    ts.start()
    first, second = views
    assert first.done and not second.done
    assert source.subscriptions == [
        ReactiveTest.subscribe(200.0, 220.0),
        ReactiveTest.subscribe(220.0, sys.maxsize),
    ]
    assert display.handles[0].drawn[-1].status == "stopped after 1 value"
    assert [f.value for f in display.handles[1].drawn[1:]] == ["b"]
    assert notebook._views == {"cell": second}


def test_the_default_key_is_the_source(display: FakeDisplay, ts: TestScheduler) -> None:
    subject: Subject[int] = Subject()
    other: Subject[int] = Subject()
    first = show(subject, scheduler=ts)
    also = show(other, scheduler=ts)
    again = show(subject, scheduler=ts)
    assert first.done and not also.done and not again.done
    assert first.key == again.key == id(subject)
    assert stop_all() == 2
    assert also.done and again.done and notebook._views == {}


def test_dispose_stops_and_unregisters(display: FakeDisplay, ts: TestScheduler) -> None:
    subject: Subject[int] = Subject()
    view = show(subject, key="k", scheduler=ts)
    subject.on_next(1)
    view.dispose()
    subject.on_next(2)
    assert not subject.observers
    assert [(v, s) for _, v, s in display.frames()] == [(1, ""), (1, "stopped after 1 value")]
    assert "k" not in notebook._views
    view.dispose()  # idempotent
    assert len(display.log) == 2


def test_render_turns_values_into_what_is_shown(display: FakeDisplay, ts: TestScheduler) -> None:
    subject: Subject[Roster] = Subject()
    show(subject, render=lambda r: r.occupancy, throttle=0, scheduler=ts)
    subject.on_next(Roster("lobby", [Member("ada"), Member("bob")]))
    assert display.frames()[-1][1] == 2


def test_a_string_from_render_is_shown_as_text(display: FakeDisplay, ts: TestScheduler) -> None:
    subject: Subject[int] = Subject()
    view = show(subject, render=lambda n: f"{n} <online>", throttle=0, scheduler=ts)
    subject.on_next(3)
    frame = display.log[-1][1]
    assert frame._repr_html_() == "<pre>3 &lt;online&gt;</pre>"
    assert repr(frame) == "3 <online>"
    assert frame.value == "3 <online>"
    view.dispose()
    stopped = display.log[-1][1]
    assert stopped._repr_html_().startswith("<pre>3 &lt;online&gt;</pre>")
    assert repr(stopped) == "3 <online>\n[stopped after 1 value]"


def test_a_string_from_render_is_printed_as_text_outside_ipython(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notebook, "_in_ipython", lambda: False)
    ts = TestScheduler()
    source = ts.create_hot_observable(on_next(210.0, 3), on_completed(220.0))
    ts.schedule_absolute(
        200.0, lambda *_: show(source, render=lambda n: f"{n} online", scheduler=ts)
    )
    ts.start()
    assert capsys.readouterr().out == "3 online\n[stream completed after 1 value]\n"


def test_a_failing_render_stops_the_view_not_the_source(
    display: FakeDisplay, ts: TestScheduler
) -> None:
    subject: Subject[int] = Subject()
    seen: list[int] = []
    subject.subscribe(seen.append)
    view = show(subject, render=lambda v: 1 // v, throttle=0, scheduler=ts)
    subject.on_next(0)  # does not raise here
    subject.on_next(1)
    assert seen == [0, 1]
    assert view.done and isinstance(view.error, ZeroDivisionError)
    last = display.log[-1][1]
    assert last.status.startswith("render failed: ZeroDivisionError(") and last.failed


def test_a_failing_render_keeps_the_last_good_value(
    display: FakeDisplay, ts: TestScheduler
) -> None:
    subject: Subject[int] = Subject()
    show(subject, render=lambda v: 10 // v, throttle=0, scheduler=ts)
    subject.on_next(5)
    subject.on_next(0)
    last = display.log[-1][1]
    assert (last.value, last.failed, last.repeat) == (2, True, True)
    assert last.status == "render failed: ZeroDivisionError('integer division or modulo by zero')"


def test_frames_render_rosters_as_html_and_escape_other_values(
    display: FakeDisplay, ts: TestScheduler
) -> None:
    subject: Subject[object] = Subject()
    show(subject, throttle=0, scheduler=ts)
    subject.on_next(Roster("lobby", [Member("<ada>")]))
    html = display.log[-1][1]._repr_html_()
    assert html.startswith('<table class="rxpresence"') and "&lt;ada&gt;" in html
    subject.on_next("<b>")
    assert display.log[-1][1]._repr_html_() == "<pre>&#x27;&lt;b&gt;&#x27;</pre>"
    assert repr(display.log[-1][1]) == "'<b>'"


def test_the_view_does_not_display_itself_again(display: FakeDisplay, ts: TestScheduler) -> None:
    view = show(Subject(), scheduler=ts)
    assert view._ipython_display_() is None
    assert len(display.handles) == 1


def test_bad_throttle() -> None:
    for bad in (-1, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match=r"^throttle must be a finite number >= 0"):
            show(Subject(), throttle=bad)  # type: ignore[arg-type]


def test_outside_ipython_updates_are_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notebook, "_in_ipython", lambda: False)
    ts = TestScheduler()
    source = ts.create_hot_observable(
        on_next(210.0, Roster("lobby", [Member("ada")])), on_next(210.1, 5), on_completed(220.0)
    )
    ts.schedule_absolute(200.0, lambda *_: show(source, scheduler=ts))
    ts.start()
    assert capsys.readouterr().out == (
        "Roster('lobby', occupancy=1, [ada])\n5\n[stream completed after 2 values]\n"
    )


def test_in_ipython_is_false_in_a_plain_interpreter() -> None:
    assert notebook._in_ipython() is False


# -- to_dataframe ---------------------------------------------------------------------------


def test_dataframe_of_a_simulation() -> None:
    sim = simulate(duration=300, seed=2)
    frame = to_dataframe(sim)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == len(sim)
    assert frame["t"].tolist() == [t for t, _ in sim]
    assert frame["timetoken"].tolist() == [e.timetoken for _, e in sim]
    assert frame["action"].tolist() == [e.action.value for _, e in sim]
    assert frame["occupancy"].tolist() == [e.occupancy for _, e in sim]
    assert frame["joins"].tolist() == [len(e.join) for _, e in sim]
    assert {str(frame[c].dtype) for c in ("occupancy", "timestamp", "timetoken")} == {"int64"}
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["time"].iloc[0] == pd.Timestamp(sim[0][1].timetoken * 100, unit="ns", tz="UTC")
    # handy for timelines: the occupancy of each channel over time
    lobby = frame[frame.channel == "lobby"].set_index("t")["occupancy"]
    assert lobby.iloc[-1] == sim.occupancy("lobby", lobby.index[-1])


def test_dataframe_of_plain_events() -> None:
    join = PresenceEvent(
        "join", "a", "ada", occupancy=1, timestamp=1, timetoken=10_000_000, state={"s": 1}
    )
    interval = PresenceEvent(
        "interval",
        "a",
        occupancy=3,
        timestamp=3,
        timetoken=35_000_000,
        join=["b", "c"],
        timeout=["ada"],
        subscription="a.*",
    )
    refresh = PresenceEvent(
        "interval", "a", occupancy=9, timetoken=40_000_000, here_now_refresh=True, source="resync"
    )
    frame = to_dataframe([join, interval, refresh])
    assert frame.drop(columns=["time"]).to_dict("records") == [
        {
            "t": 0.0,
            "action": "join",
            "channel": "a",
            "uuid": "ada",
            "occupancy": 1,
            "timestamp": 1,
            "timetoken": 10_000_000,
            "state": {"s": 1},
            "joins": 0,
            "leaves": 0,
            "timeouts": 0,
            "here_now_refresh": False,
            "subscription": None,
            "source": "live",
        },
        {
            "t": 2.5,
            "action": "interval",
            "channel": "a",
            "uuid": None,
            "occupancy": 3,
            "timestamp": 3,
            "timetoken": 35_000_000,
            "state": None,
            "joins": 2,
            "leaves": 0,
            "timeouts": 1,
            "here_now_refresh": False,
            "subscription": "a.*",
            "source": "live",
        },
        {
            "t": 3.0,
            "action": "interval",
            "channel": "a",
            "uuid": None,
            "occupancy": 9,
            "timestamp": 0,
            "timetoken": 40_000_000,
            "state": None,
            "joins": 0,
            "leaves": 0,
            "timeouts": 0,
            "here_now_refresh": True,
            "subscription": None,
            "source": "resync",
        },
    ]
    assert [str(t) for t in frame["time"]] == [
        "1970-01-01 00:00:01+00:00",
        "1970-01-01 00:00:03.500000+00:00",
        "1970-01-01 00:00:04+00:00",
    ]


def test_dataframe_of_nothing_has_the_columns() -> None:
    frame = to_dataframe([])
    assert tuple(frame.columns) == COLUMNS and len(frame) == 0


def test_dataframe_rejects_other_items() -> None:
    with pytest.raises(TypeError, match=r"expected PresenceEvent or \(offset, PresenceEvent\)"):
        to_dataframe([("x", 1)])  # type: ignore[list-item]


def test_dataframe_without_pandas_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'pip install "rxpresence\[notebook\]"'):
        to_dataframe([])


def test_module_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notebook, "_in_ipython", lambda: False)
    result = doctest.testmod(notebook)
    assert result.failed == 0 and result.attempted >= 8


def test_works_with_a_simulated_roster_stream(display: FakeDisplay, ts: TestScheduler) -> None:
    from reactivex import operators as ops

    profile = ChannelProfile("a", initial_members=30, announce_max=1000)
    sim = simulate(profile, duration=60, seed=1)
    rosters = sim.observable(scheduler=ts).pipe(ops.scan(Roster.apply, Roster("a")))
    views: list[LiveView] = []
    ts.schedule_absolute(200.0, lambda *_: views.append(show(rosters, scheduler=ts)))
    ts.start()
    final = display.log[-1][1]
    assert final.value == sim.roster("a", 60.0)
    assert final.status == f"stream completed after {len(sim)} values"
    assert views[0].updates < len(sim)  # throttled
