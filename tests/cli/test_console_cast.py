"""The demo's cast: a repeatable plan, and actors playing it on (fake) SDK clients."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pytest
from cli_support import wait_for

from rxpresence._console._cast import (
    BUSY,
    FLAKY,
    PEOPLE,
    ROOMS,
    VANISHER,
    Actor,
    Cast,
    Step,
    plan_cast,
)
from rxpresence._console._demo import (
    HEARTBEAT_INTERVAL,
    PRESENCE_TIMEOUT,
    RETURN_AFTER,
    demo_settings,
)
from rxpresence._console._model import DEFAULT_GRACE


def test_the_plan_is_repeatable() -> None:
    assert plan_cast(1, 30) == plan_cast(1, 30)
    assert plan_cast(1, 30) != plan_cast(2, 30)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("duration", [5, 10, 30, 120])
def test_plan_invariants(seed: int, duration: float) -> None:
    announce_max = 10
    plan = plan_cast(seed, duration, announce_max=announce_max, return_after=7.5)
    assert [s.at for s in plan] == sorted(s.at for s in plan)
    assert all(0 <= s.at < duration for s in plan)
    # Play membership forward: rooms never reach interval mode, the stadium stays in it.
    rooms: dict[str, set[str]] = {r: {"console"} for r in (*ROOMS, BUSY)}
    last_of_the_crowd = f"fan-{announce_max + 2:02d}"
    crowd_in = False
    for step in plan:
        if step.verb == "join":
            rooms[step.channel].add(step.actor)
        elif step.verb == "leave":
            rooms[step.channel].discard(step.actor)
        elif step.verb == "vanish":
            for members in rooms.values():
                members.discard(step.actor)
        for room in ROOMS:
            assert len(rooms[room]) <= announce_max, (room, step)
        crowd_in = crowd_in or step.actor == last_of_the_crowd
        if crowd_in:
            assert len(rooms[BUSY]) >= announce_max + 2, step
    assert crowd_in
    verbs = {(s.actor, s.verb) for s in plan}
    assert (FLAKY, "drop") in verbs
    assert ((FLAKY, "return") in verbs) == (duration >= 10)
    assert (VANISHER, "vanish") in verbs
    assert {s.actor for s in plan} >= {*PEOPLE, FLAKY, VANISHER}


def test_the_demos_flicker_fits_in_the_default_grace_period() -> None:
    # The server times fran out between PRESENCE_TIMEOUT - HEARTBEAT_INTERVAL and
    # PRESENCE_TIMEOUT seconds after her drop (her last heartbeat came at most one
    # interval before it); the cast holds her return until that timeout happened. The
    # gap between her timeout and her rejoin stays well inside the grace period, with
    # room to spare for delivery delays.
    earliest_timeout = PRESENCE_TIMEOUT - HEARTBEAT_INTERVAL
    longest_gap = RETURN_AFTER - earliest_timeout
    assert RETURN_AFTER > PRESENCE_TIMEOUT
    assert longest_gap + demo_settings().sweep_interval < DEFAULT_GRACE / 2
    plan = plan_cast(1, 30, return_after=RETURN_AFTER)
    [drop] = [s.at for s in plan if (s.actor, s.verb) == (FLAKY, "drop")]
    [back] = [s.at for s in plan if (s.actor, s.verb) == (FLAKY, "return")]
    assert back - drop == pytest.approx(RETURN_AFTER)


class FakeClient:
    """The chained builders of a sync ``PubNub`` client, recording what was sent."""

    def __init__(self, uuid: str, log: list[tuple[Any, ...]]) -> None:
        self.uuid = uuid
        self.log = log

    def _builder(self, call: str) -> FakeBuilder:
        return FakeBuilder(self, call)

    def subscribe(self) -> FakeBuilder:
        return self._builder("subscribe")

    def unsubscribe(self) -> FakeBuilder:
        return self._builder("unsubscribe")

    def set_state(self) -> FakeBuilder:
        return self._builder("set_state")

    def stop(self) -> None:
        self.log.append((self.uuid, "stop"))


class FakeBuilder:
    def __init__(self, client: FakeClient, call: str) -> None:
        self.client, self.call = client, call
        self.args: dict[str, Any] = {}

    def channels(self, channels: list[str]) -> FakeBuilder:
        self.args["channels"] = list(channels)
        return self

    def state(self, state: dict[str, Any]) -> FakeBuilder:
        self.args["state"] = dict(state)
        return self

    def execute(self) -> None:
        self.client.log.append((self.client.uuid, self.call, self.args))

    def pn_async(self, callback: Any) -> None:
        self.execute()


def test_an_actor_joins_changes_state_drops_and_comes_back() -> None:
    log: list[tuple[Any, ...]] = []
    clients: list[FakeClient] = []

    def connect(uuid: str) -> FakeClient:
        clients.append(FakeClient(uuid, log))
        return clients[-1]

    fran = Actor("fran", connect)
    fran.patch_state("lobby", {"status": "away"})  # not in the room: ignored
    fran.join("lobby")
    fran.patch_state("lobby", {"status": "away"})
    fran.patch_state("lobby", {"typing": True})
    fran.patch_state("lobby", {"typing": None})
    fran.drop()
    assert not fran.online and fran.rooms == {"lobby"}
    fran.patch_state("lobby", {"status": "busy"})  # offline: ignored
    fran.come_back()
    fran.leave("lobby")
    fran.vanish()
    assert len(clients) == 2
    assert log == [
        ("fran", "subscribe", {"channels": ["lobby"]}),
        ("fran", "set_state", {"channels": ["lobby"], "state": {"status": "away"}}),
        ("fran", "set_state", {"channels": ["lobby"], "state": {"status": "away", "typing": True}}),
        ("fran", "set_state", {"channels": ["lobby"], "state": {"status": "away"}}),
        ("fran", "stop"),
        ("fran", "subscribe", {"channels": ["lobby"]}),
        ("fran", "set_state", {"channels": ["lobby"], "state": {"status": "away"}}),
        ("fran", "unsubscribe", {"channels": ["lobby"]}),
        ("fran", "stop"),
    ]


def test_the_cast_waits_for_the_timeout_before_a_return() -> None:
    log: list[tuple[Any, ...]] = []
    gone = threading.Event()
    errors: list[str] = []

    def present(uuid: str, channels: Iterable[str]) -> bool:
        return not gone.is_set()

    plan = [
        Step(0.0, "fran", "join", "lobby"),
        Step(0.01, "fran", "drop"),
        Step(0.02, "fran", "return"),
        Step(0.03, "bob", "dance", "lobby"),
    ]
    cast = Cast(plan, lambda uuid: FakeClient(uuid, log), present, errors.append)
    cast.start()
    try:
        wait_for(lambda: errors, message="(the unknown step reports an error)")
        assert [entry[1] for entry in log] == ["subscribe", "stop"]  # not back yet
        gone.set()
        wait_for(lambda: len(log) == 3, message="(fran returns once timed out)")
        assert log[-1] == ("fran", "subscribe", {"channels": ["lobby"]})
    finally:
        cast.close()
    assert errors == ["bob could not dance: unknown step 'dance'"]
    assert cast.steps_done == 3
    assert log.pop() == ("fran", "stop")  # closing the cast stops every client
