"""PresenceEvent: construction, validation, dict and SDK conversions."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from helpers import nested_list, nested_state, sdk_event
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


# -- limits (docs/concepts/events.md, "Limits") ----------------------------------------------


DEEP = nested_list(200_000)
HUGE_INT = 10**5000
TEN_MB = "u" * 10_000_000

HOSTILE: list[tuple[dict[str, Any], str]] = [
    (_join(uuid=DEEP), "uuid"),
    (_join(channel=DEEP), "channel"),
    ({"action": "interval", "channel": "room", "join": DEEP}, "join"),
    ({"action": "interval", "channel": "room", "leave": ["a", DEEP]}, "leave"),
    (_join(state=DEEP), "state"),
    (_join(state={"deep": DEEP}), "state"),
    (_join(data=nested_state(200_000)), "state"),
    (_join(uuid=TEN_MB), "uuid"),
    (_join(uuid=TEN_MB.encode()), "uuid"),
    (_join(channel=TEN_MB), "channel"),
    (_join(subscription=TEN_MB), "subscription"),
    (_join(source=TEN_MB), "source"),
    (_join(state={"big": TEN_MB}), "state"),
    (_join(state={str(i): i for i in range(1_000_000)}), "state"),
    (_join(state={"list": list(range(1_000_000))}), "state"),
    (_join(occupancy=HUGE_INT), "occupancy"),
    (_join(timestamp=HUGE_INT), "timestamp"),
    (_join(timetoken=HUGE_INT), "timetoken"),
    (_join(timetoken=2**64), "timetoken"),
    (_join(uuid="u" * 93), "uuid"),
    (_join(uuid="\ud800"), "uuid"),
    (_join(uuid="bob\udfff"), "uuid"),
    (_join(channel="\ud83d"), "channel"),
    (_join(channel="c" * 2049), "channel"),
    (_join(subscription=""), "subscription"),
    ({"action": "interval", "channel": "room", "uuid": ""}, "uuid"),
    ({"action": "interval", "channel": "room", "join": ["a", ""]}, "join"),
    ({"action": "interval", "channel": "room", "timeout": ["\ud800"]}, "timeout"),
    ({"action": "interval", "channel": "room", "leave": ["x" * 93]}, "leave"),
    (_join(state=nested_state(33)), "state"),
    (_join(state={"n": HUGE_INT}), "state"),
    (_join(state={"n": 2**64}), "state"),
    (_join(state={"n": math.nan}), "state"),
    (_join(state={"n": [math.inf]}), "state"),
    (_join(state={1: "one"}), "state"),
    (_join(state={"s": "\ud800"}), "state"),
    (_join(state={"\udc00": 1}), "state"),
    (_join(state={"o": object()}), "state"),
    (_join(state={"b": b"bytes"}), "state"),
    (_join(state={"s": "x" * (32 * 1024)}), "state"),
]


@pytest.mark.parametrize(
    ("data", "field"), HOSTILE, ids=[f"{f}-{i}" for i, (_, f) in enumerate(HOSTILE)]
)
def test_hostile_dicts_are_refused_with_a_short_message(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PresenceEventError, match=rf"^{field}\b") as caught:
        PresenceEvent.from_dict(data)
    assert len(str(caught.value)) < 300, str(caught.value)[:1000]


def test_values_at_the_limits_are_accepted_and_usable() -> None:
    state = nested_state(32)
    state["text"] = "é" * 1000
    event = PresenceEvent.from_dict(
        {
            "action": "join",
            "channel": "c" * 2048,
            "uuid": "ü" * 92,
            "occupancy": 2**64 - 1,
            "timestamp": 2**64 - 1,
            "timetoken": 2**64 - 1,
            "state": state,
            "subscription": "g" * 2048,
        }
    )
    assert len(event.uuid or "") == 92 and event.timetoken == 2**64 - 1
    interval = PresenceEvent("interval", "room", join=["a" * 92, "zoë"], leave=["😀"])
    for usable in (event, interval):
        text = json.dumps(usable.to_dict(), ensure_ascii=False).encode("utf-8")
        assert PresenceEvent.from_dict(json.loads(text)) == usable
        assert repr(usable)


def test_state_up_to_32_kib_of_json() -> None:
    overhead = len(json.dumps({"s": ""}, separators=(",", ":")))
    at_limit = {"s": "x" * (32 * 1024 - overhead)}
    assert PresenceEvent("join", "room", "bob", state=at_limit).state == at_limit
    with pytest.raises(PresenceEventError, match=r"^state must be at most 32768 bytes"):
        PresenceEvent("join", "room", "bob", state={"s": "x" * (32 * 1024 - overhead + 1)})
    # Bytes, not characters: two-byte characters count twice.
    with pytest.raises(PresenceEventError, match=r"^state must be at most 32768 bytes"):
        PresenceEvent("join", "room", "bob", state={"s": "é" * (16 * 1024)})


def test_messages_show_an_excerpt_of_the_value() -> None:
    with pytest.raises(PresenceEventError) as caught:
        PresenceEvent.from_dict(_join(uuid=TEN_MB))
    assert str(caught.value) == (
        f"uuid must be at most 92 characters, got {'u' * 40!r}... (10000000 characters)"
    )
    with pytest.raises(PresenceEventError) as caught:
        PresenceEvent.from_dict(_join(timetoken=HUGE_INT))
    assert (
        str(caught.value) == "timetoken must be an int below 2**64, got <int of about 5001 digits>"
    )
    with pytest.raises(PresenceEventError) as caught:
        PresenceEvent.from_dict(_join(uuid=DEEP))
    assert str(caught.value) == "uuid must be a non-empty string on a join event, got [[[[...]]]]"


def test_replace_keeps_the_limits() -> None:
    event = PresenceEvent("join", "room", "bob", 1)
    with pytest.raises(PresenceEventError, match=r"^timetoken must be an int below 2\*\*64"):
        event.replace(timetoken=2**64)
    with pytest.raises(PresenceEventError, match=r"^uuid must be at most 92 characters"):
        event.replace(uuid="u" * 93)


SDK_HOSTILE: list[tuple[PNPresenceEventResult, str]] = [
    (sdk("join", "u" * 93), "uuid"),
    (sdk("join", "\ud800"), "uuid"),
    (sdk("leave", DEEP), "uuid"),
    (sdk("join", channel="c" * 2049), "channel"),
    (sdk("join", channel="\udfff"), "channel"),
    (sdk("join", occupancy=HUGE_INT), "occupancy"),
    (sdk("join", timestamp=2**64), "timestamp"),
    (sdk("timeout", timetoken=HUGE_INT), "timetoken"),
    (sdk("join", subscription=TEN_MB), "subscription"),
    (sdk("join", subscription=""), "subscription"),
    (sdk("state-change", state=nested_state(200_000)), "state"),
    (sdk("state-change", state={"big": TEN_MB}), "state"),
    (sdk("interval", None, join=["a", ""]), "join"),
    (sdk("interval", None, leave=DEEP), "leave"),
    (sdk("interval", None, timeout=["\ud800"]), "timeout"),
    (sdk("interval", None, occupancy=HUGE_INT, join=["a"]), "occupancy"),
]


@pytest.mark.parametrize(
    ("result", "field"), SDK_HOSTILE, ids=[f"{f}-{i}" for i, (_, f) in enumerate(SDK_HOSTILE)]
)
def test_hostile_sdk_results_are_refused_with_a_short_message(
    result: PNPresenceEventResult, field: str
) -> None:
    with pytest.raises(PresenceEventError, match=rf"^{field}\b") as caught:
        PresenceEvent.from_sdk(result)
    assert len(str(caught.value)) < 300, str(caught.value)[:1000]


def test_from_sdk_accepts_non_ascii_names_within_the_limits() -> None:
    event = PresenceEvent.from_sdk(sdk("join", "zoë" * 30, channel="salon-été"))
    assert (event.uuid, event.channel) == ("zoë" * 30, "salon-été")
