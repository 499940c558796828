"""The official JavaScript SDK (npm ``pubnub``, in Node) against the local server.

Each test drives one or more JavaScript clients (``client.js``, default event engine)
and has a Python SDK client watch presence through ``rxpresence.PresenceStreams``: the
watcher must see every join, state change, leave and timeout the server logged, and
its rosters must equal the server's occupants at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from js_support import NodeClient, Watcher
from polling import wait_for

from rxpresence.server import LocalPresenceServer, ServerSettings

# The first test also installs the npm package (a few seconds from the registry).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JsClient = Callable[..., NodeClient]
MakeWatcher = Callable[..., Watcher]


def connected(client: NodeClient) -> None:
    client.wait_event("status", lambda e: e["category"] == "PNConnectedCategory")


def subscribe(
    client: NodeClient,
    watch: Watcher,
    channels: list[str],
    groups: tuple[str, ...] = (),
    *,
    joins: list[str] | None = None,
    with_presence: bool = True,
) -> None:
    """Subscribe a JavaScript client; wait until the watcher saw it join ``joins``."""
    client.call(
        "subscribe",
        {"channels": channels, "channelGroups": list(groups), "withPresence": with_presence},
    )
    for channel in channels if joins is None else joins:
        wait_for(
            lambda c=channel: watch.saw("join", client.user_id, c),
            10,
            f"({client.user_id} joined {channel})",
        )


def requests_of(server: LocalPresenceServer, uuid: str, endpoint: str) -> list[Any]:
    return [r for r in server.requests if r.uuid == uuid and r.endpoint == endpoint]


def test_subscribe_with_presence_to_channels_and_a_group(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-room", "js-a", "js-b"])
    js = js_client("js-user", presenceTimeout=20)
    js.call("channelGroups.addChannels", {"channels": ["js-a", "js-b"], "channelGroup": "js-g"})
    listed = js.call("channelGroups.listChannels", {"channelGroup": "js-g"})
    assert sorted(listed["channels"]) == ["js-a", "js-b"]
    subscribe(js, watch, ["js-room"], ("js-g",), joins=["js-room", "js-a", "js-b"])
    connected(js)
    assert presence_server.where_now("js-user") == ["js-a", "js-b", "js-room"]

    # The JavaScript client hears presence through the group: a Python guest comes and goes.
    guest = watcher(["js-b"], uuid="py-guest")
    joined = js.wait_event("presence", lambda e: (e["action"], e["uuid"]) == ("join", "py-guest"))
    assert (joined["channel"], joined["subscription"]) == ("js-b", "js-g-pnpres")
    guest.close()
    left = js.wait_event("presence", lambda e: (e["action"], e["uuid"]) == ("leave", "py-guest"))
    assert (left["channel"], left["occupancy"]) == ("js-b", 2)
    watch.check()


# Long polls held longer than the presence timeout: only heartbeats keep the client.
@pytest.mark.parametrize("presence_server_settings", [ServerSettings.fast(hold_timeout=10)])
def test_heartbeats_keep_a_short_presence_timeout_alive(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-room"])
    # The SDK heartbeats every presenceTimeout / 2 - 1 seconds (it overrides
    # heartbeatInterval whenever presenceTimeout is given): here every 0.5 s.
    js = js_client("js-beat", presenceTimeout=3)
    subscribe(js, watch, ["js-room"])
    # Nine heartbeats half a second apart span more than the 3 s presence timeout.
    wait_for(lambda: len(requests_of(presence_server, "js-beat", "heartbeat")) >= 9, 15)
    assert presence_server.occupants("js-room").keys() == {"js-beat", "py-watcher"}
    assert not watch.saw("timeout", "js-beat", "js-room")
    # What the event engine sends: the timeout on /heartbeat only; subscribe requests
    # carry `ee` and no `heartbeat`, and the handshake has no `tt`.
    beats = requests_of(presence_server, "js-beat", "heartbeat")
    assert {r.query.get("heartbeat") for r in beats} == {"3"}
    polls = requests_of(presence_server, "js-beat", "subscribe")
    assert all("ee" in r.query and "heartbeat" not in r.query for r in polls)
    assert "tt" not in polls[0].query
    watch.check()


def test_set_state_and_get_state(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-room"])
    js = js_client("js-state", presenceTimeout=20)
    subscribe(js, watch, ["js-room"])

    answer = js.call("setState", {"channels": ["js-room"], "state": {"mood": "busy"}})
    assert answer["state"] == {"mood": "busy"}
    wait_for(lambda: ("state-change", "js-state", {"mood": "busy"}) in watch.seen("js-room"), 10)
    own = js.wait_event("presence", lambda e: e["action"] == "state-change")
    assert (own["uuid"], own["state"]) == ("js-state", {"mood": "busy"})
    got = js.call("getState", {"channels": ["js-room"]})
    assert got["channels"] == {"js-room": {"mood": "busy"}}
    assert presence_server.occupants("js-room")["js-state"] == {"mood": "busy"}

    js.call("setState", {"channels": ["js-room"], "state": {"mood": "away"}})
    wait_for(lambda: ("state-change", "js-state", {"mood": "away"}) in watch.seen("js-room"), 10)
    watch.check()


def test_here_now_and_where_now(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-a", "js-b"])
    js = js_client("js-here", presenceTimeout=20)
    subscribe(js, watch, ["js-a", "js-b"], with_presence=False)
    js.call("setState", {"channels": ["js-a"], "state": {"role": "host"}})
    wait_for(lambda: presence_server.occupants("js-a")["js-here"] == {"role": "host"}, 10)

    several = js.call(
        "hereNow", {"channels": ["js-a", "js-b"], "includeUUIDs": True, "includeState": True}
    )
    assert several["totalChannels"] == 2
    assert several["totalOccupancy"] == 4
    for channel in ("js-a", "js-b"):
        described = several["channels"][channel]
        assert described["occupancy"] == 2
        occupants = {o["uuid"]: o.get("state") or None for o in described["occupants"]}
        assert occupants == {u: s or None for u, s in presence_server.occupants(channel).items()}

    one = js.call("hereNow", {"channels": ["js-b"], "includeUUIDs": True})
    assert sorted(o["uuid"] for o in one["channels"]["js-b"]["occupants"]) == [
        "js-here",
        "py-watcher",
    ]
    counts = js.call("hereNow", {"channels": ["js-a"], "includeUUIDs": False})
    assert counts["totalOccupancy"] == 2
    assert not counts["channels"]["js-a"]["occupants"]

    assert {r.query.get("limit") for r in requests_of(presence_server, "js-here", "here_now")} == {
        "1000"
    }
    assert sorted(js.call("whereNow", {})["channels"]) == ["js-a", "js-b"]
    assert sorted(js.call("whereNow", {"uuid": "py-watcher"})["channels"]) == ["js-a", "js-b"]
    watch.check()


def test_publish_and_receive_with_a_custom_message_type_and_a_filter(
    js_client: JsClient, watcher: MakeWatcher
) -> None:
    watch = watcher(["js-chat"])
    reader = js_client("js-reader", filterExpression="meta.lang == 'en'")
    sender = js_client("js-sender")
    for client in (reader, sender):
        subscribe(client, watch, ["js-chat"], with_presence=False)

    sent = [
        ({"text": "hello"}, {"lang": "en"}, "chat-msg"),
        ({"text": "bonjour"}, {"lang": "fr"}, "chat-msg"),
        ({"text": "end"}, {"lang": "en"}, None),
    ]
    for message, meta, kind in sent:
        args: dict[str, Any] = {"channel": "js-chat", "message": message, "meta": meta}
        if kind is not None:
            args["customMessageType"] = kind
        assert int(sender.call("publish", args)["timetoken"]) > 0

    # Messages arrive in order: once "end" is in, "bonjour" would have been too.
    reader.wait_event("message", lambda e: e["message"] == {"text": "end"})
    received = reader.events("message")
    assert [m["message"]["text"] for m in received] == ["hello", "end"]
    assert received[0]["customMessageType"] == "chat-msg"
    assert "customMessageType" not in received[1]
    assert (received[0]["userMetadata"], received[0]["publisher"]) == ({"lang": "en"}, "js-sender")

    sender.wait_event("message", lambda e: e["message"] == {"text": "end"})
    assert [m["message"]["text"] for m in sender.events("message")] == ["hello", "bonjour", "end"]

    # The Python SDK reads the same fields from the same messages.
    wait_for(lambda: len(watch.messages) == 3, 10)
    hello = watch.messages[0]
    assert (hello.message, hello.custom_message_type) == ({"text": "hello"}, "chat-msg")
    assert (hello.user_metadata, hello.publisher) == ({"lang": "en"}, "js-sender")
    assert watch.messages[2].custom_message_type is None
    watch.check()


def test_unsubscribe_sends_a_leave(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-room"])
    js = js_client("js-leaver", presenceTimeout=20)
    subscribe(js, watch, ["js-room"])
    js.call("unsubscribe", {"channels": ["js-room"]})
    wait_for(lambda: watch.saw("leave", "js-leaver", "js-room"), 10)
    assert "js-leaver" not in presence_server.occupants("js-room")
    assert requests_of(presence_server, "js-leaver", "leave")
    watch.check()


def test_destroy_leaves_every_channel_and_group(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    watch = watcher(["js-room", "js-a"])
    js = js_client("js-gone", presenceTimeout=20)
    js.call("channelGroups.addChannels", {"channels": ["js-a"], "channelGroup": "js-g"})
    subscribe(js, watch, ["js-room"], ("js-g",), joins=["js-room", "js-a"])
    js.call("destroy")
    for channel in ("js-room", "js-a"):
        wait_for(lambda c=channel: watch.saw("leave", "js-gone", c), 10, f"(leave on {channel})")
    assert presence_server.where_now("js-gone") == []
    watch.check()


def test_a_killed_client_times_out_on_schedule(
    js_client: JsClient, watcher: MakeWatcher, presence_server: LocalPresenceServer
) -> None:
    timeout = 3
    watch = watcher(["js-room"])
    js = js_client("js-killed", presenceTimeout=timeout)
    subscribe(js, watch, ["js-room"])
    wait_for(lambda: len(requests_of(presence_server, "js-killed", "heartbeat")) >= 2, 10)
    js.kill()  # no leave: only the presence timeout it declared can end its presence

    wait_for(lambda: watch.saw("timeout", "js-killed", "js-room"), 10, "(timeout seen)")
    timed_out_at = watch.when("timeout", "js-killed", "js-room")
    assert timed_out_at is not None
    renewals = [
        r.started
        for r in presence_server.requests
        if r.uuid == "js-killed" and r.endpoint in ("subscribe", "heartbeat")
    ]
    late = timed_out_at - max(renewals)
    # Due `timeout` seconds after its last request; the sweep and delivery add a little.
    assert timeout - 0.05 <= late <= timeout + 1.5, late
    assert not watch.saw("leave", "js-killed", "js-room")
    watch.check()
