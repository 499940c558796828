"""End-to-end helpers for announcing: a watcher that is not present, the server's records."""

from __future__ import annotations

import threading
from typing import Any

from polling import wait_for
from pubnub.enums import PNReconnectionPolicy
from pubnub.pubnub import PubNub

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer

#: A presence timeout the local server honours on loopback: heartbeats every second.
TIMEOUT = 4


class Watcher:
    """A threaded client watching ``channel``'s presence events without being present.

    It subscribes to ``<channel>-pnpres`` only, so its own subscribe requests never
    make it present (the channel's events carry only the others).
    """

    def __init__(self, server: LocalPresenceServer, channel: str, uuid: str = "watcher") -> None:
        config = server.pnconfig(
            uuid, reconnect_policy=PNReconnectionPolicy.LINEAR, reconnection_interval=0.2
        )
        self.pubnub = PubNub(config)
        self.hub = rxp.PresenceStreams(self.pubnub, here_now=None)
        self._lock = threading.Lock()
        self._events: list[rxp.PresenceEvent] = []
        self.hub.events.subscribe(self._add)
        connected = threading.Event()
        self.hub.status.subscribe(lambda s: connected.set() if s.connected else None)
        self.pubnub.subscribe().channels([f"{channel}-pnpres"]).execute()
        wait_for(connected.is_set, message="(watcher connected)")

    def _add(self, event: rxp.PresenceEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self, uuid: str, *actions: str) -> list[rxp.PresenceEvent]:
        """Events of ``uuid`` (of these actions, if given), oldest first."""
        with self._lock:
            return [
                e for e in self._events if e.uuid == uuid and (not actions or e.action in actions)
            ]

    def actions(self, uuid: str) -> list[str]:
        """The actions of ``uuid``'s events, oldest first."""
        return [str(e.action) for e in self.events(uuid)]

    def close(self) -> None:
        self.hub.close()


def heartbeat_channels(server: LocalPresenceServer, uuid: str) -> list[list[str]]:
    """The channels each heartbeat of ``uuid`` named, oldest first."""
    return [
        r.path.split("/channel/")[1].split("/")[0].split(",")
        for r in server.requests
        if r.endpoint == "heartbeat" and r.uuid == uuid
    ]


def endpoints(server: LocalPresenceServer, uuid: str) -> list[tuple[str, Any]]:
    """``(endpoint, query state)`` of every request ``uuid`` made, oldest first."""
    return [(r.endpoint, r.query.get("state")) for r in server.requests if r.uuid == uuid]
