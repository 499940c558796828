"""The web example in headless Chromium: joins, a timeout within grace, leaves."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser_support import headless_chromium
from loop_thread import Loop
from polling import no_leaked_threads, wait_for
from selenium.webdriver.common.by import By

from rxpresence.server import LocalPresenceServer, ServerSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from examples.web_presence.app import ROOM_APP, RoomSettings, create_app
from examples.web_presence.crowd import Person

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

Factory = Callable[..., LocalPresenceServer]
TIMEOUT = 3  # the simulated person's presence timeout (the local server honours it)
GRACE = 15.0


class Site:
    """The example app on a free port, on an asyncio loop of its own thread."""

    def __init__(self, server: LocalPresenceServer) -> None:
        self.loop = Loop()
        self.settings = RoomSettings(
            origin=server.origin,
            subscribe_key=server.subscribe_key,
            room="lobby",
            grace=GRACE,
            presence_timeout=TIMEOUT,
        )
        self.app = create_app(self.settings)
        self.runner = web.AppRunner(self.app)
        self.url = self.loop.run(self._start())

    async def _start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/"

    def person(self, uuid: str) -> Person:
        return self.loop.run(Person(self.settings, uuid).start())

    def close(self, people: list[Person]) -> None:
        for person in people:
            self.loop.run(person.close())
        self.loop.run(self.runner.cleanup())
        self.loop.close()


@pytest.fixture
def site(presence_server_factory: Factory) -> Iterator[Site]:
    with no_leaked_threads(grace=15):
        server = presence_server_factory(ServerSettings.fast())
        made = Site(server)
        try:
            yield made
        finally:
            made.close([])
            server.stop()


def shown(driver: Any) -> dict[str, str]:
    """uuid -> the status shown next to it, for every member on the page (read at once)."""
    pairs = driver.execute_script(
        "return [...document.querySelectorAll('#members li')]"
        ".map((li) => [li.dataset.uuid, li.querySelector('.status').textContent])"
    )
    return dict(pairs)


def test_the_page_follows_joins_a_timeout_within_grace_and_leaves(site: Site) -> None:
    bob = site.person("bob")
    try:
        with headless_chromium() as driver:
            driver.get(site.url)
            wait_for(lambda: driver.find_element(By.ID, "room").text == "lobby", 15, "(page)")
            assert shown(driver) == {}

            site.loop.run(bob.enter(status="busy"))
            wait_for(lambda: shown(driver) == {"bob": "busy"}, 10, "(bob joined)")

            # Bob's network drops for longer than his presence timeout: the server
            # times him out; the page shows him reconnecting, never gone.
            bob.drop()
            wait_for(lambda: shown(driver) == {"bob": "reconnecting…"}, 15, "(timed out)")
            room = site.app[ROOM_APP]
            assert room.presence is not None and "bob" not in room.presence.current("lobby")
            bob.reconnect()
            wait_for(lambda: shown(driver) == {"bob": "busy"}, GRACE, "(back, same state)")
            views = driver.execute_script("return window.views")
            first = next(i for i, view in enumerate(views) if "bob" in view)
            assert all("bob" in view for view in views[first:])  # no flicker

            # The page's own user enters and leaves through the announcing API.
            driver.find_element(By.ID, "name").send_keys("zoe")
            driver.find_element(By.ID, "enter").click()
            wait_for(lambda: shown(driver).get("zoe") == "available", 10, "(zoe entered)")
            driver.find_element(By.ID, "leave").click()
            wait_for(lambda: "zoe" not in shown(driver), 10, "(zoe left)")

            site.loop.run(bob.leave())
            wait_for(lambda: shown(driver) == {}, 10, "(bob left)")
            assert driver.find_element(By.ID, "count").text == "0"
    finally:
        site.loop.run(bob.close())
