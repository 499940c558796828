"""A logged entry wakes only the held long polls it is delivered to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_helpers import RawHttp, Reply, WaitFor

from rxpresence.server import LocalPresenceServer

pytestmark = pytest.mark.timeout(60)


class Poll:
    """A subscribe long poll held on its own thread."""

    def __init__(self, http: RawHttp, channels: str, uuid: str, extra: str = "") -> None:
        handshake = http.get(f"/v2/subscribe/demo/{channels}/0?tt=0&uuid={uuid}{extra}")
        assert handshake.status == 200, handshake.body
        # A cursor after the handshake's own join, so the poll has nothing to deliver.
        cursor = http.get("/time/0").body[0]
        self.reply: Reply | None = None
        target = f"/v2/subscribe/demo/{channels}/0?tt={cursor}&uuid={uuid}{extra}"
        self._thread = threading.Thread(target=self._run, args=(http, target), daemon=True)
        self._thread.start()

    def _run(self, http: RawHttp, target: str) -> None:
        self.reply = http.get(target, timeout=50)

    @property
    def answered(self) -> bool:
        return self.reply is not None

    def channels(self) -> list[str]:
        assert self.reply is not None
        return [m["c"] for m in self.reply.body["m"]]


@pytest.fixture
def server(
    presence_server_factory: Callable[..., LocalPresenceServer],
) -> Iterator[LocalPresenceServer]:
    server = presence_server_factory(hold_timeout=40, announce_max=1000)
    yield server
    server.stop()  # answers the polls still held


@pytest.fixture
def scans(server: LocalPresenceServer) -> list[int]:
    """Counts the log scans held polls make: one per poll woken (and one as each starts)."""
    counted: list[int] = []
    scan = server.book.scan

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return scan(*args, **kwargs)

    server.book.scan = counting_scan  # type: ignore[method-assign]
    return counted


def ok(http: RawHttp, target: str) -> None:
    reply = http.get(target)
    assert reply.status == 200, reply.body


def heartbeat(http: RawHttp, channel: str, uuid: str) -> None:
    ok(http, f"/v2/presence/sub-key/demo/channel/{channel}/heartbeat?uuid={uuid}")


def add_to_group(http: RawHttp, group: str, channel: str) -> None:
    ok(http, f"/v1/channel-registration/sub-key/demo/channel-group/{group}?add={channel}&uuid=a")


def test_only_the_polls_an_entry_is_delivered_to_wake(
    server: LocalPresenceServer, scans: list[int], wait_for: WaitFor
) -> None:
    http = RawHttp(server)
    add_to_group(http, "g", "grouped")
    polls = {
        "exact": Poll(http, "room,room-pnpres", "w1"),
        "wildcard": Poll(http, "rooms.*-pnpres", "w2"),
        "group": Poll(http, ",", "w3", "&channel-group=g-pnpres"),
        "messages": Poll(http, "lobby", "w4"),
    }
    wait_for(lambda: server.held_polls == 4, 10, "(4 polls held)")
    wait_for(lambda: len(scans) == 4, 10, "(each poll scanned once as it started)")

    # Unrelated: 50 joins and a leave elsewhere, a presence event on the channel whose
    # messages (not presence) a poll listens to, messages elsewhere.
    for i in range(50):
        heartbeat(http, "elsewhere", f"u{i}")
    ok(http, "/v2/presence/sub-key/demo/channel/elsewhere/leave?uuid=u0")
    heartbeat(http, "lobby", "x")
    server.publish("elsewhere", "hello")
    server.publish("rooms.a", "a message, not presence")
    assert server.presence_events_on("elsewhere") == 51
    assert server.presence_events_on("lobby") == 2  # w4's join, then x's
    assert len(scans) == 4  # no poll woke up to scan the log
    assert (server.poll_wakeups, server.held_polls) == (0, 4)
    assert not any(poll.answered for poll in polls.values())

    def late_group_member() -> None:
        # A channel added to the group after the poll started: members as of the entry.
        add_to_group(http, "g", "late")
        heartbeat(http, "late", "bob")

    # Related: each wakes its own poll, and only it.
    causes: list[tuple[str, Callable[[], Any], str]] = [
        ("exact", lambda: heartbeat(http, "room", "bob"), "room-pnpres"),
        ("wildcard", lambda: heartbeat(http, "rooms.a", "bob"), "rooms.a-pnpres"),
        ("group", late_group_member, "late-pnpres"),
        ("messages", lambda: server.publish("lobby", "hi"), "lobby"),
    ]
    for woken, (name, cause, channel) in enumerate(causes, start=1):
        cause()
        wait_for(lambda name=name: polls[name].answered, 10, f"({name} poll answered)")
        assert polls[name].channels() == [channel]
        assert server.poll_wakeups == woken
        assert server.held_polls == 4 - woken
        assert not any(polls[later].answered for later, _, _ in causes[woken:])
    assert len(scans) == 4 + 4  # one more scan per wake-up


def test_a_poll_woken_by_two_entries_at_once_wakes_once(
    server: LocalPresenceServer, wait_for: WaitFor
) -> None:
    http = RawHttp(server)
    poll = Poll(http, "a,b,a-pnpres,b-pnpres", "w")
    wait_for(lambda: server.held_polls == 1, 10, "(poll held)")
    # One heartbeat request joins two channels: two entries logged in one batch.
    heartbeat(http, "a,b", "bob")
    wait_for(lambda: poll.answered, 10, "(poll answered)")
    assert poll.channels() == ["a-pnpres", "b-pnpres"]
    assert server.poll_wakeups == 1
