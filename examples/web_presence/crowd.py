"""Simulated people for the example: real asyncio SDK clients, one of them on flaky Wi-Fi.

Each :class:`Person` is a ``PubNubAsyncio`` client with its own uuid, announcing itself
with :meth:`~rxpresence.PresenceStreams.enter`. Its requests go through a
:class:`FlakyLink`, a small TCP relay whose "network" can be cut: while it is cut the
server hears nothing and times the person out; when it is restored rxpresence puts the
person back, with the same state, on its own. :class:`Crowd` plays a looping script.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from pubnub.pubnub_asyncio import PubNubAsyncio

import rxpresence as rxp

from .app import RoomSettings

__all__ = ["Crowd", "FlakyLink", "Person"]

_CHUNK = 65536


class FlakyLink:
    """A TCP relay on 127.0.0.1 in front of ``host:port`` whose network can be cut.

    Args:
        host: The server's host.
        port: The server's port.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.is_cut = False

    async def start(self) -> FlakyLink:
        """Start relaying."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    @property
    def origin(self) -> str:
        """``host:port`` to use as the client's origin."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a dead network would."""
        self.is_cut = True
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        """Relay new connections again."""
        self.is_cut = False

    async def close(self) -> None:
        """Stop relaying."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


class Person:
    """One simulated person: an asyncio client announcing itself through a flaky link.

    Args:
        settings: Where the server is, the room and the presence timeout.
        uuid: The person's uuid.
    """

    def __init__(self, settings: RoomSettings, uuid: str) -> None:
        self.settings = settings
        self.uuid = uuid
        self.link: FlakyLink | None = None
        self.presence: rxp.PresenceStreams | None = None
        self._pubnub: PubNubAsyncio | None = None
        self.failed_requests = 0

    async def start(self) -> Person:
        """Open the link and the client (nothing is announced yet)."""
        host, port = self.settings.origin.rsplit(":", 1)
        self.link = await FlakyLink(host, int(port)).start()
        config = self.settings.pnconfig(self.uuid)
        config.origin = self.link.origin
        self._pubnub = PubNubAsyncio(config)
        self.presence = rxp.PresenceStreams(self._pubnub, here_now=None)
        # A dropped network is on purpose here: count the failed requests quietly
        # (without a subscriber, the hub would log each one).
        self.presence.errors.subscribe(self._count_error)
        return self

    def _count_error(self, report: rxp.ErrorReport) -> None:
        self.failed_requests += 1

    async def enter(self, **state: Any) -> None:
        """Enter the room with ``state`` (or change the state if already in)."""
        assert self.presence is not None
        await self.presence.enter(self.settings.room, state)

    async def leave(self) -> None:
        """Leave the room."""
        assert self.presence is not None
        await self.presence.leave(self.settings.room)

    def drop(self) -> None:
        """Lose the network: the server will time the person out."""
        assert self.link is not None
        self.link.cut()

    def reconnect(self) -> None:
        """The network is back: rxpresence re-enters the person, with its state."""
        assert self.link is not None
        self.link.restore()

    async def close(self) -> None:
        """Leave (if the network allows) and stop."""
        if self.link is not None:
            self.link.restore()
        if self.presence is not None:
            await self.presence.aclose()
        if self._pubnub is not None:
            await self._pubnub.stop()
        if self.link is not None:
            await self.link.close()


class Crowd:
    """A looping script: people come and go, change status, and one drops for a while.

    Args:
        settings: Where the server is, the room and its timings.
        seed: Seeds the script's random choices.
    """

    NAMES = ("ada", "bob", "cy", "dee")

    def __init__(self, settings: RoomSettings, seed: int = 7) -> None:
        self.settings = settings
        self.people = [Person(settings, name) for name in self.NAMES]
        self._random = random.Random(seed)

    async def run(self) -> None:
        """Play the script until cancelled, then let everyone leave."""
        try:
            for person in self.people:
                await person.start()
            for person in self.people[:3]:
                await person.enter(status="available")
                await asyncio.sleep(1.0)
            while True:
                await self._scene()
        finally:
            for person in self.people:
                with contextlib.suppress(Exception):
                    await person.close()

    async def _scene(self) -> None:
        ada, bob, cy, dee = self.people
        rng = self._random
        await asyncio.sleep(3.0)
        await cy.enter(status=rng.choice(["away", "busy", "available"]))
        await asyncio.sleep(3.0)
        await dee.enter(status="available")
        await asyncio.sleep(4.0)
        # Bob's Wi-Fi drops for longer than his presence timeout, less than the grace:
        # the page shows him reconnecting, never gone.
        bob.drop()
        await asyncio.sleep(self.settings.presence_timeout + 3)
        bob.reconnect()
        await asyncio.sleep(4.0)
        await dee.leave()
        await asyncio.sleep(3.0)
        await ada.enter(status=rng.choice(["away", "busy"]))
        await asyncio.sleep(3.0)
        await ada.enter(status="available")
