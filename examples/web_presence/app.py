"""Who is online in a room: a live web page composed from rxpresence streams (aiohttp).

The app holds one watching client and, for each person who enters from the page, one
announcing client. The pieces:

* The watcher (a ``PubNubAsyncio`` client and its :class:`~rxpresence.PresenceStreams`
  hub) subscribes to ``<room>-pnpres``: it receives the room's presence events without
  being present itself.
* Two rosters of the room are combined: the raw one, and one with a grace period. A
  member the graced roster still holds but the raw one has lost is shown as
  "reconnecting" instead of vanishing and coming back (no flicker).
* ``GET /events`` streams that view to the page as server-sent events, with
  :func:`rxpresence.aio.values`: ``latest=True``, so a slow browser skips stale views
  instead of queueing them.
* ``POST /enter`` and ``POST /leave`` announce the page's user with
  :meth:`~rxpresence.PresenceStreams.enter` (one join carrying the state, kept present
  through outages) and :meth:`~rxpresence.PresenceStreams.leave`.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reactivex as rx
from aiohttp import web
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub_asyncio import PubNubAsyncio
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

import rxpresence as rxp
from rxpresence import aio

__all__ = ["ROOM_APP", "RoomApp", "RoomSettings", "create_app", "room_view"]

PAGE = Path(__file__).with_name("page.html")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
_STATUSES = ("available", "away", "busy")


@dataclass(frozen=True)
class RoomSettings:
    """Where the app connects and what it shows.

    Attributes:
        origin: The PubNub origin, ``host:port`` (a local presence server here).
        subscribe_key: The subscribe key.
        publish_key: The publish key.
        room: The channel shown.
        grace: Seconds a member who timed out stays on the page, shown reconnecting.
        presence_timeout: The presence timeout of the page users' clients.
        ssl: Whether to use TLS (not for a local server).
    """

    origin: str
    subscribe_key: str
    publish_key: str = "demo"
    room: str = "lobby"
    grace: float = 15.0
    presence_timeout: int = 20
    ssl: bool = False

    def pnconfig(self, uuid: str) -> PNConfiguration:
        """A client configuration for ``uuid``."""
        config = PNConfiguration()
        config.disable_config_locking = False  # the SDK's recommended mode: locked when used
        config.subscribe_key = self.subscribe_key
        config.publish_key = self.publish_key
        config.user_id = uuid
        config.origin = self.origin
        config.ssl = self.ssl
        config.set_presence_timeout(self.presence_timeout)
        return config


def room_view(graced: rxp.Roster, raw: rxp.Roster) -> dict[str, Any]:
    """What the page shows: members (graced) and who of them is reconnecting.

    Args:
        graced: The roster with a grace period.
        raw: The roster without one (a member it lacks timed out, within grace).

    Returns:
        A JSON-ready dict: ``room``, ``occupancy`` and ``members`` (sorted by uuid,
        each with ``uuid``, ``state`` and ``reconnecting``).
    """
    members = [
        {
            "uuid": member.uuid,
            "state": dict(member.state or {}),
            "reconnecting": member.uuid not in raw,
        }
        for member in sorted(graced, key=lambda m: m.uuid)
    ]
    return {"room": graced.channel, "occupancy": len(members), "members": members}


def _view_of_pair(pair: Any) -> dict[str, Any]:
    graced, raw = pair  # combine_latest's tuple
    return room_view(graced, raw)


class _Visitor:
    """The announcing client of one person who entered from the page."""

    def __init__(self, settings: RoomSettings, name: str) -> None:
        self.pubnub = PubNubAsyncio(settings.pnconfig(name))
        # Only announcing: no here-now snapshots are needed for that.
        self.presence = rxp.PresenceStreams(self.pubnub, here_now=None)

    async def close(self) -> None:
        await self.presence.aclose()  # leaves what it entered and waits for it
        await self.pubnub.stop()


class RoomApp:
    """The aiohttp handlers and the clients behind them.

    Args:
        settings: Where to connect and what to show.
    """

    def __init__(self, settings: RoomSettings) -> None:
        self.settings = settings
        self.visitors: dict[str, _Visitor] = {}
        self.streams: set[aio.Values[dict[str, Any]]] = set()
        self.watcher: PubNubAsyncio | None = None
        self.presence: rxp.PresenceStreams | None = None

    async def start(self, app: web.Application) -> None:
        """Connect the watcher (aiohttp ``on_startup``)."""
        loop = asyncio.get_running_loop()
        self.watcher = PubNubAsyncio(self.settings.pnconfig("web-room-watcher"))
        # Timers (grace periods) fire on the loop, like everything else here.
        self.presence = rxp.PresenceStreams(
            self.watcher, scheduler=AsyncIOThreadSafeScheduler(loop)
        )
        self.watcher.subscribe().channels([f"{self.settings.room}-pnpres"]).execute()

    async def end_streams(self, app: web.Application) -> None:
        """End the pages' event streams (aiohttp ``on_shutdown``), so handlers return."""
        for stream in list(self.streams):
            await stream.aclose()

    async def stop(self, app: web.Application) -> None:
        """Let every visitor leave, then stop the watcher (aiohttp ``on_cleanup``)."""
        for visitor in list(self.visitors.values()):
            await visitor.close()
        self.visitors.clear()
        if self.presence is not None:
            await self.presence.aclose()
        if self.watcher is not None:
            self.watcher.unsubscribe_all()
            await self.watcher.stop()

    def views(self) -> rx.Observable[dict[str, Any]]:
        """The page's view of the room: at once, then at each change of either roster."""
        assert self.presence is not None
        room, grace = self.settings.room, self.settings.grace
        graced = self.presence.roster(room, grace=grace)
        raw = self.presence.roster(room)
        return rx.combine_latest(graced, raw).pipe(
            ops.map(_view_of_pair),
            ops.distinct_until_changed(),
        )

    # -- handlers ---------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        """The page."""
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The room's view as server-sent events, at once and on each change."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        # A combined view is not one of the hub's own state streams: ask for the
        # latest-only policy explicitly, so a slow browser skips stale views.
        async with aio.values(self.views(), latest=True) as views:
            self.streams.add(views)
            try:
                async for view in views:
                    await response.write(f"data: {json.dumps(view)}\n\n".encode())
            except ConnectionResetError:  # the browser went away
                pass
            finally:
                self.streams.discard(views)
        return response

    async def enter(self, request: web.Request) -> web.Response:
        """Announce the page's user in the room, with a status."""
        body = await _json(request)
        name, status = body.get("name"), body.get("status", "available")
        if not isinstance(name, str) or not _NAME.match(name) or name == "web-room-watcher":
            return _error(400, "a name is 1 to 32 letters, digits, spaces, _ . or -")
        if status not in _STATUSES:
            return _error(400, f"status is one of {', '.join(_STATUSES)}")
        visitor = self.visitors.get(name)
        if visitor is None:
            visitor = self.visitors[name] = _Visitor(self.settings, name)
        try:
            # One join carrying the state; entering again only changes the state.
            await visitor.presence.enter(self.settings.room, {"status": status}, timeout=5)
        except rxp.AnnounceTimeout as exc:
            return _error(504, str(exc))
        return web.json_response({"entered": self.settings.room, "name": name})

    async def leave(self, request: web.Request) -> web.Response:
        """The page's user leaves the room."""
        body = await _json(request)
        visitor = self.visitors.pop(str(body.get("name")), None)
        if visitor is None:
            return _error(404, "not in the room")
        await visitor.close()
        return web.json_response({"left": self.settings.room})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


ROOM_APP = web.AppKey("room", RoomApp)
"""The key of the :class:`RoomApp` in the application."""


def create_app(settings: RoomSettings) -> web.Application:
    """The aiohttp application.

    Args:
        settings: Where to connect and what to show.

    Returns:
        The application; ``app[ROOM_APP]`` is its :class:`RoomApp`.
    """
    room = RoomApp(settings)
    app = web.Application()
    app[ROOM_APP] = room
    app.on_startup.append(room.start)
    app.on_shutdown.append(room.end_streams)
    app.on_cleanup.append(room.stop)
    app.router.add_get("/", room.page)
    app.router.add_get("/events", room.events)
    app.router.add_post("/enter", room.enter)
    app.router.add_post("/leave", room.leave)
    return app
