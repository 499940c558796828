"""The aiohttp application: PubNub's REST endpoints on top of a :class:`PresenceBook`.

One catch-all route hands every request to :meth:`PresenceApi.handle`, which parses the
raw request target itself (the SDK's channel lists must be split on ``,`` before they
are percent-decoded, which a router's decoded match info cannot do), dispatches to an
endpoint handler and records the request. Handlers validate everything first and raise
:class:`~rxpresence.server._parsing.ApiError` before touching state, so a bad request
never leaves the book half-changed. A last-resort middleware turns anything unexpected
into a JSON 400 and logs it: the server never answers 500.

Subscribe long polls wait on a per-poll :class:`asyncio.Event`. The book's
``on_append`` hook sets the events of the polls the new entries are delivered to (found
through :class:`~rxpresence.server._wakeups.WaitingPolls`), so a poll wakes as soon as
something it listens to is logged, and only then.

Every response carries PubNub's CORS and caching headers, and ``OPTIONS`` preflights are
answered on every path, so a web page served from another origin can use the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ._filter import MessageFilter
from ._parsing import (
    ApiError,
    Query,
    decode_segment,
    parse_custom_message_type,
    parse_filter,
    parse_int,
    parse_json,
    parse_json_object,
    parse_presence_timeout,
    parse_state_by_channel,
    parse_timetoken,
    reject_presence_names,
    split_names,
    split_query_names,
    validate_name,
    validate_uuid,
)
from ._presence import JsonObject, LogEntry, PresenceBook, Subscription, is_wildcard
from ._settings import ServerSettings
from ._wakeups import WaitingPolls

__all__ = ["API_KEY", "PresenceApi", "RecordedRequest", "create_app"]

logger = logging.getLogger("rxpresence.server")

_PRESENCE = "Presence"
_GROUPS = "channel-registry"
_PUBLISH = "Publish"
_HERE_NOW_MAX_LIMIT = 1000
_CLIENT_CLOSED = 499  # nginx's convention for "the client went away first"
# The headers PubNub's REST API answers with, so that a browser lets a page from any
# origin read the answers, and nothing between caches a long poll.
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, GET, POST",
    "Access-Control-Allow-Headers": "Origin, X-Requested-With, Content-Type, Accept",
    "Cache-Control": "no-cache",
}

Handler = Callable[[], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server answered, as kept in the request log.

    Attributes:
        method: HTTP method.
        path: Request path, percent-decoded leniently.
        query: Query parameters, decoded leniently.
        endpoint: ``time``, ``subscribe``, ``heartbeat``, ``leave``, ``here_now``,
            ``where_now``, ``set_state``, ``get_state``, ``channel_group``, ``publish``,
            ``preflight`` (a browser's CORS ``OPTIONS``) or ``unknown``.
        status: HTTP status answered (499 if the client went away first).
        uuid: The uuid parameter, if any.
        started: Unix time the request arrived.
        duration: Seconds it took to answer.
    """

    method: str
    path: str
    query: dict[str, str]
    endpoint: str
    status: int
    uuid: str | None
    started: float
    duration: float


@dataclass(slots=True, eq=False)  # hashed by identity: an index key
class _HeldPoll:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    released: bool = False


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ok(body: Any) -> web.Response:
    return web.json_response(body, dumps=_dumps)


def _error(status: int, message: str, service: str = _PRESENCE) -> web.Response:
    return web.json_response(ApiError(message, status, service).body(), status=status, dumps=_dumps)


def _subscribe_body(tt: int, messages: list[JsonObject]) -> web.Response:
    # t.t is a string on the wire, as PubNub sends it; the SDK calls int() on it.
    return _ok({"t": {"t": str(tt), "r": 1}, "m": messages})


class PresenceApi:
    """Request handling and long-poll bookkeeping of one running server.

    Args:
        settings: Server settings.
        book: The presence book; a new one if None. Passing one keeps presence state
            across restarts of the HTTP side.
        request_log: Where answered requests are recorded; a new bounded deque if None.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        book: PresenceBook | None = None,
        request_log: deque[RecordedRequest] | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.book = book or PresenceBook(self.settings)
        self.book.on_append = self._wake
        self.requests: deque[RecordedRequest] = (
            request_log if request_log is not None else deque(maxlen=self.settings.request_log_size)
        )
        self._held: dict[tuple[str, str], list[_HeldPoll]] = {}
        self._waiting: WaitingPolls[_HeldPoll] = WaitingPolls(self.book.matches)
        self._closing = False
        self.poll_wakeups = 0
        """Held polls woken so far because an entry they listen to was logged."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def held_polls(self) -> int:
        """Number of subscribe long polls being held right now."""
        return sum(len(polls) for polls in self._held.values())

    def release_all(self) -> None:
        """Answer every held long poll now and stop holding new ones (on shutdown)."""
        self._closing = True
        for polls in self._held.values():
            for poll in polls:
                poll.event.set()

    async def sweep_forever(self) -> None:
        """Sweep for timeouts and interval flushes a few times a second, until cancelled."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                self.book.sweep()
            except Exception:  # a sweep must never stop the sweeping
                logger.exception("presence sweep failed")

    def _release(self, sub_key: str, uuid: str) -> None:
        for poll in self._held.get((sub_key, uuid), ()):
            poll.released = True
            poll.event.set()

    def _wake(self, entries: list[LogEntry]) -> None:
        for poll in self._waiting.concerned(entries):
            self.poll_wakeups += 1
            poll.event.set()

    # -------------------------------------------------------------------- dispatch

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one request (the application's only route).

        Args:
            request: The request.

        Returns:
            The response; errors are PubNub-style JSON bodies.
        """
        started = time.time()
        begun = time.monotonic()
        target = request.raw_path
        path, _, raw_query = target.partition("?")
        query = Query(raw_query)
        endpoint = "unknown"
        try:
            if len(target) > self.settings.max_request_bytes:
                raise ApiError(
                    f"Request URI too long: {len(target)} bytes, the limit is "
                    f"{self.settings.max_request_bytes}",
                    status=414,
                )
            endpoint, handler = self._route(request, path.split("/")[1:], query)
            response = await handler()
        except ApiError as exc:
            response = _error(exc.status, exc.message, exc.service)
        except web.HTTPException as exc:
            response = _http_error(exc, self.settings)
        except asyncio.CancelledError:
            self._record(request, path, query, endpoint, _CLIENT_CLOSED, started, begun)
            raise
        except Exception as exc:  # never a 500: log it and refuse the request
            logger.exception("unexpected error answering %s %s", request.method, path)
            response = _error(400, f"Bad request: could not process it ({type(exc).__name__})")
        self._record(request, path, query, endpoint, response.status, started, begun)
        return response

    def _record(
        self,
        request: web.Request,
        path: str,
        query: Query,
        endpoint: str,
        status: int,
        started: float,
        begun: float,
    ) -> None:
        duration = time.monotonic() - begun
        params = query.as_dict()
        decoded_path = decode_lenient(path)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=decoded_path,
                query=params,
                endpoint=endpoint,
                status=status,
                uuid=params.get("uuid"),
                started=started,
                duration=duration,
            )
        )
        logger.debug("%s %s -> %d (%.1f ms)", request.method, decoded_path, status, duration * 1000)

    def _route(self, request: web.Request, segs: list[str], q: Query) -> tuple[str, Handler]:
        method = request.method
        n = len(segs)
        if method == "OPTIONS":
            return "preflight", _preflight
        if segs == ["time", "0"]:
            return "time", self._only_get(method, self._time)
        if n == 5 and segs[:2] == ["v2", "subscribe"] and segs[4] == "0":
            return "subscribe", self._only_get(method, lambda: self._subscribe(request, segs, q))
        if n >= 4 and segs[:2] == ["v2", "presence"] and segs[2] in ("sub-key", "sub_key"):
            return self._route_presence(method, segs[3], segs[4:], q)
        if n in (5, 6, 7) and segs[:3] == ["v1", "channel-registration", "sub-key"]:
            if segs[4] == "channel-group":
                return "channel_group", self._only_get(method, lambda: self._groups(segs, q))
        if segs[:1] == ["publish"] and segs[3:4] == ["0"] and segs[5:6] == ["0"]:
            if n == 7 and method == "GET":
                return "publish", lambda: self._publish(request, segs, q, segs[6])
            if n == 6 and method == "POST":
                return "publish", lambda: self._publish(request, segs, q, None)
            if n in (6, 7):
                raise ApiError(f"Method {method} not allowed here", status=405, service=_PUBLISH)
        raise ApiError(f"Not found: {decode_lenient('/' + '/'.join(segs))} is not an endpoint", 404)

    def _route_presence(
        self, method: str, raw_sub: str, rest: list[str], q: Query
    ) -> tuple[str, Handler]:
        shape = tuple(rest[i] if i % 2 == 0 else "*" for i in range(len(rest)))
        routes: dict[tuple[str, ...], tuple[str, Callable[[], Awaitable[web.Response]]]] = {
            (): ("here_now", lambda: self._here_now(raw_sub, None, q)),
            ("channel", "*"): ("here_now", lambda: self._here_now(raw_sub, rest[1], q)),
            ("channel", "*", "heartbeat"): (
                "heartbeat",
                lambda: self._heartbeat(raw_sub, rest[1], q),
            ),
            ("channel", "*", "leave"): ("leave", lambda: self._leave(raw_sub, rest[1], q)),
            ("channel", "*", "uuid", "*"): (
                "get_state",
                lambda: self._get_state(raw_sub, rest[1], rest[3], q),
            ),
            ("channel", "*", "uuid", "*", "data"): (
                "set_state",
                lambda: self._set_state(raw_sub, rest[1], rest[3], q),
            ),
            ("uuid", "*"): ("where_now", lambda: self._where_now(raw_sub, rest[1], q)),
        }
        found = routes.get(shape)
        if found is None:
            path = "/v2/presence/sub-key/" + "/".join([raw_sub, *rest])
            raise ApiError(f"Not found: {decode_lenient(path)} is not an endpoint", 404)
        name, handler = found
        return name, self._only_get(method, handler)

    @staticmethod
    def _only_get(method: str, handler: Handler) -> Handler:
        if method != "GET":
            raise ApiError(f"Method {method} not allowed: this endpoint answers GET", status=405)
        return handler

    # ------------------------------------------------------------- shared parsing

    def _sub_key(self, raw: str) -> str:
        return validate_name(decode_segment(raw, "subscribe key"), "subscribe key", self.settings)

    def _channels_and_groups(self, raw_channels: str, q: Query) -> tuple[list[str], list[str]]:
        channels = split_names(raw_channels, "channel", self.settings)
        groups = split_query_names(q.raw("channel-group") or "", "channel group", self.settings)
        total = len(channels) + len(groups)
        if total > self.settings.max_channels_per_request:
            raise ApiError(
                f"Too many channels and groups: {total}, the limit is "
                f"{self.settings.max_channels_per_request}"
            )
        return channels, groups

    def _states(
        self, q: Query, sub_key: str, channels: list[str], groups: list[str]
    ) -> dict[str, JsonObject] | None:
        raw = q.text("state")
        if raw is None or raw == "":
            return None
        by_name = parse_state_by_channel(raw, channels, groups, self.settings)
        states = {name: state for name, state in by_name.items() if name in channels}
        # State given for a group applies to its members, unless given per channel.
        for group in groups:
            if group in by_name:
                for channel in self.book.group_channels(sub_key, group):
                    states.setdefault(channel, by_name[group])
        return states

    # -------------------------------------------------------------------- endpoints

    async def _time(self) -> web.Response:
        return _ok([self.book.clock.next()])

    async def _subscribe(self, request: web.Request, segs: list[str], q: Query) -> web.Response:
        sub_key = self._sub_key(segs[2])
        channels, groups = self._channels_and_groups(segs[3], q)
        if not channels and not groups:
            raise ApiError("Subscribe needs at least one channel or channel group")
        uuid = validate_uuid(q.raw("uuid"), self.settings)
        tt = parse_timetoken(q.raw("tt"))
        timeout = parse_presence_timeout(q.raw("heartbeat"))
        message_filter = parse_filter(q.text("filter-expr"))
        states = self._states(q, sub_key, channels, groups)
        book = self.book
        targets = book.presence_channels(sub_key, channels, groups)
        if tt == 0:
            # Handshake: the cursor is taken before the join is logged, so the client
            # receives its own join on its next poll, as on PubNub.
            cursor = book.handshake_cursor(sub_key, uuid, targets)
            book.touch(sub_key, uuid, targets, timeout=timeout, states=states)
            return _subscribe_body(cursor, [])
        book.touch(sub_key, uuid, targets, timeout=timeout, states=states)
        accepts = None if message_filter is None else _accepts(message_filter)
        return await self._hold(sub_key, uuid, Subscription(sub_key, channels, groups, accepts), tt)

    async def _hold(
        self, sub_key: str, uuid: str, subscription: Subscription, tt: int
    ) -> web.Response:
        key = (sub_key, uuid)
        poll = _HeldPoll()
        polls = self._held.setdefault(key, [])
        polls.append(poll)
        self._waiting.add(poll, subscription)
        # A client that reconnects leaves its old poll behind; the oldest goes first,
        # answered with its own cursor so nothing is skipped if it is still listening.
        while len(polls) > self.settings.max_held_polls_per_client:
            oldest = polls.pop(0)
            oldest.released = True
            oldest.event.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.hold_timeout
        scanned = tt
        try:
            while True:
                poll.event.clear()
                matches, scanned = self.book.scan(
                    subscription, scanned, self.settings.max_messages_per_poll
                )
                if matches:
                    return _subscribe_body(matches[-1][0].tt, [e.to_message(b) for e, b in matches])
                if poll.released:
                    return _subscribe_body(tt, [])
                remaining = deadline - loop.time()
                if self._closing or remaining <= 0:
                    return _subscribe_body(self.book.clock.next(), [])
                with suppress(TimeoutError):
                    await asyncio.wait_for(poll.event.wait(), remaining)
        finally:
            self._waiting.remove(poll)
            current = self._held.get(key)
            if current is not None and poll in current:
                current.remove(poll)
                if not current:
                    del self._held[key]

    async def _heartbeat(self, raw_sub: str, raw_channels: str, q: Query) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        channels, groups = self._channels_and_groups(raw_channels, q)
        if not channels and not groups:
            raise ApiError("Heartbeat needs at least one channel or channel group")
        uuid = validate_uuid(q.raw("uuid"), self.settings)
        timeout = parse_presence_timeout(q.raw("heartbeat"))
        states = self._states(q, sub_key, channels, groups)
        targets = self.book.presence_channels(sub_key, channels, groups)
        self.book.touch(sub_key, uuid, targets, timeout=timeout, states=states)
        return _ok({"status": 200, "message": "OK", "service": _PRESENCE})

    async def _leave(self, raw_sub: str, raw_channels: str, q: Query) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        channels, groups = self._channels_and_groups(raw_channels, q)
        if not channels and not groups:
            raise ApiError("Leave needs at least one channel or channel group")
        uuid = validate_uuid(q.raw("uuid"), self.settings)
        self.book.leave(sub_key, uuid, self.book.presence_channels(sub_key, channels, groups))
        # A client leaves when it unsubscribes, and its held poll is then orphaned: the
        # sync SDK cannot cancel it and waits for the answer. Answer it now, with its
        # own cursor, so nothing is skipped if the client does still listen.
        self._release(sub_key, uuid)
        return _ok({"status": 200, "message": "OK", "action": "leave", "service": _PRESENCE})

    async def _here_now(self, raw_sub: str, raw_channels: str | None, q: Query) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        validate_uuid(q.raw("uuid"), self.settings)
        channels, groups = self._channels_and_groups(raw_channels or "", q)
        limit = parse_int(q.raw("limit"), "limit", _HERE_NOW_MAX_LIMIT, 0, _HERE_NOW_MAX_LIMIT)
        offset = parse_int(q.raw("offset"), "offset", 0, 0, 10**9)
        with_state = q.flag("state")
        with_uuids = not q.flag("disable_uuids")

        def describe(channel: str) -> JsonObject:
            entry: JsonObject = {"occupancy": self.book.occupancy(sub_key, channel)}
            if with_uuids:
                page = self.book.occupant_page(sub_key, channel, offset, limit)
                entry["uuids"] = [_here_now_uuid(u, s, with_state) for u, s in page]
            return entry

        if raw_channels is not None and len(channels) == 1 and not groups:
            single = describe(channels[0])
            return _ok({"status": 200, "message": "OK", **single, "service": _PRESENCE})
        if raw_channels is None:
            names = self.book.occupied_channels(sub_key)
        else:
            wanted = dict.fromkeys(channels)
            for group in groups:
                wanted.update(dict.fromkeys(self.book.group_channels(sub_key, group)))
            names = [name for name in wanted if self.book.occupancy(sub_key, name) > 0]
        described = {name: describe(name) for name in names}
        payload = {
            "channels": described,
            "total_channels": len(described),
            "total_occupancy": sum(entry["occupancy"] for entry in described.values()),
        }
        return _ok({"status": 200, "message": "OK", "payload": payload, "service": _PRESENCE})

    async def _where_now(self, raw_sub: str, raw_uuid: str, q: Query) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        validate_uuid(q.raw("uuid"), self.settings)
        target = validate_uuid(raw_uuid, self.settings, source="path")
        payload = {"channels": self.book.where_now(sub_key, target)}
        return _ok({"status": 200, "message": "OK", "payload": payload, "service": _PRESENCE})

    async def _set_state(
        self, raw_sub: str, raw_channels: str, raw_uuid: str, q: Query
    ) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        channels, groups = self._channels_and_groups(raw_channels, q)
        if not channels and not groups:
            raise ApiError("Set state needs at least one channel or channel group")
        validate_uuid(q.raw("uuid"), self.settings)
        target = validate_uuid(raw_uuid, self.settings, source="path")
        raw_state = q.text("state")
        if raw_state is None:
            raise ApiError("Missing state: pass the new state as a JSON object in 'state'")
        state = parse_json_object(raw_state, "state", self.settings)
        self.book.set_state(
            sub_key, target, self.book.presence_channels(sub_key, channels, groups), state
        )
        return _ok({"status": 200, "message": "OK", "payload": state, "service": _PRESENCE})

    async def _get_state(
        self, raw_sub: str, raw_channels: str, raw_uuid: str, q: Query
    ) -> web.Response:
        sub_key = self._sub_key(raw_sub)
        channels, groups = self._channels_and_groups(raw_channels, q)
        if not channels and not groups:
            raise ApiError("Get state needs at least one channel or channel group")
        validate_uuid(q.raw("uuid"), self.settings)
        target = validate_uuid(raw_uuid, self.settings, source="path")
        book = self.book
        if len(channels) == 1 and not groups:
            state = book.get_state(sub_key, target, channels[0]) or {}
            return _ok(
                {
                    "status": 200,
                    "message": "OK",
                    "payload": state,
                    "uuid": target,
                    "channel": channels[0],
                    "service": _PRESENCE,
                }
            )
        names = book.presence_channels(sub_key, channels, groups)
        by_channel = {name: book.get_state(sub_key, target, name) or {} for name in names}
        return _ok(
            {
                "status": 200,
                "message": "OK",
                "payload": {"channels": by_channel},
                "uuid": target,
                "service": _PRESENCE,
            }
        )

    async def _groups(self, segs: list[str], q: Query) -> web.Response:
        try:
            sub_key = self._sub_key(segs[3])
            validate_uuid(q.raw("uuid"), self.settings)
            if len(segs) == 5:
                payload = {"groups": self.book.groups(sub_key), "namespace": ""}
                return _ok(_group_body(payload))
            group = validate_name(
                decode_segment(segs[5], "channel group"), "channel group", self.settings
            )
            reject_presence_names([group], "channel group")
            if is_wildcard(group):
                raise ApiError(f"Invalid channel group {group!r}: wildcards are not allowed")
            if len(segs) == 7:
                if segs[6] != "remove":
                    raise ApiError(f"Not found: unknown channel group action {segs[6]!r}", 404)
                self.book.delete_group(sub_key, group)
                return _ok(_group_body())
            add = split_query_names(q.raw("add") or "", "channel", self.settings)
            remove = split_query_names(q.raw("remove") or "", "channel", self.settings)
            if q.raw("add") is None and q.raw("remove") is None:
                payload = {"channels": self.book.group_channels(sub_key, group), "group": group}
                return _ok(_group_body(payload))
            reject_presence_names(add, "channel")
            for name in add:
                if is_wildcard(name):
                    raise ApiError(f"Invalid channel {name!r}: a group cannot hold a wildcard")
            size = len(set(self.book.group_channels(sub_key, group)) | set(add))
            if size > self.settings.max_channels_per_group:
                raise ApiError(
                    f"Too many channels in group {group!r}: {size}, the limit is "
                    f"{self.settings.max_channels_per_group}"
                )
            self.book.add_to_group(sub_key, group, add)
            self.book.remove_from_group(sub_key, group, remove)
            return _ok(_group_body())
        except ApiError as exc:
            exc.service = _GROUPS
            raise

    async def _publish(
        self, request: web.Request, segs: list[str], q: Query, raw_message: str | None
    ) -> web.Response:
        try:
            validate_name(decode_segment(segs[1], "publish key"), "publish key", self.settings)
            sub_key = self._sub_key(segs[2])
            channel = validate_name(decode_segment(segs[4], "channel"), "channel", self.settings)
            reject_presence_names([channel], "channel")
            if is_wildcard(channel):
                raise ApiError(f"Invalid channel {channel!r}: cannot publish to a wildcard")
            uuid = validate_uuid(q.raw("uuid"), self.settings)
            if raw_message is None:
                text = await _read_body(request, self.settings)
            else:
                text = decode_segment(raw_message, "message")
            message = parse_json(text, "message")
            raw_meta = q.text("meta")
            meta = None if not raw_meta else parse_json_object(raw_meta, "meta", self.settings)
            message_type = parse_custom_message_type(q.text("custom_message_type"))
            entry = self.book.publish(sub_key, channel, message, uuid, meta, message_type)
            return _ok([1, "Sent", str(entry.tt)])
        except ApiError as exc:
            exc.service = _PUBLISH
            raise


async def _read_body(request: web.Request, settings: ServerSettings) -> str:
    limit = settings.max_request_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise ApiError(f"Request body too large: {declared} bytes, the limit is {limit}", 413)
    body = await request.read()
    if request.headers.get("Content-Encoding", "").lower() in ("gzip", "deflate"):
        # The SDK labels its zlib stream "gzip"; wbits=47 accepts zlib and gzip headers.
        inflater = zlib.decompressobj(wbits=47)
        try:
            inflated = inflater.decompress(body, limit + 1)
        except zlib.error:
            inflated = body  # already inflated by the HTTP layer
        if len(inflated) > limit or inflater.unconsumed_tail:
            raise ApiError(
                f"Request body too large once decompressed: the limit is {limit} bytes", 413
            )
        body = inflated
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise ApiError("Invalid message: the body is not UTF-8") from None


async def _preflight() -> web.Response:
    """A browser's CORS preflight: the headers added to every response say it all."""
    return web.Response(status=200)


async def _add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add PubNub's CORS and caching headers to a response about to be sent.

    A preflight is allowed whatever request headers it asks for: the server reads none.
    """
    response.headers.update(_CORS_HEADERS)
    asked = request.headers.get("Access-Control-Request-Headers")
    if asked:
        response.headers["Access-Control-Allow-Headers"] = asked


def _accepts(message_filter: MessageFilter) -> Callable[[LogEntry], bool]:
    """A subscription's test of published messages against its ``filter-expr``."""
    return lambda entry: message_filter.matches(entry.meta, entry.payload)


def _here_now_uuid(uuid: str, state: JsonObject | None, with_state: bool) -> Any:
    if not with_state:
        return uuid
    entry: JsonObject = {"uuid": uuid}
    if state is not None:
        entry["state"] = state
    return entry


def _group_body(payload: JsonObject | None = None) -> JsonObject:
    body: JsonObject = {"status": 200, "message": "OK", "service": _GROUPS, "error": False}
    if payload is not None:
        body["payload"] = payload
    return body


def _http_error(exc: web.HTTPException, settings: ServerSettings) -> web.Response:
    if exc.status == 413:
        message = f"Request body too large: the limit is {settings.max_request_bytes} bytes"
    else:
        message = exc.reason or "Bad request"
    return _error(exc.status if exc.status >= 400 else 400, message)


def decode_lenient(text: str) -> str:
    """Percent-decode for display, replacing undecodable bytes.

    Args:
        text: Raw text.

    Returns:
        The decoded text.
    """
    return unquote(text, errors="replace")


@web.middleware
async def _last_resort(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn anything that escaped the handlers into a JSON error instead of a 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason or "Bad request")
    except Exception as exc:
        logger.exception("unhandled error answering %s %s", request.method, request.path)
        return _error(400, f"Bad request: could not process it ({type(exc).__name__})")


API_KEY: web.AppKey[PresenceApi] = web.AppKey("rxpresence_api", PresenceApi)
"""Where :func:`create_app` stores the :class:`PresenceApi` in the application."""


def create_app(
    settings: ServerSettings | None = None,
    *,
    book: PresenceBook | None = None,
    request_log: deque[RecordedRequest] | None = None,
) -> web.Application:
    """Build the aiohttp application of the local presence server.

    The application sweeps for timeouts while it runs and releases held long polls
    when it shuts down. Run it with any aiohttp runner, or use
    :class:`~rxpresence.server.LocalPresenceServer` to get a thread of its own.

    Args:
        settings: Server settings (PubNub's defaults if None).
        book: Presence state to serve; a new one if None.
        request_log: Where to record answered requests; a new bounded deque if None.

    Returns:
        The application; ``app[API_KEY]`` is its :class:`PresenceApi`.
    """
    settings = settings or ServerSettings()
    api = PresenceApi(settings, book=book, request_log=request_log)
    app = web.Application(middlewares=[_last_resort], client_max_size=settings.max_request_bytes)
    app[API_KEY] = api
    app.router.add_route("*", "/{tail:.*}", api.handle)

    async def sweeper(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(api.sweep_forever(), name="rxpresence-sweeper")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def release(_: web.Application) -> None:
        api.release_all()

    app.cleanup_ctx.append(sweeper)
    app.on_shutdown.append(release)
    app.on_response_prepare.append(_add_cors_headers)
    return app
