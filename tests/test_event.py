"""PresenceEvent: construction, validation, dict and SDK conversions."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import sdk_event
from pubnub.models.consumer.pubsub import PNPresenceEventResult

from rxpresence import Action, PresenceEvent, PresenceEventError

TT = 17958410757589326


def sdk(event: str = "join", uuid: str | None = "bob", **fields: Any) -> PNPresenceEventResult:
    defaults: dict[str, Any] = {"occupancy": 2, "timestamp": 1795841075, "timetoken": TT}
    return sdk_event(event, uuid, **{**defaults, **fields})


# -- dicts --------------------------------------------------------------------------------

ROUND_TRIPS = [
    {"action": "join", "channel": "room", "uuid": "bob", "occupancy": 2, "timestamp": 17,
     "timetoken": TT},
    {"action": "join", "channel": "room", "uuid": "bob", "occupancy": 2, "timestamp": 17,
     "timetoken": TT, "state": {"mood": "ok", "n": [1, 2]}},
    {"action": "state-change", "channel": "room", "uuid": "bob", "occupancy": 1,
     "timestamp": 0, "timetoken": 1, "state": {}},
    {"action": "leave", "channel": "room", "uuid": "bob", "occupancy": 0, "timestamp": 0,
     "timetoken": 2, "subscription": "group"},
    {"action": "timeout", "channel": "a.b", "uuid": "bob", "occupancy": 0, "timestamp": 0,
     "timetoken": 3, "subscription": "a.*"},
    {"action": "interval", "channel": "room", "occupancy": 30, "timestamp": 5, "timetoken": 4,
     "join": ["a", "b"], "leave": ["c"], "timeout": ["d"]},
    {"action": "interval", "channel": "room", "occupancy": 40, "timestamp": 5, "timetoken": 5,
     "here_now_refresh": True},
    {"action": "join", "channel": "room", "uuid": "bob", "occupancy": 1, "timestamp": 0,
     "timetoken": 6, "source": "resync"},
]  # fmt: skip


@pytest.mark.parametrize("data", ROUND_TRIPS, ids=lambda d: f"{d['action']}-{d['timetoken']}")
def test_from_dict_to_dict_round_trip(data: dict[str, Any]) -> None:
    event = PresenceEvent.from_dict(data)
    assert event.to_dict() == data
    assert PresenceEvent.from_dict(event.to_dict()) == event


def test_from_dict_defaults() -> None:
    event = PresenceEvent.from_dict({"action": "join", "channel": "room", "uuid": "bob"})
    assert (event.occupancy, event.timestamp, event.timetoken) == (0, 0, 0)
    assert event.state is None and event.subscription is None
    assert (event.join, event.leave, event.timeout) == ((), (), ())
    assert event.source == "live" and not event.here_now_refresh


def test_data_is_an_alias_for_state() -> None:
    wire = {"action": "state-change", "channel": "room", "uuid": "bob", "data": {"mood": "ok"}}
    event = PresenceEvent.from_dict(wire)
    assert dict(event.state or {}) == {"mood": "ok"}
    assert event.to_dict()["state"] == {"mood": "ok"}
    assert "data" not in event.to_dict()


def test_state_is_a_read_only_copy() -> None:
    state = {"mood": "ok"}
    event = PresenceEvent("join", "room", "bob", state=state)
    state["mood"] = "changed"
    assert event.state == {"mood": "ok"}
    with pytest.raises(TypeError):
        event.state["mood"] = "x"  # type: ignore[index]


def _join(**fields: Any) -> dict[str, Any]:
    return {"action": "join", "channel": "room", "uuid": "bob", **fields}


MALFORMED: list[tuple[Any, str]] = [
    ({"channel": "room", "uuid": "bob"}, "action"),
    (_join(action="joined"), "action"),
    (_join(action=None), "action"),
    ({"action": "join", "uuid": "bob"}, "channel"),
    (_join(channel=""), "channel"),
    (_join(channel=5), "channel"),
    ({"action": "join", "channel": "room"}, "uuid"),
    ({"action": "leave", "channel": "room"}, "uuid"),
    ({"action": "timeout", "channel": "room", "uuid": ""}, "uuid"),
    ({"action": "state-change", "channel": "room", "uuid": None}, "uuid"),
    (_join(uuid=7), "uuid"),
    (_join(occupancy="3"), "occupancy"),
    (_join(occupancy=3.0), "occupancy"),
    (_join(occupancy=True), "occupancy"),
    (_join(occupancy=-1), "occupancy"),
    (_join(timetoken="17958410757589326"), "timetoken"),
    (_join(timetoken=1.5), "timetoken"),
    (_join(timetoken=-1), "timetoken"),
    (_join(timestamp="now"), "timestamp"),
    (_join(state=["mood"]), "state"),
    (_join(state="ok"), "state"),
    (_join(data=3), "state"),
    ({"action": "interval", "channel": "room", "join": "abc"}, "join"),
    ({"action": "interval", "channel": "room", "leave": ["a", 1]}, "leave"),
    ({"action": "interval", "channel": "room", "timeout": {"a": 1}}, "timeout"),
    (_join(subscription=3), "subscription"),
    (_join(here_now_refresh="yes"), "here_now_refresh"),
    (["action", "join"], "event"),
]


@pytest.mark.parametrize(("data", "field"), MALFORMED, ids=[f for _, f in MALFORMED])
def test_malformed_dicts_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(PresenceEventError, match=rf"^{field}\b"):
        PresenceEvent.from_dict(data)


def test_presence_event_error_is_a_value_error() -> None:
    assert issubclass(PresenceEventError, ValueError)


# -- SDK results ------------------------------------------------------------------------------


def test_from_sdk_join() -> None:
    event = PresenceEvent.from_sdk(sdk())
    assert event == PresenceEvent("join", "room", "bob", 2, 1795841075, TT)
    assert event.action is Action.JOIN
    assert event.source == "live"


def test_from_sdk_state_change_with_state() -> None:
    event = PresenceEvent.from_sdk(sdk("state-change", state={"mood": "ok"}))
    assert event.action is Action.STATE_CHANGE
    assert event.state == {"mood": "ok"}


def test_from_sdk_interval_with_arrays() -> None:
    event = PresenceEvent.from_sdk(
        sdk("interval", None, occupancy=25, join=["a", "b"], leave=["c"], timeout=[])
    )
    assert event.uuid is None
    assert (event.join, event.leave, event.timeout) == (("a", "b"), ("c",), ())
    assert event.has_deltas


def test_from_sdk_interval_without_arrays() -> None:
    # The SDK drops here_now_refresh: no arrays at all means "ask here-now".
    event = PresenceEvent.from_sdk(sdk("interval", None, occupancy=40))
    assert (event.join, event.leave, event.timeout) == ((), (), ())
    assert not event.has_deltas
    assert not event.here_now_refresh


def test_from_sdk_keeps_the_subscription() -> None:
    event = PresenceEvent.from_sdk(sdk("leave", subscription="lobby-group"))
    assert event.subscription == "lobby-group"
    assert event.action is Action.LEAVE


@pytest.mark.parametrize(
    ("result", "field"),
    [
        (sdk("joined"), "action"),
        (sdk("join", None), "uuid"),
        (sdk("timeout", None), "uuid"),
        (sdk("interval", None, join=["a", 3]), "join"),
        (sdk("join", occupancy=-1), "occupancy"),
        (object(), "action"),
    ],
)
def test_from_sdk_rejects_malformed_results(result: Any, field: str) -> None:
    with pytest.raises(PresenceEventError, match=rf"^{field}\b"):
        PresenceEvent.from_sdk(result)


def test_from_sdk_rejects_an_empty_uuid() -> None:
    with pytest.raises(PresenceEventError, match=r"^uuid"):
        PresenceEvent.from_sdk(sdk("join", ""))


def test_from_sdk_rejects_a_negative_timetoken() -> None:
    with pytest.raises(PresenceEventError, match=r"^timetoken"):
        PresenceEvent.from_sdk(sdk("join", timetoken=-1))


# -- value semantics -------------------------------------------------------------------------


def test_equality_and_hash() -> None:
    a = PresenceEvent("join", "room", "bob", 1, 0, 5, {"s": 1})
    assert a == PresenceEvent("join", "room", "bob", 1, 0, 5, {"s": 1})
    assert a != PresenceEvent("join", "room", "bob", 1, 0, 5, {"s": 2})
    assert a != a.replace(subscription="group")
    assert a != tuple(a)
    assert hash(a) == hash(a.replace(state={"s": 2}))
    assert len({a, PresenceEvent("join", "room", "bob", 1, 0, 5, {"s": 1})}) == 1


def test_replace_validates() -> None:
    event = PresenceEvent("join", "room", "bob", 1)
    assert event.replace(occupancy=2).occupancy == 2
    with pytest.raises(PresenceEventError, match=r"^occupancy"):
        event.replace(occupancy=-2)
    with pytest.raises(TypeError, match="nope"):
        event.replace(nope=1)


def test_action_accepts_the_enum_and_its_value() -> None:
    assert PresenceEvent(Action.LEAVE, "room", "bob").action is Action.LEAVE
    assert PresenceEvent("leave", "room", "bob").action is Action.LEAVE
    assert Action.STATE_CHANGE == "state-change"


def test_repr_names_the_fields_that_are_set() -> None:
    text = repr(PresenceEvent("interval", "room", None, 3, 0, 9, join=["a"], subscription="g"))
    assert text == (
        "PresenceEvent(interval, channel='room', occupancy=3, timetoken=9, "
        "subscription='g', join=['a'])"
    )
