"""The live view, rendered into strings at several terminal sizes."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from types import MappingProxyType

import pytest
from rich.console import Console

from rxpresence import PresenceEvent
from rxpresence._console._model import (
    ChannelView,
    ConsoleModel,
    LogLine,
    MemberView,
    ViewHeader,
    ViewState,
)
from rxpresence._console._output import LiveDisplay
from rxpresence._console._view import layout_for, render_view, since_text

NOW = 1_700_000_100.0


def members(n: int, prefix: str = "fan-") -> tuple[MemberView, ...]:
    return tuple(MemberView(f"{prefix}{i:02d}", None, int(NOW) - 60 - i) for i in range(n))


def view_state(channels: tuple[ChannelView, ...] | None = None, grace: float = 5) -> ViewState:
    lobby = ChannelView(
        "lobby",
        members=(
            MemberView(
                "alice", MappingProxyType({"status": "away", "typing": True}), int(NOW) - 42
            ),
            MemberView("fran", None, int(NOW) - 300, held=True),
        ),
        occupancy=1,
        smoothed=2,
        rate=1.5,
        events=12,
        flickers=1,
    )
    stadium = ChannelView(
        "stadium", members=members(40), occupancy=41, smoothed=41, interval_mode=True
    )
    log = (
        LogLine(NOW - 3, "lobby", "join", "alice", 2, "status=away"),
        LogLine(NOW - 2, "lobby", "leave", "bob", 1, "left"),
        LogLine(NOW - 1, "lobby", "timeout", "fran", 1, "no heartbeat: timed out"),
        LogLine(NOW, "", "status", "", None, "connected"),
    )
    return ViewState(
        header=ViewHeader("rxpresence demo", "local server 127.0.0.1:8090", ("seed 1",), 30),
        now=NOW,
        elapsed=12.4,
        connection="connected",
        connected=True,
        grace=grace,
        channels=(lobby, stadium) if channels is None else channels,
        log=log,
        counts={"join": 30, "leave": 4, "timeout": 2, "state-change": 5, "interval": 3},
        flickers=1,
    )


def render(state: ViewState, width: int, height: int) -> str:
    console = Console(
        file=io.StringIO(), width=width, height=height, record=True, color_system=None
    )
    console.print(render_view(state, width, height))
    return console.export_text()


def test_the_view_shows_rosters_occupancies_log_and_totals() -> None:
    text = render(view_state(), 120, 40)
    lines = text.splitlines()
    assert lines[0].startswith("rxpresence demo · local server 127.0.0.1:8090 · seed 1 · 12/30 s")
    assert "● connected · grace 5 s" in lines[0]
    assert "lobby" in text and "stadium interval" in text
    assert "occupancy: PubNub 1 │ smoothed 2" in text
    assert "status=away typing" in text  # wide panels show keys
    assert "42s" in text
    assert "timed out, in grace" in text and "held" in text
    assert "1.5 ev/s · 1 flicker hidden" in text
    assert "+" in text and "more" in text  # the stadium does not fit
    for action in ("join", "leave", "timeout", "status"):
        assert action in text
    assert "no heartbeat: timed out" in text
    assert lines[-1].startswith(
        "44 events: join 30 · leave 4 · timeout 2 · state 5 · interval 3 │ 1 flicker hidden"
    )
    assert "Ctrl-C to stop" in lines[-1]


def test_counts_of_one_are_singular() -> None:
    channels = tuple(ChannelView(f"room-{i}", occupancy=0, smoothed=0) for i in range(5))
    state = replace(view_state(channels=channels), counts={"join": 1}, flickers=1)
    last = render(state, 104, 14).splitlines()[-1]  # one row of four panels fits
    assert last.startswith("1 event: join 1 │ 1 flicker hidden │ 1 more channel not shown")
    state = replace(view_state(channels=channels[:1]), counts={"join": 2}, flickers=0)
    last = render(state, 104, 30).splitlines()[-1]
    assert last.startswith("2 events: join 2 │ 0 flickers hidden │ Ctrl-C")


def test_narrow_panels_are_compact() -> None:
    text = render(view_state(), 60, 24)
    assert "PubNub 1 │ smoothed 2" in text
    assert re.search(r"│alice +away typ", text)  # values only, no "status="
    assert "1.5/s · 1 flicker" in text


def test_without_grace_one_occupancy_is_shown() -> None:
    text = render(view_state(grace=0), 120, 30)
    assert "occupancy 1" in text
    assert "smoothed" not in text and "flicker" not in text


def test_no_channel_yet() -> None:
    text = render(view_state(channels=()), 80, 24)
    assert "waiting for presence events" in text


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (160, 45), (60, 15), (200, 60)])
def test_the_view_fits_the_terminal(width: int, height: int) -> None:
    channels = tuple(
        ChannelView(f"room-{i}", members=members(30, f"u{i}-"), occupancy=30, smoothed=30)
        for i in range(5)
    )
    text = render(view_state(channels=channels), width, height)
    lines = text.splitlines()
    assert len(lines) <= height - 1
    assert max(len(line) for line in lines) <= width
    if width // 26 < 5:
        assert "more channels not shown" in lines[-1] or len(lines) <= height - 1


def test_layout() -> None:
    three = layout_for([30, 30, 30], 80, 24)
    assert (three.columns, three.panel_rows) == (3, 1)
    assert three.member_rows >= 8
    five = layout_for([30] * 5, 80, 24)
    assert five.columns == 3 and five.panel_rows in (1, 2)
    assert layout_for([], 80, 24).panel_rows == 0


def test_the_log_takes_the_height_the_panels_leave() -> None:
    # Full rosters: the log keeps its share, a quarter of the height.
    assert layout_for([30, 30], 100, 40).log_rows == 9
    # Short rosters: panels of 4 + 3 lines; 40 - 3 - 2 (log borders) - 7 = 28.
    assert layout_for([3, 2], 100, 40).log_rows == 28
    assert layout_for([3, 2], 100, 40, legend=True).log_rows == 27
    assert layout_for([], 100, 40).log_rows == 34  # below the "waiting" line


def log_of(n: int) -> tuple[LogLine, ...]:
    return tuple(LogLine(NOW - n + i, "lobby", "join", f"user-{i:02d}", i) for i in range(n))


@pytest.mark.parametrize("grace", [5, 0])
def test_the_events_panel_grows_with_the_terminal(grace: float) -> None:
    channels = (
        ChannelView("lobby", members=members(3, "u"), occupancy=3, smoothed=3),
        ChannelView("support", members=members(2, "s"), occupancy=2, smoothed=2),
    )
    state = replace(view_state(channels=channels, grace=grace), log=log_of(80))
    shown: dict[int, list[str]] = {}
    for height in (24, 48):
        lines = render(state, 100, height).splitlines()
        assert len(lines) == height - 1  # the whole terminal but the cursor's line
        shown[height] = re.findall(r"user-(\d+)", "\n".join(lines))
    # The newest entries, and 24 more of them on a terminal 24 lines taller.
    assert shown[24] == [f"{i:02d}" for i in range(80 - len(shown[24]), 80)]
    assert len(shown[48]) == len(shown[24]) + 24
    assert shown[48][-1] == "79"


def test_the_live_display_asks_for_a_screenful_of_log() -> None:
    model = ConsoleModel(5)
    for i in range(80):
        model.on_event(PresenceEvent("join", "lobby", f"user-{i:02d}", i + 1))
    console = Console(
        file=io.StringIO(), width=100, height=60, force_terminal=True, color_system=None
    )
    display = LiveDisplay(console, model, ViewHeader("test", "nowhere"))
    display.close()
    assert re.findall(r"user-(\d+)", console.file.getvalue())[-1] == "79"
    assert len(set(re.findall(r"user-(\d+)", console.file.getvalue()))) > 40


def test_the_legend_explains_smoothed_occupancy() -> None:
    text = render(view_state(grace=10), 100, 30)
    [legend] = [line for line in text.splitlines() if line.startswith("smoothed")]
    assert legend == (
        "smoothed: PubNub's occupancy, but a member that times out stays counted "
        "for the 10 s grace period"
    )
    wide = render(view_state(grace=10), 160, 30)
    assert "; back within it, it never left (a hidden flicker)" in wide
    narrow = render(view_state(grace=10), 60, 24)
    assert any(line.startswith("smoothed: PubNub's occupancy") for line in narrow.splitlines())
    assert all(len(line) <= 60 for line in narrow.splitlines())
    assert "smoothed:" not in render(view_state(grace=0), 100, 30)
    assert "smoothed:" not in render(view_state(channels=()), 100, 30)


def test_since_text() -> None:
    assert since_text(NOW, 0) == ""
    assert since_text(NOW, int(NOW) - 5) == "5s"
    assert since_text(NOW, int(NOW) - 185) == "3m05s"
    assert since_text(NOW, int(NOW) - 7380) == "2h03m"
    assert since_text(NOW, int(NOW) + 10) == "0s"  # clock skew
