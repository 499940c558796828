"""Hostile input to the local presence server, and its limits.

The fuzz test sends ``--fuzz-requests`` (4000 by default) seeded random requests over
loopback with a plain HTTP client (``httpx``, two threads) plus raw-socket garbage
the HTTP client cannot send: random and truncated paths, percent-encoding that is not
UTF-8, non-ASCII, huge and invalid JSON state, deeply nested JSON, NaN, every endpoint
with wrong or missing parameters, wrong methods, oversized targets and bodies, a
compressed body that inflates past the limit, broken request lines and headers. Mixed in
are well-formed presence requests, so the server's state really changes meanwhile.

Meanwhile a real SDK client subscribes and heartbeats, a watcher runs a
``PresenceStreams`` on the same channel, and a well-behaved client measures latency.
Checked: no answer is a 5xx; every refusal of the API is a JSON error naming the
problem; the SDK client never drops out, every request it makes succeeds and it gets
every message published meanwhile; the server's presence data stays consistent (here-now
equals the occupants, replaying the server's own presence log gives the same members and
states, and no uuid is present that no accepted request made present); the watcher's
roster equals here-now.

The limit tests check each limit at its boundary: at the limit is accepted, one over is
refused with a clear error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pubnub.callbacks import SubscribeCallback
from pubnub.pubnub import PubNub
from url_parts import PATH_SEGMENTS

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:Mutable config:DeprecationWarning"),
]

ROOM = "steady-room"
CHANNELS = [ROOM, "fz-a", "fz-b", "fz-c", "fz.x", "fz-group-member"]
UUIDS = ["fz-u1", "fz-u2", "fz-u3", "fz-u4", "fz-u5"]
# Statuses the server may answer: success, and the refusals it documents.
ALLOWED = {200, 400, 404, 405, 413, 414}
_SDK_REQUEST_THREAD = re.compile(r"^Thread-[A-Za-z]+-\d+$")


def q(value: Any) -> str:
    """JSON, percent-encoded for a query string."""
    return quote(json.dumps(value), safe="")


@dataclass
class Attack:
    method: str
    target: str
    body: bytes | None = None
    headers: dict[str, str] | None = None


# -- the generator ----------------------------------------------------------------------------


def _noise(rng: random.Random, size: int) -> str:
    alphabet = "abcXYZ019-_.~!*'();:@&=+$,/?#[]%{}|\\^`\"<> "
    return "".join(rng.choice(alphabet) for _ in range(size))


def _encoded_junk(rng: random.Random) -> str:
    pieces = [
        "%FF",
        "%C3%28",
        "%E2%82",
        "%00",
        "%2C",
        "%",
        "%G0",
        quote("é", safe=""),
        quote("名字", safe=""),
        quote("🙂", safe=""),
        quote("\u202e", safe=""),
        "a" * rng.randint(1, 120),
        quote(_noise(rng, 8), safe=""),
    ]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))


def _name(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if roll < 0.7:
        return quote(rng.choice(pool), safe="")
    if roll < 0.8:
        return ""
    if roll < 0.9:
        return "a" * rng.randint(80, 120)  # around the 92-character limit
    return _encoded_junk(rng)


def _channels(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        return ","
    if roll < 0.11:
        return ",".join(f"c{i}" for i in range(rng.randint(990, 1010)))  # around 1000
    return ",".join(_name(rng, CHANNELS) for _ in range(rng.randint(1, 3)))


def _state(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return q({"mood": rng.choice(["ok", "busy", "away"]), "n": rng.randint(0, 9)})
    if roll < 0.6:
        return q({"blob": "x" * rng.choice([32_700, 32_800, 40_000])})  # around 32 KiB
    if roll < 0.7:
        depth = rng.choice([50, 3_000, 10_000])  # deeper than the JSON parser recurses
        return quote("[" * depth + "]" * depth, safe="")
    if roll < 0.8:
        return rng.choice(["%7B", "NaN", q([1, 2]), q("text"), "%7B%22a%22%3ANaN%7D", "null"])
    if roll < 0.9:
        return q({c: {"v": rng.randint(0, 3)} for c in CHANNELS[:3]})  # by channel
    return _encoded_junk(rng)


def _query(rng: random.Random, **fixed: str) -> str:
    params = dict(fixed)
    if rng.random() < 0.85:
        params.setdefault("uuid", _name(rng, UUIDS))
    for key in rng.sample(
        ["tt", "heartbeat", "limit", "offset", "state", "channel-group", "disable_uuids", "x"],
        rng.randint(0, 3),
    ):
        params.setdefault(
            key,
            rng.choice(
                [
                    "0",
                    "-1",
                    "1e9",
                    "abc",
                    "99999999999999999999999",
                    "",
                    "1",
                    _encoded_junk(rng),
                ]
            ),
        )
    parts = [f"{k}={v}" for k, v in params.items()]
    if rng.random() < 0.05:
        parts.append("uuid=second-uuid-ignored")
    if rng.random() < 0.03:
        parts.append("&&==&")
    return "&".join(parts)


def _endpoint(rng: random.Random) -> Attack:
    sub = rng.choice(["demo", "demo", "other", _encoded_junk(rng)])
    channels = _channels(rng)
    uuid = _name(rng, UUIDS)
    kind = rng.choice(
        ["heartbeat", "heartbeat", "subscribe", "leave", "here_now", "state", "get_state",
         "where_now", "group", "publish", "time", "global"]
    )  # fmt: skip
    base = f"/v2/presence/sub-key/{sub}"
    if kind == "heartbeat":
        extra = {"state": _state(rng)} if rng.random() < 0.4 else {}
        if rng.random() < 0.3:
            extra["heartbeat"] = rng.choice(["300", "5", "0", "86401", "-3", "nan", "inf"])
        return Attack("GET", f"{base}/channel/{channels}/heartbeat?{_query(rng, **extra)}")
    if kind == "subscribe":
        # Mostly handshakes: a long poll would be held (briefly: hold_timeout is short).
        tt = "0" if rng.random() < 0.9 else rng.choice(["1", "x", "17000000000000000000000"])
        extra = {"tt": tt}
        if rng.random() < 0.3:
            extra["state"] = _state(rng)
        return Attack("GET", f"/v2/subscribe/{sub}/{channels}/0?{_query(rng, **extra)}")
    if kind == "leave":
        return Attack("GET", f"{base}/channel/{channels}/leave?{_query(rng)}")
    if kind == "here_now":
        return Attack("GET", f"{base}/channel/{channels}?{_query(rng, state='1')}")
    if kind == "state":
        return Attack(
            "GET", f"{base}/channel/{channels}/uuid/{uuid}/data?{_query(rng, state=_state(rng))}"
        )
    if kind == "get_state":
        return Attack("GET", f"{base}/channel/{channels}/uuid/{uuid}?{_query(rng)}")
    if kind == "where_now":
        return Attack("GET", f"{base}/uuid/{uuid}?{_query(rng)}")
    if kind == "group":
        group = _name(rng, ["fz-g", "fz-g", "fz-g-pnpres", "fz.*"])
        action = rng.choice(["add", "remove", "list", "delete"])
        path = f"/v1/channel-registration/sub-key/{sub}/channel-group/{group}"
        if action == "delete":
            return Attack("GET", f"{path}/remove?{_query(rng)}")
        if action == "list":
            return Attack("GET", f"{path}?{_query(rng)}")
        return Attack("GET", f"{path}?{_query(rng, **{action: _channels(rng)})}")
    if kind == "publish":
        message = rng.choice([q({"hi": 1}), "%7Bnope", q("x" * 20_000), _encoded_junk(rng)])
        if rng.random() < 0.5:
            return Attack(
                "GET", f"/publish/demo/{sub}/0/{_name(rng, CHANNELS)}/0/{message}?{_query(rng)}"
            )
        body = rng.choice(
            [
                b'{"hi": 1}',
                b"\xff\xfe not utf-8",
                json.dumps("x" * 70_000).encode(),
                b"[" * 20_000 + b"]" * 20_000,
            ]
        )
        headers = {}
        if rng.random() < 0.3:
            headers["Content-Encoding"] = "gzip"
            body = rng.choice(
                [zlib.compress(b'"' + b"x" * 200_000 + b'"'), b"not gzip", gzip.compress(body)]
            )
        return Attack(
            "POST", f"/publish/demo/{sub}/0/{_name(rng, CHANNELS)}/0?{_query(rng)}", body, headers
        )
    if kind == "time":
        return Attack("GET", rng.choice(["/time/0", "/time/1", "/time/0/extra", "/time"]))
    return Attack("GET", f"{base}?{_query(rng)}")


def _random_path(rng: random.Random) -> Attack:
    segments = [
        rng.choice(
            [
                *PATH_SEGMENTS,
                "..",
                ".",
                "",
                _encoded_junk(rng),
            ]
        )
        for _ in range(rng.randint(0, 9))
    ]
    target = "/" + "/".join(segments)
    if rng.random() < 0.7:
        target += "?" + _query(rng)
    return Attack("GET", target)


def _wrong_method(rng: random.Random) -> Attack:
    attack = _endpoint(rng)
    method = rng.choice(["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"])
    body = rng.choice([None, b"", b'{"a": 1}', b"\x00" * 1000])
    return Attack(method, attack.target, body)


def _oversized(rng: random.Random) -> Attack:
    size = rng.choice([65_000, 65_600, 66_000])  # around the 64 KiB limit
    if rng.random() < 0.5:
        return Attack(
            "GET", f"/v2/presence/sub-key/demo/channel/fz-a/heartbeat?uuid=u&x={'a' * size}"
        )
    body = json.dumps("y" * size).encode()
    return Attack("POST", "/publish/demo/demo/0/fz-a/0?uuid=u", body)


def attacks(seed: int, count: int) -> list[Attack]:
    rng = random.Random(seed)
    makers: list[tuple[Callable[[random.Random], Attack], float]] = [
        (_endpoint, 0.7),
        (_random_path, 0.15),
        (_wrong_method, 0.1),
        (_oversized, 0.05),
    ]
    out = []
    for _ in range(count):
        maker = rng.choices([m for m, _ in makers], weights=[w for _, w in makers])[0]
        out.append(maker(rng))
    return out


RAW_GARBAGE: list[bytes] = [
    b"\x00\x01\x02garbage\r\n\r\n",
    b"GET /time/0 HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /time/0 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    b"GET /time/0 HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: 1\r\n" % i for i in range(300))
    + b"\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /publish/demo/demo/0/p/0?uuid=u HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /publish/demo/demo/0/p/0?uuid=u HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /publish/demo/demo/0/p/0?uuid=u HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "GET /v2/presence/sub-key/demo/channel/fz-é/heartbeat?uuid=ü HTTP/1.1\r\n\r\n".encode(),
    b"GET /v2/presence/sub-key/demo/channel/\xff\xfe/heartbeat?uuid=u HTTP/1.1\r\n\r\n",
    b"GET /v2/presence/sub-key/demo/channel/fz-a/heartbeat?uuid=\x01\x7f HTTP/1.1\r\n\r\n",
    b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://elsewhere.invalid/time/0 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /time/0\r\n\r\n",
    b"GET /time/0 HTTP/1.1\r\nHost: x\r\n\r\nGET /time/0 HTTP/1.1\r\nHost: x\r\n\r\n" * 50,
    # Over max_request_bytes (64 KiB) but under the HTTP parser's line limit: a JSON 414.
    b"GET /time/0?pad=" + b"p" * 65_600 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


def _request_bytes(attack: Attack) -> bytes:
    body = attack.body or b""
    headers = "".join(f"{k}: {v}\r\n" for k, v in (attack.headers or {}).items())
    head = f"{attack.method} {attack.target} HTTP/1.1\r\nHost: x\r\n{headers}"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + body


def _raw(server: LocalPresenceServer, data: bytes) -> int | None:
    """Send raw bytes; return the first response's status, or None if the server closed."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        with suppress(OSError):  # the server may close before everything is sent
            sock.sendall(data)
        received = b""
        with suppress(OSError):
            while b"\r\n" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", received)
    return int(match.group(1)) if match else None


# -- the fuzz test ----------------------------------------------------------------------------


class Steady(SubscribeCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def message(self, pubnub: Any, message: Any) -> None:
        self.messages.append(message.message)

    def presence(self, pubnub: Any, presence: Any) -> None:
        pass

    def status(self, pubnub: Any, status: Any) -> None:
        pass


def _fold_log(server: LocalPresenceServer, channel: str) -> dict[str, Any]:
    """Replay the server's own presence log for a channel (announce mode only)."""
    members: dict[str, Any] = {}
    for payload in server.presence_log(channel):
        action, uuid = payload["action"], payload.get("uuid")
        assert action != "interval"
        if action == "join":
            members[uuid] = payload.get("data") or None
        elif action == "state-change":
            members[uuid] = payload.get("data") or None
        else:
            members.pop(uuid, None)
    return members


def _stop_sync(clients: list[PubNub]) -> None:
    for pubnub in clients:
        with suppress(AttributeError):
            pubnub.unsubscribe_all()
    deadline = time.monotonic() + 15
    while any(_SDK_REQUEST_THREAD.match(t.name) for t in threading.enumerate()):
        assert time.monotonic() < deadline, "SDK request threads did not finish"
        time.sleep(0.02)
    for pubnub in clients:
        pubnub.stop()


def test_fuzzed_requests_never_break_the_server(
    no_leaked_threads: None,
    presence_server_factory: Callable[..., LocalPresenceServer],
    fuzz_requests: int,
    wait_for: Any,
    figures: Any,
) -> None:
    server = presence_server_factory(
        ServerSettings.fast(
            hold_timeout=0.3,
            announce_max=100_000,  # announce every event, so the log replays exactly
            request_log_size=3 * fuzz_requests + 5_000,
        )
    )
    steady_listener = Steady()
    steady = PubNub(server.pnconfig("steady", enable_presence_heartbeat=True, presence_timeout=6))
    steady.add_listener(steady_listener)
    watcher = PubNub(server.pnconfig("watcher"))
    hub = rxp.PresenceStreams(watcher)
    errors: list[rxp.ErrorReport] = []
    hub.errors.subscribe(errors.append)
    hub.roster(ROOM).subscribe(lambda _: None)
    try:
        watcher.subscribe().channels([ROOM]).with_presence().execute()
        steady.subscribe().channels([ROOM]).with_presence().execute()
        wait_for(lambda: {"steady", "watcher"} <= set(server.occupants(ROOM)), 10)

        plan = attacks(seed=20240514, count=fuzz_requests)
        statuses: Counter[int] = Counter()
        bad: list[str] = []
        lock = threading.Lock()
        latencies: list[float] = []
        published: list[int] = []
        done = threading.Event()
        budget = time.monotonic() + 60

        def fuzz(part: list[Attack]) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                for attack in part:
                    if time.monotonic() > budget:
                        return
                    try:
                        reply = client.request(
                            attack.method,
                            attack.target,
                            content=attack.body,
                            headers=attack.headers,
                        )
                    except httpx.InvalidURL:
                        # Too odd for httpx (an over-long URL, mostly): send it raw.
                        status = _raw(server, _request_bytes(attack))
                        with lock:
                            statuses[status or 0] += 1
                            if status is not None and status not in ALLOWED:
                                bad.append(f"{status} raw {attack.method} {attack.target[:80]}")
                        continue
                    except httpx.TransportError as exc:
                        with lock:
                            bad.append(f"{attack.method} {attack.target[:80]}: {exc!r}")
                        continue
                    with lock:
                        statuses[reply.status_code] += 1
                        if reply.status_code not in ALLOWED:
                            bad.append(f"{reply.status_code} {attack.method} {attack.target[:80]}")
                        elif reply.status_code != 200 and attack.method != "HEAD":
                            body = reply.json()
                            if body.get("error") is not True or not body.get("message"):
                                bad.append(f"unclear error {body} for {attack.target[:80]}")

        def probe() -> None:
            # A well-behaved client: the time endpoint and a publish to the steady room.
            with httpx.Client(base_url=server.url, timeout=10) as client:
                n = 0
                while not done.is_set():
                    started = time.monotonic()
                    assert client.get("/time/0").status_code == 200
                    latencies.append(time.monotonic() - started)
                    server.publish(ROOM, {"probe": n})
                    published.append(n)
                    n += 1
                    done.wait(0.1)  # pacing, not synchronisation

        workers = [
            threading.Thread(target=fuzz, args=(plan[k::2],), name=f"fuzz-{k}") for k in range(2)
        ]
        prober = threading.Thread(target=probe, name="probe")
        started = time.monotonic()
        prober.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(90)
        raw_statuses = Counter(_raw(server, data) for data in RAW_GARBAGE)
        done.set()
        prober.join(20)
        elapsed = time.monotonic() - started

        sent = sum(statuses.values())
        assert sent >= min(fuzz_requests, 1000), f"only {sent} requests in the time budget"
        assert not bad, bad[:10]
        assert all(s is None or s < 500 for s in raw_statuses), raw_statuses
        assert server.running
        assert httpx.get(f"{server.url}/time/0", timeout=5).status_code == 200

        # The SDK client kept working: everything published reached it, it never dropped.
        def probes() -> list[int]:
            return [
                m["probe"]
                for m in list(steady_listener.messages)
                if isinstance(m, dict) and "probe" in m
            ]

        wait_for(lambda: len(probes()) >= len(published), 10)
        assert probes() == published
        steady_requests = [r for r in server.requests if r.uuid == "steady"]
        assert all(r.status in (200, 499) for r in steady_requests)
        heartbeats = sum(1 for r in steady_requests if r.endpoint == "heartbeat")
        assert "steady" in server.occupants(ROOM)
        room_log = server.presence_log(ROOM)
        assert not [
            p for p in room_log if p.get("uuid") == "steady" and p["action"] in ("leave", "timeout")
        ]

        # Presence data stayed consistent.
        accepted = {
            r.uuid
            for r in server.requests
            if r.status == 200 and r.endpoint in ("subscribe", "heartbeat")
        }
        with httpx.Client(base_url=server.url, timeout=10) as client:
            everywhere = client.get("/v2/presence/sub-key/demo?uuid=check&state=1").json()
            occupied = everywhere["payload"]["channels"]
            for channel, entry in occupied.items():
                occupants = server.occupants(channel)
                here_now = {u["uuid"]: u.get("state") for u in entry["uuids"]}
                assert here_now == occupants, channel
                assert set(occupants) <= accepted | {"steady", "watcher"}, channel
                assert _fold_log(server, channel) == occupants, channel

        def roster_is_here_now() -> bool:
            roster = {m.uuid: (dict(m.state) if m.state else None) for m in hub.current(ROOM)}
            return roster == {u: (s or None) for u, s in server.occupants(ROOM).items()}

        wait_for(roster_is_here_now, 10)
        assert not [e for e in errors if e.where != "here-now"], errors[:3]
        figures.update(
            requests=sent,
            raw_garbage=len(RAW_GARBAGE),
            seconds=round(elapsed, 1),
            requests_per_second=round(sent / elapsed),
            statuses=dict(sorted(statuses.items())),
            raw_statuses={str(k): v for k, v in raw_statuses.items()},
            answers_5xx=0,
            occupied_channels=len(occupied),
            max_probe_latency_ms=round(1000 * max(latencies)),
            sdk_heartbeats=heartbeats,
            sdk_messages=len(published),
        )
        assert max(latencies) < 2.0
    finally:
        hub.close()
        _stop_sync([steady, watcher])


# -- limits ---------------------------------------------------------------------------------


@pytest.fixture
def small(presence_server_factory: Callable[..., LocalPresenceServer]) -> LocalPresenceServer:
    """A server with small limits, so each boundary is cheap to reach."""
    return presence_server_factory(
        ServerSettings.fast(
            hold_timeout=5,
            max_request_bytes=4096,
            max_state_bytes=256,
            max_channels_per_request=5,
            max_held_polls_per_client=2,
            max_name_length=16,
            max_channels_per_group=3,
        )
    )


def _get(server: LocalPresenceServer, target: str, **kw: Any) -> httpx.Response:
    return httpx.request(kw.pop("method", "GET"), f"{server.url}{target}", timeout=10, **kw)


def _refused(reply: httpx.Response, status: int, *words: str) -> None:
    assert reply.status_code == status, (reply.status_code, reply.text[:200])
    body = reply.json()
    assert body["error"] is True
    for word in words:
        assert word.lower() in body["message"].lower(), (word, body["message"])


def _state_of(size: int) -> dict[str, str]:
    """A JSON object whose serialisation is exactly ``size`` bytes."""
    base = len(json.dumps({"p": ""}))
    return {"p": "x" * (size - base)}


def test_request_size_limits(small: LocalPresenceServer) -> None:
    limit = small.settings.max_request_bytes
    path = "/v2/presence/sub-key/demo/channel/a/heartbeat?uuid=u&pad="
    at_limit = path + "p" * (limit - len(path))
    assert _get(small, at_limit).status_code == 200
    _refused(_get(small, at_limit + "p"), 414, "too long", str(limit))
    publish = "/publish/demo/demo/0/a/0?uuid=u"
    body = json.dumps("b" * (limit - 2)).encode()
    assert len(body) == limit
    assert _get(small, publish, method="POST", content=body).status_code == 200
    _refused(_get(small, publish, method="POST", content=body + b" "), 413, "too large")
    bomb = zlib.compress(b'"' + b"x" * (limit * 10) + b'"')
    _refused(
        _get(small, publish, method="POST", content=bomb, headers={"Content-Encoding": "gzip"}),
        413,
        "decompressed",
    )


@pytest.mark.parametrize("endpoint", ["set-state", "heartbeat", "subscribe"])
def test_state_size_limit(small: LocalPresenceServer, endpoint: str) -> None:
    limit = small.settings.max_state_bytes

    def send(size: int) -> httpx.Response:
        if endpoint == "set-state":
            state = _state_of(size)
            target = f"/v2/presence/sub-key/demo/channel/a/uuid/u/data?uuid=u&state={q(state)}"
        else:
            inner = _state_of(size - len(json.dumps({"a": {}})) + 2)
            state_by_channel = {"a": inner}
            assert len(json.dumps(state_by_channel)) == size
            target = (
                f"/v2/presence/sub-key/demo/channel/a/heartbeat?uuid=u&state={q(state_by_channel)}"
                if endpoint == "heartbeat"
                else f"/v2/subscribe/demo/a/0?tt=0&uuid=u&state={q(state_by_channel)}"
            )
        return _get(small, target)

    assert send(limit).status_code == 200
    _refused(send(limit + 1), 400, "state", str(limit))
    assert small.presence_events_emitted <= 2  # the join, and one state-change at most


@pytest.mark.parametrize("endpoint", ["subscribe", "heartbeat", "leave", "here-now"])
def test_channels_per_request_limit(small: LocalPresenceServer, endpoint: str) -> None:
    limit = small.settings.max_channels_per_request

    def send(channels: int, groups: int = 0) -> httpx.Response:
        names = ",".join(f"c{i}" for i in range(channels)) or ","
        group = "&channel-group=" + ",".join(f"g{i}" for i in range(groups)) if groups else ""
        targets = {
            "subscribe": f"/v2/subscribe/demo/{names}/0?tt=0&uuid=u{group}",
            "heartbeat": f"/v2/presence/sub-key/demo/channel/{names}/heartbeat?uuid=u{group}",
            "leave": f"/v2/presence/sub-key/demo/channel/{names}/leave?uuid=u{group}",
            "here-now": f"/v2/presence/sub-key/demo/channel/{names}?uuid=u{group}",
        }
        return _get(small, targets[endpoint])

    assert send(limit).status_code == 200
    _refused(send(limit + 1), 400, "too many", str(limit))
    _refused(send(limit - 1, groups=2), 400, "too many", str(limit))  # groups count too


def test_name_length_limit(small: LocalPresenceServer) -> None:
    limit = small.settings.max_name_length
    ok, long = "c" * limit, "c" * (limit + 1)
    assert (
        _get(small, f"/v2/presence/sub-key/demo/channel/{ok}/heartbeat?uuid=u").status_code == 200
    )
    _refused(
        _get(small, f"/v2/presence/sub-key/demo/channel/{long}/heartbeat?uuid=u"),
        400,
        "channel",
        str(limit),
    )
    _refused(
        _get(small, f"/v2/presence/sub-key/demo/channel/a/heartbeat?uuid={long}"),
        400,
        "uuid",
        str(limit),
    )
    assert set(small.occupants(ok)) == {"u"} and small.occupants("a") == {}


def test_channels_per_group_limit(small: LocalPresenceServer) -> None:
    limit = small.settings.max_channels_per_group
    group = "/v1/channel-registration/sub-key/demo/channel-group/g?uuid=u&add="
    assert _get(small, group + ",".join(f"c{i}" for i in range(limit))).status_code == 200
    _refused(_get(small, group + "extra"), 400, "too many", str(limit))


def test_held_polls_per_client_limit(small: LocalPresenceServer, wait_for: Any) -> None:
    """Over the limit the oldest poll is answered at once, empty, with its own cursor;
    other clients' polls are untouched."""
    limit = small.settings.max_held_polls_per_client
    cursor = int(_get(small, "/v2/subscribe/demo/a/0?tt=0&uuid=u").json()["t"]["t"])
    _get(small, "/v2/subscribe/demo/a/0?tt=0&uuid=other")
    answers: dict[str, httpx.Response] = {}

    def poll(name: str, uuid: str) -> None:
        answers[name] = _get(small, f"/v2/subscribe/demo/a/0?tt={cursor}&uuid={uuid}")

    threads = [threading.Thread(target=poll, args=("other", "other"))]
    threads[0].start()
    wait_for(lambda: small.held_polls == 1)
    for i in range(limit):
        threads.append(threading.Thread(target=poll, args=(f"u{i}", "u")))
        threads[-1].start()
        wait_for(lambda i=i: small.held_polls == i + 2)
    threads.append(threading.Thread(target=poll, args=("newest", "u")))
    threads[-1].start()
    wait_for(lambda: "u0" in answers)  # the oldest of u's polls was released...
    assert answers["u0"].json() == {"t": {"t": str(cursor), "r": 1}, "m": []}
    assert small.held_polls == limit + 1  # ...u's newest ones and the other client's held
    small.publish("a", "wake")
    for thread in threads:
        thread.join(10)
    for name in ["other", *[f"u{i}" for i in range(1, limit)], "newest"]:
        assert [m["d"] for m in answers[name].json()["m"]] == ["wake"], name


def test_binds_loopback_unless_told_otherwise(presence_server: LocalPresenceServer) -> None:
    from rxpresence.server import _cli

    assert LocalPresenceServer().host == "127.0.0.1"
    assert presence_server.host == "127.0.0.1"
    parser = argparse.ArgumentParser()
    _cli.add_serve_arguments(parser)
    assert parser.parse_args([]).host == "127.0.0.1"
    # Nothing answers on the machine's other addresses.
    others = _other_addresses()
    if not others:
        pytest.skip("no address other than loopback on this machine")
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, presence_server.port), timeout=2).close()


def _other_addresses() -> list[str]:
    found: set[str] = set()
    with suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    with suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        found.add(probe.getsockname()[0])
    return sorted(a for a in found if not a.startswith("127."))


def test_an_unfinished_request_holds_its_connection(presence_server: LocalPresenceServer) -> None:
    """Documents a missing limit (docs/reliability.md): no server-side timeout for a
    request that never finishes arriving (or never starts: blank lines only), and no cap
    on open connections. The server keeps serving others meanwhile."""
    sockets = []
    try:
        for i in range(50):
            sock = socket.create_connection((presence_server.host, presence_server.port), timeout=5)
            sock.sendall(b"GET /time/0 HTTP/1.1\r\nHost" if i % 2 else b"\r\n" * 1000)
            sockets.append(sock)
        reply = httpx.get(f"{presence_server.url}/time/0", timeout=5)
        assert reply.status_code == 200
        for sock in sockets[:2]:
            sock.settimeout(1.0)
            with pytest.raises(socket.timeout):
                sock.recv(1)  # no answer, not even a close: the server still waits
    finally:
        for sock in sockets:
            sock.close()
