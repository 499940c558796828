"""HTTP tests of the local presence server: response shapes, long polls and errors."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import RawHttp, Reply, WaitFor
from url_parts import PATH_SEGMENTS

from rxpresence.server import LocalPresenceServer

OK_PRESENCE = {"status": 200, "message": "OK", "service": "Presence"}


def q(value: Any) -> str:
    """Percent-encode like the SDK: JSON when not a string, nothing left safe but ``~``."""
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text, safe="~")


def handshake(http: RawHttp, channels: str, uuid: str, extra: str = "") -> int:
    reply = http.get(f"/v2/subscribe/demo/{channels}/0?tt=0&uuid={uuid}{extra}")
    assert reply.status == 200, reply.body
    return int(reply.body["t"]["t"])


def poll(http: RawHttp, channels: str, uuid: str, tt: int, extra: str = "") -> Reply:
    return http.get(f"/v2/subscribe/demo/{channels}/0?tt={tt}&uuid={uuid}{extra}")


def assert_error(reply: Reply, status: int, *words: str, service: str = "Presence") -> None:
    assert reply.status == status, reply.body
    assert isinstance(reply.body, dict), reply.body
    assert reply.body["status"] == status
    assert reply.body["error"] is True
    assert reply.body["service"] == service
    for word in words:
        assert word.lower() in reply.body["message"].lower(), reply.body["message"]


# ------------------------------------------------------------------------- time


def test_time(raw_http: RawHttp) -> None:
    reply = raw_http.get("/time/0")
    assert reply.status == 200
    [tt] = reply.body
    assert isinstance(tt, int)
    assert len(str(tt)) == 17
    assert raw_http.get("/time/0").body[0] > tt


# -------------------------------------------------------------------- subscribe


def test_handshake_answers_at_once_and_the_next_poll_gets_the_own_join(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    started = time.monotonic()
    reply = raw_http.get("/v2/subscribe/demo/room,room-pnpres/0?tt=0&uuid=alice&pnsdk=x")
    assert time.monotonic() - started < 0.5
    assert reply.body["m"] == []
    assert reply.body["t"]["r"] == 1
    cursor = reply.body["t"]["t"]
    assert isinstance(cursor, str)
    assert presence_server.occupants("room") == {"alice": None}

    nxt = poll(raw_http, "room,room-pnpres", "alice", int(cursor))
    [message] = nxt.body["m"]
    assert message["c"] == "room-pnpres"
    assert message["b"] == "room-pnpres"
    assert message["k"] == "demo"
    assert message["f"] == 0
    assert message["p"]["r"] == 1
    assert nxt.body["t"]["t"] == message["p"]["t"]
    d = message["d"]
    assert d["action"] == "join"
    assert d["uuid"] == "alice"
    assert d["occupancy"] == 1
    assert abs(d["timestamp"] - time.time()) < 5


def test_idle_poll_is_held_then_answers_empty_with_a_newer_cursor(
    presence_server_factory: Any,
) -> None:
    server = presence_server_factory(hold_timeout=0.5)
    http = RawHttp(server)
    cursor = handshake(http, "quiet", "alice")
    started = time.monotonic()
    reply = poll(http, "quiet", "alice", cursor)
    waited = time.monotonic() - started
    assert 0.4 < waited < 3
    assert reply.body["m"] == []
    assert int(reply.body["t"]["t"]) > cursor


def test_held_poll_wakes_on_publish(
    raw_http: RawHttp, presence_server: LocalPresenceServer, wait_for: WaitFor
) -> None:
    cursor = handshake(raw_http, "chat", "alice")
    result: list[Reply] = []
    waiter = threading.Thread(target=lambda: result.append(poll(raw_http, "chat", "alice", cursor)))
    waiter.start()
    wait_for(lambda: presence_server.held_polls == 1)
    published = raw_http.get(f"/publish/demo/demo/0/chat/0/{q({'text': 'hi'})}?uuid=bob")
    assert published.status == 200
    waiter.join(3)
    [message] = result[0].body["m"]
    assert message["d"] == {"text": "hi"}
    assert message["i"] == "bob"
    assert message["c"] == "chat"
    assert published.body[:2] == [1, "Sent"]
    assert message["p"]["t"] == published.body[2]


def test_at_most_100_messages_per_poll(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    cursor = handshake(raw_http, "bulk", "alice")
    for i in range(150):
        presence_server.publish("bulk", i)
    first = poll(raw_http, "bulk", "alice", cursor)
    assert [m["d"] for m in first.body["m"]] == list(range(100))
    second = poll(raw_http, "bulk", "alice", int(first.body["t"]["t"]))
    assert [m["d"] for m in second.body["m"]] == list(range(100, 150))


def test_subscribe_state_and_heartbeat_parameter(
    raw_http: RawHttp, presence_server: LocalPresenceServer, wait_for: WaitFor
) -> None:
    state = q({"room": {"mood": "ok"}})
    handshake(raw_http, "room", "alice", f"&heartbeat=1&state={state}")
    assert presence_server.occupants("room") == {"alice": {"mood": "ok"}}
    # The heartbeat parameter is alice's presence timeout: she times out without renewing.
    wait_for(lambda: presence_server.occupants("room") == {}, timeout=4)
    assert presence_server.presence_log("room")[-1]["action"] == "timeout"


def test_channel_names_split_before_decoding(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    handshake(raw_http, "a%2Cb,c%20d", "alice")
    assert presence_server.where_now("alice") == ["a,b", "c d"]


def test_group_subscription_and_b_field(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    assert (
        raw_http.get("/v1/channel-registration/sub-key/demo/channel-group/g?add=x,y&uuid=w").status
        == 200
    )
    cursor = handshake(raw_http, ",", "watcher", "&channel-group=g-pnpres")
    assert presence_server.occupants("x") == {}  # a -pnpres group is not a presence subscription
    handshake(raw_http, ",", "alice", "&channel-group=g")
    assert presence_server.where_now("alice") == ["x", "y"]
    reply = poll(raw_http, ",", "watcher", cursor, "&channel-group=g-pnpres")
    assert {(m["c"], m["b"]) for m in reply.body["m"]} == {
        ("x-pnpres", "g-pnpres"),
        ("y-pnpres", "g-pnpres"),
    }


def test_wildcard_presence(raw_http: RawHttp) -> None:
    cursor = handshake(raw_http, "a.*-pnpres", "watcher")
    handshake(raw_http, "a.one", "alice")
    handshake(raw_http, "b.one", "alice")
    reply = poll(raw_http, "a.*-pnpres", "watcher", cursor)
    assert [(m["c"], m["b"]) for m in reply.body["m"]] == [("a.one-pnpres", "a.*-pnpres")]


def test_double_pnpres_is_accepted_and_delivers_nothing(
    presence_server_factory: Any,
) -> None:
    server = presence_server_factory(hold_timeout=0.3)
    http = RawHttp(server)
    cursor = handshake(http, "room-pnpres-pnpres", "watcher")
    handshake(http, "room", "alice")
    assert poll(http, "room-pnpres-pnpres", "watcher", cursor).body["m"] == []
    assert server.occupants("room-pnpres") == {}


# -------------------------------------------------------------- heartbeat, leave


def test_heartbeat_and_leave(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    hb = raw_http.get("/v2/presence/sub-key/demo/channel/a,b/heartbeat?heartbeat=60&uuid=alice")
    assert hb.status == 200
    assert hb.body == OK_PRESENCE
    assert presence_server.where_now("alice") == ["a", "b"]
    leave = raw_http.get("/v2/presence/sub-key/demo/channel/a/leave?uuid=alice")
    assert leave.body == {"status": 200, "message": "OK", "action": "leave", "service": "Presence"}
    assert presence_server.where_now("alice") == ["b"]
    assert presence_server.presence_log("a")[-1] == {
        "action": "leave",
        "uuid": "alice",
        "timestamp": presence_server.presence_log("a")[-1]["timestamp"],
        "occupancy": 0,
    }
    # Leaving again, or a channel never joined: 200 and nothing emitted.
    before = presence_server.presence_events_emitted
    assert raw_http.get("/v2/presence/sub-key/demo/channel/a,zz/leave?uuid=alice").status == 200
    assert presence_server.presence_events_emitted == before


def test_heartbeat_state_changes_state_once(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    raw_http.get("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice")
    state = q({"room": {"x": 1}})
    for _ in range(3):
        raw_http.get(f"/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice&state={state}")
    actions = [d["action"] for d in presence_server.presence_log("room")]
    assert actions == ["join", "state-change"]


def test_group_heartbeat_and_leave(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    raw_http.get("/v1/channel-registration/sub-key/demo/channel-group/g?add=x,y&uuid=w")
    raw_http.get("/v2/presence/sub-key/demo/channel/,/heartbeat?channel-group=g&uuid=alice")
    assert presence_server.where_now("alice") == ["x", "y"]
    raw_http.get("/v2/presence/sub-key/demo/channel/,/leave?channel-group=g&uuid=alice")
    assert presence_server.where_now("alice") == []


# ---------------------------------------------------------------------- here now


@pytest.fixture
def crowd(raw_http: RawHttp) -> RawHttp:
    """Channel ``room`` with alice (state), bob and carol; ``hall`` with dave."""
    state = q({"room": {"mood": "ok"}})
    raw_http.get(f"/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice&state={state}")
    raw_http.get("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=carol")
    raw_http.get("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=bob")
    raw_http.get("/v2/presence/sub-key/demo/channel/hall/heartbeat?uuid=dave")
    return raw_http


def test_here_now_one_channel(crowd: RawHttp) -> None:
    reply = crowd.get("/v2/presence/sub-key/demo/channel/room?limit=1000&uuid=w")
    assert reply.body == {**OK_PRESENCE, "occupancy": 3, "uuids": ["alice", "bob", "carol"]}


def test_here_now_with_state(crowd: RawHttp) -> None:
    reply = crowd.get("/v2/presence/sub-key/demo/channel/room?state=1&uuid=w")
    assert reply.body["uuids"] == [
        {"uuid": "alice", "state": {"mood": "ok"}},
        {"uuid": "bob"},
        {"uuid": "carol"},
    ]


def test_here_now_without_uuids(crowd: RawHttp) -> None:
    reply = crowd.get("/v2/presence/sub-key/demo/channel/room?disable_uuids=1&uuid=w")
    assert reply.body == {**OK_PRESENCE, "occupancy": 3}


def test_here_now_paging_keeps_full_occupancy(crowd: RawHttp) -> None:
    first = crowd.get("/v2/presence/sub-key/demo/channel/room?limit=2&uuid=w")
    rest = crowd.get("/v2/presence/sub-key/demo/channel/room?limit=2&offset=2&uuid=w")
    assert (first.body["occupancy"], first.body["uuids"]) == (3, ["alice", "bob"])
    assert (rest.body["occupancy"], rest.body["uuids"]) == (3, ["carol"])


def test_here_now_several_channels(crowd: RawHttp) -> None:
    reply = crowd.get("/v2/presence/sub-key/demo/channel/room,hall,empty?uuid=w")
    assert reply.body == {
        **OK_PRESENCE,
        "payload": {
            "channels": {
                "room": {"occupancy": 3, "uuids": ["alice", "bob", "carol"]},
                "hall": {"occupancy": 1, "uuids": ["dave"]},
            },
            "total_channels": 2,
            "total_occupancy": 4,
        },
    }


def test_here_now_group_and_global(crowd: RawHttp) -> None:
    crowd.get("/v1/channel-registration/sub-key/demo/channel-group/g?add=hall&uuid=w")
    group = crowd.get("/v2/presence/sub-key/demo/channel/,?channel-group=g&uuid=w")
    assert group.body["payload"]["channels"] == {"hall": {"occupancy": 1, "uuids": ["dave"]}}
    everything = crowd.get("/v2/presence/sub-key/demo?limit=1000&disable_uuids=1&uuid=w")
    assert everything.body["payload"] == {
        "channels": {"hall": {"occupancy": 1}, "room": {"occupancy": 3}},
        "total_channels": 2,
        "total_occupancy": 4,
    }


def test_empty_channel_here_now(raw_http: RawHttp) -> None:
    reply = raw_http.get("/v2/presence/sub-key/demo/channel/nobody?uuid=w")
    assert reply.body == {**OK_PRESENCE, "occupancy": 0, "uuids": []}


# ------------------------------------------------------------ where now, state


def test_where_now(crowd: RawHttp) -> None:
    reply = crowd.get("/v2/presence/sub-key/demo/uuid/alice?uuid=w")
    assert reply.body == {**OK_PRESENCE, "payload": {"channels": ["room"]}}
    nobody = crowd.get("/v2/presence/sub-key/demo/uuid/ghost?uuid=w")
    assert nobody.body["payload"] == {"channels": []}


def test_set_and_get_state(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    raw_http.get("/v2/presence/sub-key/demo/channel/a,b/heartbeat?uuid=alice")
    set_reply = raw_http.get(
        f"/v2/presence/sub-key/demo/channel/a,b/uuid/alice/data?state={q({'k': 1})}&uuid=alice"
    )
    assert set_reply.body == {**OK_PRESENCE, "payload": {"k": 1}}
    one = raw_http.get("/v2/presence/sub-key/demo/channel/a/uuid/alice?uuid=w")
    assert one.body == {**OK_PRESENCE, "payload": {"k": 1}, "uuid": "alice", "channel": "a"}
    several = raw_http.get("/v2/presence/sub-key/demo/channel/a,b/uuid/alice?uuid=w")
    assert several.body == {
        **OK_PRESENCE,
        "payload": {"channels": {"a": {"k": 1}, "b": {"k": 1}}},
        "uuid": "alice",
    }
    assert [d["action"] for d in presence_server.presence_log("a")] == ["join", "state-change"]


def test_get_state_of_absent_uuid_is_empty(raw_http: RawHttp) -> None:
    reply = raw_http.get("/v2/presence/sub-key/demo/channel/a/uuid/ghost?uuid=w")
    assert reply.body["payload"] == {}


# --------------------------------------------------------------- channel groups


def test_channel_group_lifecycle(raw_http: RawHttp) -> None:
    base = "/v1/channel-registration/sub-key/demo/channel-group"
    ok = {"status": 200, "message": "OK", "service": "channel-registry", "error": False}
    assert raw_http.get(f"{base}/g?add=b,a,c&uuid=w").body == ok
    assert raw_http.get(f"{base}/g?remove=c&uuid=w").body == ok
    listed = raw_http.get(f"{base}/g?uuid=w")
    assert listed.body == {**ok, "payload": {"channels": ["a", "b"], "group": "g"}}
    assert raw_http.get(f"{base}?uuid=w").body["payload"] == {"groups": ["g"], "namespace": ""}
    assert raw_http.get(f"{base}/g/remove?uuid=w").body == ok
    assert raw_http.get(f"{base}/g?uuid=w").body["payload"]["channels"] == []


def test_channel_group_limit(presence_server_factory: Any) -> None:
    http = RawHttp(presence_server_factory(max_channels_per_group=2))
    base = "/v1/channel-registration/sub-key/demo/channel-group/g"
    assert http.get(f"{base}?add=a,b&uuid=w").status == 200
    assert_error(http.get(f"{base}?add=c&uuid=w"), 400, "too many", service="channel-registry")
    assert http.get(f"{base}?uuid=w").body["payload"]["channels"] == ["a", "b"]


# ---------------------------------------------------------------------- publish


def test_publish_post_and_compressed_post(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    cursor = handshake(raw_http, "p", "alice")
    posted = raw_http.request(
        "/publish/demo/demo/0/p/0?uuid=bob", "POST", json.dumps({"n": 1}).encode()
    )
    squeezed = raw_http.request(
        "/publish/demo/demo/0/p/0?uuid=bob",
        "POST",
        zlib.compress(json.dumps({"n": 2}).encode()),
        {"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert posted.status == squeezed.status == 200
    reply = poll(raw_http, "p", "alice", cursor)
    assert [m["d"] for m in reply.body["m"]] == [{"n": 1}, {"n": 2}]


def test_publish_meta(raw_http: RawHttp) -> None:
    cursor = handshake(raw_http, "p", "alice")
    assert (
        raw_http.get(
            f"/publish/demo/demo/0/p/0/{q(json.dumps('hi'))}?uuid=bob&meta={q({'lang': 'en'})}"
        ).status
        == 200
    )
    [message] = poll(raw_http, "p", "alice", cursor).body["m"]
    assert message["u"] == {"lang": "en"}


def test_inject_delivers_arbitrary_payloads(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    cursor = handshake(raw_http, "room-pnpres", "watcher")
    tt = presence_server.inject("room", {"action": "join", "occupancy": "lots"})
    [message] = poll(raw_http, "room-pnpres", "watcher", cursor).body["m"]
    assert message["d"] == {"action": "join", "occupancy": "lots"}
    assert int(message["p"]["t"]) == tt
    assert presence_server.presence_events_on("room") == 1


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("/v2/subscribe/demo/room/0?tt=0", ["missing uuid"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=", ["missing uuid"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=%C3%A9t%C3%A9", ["uuid", "ascii"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=%FF", ["uuid", "utf-8"]),
        ("/v2/subscribe/demo/room/0?tt=abc&uuid=u", ["timetoken"]),
        ("/v2/subscribe/demo/room/0?tt=-5&uuid=u", ["timetoken"]),
        ("/v2/subscribe/demo/,/0?tt=0&uuid=u", ["channel"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=u&heartbeat=soon", ["heartbeat"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=u&state=%7Bnope", ["state", "json"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=u&state=%5B1%5D", ["state", "object"]),
        ("/v2/subscribe/demo/room/0?tt=0&uuid=u&state=%7B%22room%22%3A3%7D", ["state", "object"]),
        ("/v2/subscribe/demo/bad%01name/0?tt=0&uuid=u", ["channel", "control"]),
        (f"/v2/subscribe/demo/{'x' * 93}/0?tt=0&uuid=u", ["channel", "92"]),
        (f"/v2/subscribe/demo/room/0?tt=0&uuid={'u' * 93}", ["uuid", "92"]),
        ("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=u&heartbeat=-1", ["heartbeat"]),
        ("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=u&heartbeat=nan", ["heartbeat"]),
        ("/v2/presence/sub-key/demo/channel/room?uuid=u&limit=1001", ["limit"]),
        ("/v2/presence/sub-key/demo/channel/room?uuid=u&limit=-1", ["limit"]),
        ("/v2/presence/sub-key/demo/channel/room?uuid=u&limit=ten", ["limit"]),
        ("/v2/presence/sub-key/demo/channel/room?uuid=u&offset=-3", ["offset"]),
        ("/v2/presence/sub-key/demo/channel/room/uuid/u/data?uuid=u", ["missing state"]),
        ("/v2/presence/sub-key/demo/channel/room/uuid/u/data?uuid=u&state=1", ["state", "object"]),
        (
            "/v2/presence/sub-key/demo/channel/room/uuid/u/data?uuid=u&state=%7B%22a%22%3ANaN%7D",
            ["json"],
        ),
        ("/v2/presence/sub-key/demo/uuid/%C3%A9?uuid=u", ["uuid", "ascii"]),
        ("/v2/presence/sub-key/demo/channel/,/leave?uuid=u", ["channel"]),
    ],
)
def test_bad_requests_are_400_with_a_message(
    raw_http: RawHttp, presence_server: LocalPresenceServer, target: str, words: list[str]
) -> None:
    assert_error(raw_http.get(target), 400, *words)
    assert presence_server.presence_events_emitted == 0


def test_oversized_state_is_400(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    big = q({"blob": "x" * (33 * 1024)})
    reply = raw_http.get(f"/v2/presence/sub-key/demo/channel/room/uuid/u/data?uuid=u&state={big}")
    assert_error(reply, 400, "state", "32768")


def test_too_many_channels_is_400(presence_server_factory: Any) -> None:
    http = RawHttp(presence_server_factory(max_channels_per_request=3))
    assert_error(http.get("/v2/subscribe/demo/a,b,c,d/0?tt=0&uuid=u"), 400, "too many")
    assert_error(
        http.get("/v2/subscribe/demo/a,b/0?tt=0&uuid=u&channel-group=g,h"), 400, "too many"
    )


def test_publish_errors(raw_http: RawHttp) -> None:
    assert_error(
        raw_http.get("/publish/demo/demo/0/p/0/%7Bnope?uuid=u"), 400, "json", service="Publish"
    )
    assert_error(
        raw_http.get("/publish/demo/demo/0/p-pnpres/0/1?uuid=u"), 400, "pnpres", service="Publish"
    )
    assert_error(
        raw_http.get("/publish/demo/demo/0/p.*/0/1?uuid=u"), 400, "wildcard", service="Publish"
    )
    assert_error(raw_http.get("/publish/demo/demo/0/p/0/1"), 400, "uuid", service="Publish")
    assert_error(
        raw_http.get("/publish/demo/demo/0/p/0/1?uuid=u&meta=5"), 400, "meta", service="Publish"
    )


def test_unknown_paths_are_404(raw_http: RawHttp) -> None:
    for target in [
        "/",
        "/nothing",
        "/v2/presence/sub-key/demo/bogus/x",
        "/v2/subscribe/demo/a/1?uuid=u",
        "/time/1",
    ]:
        assert_error(raw_http.get(target), 404, "not found")


def test_wrong_method_is_405(raw_http: RawHttp) -> None:
    assert_error(
        raw_http.request("/v2/presence/sub-key/demo/channel/a/leave?uuid=u", "POST", b""),
        405,
        "GET",
    )
    assert raw_http.request("/time/0", "DELETE").status == 405


def test_oversized_body_is_413(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    body = json.dumps("x" * (presence_server.settings.max_request_bytes + 10)).encode()
    assert_error(
        raw_http.request("/publish/demo/demo/0/p/0?uuid=u", "POST", body),
        413,
        "too large",
        service="Publish",
    )
    bomb = zlib.compress(b'"' + b"x" * 200_000 + b'"')
    reply = raw_http.request(
        "/publish/demo/demo/0/p/0?uuid=u", "POST", bomb, {"Content-Encoding": "gzip"}
    )
    assert_error(reply, 413, "decompressed", service="Publish")


def test_oversized_uri_is_414(raw_http: RawHttp, presence_server: LocalPresenceServer) -> None:
    long = "x" * (presence_server.settings.max_request_bytes + 1)
    assert_error(raw_http.get(f"/publish/demo/demo/0/p/0/{long}?uuid=u"), 414, "too long")


def test_bad_requests_leave_state_untouched(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    raw_http.get(
        f"/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice&state={q({'room': {'v': 1}})}"
    )
    before = (presence_server.occupants("room"), presence_server.presence_events_emitted)
    bad = [
        f"/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice&state={q({'room': 5})}",
        "/v2/presence/sub-key/demo/channel/room/uuid/alice/data?uuid=alice&state=%7B",
        "/v2/presence/sub-key/demo/channel/room,x%01/leave?uuid=alice",
        "/v2/subscribe/demo/room,other/0?tt=zz&uuid=alice",
        "/v2/subscribe/demo/room,other/0?tt=0&uuid=bob&heartbeat=x",
        "/v2/subscribe/demo/room,other/0?tt=0&uuid=bob&filter-expr=a%20%3D%201",
    ]
    for target in bad:
        assert raw_http.get(target).status == 400
    assert (presence_server.occupants("room"), presence_server.presence_events_emitted) == before
    assert presence_server.occupants("other") == {}


_segment = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    *PATH_SEGMENTS,
                    "a,b",
                    "%FF",
                    "%2C",
                ]
            ),
            _segment.map(lambda s: quote(s, safe="")),
        ),
        max_size=8,
    ),
    st.dictionaries(
        st.sampled_from(
            [
                "uuid",
                "tt",
                "state",
                "heartbeat",
                "limit",
                "offset",
                "channel-group",
                "add",
                "remove",
                "meta",
                "disable_uuids",
                "filter-expr",
                "custom_message_type",
            ]
        ),
        _segment.map(lambda s: quote(s, safe="")),
        max_size=6,
    ),
)
def test_fuzzed_requests_never_fail_the_server(
    raw_http: RawHttp, segments: list[str], params: dict[str, str]
) -> None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    target = "/" + "/".join(segments) + ("?" + query if query else "")
    if "/subscribe/" in target:
        target += "&tt=0" if "?" in target else "?tt=0"  # never hold a fuzzed long poll
    reply = raw_http.get(target)
    assert reply.status in (200, 400, 404, 405, 413, 414), (target, reply.body)
    if reply.status != 200:
        assert reply.body["error"] is True


# ------------------------------------------------------------ long-poll lifecycle


def test_stop_releases_held_polls(presence_server_factory: Any, wait_for: WaitFor) -> None:
    server = presence_server_factory(hold_timeout=30)
    http = RawHttp(server)
    cursor = handshake(http, "room", "alice")
    result: list[Reply] = []
    waiter = threading.Thread(target=lambda: result.append(poll(http, "room", "alice", cursor)))
    waiter.start()
    wait_for(lambda: server.held_polls == 1)
    started = time.monotonic()
    server.stop()
    waiter.join(5)
    assert time.monotonic() - started < 3
    assert result[0].status == 200
    assert result[0].body["m"] == []


def test_dropped_held_connection_is_tolerated(
    presence_server_factory: Any, wait_for: WaitFor
) -> None:
    server = presence_server_factory(hold_timeout=30)
    http = RawHttp(server)
    cursor = handshake(http, "room", "alice")
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(
        f"GET /v2/subscribe/demo/room/0?tt={cursor}&uuid=alice HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    wait_for(lambda: server.held_polls == 1)
    sock.close()
    wait_for(lambda: server.held_polls == 0)
    wait_for(lambda: any(r.status == 499 for r in server.requests))
    assert http.get("/time/0").status == 200


def test_oldest_held_poll_is_released_over_the_limit(
    presence_server_factory: Any, wait_for: WaitFor
) -> None:
    server = presence_server_factory(hold_timeout=30, max_held_polls_per_client=2)
    http = RawHttp(server)
    cursor = handshake(http, "room", "alice")
    results: dict[int, Reply] = {}

    def hold(i: int) -> None:
        results[i] = poll(http, "room", "alice", cursor)

    threads = []
    for i in range(3):
        threads.append(threading.Thread(target=hold, args=(i,)))
        threads[-1].start()
        wait_for(lambda i=i: server.held_polls == min(i + 1, 2) and (i < 2 or 0 in results))
    # The first poll came back with its own cursor: nothing is skipped.
    assert results[0].body == {"t": {"t": str(cursor), "r": 1}, "m": []}
    server.publish("room", "wake")
    for thread in threads:
        thread.join(5)
    assert [m["d"] for m in results[1].body["m"]] == ["wake"]
    assert [m["d"] for m in results[2].body["m"]] == ["wake"]


def test_restart_on_the_same_port_keeps_state(presence_server: LocalPresenceServer) -> None:
    http = RawHttp(presence_server)
    http.get("/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice")
    port = presence_server.port
    presence_server.stop()
    assert not presence_server.running
    with pytest.raises(ConnectionRefusedError):
        http.get("/time/0")
    assert presence_server.occupants("room") == {"alice": None}  # hooks work while stopped
    presence_server.restart()
    assert presence_server.port == port
    assert http.get("/v2/presence/sub-key/demo/channel/room?uuid=w").body["uuids"] == ["alice"]


def test_request_log_is_bounded_and_describes_requests(presence_server_factory: Any) -> None:
    server = presence_server_factory(request_log_size=5)
    http = RawHttp(server)
    for _ in range(8):
        http.get("/time/0")
    http.get("/v2/presence/sub-key/demo/channel/a%20b/heartbeat?uuid=alice&heartbeat=30")
    log = server.requests
    assert len(log) == 5
    last = log[-1]
    assert (last.method, last.endpoint, last.status, last.uuid) == (
        "GET",
        "heartbeat",
        200,
        "alice",
    )
    assert last.path == "/v2/presence/sub-key/demo/channel/a b/heartbeat"
    assert last.query["heartbeat"] == "30"
    assert last.duration >= 0
    server.clear_requests()
    assert server.requests == []


def test_start_twice_and_port_in_use(presence_server: LocalPresenceServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        presence_server.start()
    clash = LocalPresenceServer(port=presence_server.port)
    with pytest.raises(RuntimeError, match="cannot start"):
        clash.start()
    assert not clash.running
