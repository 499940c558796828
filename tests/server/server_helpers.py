"""Helpers for the local presence server's tests: polling waits, raw HTTP, SDK listeners."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from polling import WaitFor as WaitFor
from polling import stop_sync_clients as stop_sync_clients
from polling import wait_for as wait_for
from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.models.consumer.pubsub import PNPresenceEventResult

from rxpresence.server import LocalPresenceServer


@dataclass
class Reply:
    """A raw HTTP answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RawHttp:
    """Sends exact request targets (no client-side re-encoding) to a server."""

    def __init__(self, server: LocalPresenceServer) -> None:
        self.server = server

    def request(
        self,
        target: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Reply(response.status, parsed, dict(response.getheaders()))
        finally:
            conn.close()

    def get(self, target: str, timeout: float = 10.0) -> Reply:
        return self.request(target, timeout=timeout)


class Recorder(SubscribeCallback):  # type: ignore[misc]
    """A raw SDK listener that keeps every presence event, message and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.presence_events: list[PNPresenceEventResult] = []
        self.messages: list[Any] = []
        self.statuses: list[Any] = []

    def presence(self, pubnub: Any, presence: PNPresenceEventResult) -> None:
        with self._lock:
            self.presence_events.append(presence)

    def message(self, pubnub: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(message)

    def status(self, pubnub: Any, status: Any) -> None:
        with self._lock:
            self.statuses.append(status)

    def events(
        self, action: str | None = None, channel: str | None = None
    ) -> list[PNPresenceEventResult]:
        with self._lock:
            return [
                e
                for e in self.presence_events
                if (action is None or e.event == action)
                and (channel is None or e.channel == channel)
            ]

    def seen(self, action: str, uuid: str | None = None, channel: str | None = None) -> bool:
        return any(uuid is None or e.uuid == uuid for e in self.events(action, channel))

    def connected(self) -> bool:
        with self._lock:
            return any(s.category == PNStatusCategory.PNConnectedCategory for s in self.statuses)
