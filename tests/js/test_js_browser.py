"""The JavaScript SDK's browser bundle in headless Chromium, against the local server.

The page is served from 127.0.0.1 on one port and the presence server listens on
another, so every SDK request is cross-origin: the browser lets the page read the
answers only because the server sends PubNub's CORS headers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_support import headless_chromium
from js_support import Watcher, serve_page
from polling import wait_for

from rxpresence.server import LocalPresenceServer

pytestmark = pytest.mark.e2e


def received(driver: Any, kind: str) -> list[dict[str, Any]]:
    """What the page's listener received, of one kind."""
    events: list[dict[str, Any]] = driver.execute_script("return window.received")
    return [e for e in events if e["kind"] == kind]


def page_saw(driver: Any, action: str, uuid: str) -> bool:
    return any((e["action"], e.get("uuid")) == (action, uuid) for e in received(driver, "presence"))


@pytest.mark.timeout(900)  # a first run installs Chromium (apt-get) and the npm package
def test_a_browser_client_joins_sets_state_and_sees_others(
    pubnub_js: Path,
    presence_server: LocalPresenceServer,
    watcher: Callable[..., Watcher],
) -> None:
    watch = watcher(["web-room"])
    with serve_page(pubnub_js) as page, headless_chromium() as driver:
        driver.get(f"{page}?origin={presence_server.origin}&uuid=web-user&channel=web-room")
        wait_for(lambda: watch.saw("join", "web-user", "web-room"), 15, "(browser joined)")
        wait_for(lambda: page_saw(driver, "join", "web-user"), 10, "(page saw its own join)")
        statuses = [e["category"] for e in received(driver, "status")]
        assert statuses[0] == "PNConnectedCategory", statuses

        answer = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "window.client.setState({channels: ['web-room'], state: {typing: true}})"
            ".then(done, (error) => done({error: String(error)}));"
        )
        assert answer == {"state": {"typing": True}}
        wait_for(
            lambda: ("state-change", "web-user", {"typing": True}) in watch.seen("web-room"), 10
        )
        assert presence_server.occupants("web-room")["web-user"] == {"typing": True}

        guest = watcher(["web-room"], uuid="py-guest")
        wait_for(lambda: page_saw(driver, "join", "py-guest"), 10, "(page saw the guest join)")
        guest.close()
        wait_for(lambda: page_saw(driver, "leave", "py-guest"), 10, "(page saw the guest leave)")

        watch.check()
        assert watch.roster("web-room")["web-user"] == {"typing": True}

        driver.execute_script("window.client.unsubscribe({channels: ['web-room']})")
        wait_for(lambda: watch.saw("leave", "web-user", "web-room"), 10, "(browser left)")
        watch.check()

    # Every request of the page was answered; none was refused or lost to CORS. What it
    # sent is what the Node client sends (docs/fidelity.md).
    mine = [r for r in presence_server.requests if r.uuid == "web-user"]
    assert {r.endpoint for r in mine} >= {"subscribe", "heartbeat", "set_state", "leave"}
    assert all(r.status in (200, 499) for r in mine), [(r.endpoint, r.status) for r in mine]
    polls = [r for r in mine if r.endpoint == "subscribe"]
    assert "tt" not in polls[0].query
    assert all("ee" in r.query and "heartbeat" not in r.query for r in polls)
    assert {r.query["heartbeat"] for r in mine if r.endpoint == "heartbeat"} == {"20"}
