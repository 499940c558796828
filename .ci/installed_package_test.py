"""Run by .ci/package-check inside a fresh virtualenv holding only the wheel and pytest.

It proves that the installed package works on its own: rxpresence is imported from
site-packages (not from a source tree), the pytest plugin is registered through its
entry point (the ``presence_server`` fixture exists without any conftest), and the hub
sees a real SDK client join on the local server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pubnub.pubnub import PubNub

import rxpresence as rxp


def test_rxpresence_comes_from_the_installed_wheel() -> None:
    assert "site-packages" in Path(rxp.__file__).parts, rxp.__file__


def test_the_plugin_serves_presence(presence_server: Any) -> None:
    watcher = PubNub(presence_server.pnconfig("watcher"))
    presence = rxp.PresenceStreams(watcher)
    rosters: list[rxp.Roster] = []
    presence.roster("lobby").subscribe(rosters.append)
    try:
        watcher.subscribe().channels(["lobby"]).with_presence().execute()
        deadline = time.monotonic() + 10  # poll with a deadline: joins arrive on SDK threads
        while not (rosters and "watcher" in rosters[-1]):
            assert time.monotonic() < deadline, f"the watcher never joined: {rosters[-1:]}"
            time.sleep(0.02)
        assert list(presence_server.occupants("lobby")) == ["watcher"]
    finally:
        watcher.unsubscribe_all()
        watcher.stop()
        presence.close()
