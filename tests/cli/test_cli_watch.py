"""``rxpresence watch --json`` against the local server, with real SDK clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cli_support import CliProcess, run_cli, wait_for
from pubnub.pubnub import PubNub

from rxpresence.server import LocalPresenceServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

Cli = Callable[..., CliProcess]


@pytest.fixture
def clients(presence_server: LocalPresenceServer) -> Iterator[Callable[[str], PubNub]]:
    """``clients(uuid)``: sync SDK clients on the test server, stopped after the test."""
    made: list[PubNub] = []

    def make(uuid: str) -> PubNub:
        pubnub = PubNub(presence_server.pnconfig(uuid, disable_config_locking=False))
        made.append(pubnub)
        return pubnub

    yield make
    for pubnub in made:
        pubnub.stop()


def is_event(
    action: str, uuid: str, channel: str | None = None
) -> Callable[[dict[str, Any]], bool]:
    def match(line: dict[str, Any]) -> bool:
        return (
            line["type"] == "event"
            and line["action"] == action
            and line.get("uuid") == uuid
            and (channel is None or line["channel"] == channel)
        )

    return match


def test_json_lines_for_a_scripted_client(
    cli: Cli, presence_server: LocalPresenceServer, clients: Callable[[str], PubNub]
) -> None:
    watch = cli(
        "watch", "--json", "--origin", presence_server.origin, "--user-id", "watcher", "room"
    )
    watch.wait_for_json(is_event("join", "watcher"))

    alice = clients("alice")
    alice.subscribe().channels(["room"]).execute()
    watch.wait_for_json(is_event("join", "alice"))
    alice.set_state().channels(["room"]).state({"mood": "busy"}).sync()
    watch.wait_for_json(is_event("state-change", "alice"))
    alice.unsubscribe().channels(["room"]).execute()
    watch.wait_for_json(is_event("leave", "alice"))
    watch.wait_for_json(lambda o: o["type"] == "roster" and o["left"] == ["alice"])

    assert watch.interrupt() == 0
    lines = watch.json_lines()
    alices = [o for o in lines if o["type"] == "event" and o.get("uuid") == "alice"]
    assert [o["action"] for o in alices] == ["join", "state-change", "leave"]
    join, change, leave = alices
    assert (join["channel"], join["occupancy"]) == ("room", 2)
    assert change["state"] == {"mood": "busy"}
    assert (leave["occupancy"], isinstance(leave["timetoken"], int)) == (1, True)

    rosters = [o for o in lines if o["type"] == "roster"]
    assert all(o["channel"] == "room" for o in rosters)
    assert [(o["uuids"], o["joined"], o["left"], o["updated"]) for o in rosters] == [
        (["watcher"], ["watcher"], [], []),
        (["alice", "watcher"], ["alice"], [], []),
        (["alice", "watcher"], [], [], ["alice"]),
        (["watcher"], [], ["alice"], []),
    ]
    assert rosters[2]["states"] == {"alice": {"mood": "busy"}}
    # Each roster line comes after the event that caused it.
    assert lines.index(rosters[1]) > lines.index(join)
    # On exit the watcher left the channel instead of timing out minutes later.
    wait_for(lambda: "watcher" not in presence_server.occupants("room"), timeout=5)


def test_groups_and_wildcards(
    cli: Cli, presence_server: LocalPresenceServer, clients: Callable[[str], PubNub]
) -> None:
    admin = clients("admin")
    admin.add_channel_to_channel_group().channels(["g1"]).channel_group("grp").sync()
    watch = cli(
        "watch",
        "--origin",
        presence_server.origin,
        "--user-id",
        "watcher",
        "--group",
        "grp",
        "w.*",
        "--duration",
        "30",
    )
    watch.wait_for_json(is_event("join", "watcher", "g1"))

    bob = clients("bob")
    bob.subscribe().channels(["g1", "w.x"]).execute()
    group_join = watch.wait_for_json(is_event("join", "bob", "g1"))
    wildcard_join = watch.wait_for_json(is_event("join", "bob", "w.x"))
    assert group_join["subscription"] == "grp"
    assert wildcard_join["subscription"] == "w.*"
    # Channels found through events get rosters too.
    watch.wait_for_json(lambda o: o["type"] == "roster" and o["channel"] == "w.x")
    watch.wait_for_json(
        lambda o: o["type"] == "roster" and o["channel"] == "g1" and "bob" in o["uuids"]
    )
    assert watch.interrupt() == 0


def test_plain_lines_until_the_duration_ends(presence_server: LocalPresenceServer) -> None:
    result = run_cli(
        "watch", "room", "--plain", "--duration", "1.5", "--origin", presence_server.origin,
        "--user-id", "watcher", timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s+\d+\.\ds  room\s+join\s+watcher\s+occupancy 1$", result.stdout, re.M)
    assert "status       connected" in result.stdout
    assert re.search(r"^rxpresence watch: ran \d+\.\d s$", result.stdout, re.M)
    assert re.search(r"^final rosters:\n +room +1 present +watcher$", result.stdout, re.M)
    wait_for(lambda: "watcher" not in presence_server.occupants("room"), timeout=5)


def test_ctrl_c_ends_plain_lines_with_the_summary(
    cli: Cli, presence_server: LocalPresenceServer, clients: Callable[[str], PubNub]
) -> None:
    watch = cli(
        "watch", "room", "--plain", "--origin", presence_server.origin, "--user-id", "watcher"
    )
    watch.wait_for_line("status       connected")
    alice = clients("alice")
    alice.subscribe().channels(["room"]).execute()
    watch.wait_for_line("alice")
    assert watch.interrupt() == 0
    out = "\n".join(watch.stdout_lines)
    assert re.search(r"^rxpresence watch: stopped by Ctrl-C after \d+\.\d s$", out, re.M)
    assert re.search(r"^events seen: \d+ \(join \d+", out, re.M)
    assert re.search(r"^flickers hidden: 0 \(grace 10 s\)$", out, re.M)
    assert re.search(r"^ +room +2 present +alice, watcher$", out, re.M)
    assert "Traceback" not in watch.stderr


def test_json_lines_have_no_summary(cli: Cli, presence_server: LocalPresenceServer) -> None:
    watch = cli("watch", "room", "--json", "--origin", presence_server.origin, "--user-id", "w")
    watch.wait_for_json(is_event("join", "w"))
    assert watch.interrupt() == 0
    assert all(line["type"] in ("event", "roster") for line in watch.json_lines())
