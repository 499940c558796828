"""Reading SDK objects: read_sdk's fast path agrees with the checked constructor.

read_sdk builds plain joins, leaves and timeouts without the PresenceEvent constructor
(its checks made field by field, once): these tests hold the two paths together, and
the listener (read_sdk, then the registry's fold) together with ``push(from_sdk(...))``.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import nested_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pubnub.models.consumer.pubsub import PNPresenceEventResult

import rxpresence as rxp
from rxpresence._event import read_sdk
from rxpresence._limits import MAX_STATE_BYTES, MAX_STATE_DEPTH

TT = 17_000_000_000_000_000
UUIDS = ["a", "b", "c"]


def _sdk(**fields: Any) -> PNPresenceEventResult:
    """An SDK result built by the SDK's class, then bent by setattr where asked."""
    bent = {k: fields.pop(k) for k in list(fields) if k.startswith("bent_")}
    result = PNPresenceEventResult(
        event=fields.get("event", "join"),
        uuid=fields.get("uuid"),
        timestamp=fields.get("timestamp", 1_700_000_000),
        occupancy=fields.get("occupancy", 1),
        subscription=fields.get("subscription"),
        channel=fields.get("channel", "room"),
        timetoken=fields.get("timetoken", TT),
        state=fields.get("state"),
        join=fields.get("join"),
        leave=fields.get("leave"),
        timeout=fields.get("timeout"),
    )
    for name, value in bent.items():
        setattr(result, name.removeprefix("bent_"), value)
    return result


class _StrSub(str):
    pass


_odd_values = st.sampled_from(
    [None, "", -1, True, 3.0, "3", _StrSub("a"), ["a"], {"x": 1}, object()]
)


# States the fast path walks with the constructor's own check: within the limits, and
# past each of them (size, depth, a value JSON cannot hold, a key that is not a string).
_STATES: list[Any] = [
    {"mood": "ok"},
    {"mood": "busy", "typing": True, "seen": [1, 2.5, None]},
    {"text": "x" * (MAX_STATE_BYTES + 1)},
    nested_state(MAX_STATE_DEPTH),
    nested_state(MAX_STATE_DEPTH + 1),
    {"bad": float("nan")},
    {"bad": object()},
    {1: "key not a string"},
    {"big": 2**70},
]


@st.composite
def sdk_results(draw: st.DrawFn) -> PNPresenceEventResult:
    action = draw(
        st.sampled_from(["join", "join", "leave", "timeout", "state-change", "interval", "dance"])
    )
    fields: dict[str, Any] = {
        "event": action,
        "uuid": draw(st.sampled_from(UUIDS)) if action != "interval" else None,
        "channel": draw(st.sampled_from(["room", "room", "hall"])),
        "occupancy": draw(st.integers(0, 4)),
        "timestamp": 1_700_000_000 + draw(st.integers(0, 5)),
        "timetoken": TT + draw(st.integers(0, 40)),
    }
    if action in ("join", "state-change") and draw(st.booleans()):
        fields["state"] = draw(st.sampled_from(_STATES))
    if action == "interval":
        for name in ("join", "leave", "timeout"):
            if draw(st.booleans()):
                fields[name] = draw(st.lists(st.sampled_from(UUIDS), max_size=2))
    if draw(st.integers(0, 9)) == 0:
        fields["subscription"] = draw(st.sampled_from(["room.*", None]))
    if draw(st.integers(0, 5)) == 0:  # something the SDK's asserts would not catch
        name = draw(
            st.sampled_from(
                ["uuid", "channel", "occupancy", "timestamp", "timetoken", "state",
                 "subscription", "join", "leave", "timeout", "event"]
            )
        )  # fmt: skip
        fields[f"bent_{name}"] = draw(_odd_values)
    return _sdk(**fields)


def _observe(hub: rxp.PresenceStreams, with_events: bool) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {"room": [], "hall": [], "errors": [], "events": []}
    for channel in ("room", "hall"):
        hub.roster(channel).subscribe(seen[channel].append)
        hub.occupancy(channel).subscribe(seen[channel].append)
    hub.errors.subscribe(lambda e: seen["errors"].append((e.where, type(e.error), str(e.error))))
    if with_events:
        hub.events.subscribe(seen["events"].append)
    return seen


def _outcome(read: Any, result: Any) -> Any:
    try:
        event = read(result)
    except rxp.PresenceEventError as exc:
        return ("refused", str(exc))
    return (tuple(event), type(event))


def _by_the_constructor(result: Any) -> rxp.PresenceEvent:
    """What read_sdk must give: the checked constructor, fed every field of the result."""
    return rxp.PresenceEvent(
        result.event,
        result.channel,
        result.uuid,
        result.occupancy,
        result.timestamp,
        result.timetoken,
        result.state,
        result.subscription,
        result.join,
        result.leave,
        result.timeout,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results=st.lists(sdk_results(), max_size=25))
def test_read_sdk_fast_path_matches_the_checked_constructor(
    results: list[PNPresenceEventResult],
) -> None:
    # read_sdk builds plain joins, leaves and timeouts without the constructor: it must
    # accept, refuse and build exactly what the constructor's path does.
    for result in results:
        assert _outcome(read_sdk, result) == _outcome(_by_the_constructor, result)


@pytest.mark.parametrize("with_events", [False, True])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results=st.lists(sdk_results(), max_size=25))
def test_the_listener_matches_from_sdk_then_push(
    with_events: bool, results: list[PNPresenceEventResult]
) -> None:
    through_sdk = rxp.PresenceStreams(None)
    pushed = rxp.PresenceStreams(None)
    try:
        got = _observe(through_sdk, with_events)
        want = _observe(pushed, with_events)
        for result in results:
            through_sdk._listener.presence(None, result)
            try:
                pushed.push(rxp.PresenceEvent.from_sdk(result))
            except rxp.PresenceEventError as exc:
                want["errors"].append(("event", type(exc), str(exc)))
        assert got == want
        for channel in ("room", "hall"):
            a, b = through_sdk.current(channel), pushed.current(channel)
            assert (a, a.timetoken) == (b, b.timetoken)
            assert [tuple(m) for m in a] == [tuple(m) for m in b]
    finally:
        through_sdk.close()
        pushed.close()


def test_the_listener_reports_what_read_sdk_refuses() -> None:
    with rxp.PresenceStreams(None) as hub:
        errors: list[Any] = []
        hub.errors.subscribe(errors.append)
        bad = [
            _sdk(event="join", uuid=""),
            _sdk(event="leave", uuid=None),
            _sdk(event="join", uuid="a", bent_occupancy=-1),
            _sdk(event="join", uuid="a", bent_occupancy=True),
            _sdk(event="timeout", uuid="a", bent_timetoken=-5),
            _sdk(event="dance", uuid="a"),
            _sdk(event="join", uuid="a", bent_channel=""),
        ]
        for result in bad:
            hub._listener.presence(None, result)
        assert len(errors) == len(bad)
        assert all(isinstance(e.error, rxp.PresenceEventError) for e in errors)
        assert len(hub.current("room")) == 0


def test_fast_delivery_skips_a_subscriber_disposed_during_delivery() -> None:
    # A subscriber disposed by another one during a delivery gets nothing more.
    with rxp.PresenceStreams(None) as hub:
        got: list[int] = []
        later: list[Any] = []

        def first(roster: rxp.Roster) -> None:
            got.append(len(roster))
            if len(roster) == 1:
                later[0].dispose()

        hub.roster("room").subscribe(first)
        later.append(hub.roster("room").subscribe(lambda r: got.append(-len(r))))
        hub._listener.presence(None, _sdk(event="join", uuid="a", timetoken=TT + 1))
        hub._listener.presence(None, _sdk(event="join", uuid="b", timetoken=TT + 2))
        assert got == [0, -0, 1, 2]


@settings(max_examples=200, deadline=None)
@given(
    action=st.sampled_from(["join", "leave", "interval", "state-change"]),
    changes=st.dictionaries(
        st.sampled_from(["occupancy", "timestamp", "timetoken"]),
        st.one_of(st.integers(-2, 10**17), st.sampled_from([True, "3", 2.0, None])),
    ),
)
def test_replace_of_counts_validates_like_the_constructor(
    action: str, changes: dict[str, Any]
) -> None:
    uuid = None if action == "interval" else "a"
    event = rxp.PresenceEvent(action, "room", uuid, occupancy=2, timestamp=7, timetoken=TT)
    try:
        want: Any = rxp.PresenceEvent(**{**event._asdict(), **changes})
    except rxp.PresenceEventError as exc:
        want = str(exc)
    try:
        got: Any = event.replace(**changes)
    except rxp.PresenceEventError as exc:
        got = str(exc)
    assert got == want
    assert type(got) is type(want)
