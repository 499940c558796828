"""The presence simulator: determinism, ground truth, interval mode, virtual-time playback."""

from __future__ import annotations

import dataclasses
import doctest
import itertools
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.scheduler import HistoricalScheduler
from reactivex.testing import TestScheduler

import rxpresence.simulate as simulate_module
from rxpresence import Action, PresenceEvent, Roster
from rxpresence.simulate import (
    DEFAULT_START,
    ChannelProfile,
    Simulation,
    SimulationConfig,
    busy_afternoon,
    simulate,
    simulated_events,
    timed_observable,
)

INDIVIDUAL = {Action.JOIN, Action.LEAVE, Action.TIMEOUT}


def fold(sim: Simulation, channel: str, until: float = math.inf) -> Roster:
    """Fold a channel's events into a roster, answering here-now refreshes from the truth."""
    roster = Roster(channel)
    for t, event in sim:
        if event.channel != channel or t > until:
            continue
        if event.here_now_refresh:
            truth = sim.roster(channel, t)
            roster = roster.with_sync(
                truth.members.values(), occupancy=event.occupancy, timetoken=event.timetoken
            )
        else:
            roster = roster.apply(event)
    return roster


def of(sim: Simulation, channel: str) -> list[tuple[float, PresenceEvent]]:
    return [(t, e) for t, e in sim if e.channel == channel]


# -- determinism and bookkeeping --------------------------------------------------------


def test_same_seed_same_events_and_other_seed_other_events() -> None:
    first = simulate(duration=900, seed=11)
    again = simulate(duration=900, seed=11)
    other = simulate(duration=900, seed=12)
    assert first == again
    assert first.events == again.events
    assert [e.timetoken for _, e in first] == [e.timetoken for _, e in again]
    assert first.flickers == again.flickers
    assert first.sessions == again.sessions
    assert first.events != other.events


def test_a_channel_does_not_depend_on_the_others() -> None:
    alone = simulate(busy_afternoon().channel("support"), duration=900, seed=4)
    together = simulate(busy_afternoon(), duration=900, seed=4)

    def key(pairs: list[tuple[float, PresenceEvent]]) -> list[tuple[object, ...]]:
        return [(t, e.action, e.uuid, e.occupancy, e.state) for t, e in pairs]

    assert key(of(alone, "support")) == key(of(together, "support"))


def test_default_is_a_busy_afternoon_hour() -> None:
    sim = simulate()
    assert sim.duration == 3600.0
    assert sim.seed == 0
    assert sim.config == busy_afternoon()
    assert sim.channels == ("lobby", "random", "support")
    assert len(sim) == len(sim.events) > 1000
    assert repr(sim).startswith("Simulation(['lobby', 'random', 'support'], ")


def test_offsets_timestamps_and_timetokens() -> None:
    sim = simulate(duration=1200, seed=5, start=1_700_000_000.5)
    offsets = [t for t, _ in sim]
    timetokens = [e.timetoken for _, e in sim]
    assert offsets == sorted(offsets)
    assert all(0 <= t <= 1200 and t == round(t, 3) for t in offsets)
    assert all(a < b for a, b in itertools.pairwise(timetokens))
    for t, event in sim:
        base = 17_000_000_005_000_000 + round(t * 1000) * 10_000
        assert base <= event.timetoken < base + 10_000  # the tie-breaker stays below 1 ms
        assert event.timestamp == event.timetoken // 10**7 == math.floor(1_700_000_000.5 + t)
        assert event.source == "live"


def test_start_defaults_to_a_tuesday_afternoon() -> None:
    assert datetime.fromtimestamp(DEFAULT_START, UTC) == datetime(2024, 5, 14, 14, tzinfo=UTC)
    sim = simulate(ChannelProfile("a", initial_members=1), duration=1, seed=0)
    assert sim[0][1].timestamp == int(DEFAULT_START)
    assert sim.timetoken(2.5) == 17_156_952_025_000_000


def test_sequence_protocol() -> None:
    sim = simulate(ChannelProfile("a", initial_members=3), duration=30, seed=1)
    assert sim[0] == sim.events[0]
    assert sim[:2] == sim.events[:2]
    assert list(sim) == sim.events
    assert len(sim) == len(sim.events)


def test_zero_duration_is_empty() -> None:
    sim = simulate(ChannelProfile("a", initial_members=5), duration=0, seed=1)
    assert sim.events == []
    assert sim.sessions == ()


# -- ground truth -----------------------------------------------------------------------


def test_occupancy_of_every_event_is_the_true_count() -> None:
    sim = simulate(duration=1800, seed=21)
    for t, event in sim:
        assert event.occupancy == sim.occupancy(event.channel, t), (t, event)
    for channel in sim.channels:
        for at in (-1.0, 0.0, 0.5, 1.0, 299.9995, 1000.0, 1800.0, 5000.0):
            assert sim.occupancy(channel, at) == len(sim.members(channel, at))


def test_announce_mode_roster_equals_the_truth_exactly() -> None:
    profile = ChannelProfile(
        "support",
        arrival_rate=1 / 30,
        initial_members=5,
        announce_max=100,
        flaky_fraction=0.5,
        drop_every=60.0,
        state_change_rate=1 / 60,
    )
    sim = simulate(profile, duration=1800, seed=3)
    assert {e.action for _, e in sim} == {*INDIVIDUAL, Action.STATE_CHANGE}
    for at in (0.5, 300.0, 900.0, 1800.0):
        assert fold(sim, "support", at) == sim.roster("support", at)
    end = fold(sim, "support")
    assert end == sim.roster("support", 1800.0)
    assert dict(sim.members("support", 1800.0)) == {m.uuid: m.state for m in end}
    assert len(end) > 0


def test_interval_mode_roster_has_the_true_members() -> None:
    profile = ChannelProfile(
        "lobby",
        arrival_rate=0.2,
        initial_members=40,
        flaky_fraction=0.5,
        drop_every=60.0,
        max_deltas=None,
    )
    sim = simulate(profile, duration=1200, seed=8)
    events = of(sim, "lobby")
    intervals = [(t, e) for t, e in events if e.action is Action.INTERVAL]
    assert len(intervals) == 120  # one every 10 s, at 10, 20, ..., 1200
    assert [t for t, _ in intervals] == [10.0 * k for k in range(1, 121)]
    assert any(e.has_deltas for _, e in intervals)
    assert not any(e.here_now_refresh for _, e in intervals)
    for t, _ in intervals:
        assert fold(sim, "lobby", t).uuids == sim.present("lobby", t)
    assert fold(sim, "lobby").uuids == sim.present("lobby", 1200.0)


def test_interval_arrays_over_the_limit_become_here_now_refresh() -> None:
    profile = ChannelProfile("lobby", arrival_rate=0.3, initial_members=30, max_deltas=3)
    sim = simulate(profile, duration=600, seed=2)
    intervals = [e for _, e in sim if e.action is Action.INTERVAL]
    refreshes = [e for e in intervals if e.here_now_refresh]
    assert refreshes and len(refreshes) < len(intervals)
    assert all(not e.has_deltas for e in refreshes)
    assert all(len(e.join) + len(e.leave) + len(e.timeout) <= 3 for e in intervals)
    # the first interval names the 10 initial members that were not announced: too many
    assert intervals[0].here_now_refresh
    assert fold(sim, "lobby").uuids == sim.present("lobby", 600.0)


def test_without_deltas_interval_events_carry_only_occupancy() -> None:
    profile = ChannelProfile("lobby", initial_members=25, deltas=False)
    sim = simulate(profile, duration=120, seed=1)
    intervals = [e for _, e in sim if e.action is Action.INTERVAL]
    assert len(intervals) == 12
    assert all(not e.has_deltas and not e.here_now_refresh for e in intervals)


def test_channel_switches_between_announce_and_interval_mode() -> None:
    profile = ChannelProfile(
        "room", arrival_rate=1 / 20, session_seconds=400.0, initial_members=15, announce_max=20
    )
    sim = simulate(profile, duration=3600, seed=6)
    batching = False
    for t, event in sim:
        if event.action is Action.INTERVAL:
            assert t % 10 == 0
            batching = event.occupancy > 20
        elif event.action in INDIVIDUAL:
            # announced one by one only between intervals below the announce max, and
            # only while the occupancy stays at or below it
            assert not batching and event.occupancy <= 20, (t, event)
    actions = {e.action for _, e in sim}
    assert {Action.INTERVAL, Action.JOIN, Action.LEAVE} <= actions
    assert fold(sim, "room").uuids == sim.present("room", 3600.0)


def test_announce_max_zero_means_interval_mode_from_the_first_join() -> None:
    profile = ChannelProfile("a", initial_members=2, announce_max=0, state_change_rate=0)
    sim = simulate(profile, duration=10, seed=1)
    assert [e.action for _, e in sim] == [Action.INTERVAL]
    assert sim[0][1].join == tuple(sorted(sim.present("a", 10.0)))
    assert sim[0][1].occupancy == 2


def test_joins_carry_state_unless_state_on_join_is_off() -> None:
    with_state = simulate(ChannelProfile("a", initial_members=4), duration=5, seed=1)
    assert all(e.state in ChannelProfile("a").states for _, e in with_state)
    without = ChannelProfile("a", initial_members=4, state_on_join=False)
    assert all(e.state is None for _, e in simulate(without, duration=5, seed=1))


def test_state_changes_pick_another_state() -> None:
    profile = ChannelProfile("a", initial_members=5, state_change_rate=0.1, flaky_fraction=0.0)
    sim = simulate(profile, duration=300, seed=9)
    state: dict[str, object] = {}
    changes = 0
    for _, event in sim:
        if event.action is Action.STATE_CHANGE:
            assert event.state != state[event.uuid]  # type: ignore[index]
            changes += 1
        if event.action in (Action.JOIN, Action.STATE_CHANGE):
            state[event.uuid] = event.state  # type: ignore[index]
    assert changes > 20


# -- flickers and sessions ---------------------------------------------------------------


def test_flickers_are_a_departure_then_a_join_a_few_seconds_later() -> None:
    profile = ChannelProfile(
        "a",
        arrival_rate=1 / 10,
        initial_members=10,
        flaky_fraction=1.0,
        drop_every=60.0,
        drop_seconds=(2.0, 5.0),
        announce_max=1000,
        reload_fraction=0.3,
    )
    sim = simulate(profile, duration=1200, seed=13)
    assert len(sim.flickers) > 50
    by_time = {(t, e.uuid): e for t, e in sim}
    actions = set()
    for f in sim.flickers:
        assert f.channel == "a" and f.announced
        assert 1.999 <= f.gap <= 5.001
        assert by_time[(f.dropped_at, f.uuid)].action is f.action
        rejoin = by_time[(f.rejoined_at, f.uuid)]
        assert rejoin.action is Action.JOIN
        assert f.uuid not in sim.present("a", f.dropped_at)
        assert f.uuid in sim.present("a", f.rejoined_at)
        actions.add(f.action)
    assert actions == {Action.TIMEOUT, Action.LEAVE}
    drops = sum(s.drops for s in sim.sessions)
    assert drops == len(sim.flickers)


def test_no_flaky_sessions_no_flickers() -> None:
    profile = ChannelProfile("a", arrival_rate=1 / 10, initial_members=10, flaky_fraction=0.0)
    sim = simulate(profile, duration=600, seed=13)
    assert sim.flickers == ()
    assert all(s.drops == 0 for s in sim.sessions)


def test_flickers_inside_one_interval_are_not_announced() -> None:
    profile = ChannelProfile(
        "lobby",
        initial_members=40,
        flaky_fraction=1.0,
        drop_every=30.0,
        drop_seconds=(1.0, 3.0),
        max_deltas=None,
    )
    sim = simulate(profile, duration=600, seed=3)
    hidden = [f for f in sim.flickers if not f.announced]
    shown = [f for f in sim.flickers if f.announced]
    assert hidden and shown
    for f in hidden:  # dropped and rejoined between two interval events
        assert math.floor(f.dropped_at / 10) == math.floor(f.rejoined_at / 10)
    named = {u for _, e in sim for u in (*e.timeout, *e.leave)}
    named |= {e.uuid for _, e in sim if e.action in (Action.TIMEOUT, Action.LEAVE)}
    assert all(f.uuid in named for f in shown)


def test_sessions_match_the_events() -> None:
    profile = ChannelProfile(
        "a",
        arrival_rate=1 / 15,
        initial_members=5,
        vanish_fraction=0.5,
        announce_max=1000,
        flaky_fraction=0.0,
        return_fraction=0.0,
    )
    sim = simulate(profile, duration=900, seed=17)
    joins = [(t, e.uuid) for t, e in sim if e.action is Action.JOIN]
    assert [(s.start, s.uuid) for s in sim.sessions] == joins
    ended = [s for s in sim.sessions if s.end is not None]
    departures = {
        (t, e.uuid): e.action for t, e in sim if e.action in (Action.LEAVE, Action.TIMEOUT)
    }
    assert {(s.end, s.uuid): s.end_action for s in ended} == departures
    assert {s.end_action for s in ended} == {Action.LEAVE, Action.TIMEOUT}
    still = {s.uuid for s in sim.sessions if s.end is None}
    assert still == sim.present("a", 900.0)


def test_returning_visitors_reuse_uuids() -> None:
    profile = ChannelProfile(
        "a", arrival_rate=1 / 5, session_seconds=30.0, return_fraction=1.0, flaky_fraction=0.0
    )
    sim = simulate(profile, duration=600, seed=2)
    uuids = [s.uuid for s in sim.sessions]
    assert len(set(uuids)) < len(uuids) / 2
    assert fold(sim, "a") == sim.roster("a", 600.0)


def test_uuid_prefix_and_subscription() -> None:
    profile = ChannelProfile("a.b", initial_members=2, uuid_prefix="u", subscription="a.*")
    sim = simulate(profile, duration=5, seed=0)
    assert [(e.uuid, e.subscription) for _, e in sim] == [("u0000", "a.*"), ("u0001", "a.*")]
    default = simulate(ChannelProfile("a.b", initial_members=1), duration=5, seed=0)
    assert default[0][1].uuid == "a.b-user-0000"


def test_truth_queries_on_unknown_channel() -> None:
    sim = simulate(ChannelProfile("a"), duration=5, seed=0)
    with pytest.raises(KeyError, match="no simulated channel 'b'"):
        sim.present("b", 1.0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    arrival_rate=st.floats(0.0, 0.5),
    initial=st.integers(0, 30),
    announce_max=st.integers(0, 25),
    interval=st.sampled_from([1.0, 2.5, 10.0]),
    max_deltas=st.sampled_from([None, 0, 4, 500]),
    flaky=st.floats(0.0, 1.0),
    state_on_join=st.booleans(),
)
def test_truth_holds_for_any_profile(
    seed: int,
    arrival_rate: float,
    initial: int,
    announce_max: int,
    interval: float,
    max_deltas: int | None,
    flaky: float,
    state_on_join: bool,
) -> None:
    profile = ChannelProfile(
        "c",
        arrival_rate=arrival_rate,
        session_seconds=60.0,
        initial_members=initial,
        announce_max=announce_max,
        interval=interval,
        max_deltas=max_deltas,
        flaky_fraction=flaky,
        drop_every=20.0,
        drop_seconds=(0.001, 12.0),
        return_fraction=0.5,
        state_change_rate=0.02,
        state_on_join=state_on_join,
    )
    sim = simulate(profile, duration=200, seed=seed)
    previous = -1
    for t, event in sim:
        assert event.timetoken > previous
        previous = event.timetoken
        assert event.occupancy == sim.occupancy("c", t)
    roster = fold(sim, "c")
    assert roster.uuids == sim.present("c", 200.0)
    if not any(e.action is Action.INTERVAL for _, e in sim):
        assert roster == sim.roster("c", 200.0)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "ChannelProfile.name must be a non-empty string, got ''"),
        ("arrival_rate", -1.0, "ChannelProfile.arrival_rate must be a finite number >= 0"),
        ("arrival_rate", math.inf, "ChannelProfile.arrival_rate must be a finite number >= 0"),
        ("session_seconds", 0, "ChannelProfile.session_seconds must be a finite number > 0"),
        ("session_distribution", "normal", "ChannelProfile.session_distribution must be"),
        ("initial_members", 1.5, "ChannelProfile.initial_members must be an int >= 0"),
        ("initial_members", True, "ChannelProfile.initial_members must be an int >= 0"),
        ("flaky_fraction", 1.5, "ChannelProfile.flaky_fraction must be a number in \\[0, 1\\]"),
        ("vanish_fraction", -0.1, "ChannelProfile.vanish_fraction must be a number in"),
        ("drop_seconds", (5.0, 1.0), "ChannelProfile.drop_seconds must be a \\(low, high\\)"),
        ("drop_seconds", (0.0, 1.0), "ChannelProfile.drop_seconds must be a \\(low, high\\)"),
        ("interval", 0, "ChannelProfile.interval must be a finite number > 0"),
        ("announce_max", -1, "ChannelProfile.announce_max must be an int >= 0"),
        ("max_deltas", -1, "ChannelProfile.max_deltas must be None or an int >= 0"),
        ("states", ["busy"], "ChannelProfile.states must be a sequence of mappings"),
        ("states", (), "ChannelProfile.states must not be empty when state_change_rate > 0"),
        ("deltas", "yes", "ChannelProfile.deltas must be a bool"),
        ("subscription", "", "ChannelProfile.subscription must be None or a non-empty string"),
    ],
)
def test_profile_validation_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        ChannelProfile(**{"name": "a", field: value})  # type: ignore[arg-type]


def test_profile_normalises_states_and_drop_seconds() -> None:
    profile = ChannelProfile("a", states=[{"s": 1}], drop_seconds=[1, 2])  # type: ignore[arg-type]
    assert profile.states == ({"s": 1},)
    assert profile.drop_seconds == (1.0, 2.0)
    assert dataclasses.replace(profile, arrival_rate=0.5).states == ({"s": 1},)
    assert ChannelProfile("a", states=(), state_change_rate=0).states == ()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match=r"^SimulationConfig.channels must be a non-empty"):
        SimulationConfig(())
    with pytest.raises(ValueError, match=r"must have unique names, got \['a'\] twice"):
        SimulationConfig([ChannelProfile("a"), ChannelProfile("a")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^SimulationConfig.start must be Unix seconds >= 0"):
        SimulationConfig((ChannelProfile("a"),), start=-1)
    config = SimulationConfig([ChannelProfile("a")])  # type: ignore[arg-type]
    assert config.channels == (ChannelProfile("a"),)
    with pytest.raises(KeyError):
        config.channel("b")


def test_simulate_validation() -> None:
    with pytest.raises(ValueError, match=r"^duration must be a finite number >= 0, got -1"):
        simulate(duration=-1)
    with pytest.raises(ValueError, match=r"^seed must be an int, got 1.5"):
        simulate(seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a SimulationConfig"):
        simulate(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^scale must be a finite number > 0"):
        busy_afternoon(scale=0)


def test_simulate_accepts_profiles() -> None:
    a, b = ChannelProfile("a", initial_members=2), ChannelProfile("b", initial_members=1)
    assert simulate([a, b], duration=5, seed=1) == simulate(
        SimulationConfig((a, b)), duration=5, seed=1
    )
    assert simulate(a, duration=5, seed=1).channels == ("a",)


def test_busy_afternoon_modes_and_scale() -> None:
    sim = simulate(duration=1800, seed=1)
    modes = {
        name: {e.action for _, e in of(sim, name)} & {Action.INTERVAL, Action.JOIN}
        for name in sim.channels
    }
    assert modes == {
        "lobby": {Action.INTERVAL, Action.JOIN},  # the first 20 joins, then intervals
        "random": {Action.INTERVAL, Action.JOIN},
        "support": {Action.JOIN},
    }
    assert 30 <= sim.occupancy("lobby", 1800.0) <= 70
    assert sim.occupancy("support", 1800.0) <= 15
    big = busy_afternoon(scale=10)
    assert big.channel("lobby").initial_members == 420
    assert big.channel("lobby").arrival_rate == pytest.approx(1.25)


# -- observables ----------------------------------------------------------------------------


def test_simulated_events_in_virtual_time() -> None:
    sim = simulate(duration=600, seed=2)
    ts = TestScheduler()
    got = ts.start(lambda: sim.observable(scheduler=ts))
    notifications = got.messages
    assert [m.value.kind for m in notifications] == ["N"] * len(sim) + ["C"]
    assert [m.value.value for m in notifications[:-1]] == [e for _, e in sim]
    assert [m.time for m in notifications[:-1]] == [
        ts.to_seconds(ts.to_datetime(200.0) + ts.to_timedelta(t)) for t, _ in sim
    ]
    assert [round(m.time - 200.0, 6) for m in notifications[:-1]] == [t for t, _ in sim]
    assert notifications[-1].time == notifications[-2].time


def test_simulated_events_shorthand_equals_observable() -> None:
    ts = TestScheduler()
    got = ts.start(lambda: simulated_events(duration=60, seed=3, scheduler=ts))
    sim = simulate(duration=60, seed=3)
    assert [m.value.value for m in got.messages[:-1]] == [e for _, e in sim]


def test_speed_divides_offsets_and_none_emits_at_once() -> None:
    sim = simulate(ChannelProfile("a", arrival_rate=0.5), duration=60, seed=4)
    ts = TestScheduler()
    fast = ts.start(lambda: sim.observable(speed=10.0, scheduler=ts))
    assert [round(m.time - 200.0, 6) for m in fast.messages[:-1]] == [
        round(t / 10, 6) for t, _ in sim
    ]
    ts = TestScheduler()
    burst = ts.start(lambda: sim.observable(speed=None, scheduler=ts))
    assert {m.time for m in burst.messages} == {200.0}
    assert [m.value.value for m in burst.messages[:-1]] == [e for _, e in sim]


def test_speed_none_defaults_to_the_current_thread() -> None:
    sim = simulate(ChannelProfile("a", initial_members=3), duration=5, seed=1)
    got: list[PresenceEvent] = []
    sim.observable(speed=None).subscribe(got.append)
    assert got == [e for _, e in sim]
    first: list[PresenceEvent] = []
    sim.observable(speed=None).pipe(ops.take(1)).subscribe(first.append)
    assert first == got[:1]


def test_observable_on_historical_scheduler() -> None:
    start = datetime(2024, 5, 14, 14, tzinfo=UTC)
    hs = HistoricalScheduler(start)
    sim = simulate(ChannelProfile("a", arrival_rate=0.2), duration=60, seed=5)
    seen: list[tuple[float, PresenceEvent]] = []
    sim.observable(scheduler=hs).subscribe(
        lambda e: seen.append(((hs.now - start).total_seconds(), e))
    )
    hs.start()
    assert [(round(t, 6), e) for t, e in seen] == list(sim)


def test_disposing_stops_the_playback() -> None:
    sim = simulate(ChannelProfile("a", arrival_rate=0.5), duration=100, seed=6)
    ts = TestScheduler()
    got = ts.start(lambda: sim.observable(scheduler=ts), disposed=250.0)
    assert [m.value.value for m in got.messages] == [e for t, e in sim if t <= 50.0]
    assert all(m.time <= 250.0 for m in got.messages)


def test_timed_observable_groups_equal_offsets_and_catches_up_on_late_ones() -> None:
    ts = TestScheduler()
    items = [(1.0, "a"), (1.0, "b"), (3.0, "c"), (2.0, "d"), (4.0, "e")]
    got = ts.start(lambda: timed_observable(items, scheduler=ts))
    assert [(m.time, m.value.kind, getattr(m.value, "value", None)) for m in got.messages] == [
        (201.0, "N", "a"),
        (201.0, "N", "b"),
        (203.0, "N", "c"),
        (203.0, "N", "d"),
        (204.0, "N", "e"),
        (204.0, "C", None),
    ]
    ts = TestScheduler()
    empty = ts.start(lambda: timed_observable([], scheduler=ts))
    assert [(m.time, m.value.kind) for m in empty.messages] == [(200.0, "C")]
    with pytest.raises(ValueError, match=r"^speed must be a finite number > 0 or None, got 0"):
        timed_observable(items, speed=0)


def test_subscribe_scheduler_is_the_default() -> None:
    ts = TestScheduler()
    source = timed_observable([(5.0, "x")])
    got = ts.start(lambda: source)  # TestScheduler.start passes itself to subscribe
    assert [(m.time, m.value.kind) for m in got.messages] == [(205.0, "N"), (205.0, "C")]


def test_module_examples() -> None:
    result = doctest.testmod(simulate_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8
