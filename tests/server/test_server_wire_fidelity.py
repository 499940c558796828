"""HTTP regression tests of what the official SDKs other than Python's need from the server.

Each test sends the requests a client sends (seen in the request log of the JavaScript
SDK against this server) and checks the answer: lists in the query string, the presence
timeout a client declared, ``filter-expr``, custom message types, the fields of a
published message, and the CORS headers a browser needs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_helpers import RawHttp, Reply, WaitFor
from test_server_http import assert_error, handshake, poll, q

from rxpresence.server import LocalPresenceServer, ServerSettings
from rxpresence.server._parsing import split_query_names

GROUPS = "/v1/channel-registration/sub-key/demo/channel-group"


def publish(http: RawHttp, channel: str, message: Any, extra: str = "") -> Reply:
    body = q(json.dumps(message))  # JSON even for a string message
    reply = http.get(f"/publish/demo/demo/0/{channel}/0/{body}?uuid=pub{extra}")
    assert reply.status == 200, reply.body
    return reply


# ------------------------------------------------------- lists in the query string


def test_query_lists_are_decoded_before_splitting(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    # The JavaScript SDK encodes the joined list as one value: a%2Cb is two channels.
    assert raw_http.get(f"{GROUPS}/g?add=a%2Cb&uuid=w").status == 200
    assert raw_http.get(f"{GROUPS}/g?uuid=w").body["payload"]["channels"] == ["a", "b"]
    assert raw_http.get(f"{GROUPS}/g?add=c,d&uuid=w").status == 200  # as Python sends it
    assert raw_http.get(f"{GROUPS}/g?remove=a%2Cc&uuid=w").status == 200
    assert raw_http.get(f"{GROUPS}/g?uuid=w").body["payload"]["channels"] == ["b", "d"]


names = st.lists(
    st.text(
        st.characters(min_codepoint=0x20, exclude_characters=",\x7f", exclude_categories=["Cs"]),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=5,
    unique=True,
)


@given(names)
def test_both_sdks_spellings_of_a_query_list_read_the_same(listed: list[str]) -> None:
    settings = ServerSettings()
    javascript = quote(",".join(listed), safe="")  # the joined list encoded as one value
    python = ",".join(quote(name, safe="") for name in listed)  # each name encoded
    assert split_query_names(javascript, "channel group", settings) == listed
    assert split_query_names(python, "channel group", settings) == listed


def test_subscribe_heartbeat_and_leave_with_an_encoded_group_list(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    raw_http.get(f"{GROUPS}/g?add=x%2Cy&uuid=w")
    raw_http.get(f"{GROUPS}/h?add=z&uuid=w")
    watcher = handshake(raw_http, ",", "watcher", "&channel-group=g%2Cg-pnpres&ee=")
    handshake(raw_http, ",", "alice", "&channel-group=g%2Cg-pnpres&ee=")
    assert presence_server.where_now("alice") == ["x", "y"]
    reply = poll(raw_http, ",", "watcher", watcher, "&channel-group=g%2Cg-pnpres&ee=")
    assert {(m["c"], m["b"], m["d"]["uuid"]) for m in reply.body["m"]} >= {
        ("x-pnpres", "g-pnpres", "alice"),
        ("y-pnpres", "g-pnpres", "alice"),
    }
    beat = "/v2/presence/sub-key/demo/channel/,/heartbeat?heartbeat=60&channel-group=g%2Ch"
    assert raw_http.get(f"{beat}&uuid=bob").status == 200
    assert presence_server.where_now("bob") == ["x", "y", "z"]
    leave = "/v2/presence/sub-key/demo/channel/,/leave?channel-group=g%2Ch&uuid=bob"
    assert raw_http.get(leave).status == 200
    assert presence_server.where_now("bob") == []


def test_path_lists_still_split_before_decoding(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    reply = raw_http.get("/v2/presence/sub-key/demo/channel/a%2Cb,c/heartbeat?uuid=u")
    assert reply.status == 200
    assert presence_server.where_now("u") == ["a,b", "c"]


# ------------------------------------------------------------ declared timeouts


def test_a_subscribe_without_heartbeat_keeps_the_declared_timeout(
    presence_server_factory: Any, wait_for: WaitFor
) -> None:
    server = presence_server_factory(hold_timeout=0.2)
    http = RawHttp(server)
    # The JavaScript SDK's order: a handshake without heartbeat, a heartbeat declaring
    # the timeout, then polls without heartbeat. The default here is 300 s.
    cursor = handshake(http, "room,room-pnpres", "js", "&ee=")
    assert http.get("/v2/presence/sub-key/demo/channel/room/heartbeat?heartbeat=1&uuid=js")
    reply = poll(http, "room,room-pnpres", "js", cursor, "&ee=")
    assert reply.status == 200
    # No heartbeat follows (the client died): it times out 1 s after its last request.
    wait_for(lambda: server.occupants("room") == {}, timeout=5, message="(js timed out)")
    assert server.presence_log("room")[-1]["action"] == "timeout"


# ------------------------------------------------------------------ filter-expr


def test_filter_expr_delivers_only_matching_messages(raw_http: RawHttp) -> None:
    expression = q("meta.lang == 'en' && (meta.level > 2 || meta.tags CONTAINS 'urgent')")
    extra = f"&filter-expr={expression}"
    cursor = handshake(raw_http, "news,news-pnpres", "reader", extra)
    publish(raw_http, "news", 1, f"&meta={q({'lang': 'en', 'level': 3})}")
    publish(raw_http, "news", 2, f"&meta={q({'lang': 'fr', 'level': 3})}")
    publish(raw_http, "news", 3, f"&meta={q({'lang': 'en', 'level': 1})}")
    publish(raw_http, "news", 4, f"&meta={q({'lang': 'en', 'tags': ['urgent']})}")
    publish(raw_http, "news", 5)  # no meta at all
    reply = poll(raw_http, "news,news-pnpres", "reader", cursor, extra)
    delivered = [m["d"] for m in reply.body["m"] if m["c"] == "news"]
    assert delivered == [1, 4]
    # Presence events are no messages: the filter never hides them.
    assert [m["d"]["action"] for m in reply.body["m"] if m["c"] == "news-pnpres"] == ["join"]


def test_filter_expr_reads_the_payload_and_applies_to_groups(raw_http: RawHttp) -> None:
    raw_http.get(f"{GROUPS}/feeds?add=f1&uuid=w")
    extra = f"&channel-group=feeds&filter-expr={q('data.score >= 80')}"
    cursor = handshake(raw_http, ",", "reader", extra)
    publish(raw_http, "f1", {"score": 79})
    publish(raw_http, "f1", {"score": 80})
    publish(raw_http, "f1", "plain text")
    reply = poll(raw_http, ",", "reader", cursor, extra)
    assert [(m["d"], m["b"]) for m in reply.body["m"]] == [({"score": 80}, "feeds")]


def test_an_empty_filter_expr_filters_nothing(raw_http: RawHttp) -> None:
    cursor = handshake(raw_http, "news", "reader", "&filter-expr=")
    publish(raw_http, "news", 1)
    assert [m["d"] for m in poll(raw_http, "news", "reader", cursor).body["m"]] == [1]


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("meta.lang = 'en'", ["filter-expr", "'=='", "character 11"]),
        ("(meta.a == 1", ["filter-expr", "')'"]),
        ("meta.a == 'x", ["filter-expr", "unterminated"]),
        ("meta.a == 1 & meta.b == 2", ["filter-expr", "'&&'"]),
    ],
)
def test_a_filter_expr_that_cannot_be_parsed_is_400(
    raw_http: RawHttp, presence_server: LocalPresenceServer, expression: str, words: list[str]
) -> None:
    reply = raw_http.get(f"/v2/subscribe/demo/news/0?uuid=u&filter-expr={q(expression)}")
    assert_error(reply, 400, *words)
    assert presence_server.occupants("news") == {}  # nothing happened: no join


# ------------------------------------------------------------ published messages


def test_custom_message_type_round_trips(raw_http: RawHttp) -> None:
    cursor = handshake(raw_http, "chat", "reader")
    publish(raw_http, "chat", {"text": "hi"}, "&custom_message_type=chat-msg")
    publish(raw_http, "chat", {"text": "plain"})
    first, second = poll(raw_http, "chat", "reader", cursor).body["m"]
    assert first["cmt"] == "chat-msg"
    assert "cmt" not in second


def test_published_messages_carry_the_fields_the_sdks_read(raw_http: RawHttp) -> None:
    cursor = handshake(raw_http, "chat", "reader")
    published = publish(raw_http, "chat", [1, 2], f"&meta={q({'m': 1})}&custom_message_type=t_1")
    [message] = poll(raw_http, "chat", "reader", cursor).body["m"]
    # No "e" (message type): the JavaScript SDK reads e=0 as a file event.
    assert message == {
        "a": "2",
        "f": 0,
        "p": {"t": published.body[2], "r": 1},
        "k": "demo",
        "c": "chat",
        "b": "chat",
        "d": [1, 2],
        "i": "pub",
        "u": {"m": 1},
        "cmt": "t_1",
    }


@pytest.mark.parametrize("bad", ["ab", "x" * 51, "has space", "dot.ted", "ümlaut"])
def test_an_invalid_custom_message_type_is_400(raw_http: RawHttp, bad: str) -> None:
    reply = raw_http.get(f"/publish/demo/demo/0/chat/0/1?uuid=u&custom_message_type={q(bad)}")
    assert_error(reply, 400, "custom_message_type", "3 to 50", service="Publish")


# -------------------------------------------------------------------------- CORS

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, GET, POST",
    "Cache-Control": "no-cache",
}


@pytest.mark.parametrize(
    "target",
    [
        "/time/0",
        "/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=u",
        "/v2/presence/sub-key/demo/channel/room/heartbeat",  # 400: no uuid
        "/nowhere",  # 404
    ],
)
def test_every_answer_carries_the_cors_headers(raw_http: RawHttp, target: str) -> None:
    reply = raw_http.request(target, headers={"Origin": "http://127.0.0.1:1"})
    for name, value in CORS.items():
        assert reply.headers.get(name) == value, (name, reply.headers)
    assert "Content-Type" in reply.headers["Access-Control-Allow-Headers"]


def test_preflights_are_answered_and_change_nothing(
    raw_http: RawHttp, presence_server: LocalPresenceServer
) -> None:
    reply = raw_http.request(
        "/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=u&heartbeat=60",
        "OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:1",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "content-type,x-custom",
        },
    )
    assert reply.status == 200
    for name, value in CORS.items():
        assert reply.headers.get(name) == value
    assert reply.headers["Access-Control-Allow-Headers"] == "content-type,x-custom"
    assert presence_server.occupants("room") == {}
    assert presence_server.requests[-1].endpoint == "preflight"
