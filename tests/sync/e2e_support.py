"""Helpers for the sync end-to-end tests: deadline polling, raw presence requests, cleanup."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from contextlib import suppress
from typing import Any

from polling import async_wait_for as async_wait_for
from polling import no_leaked_threads as no_leaked_threads
from polling import stop_sync_clients as stop_sync_clients
from polling import wait_for as wait_for

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer

#: Fast, deterministic resync timing for tests against the local server (no PubNub cache).
FAST_RESYNC = rxp.ResyncSettings(
    cache_ttl=0.3,
    settle=0.05,
    retry_initial=0.2,
    retry_max=0.6,
    retry_jitter=0.0,
)


class Presence:
    """Raw presence requests for uuids that have no SDK client (keep-alive HTTP).

    Occupants made this way stay until they leave or are expired: the heartbeat's
    presence timeout is long, and nothing renews or drops them behind the test's back.
    """

    def __init__(self, server: LocalPresenceServer, timeout: int = 300) -> None:
        self.server = server
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self.server.host, self.server.port, timeout=10
                )
            try:
                self._conn.request("GET", f"{path}?{query}")
                response = self._conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise AssertionError(f"{path} answered {response.status}: {body!r}")
                return json.loads(body)
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        return None

    def _channel_path(self, channel: str) -> str:
        key = self.server.subscribe_key
        return f"/v2/presence/sub-key/{key}/channel/{urllib.parse.quote(channel, safe='')}"

    def join(self, channel: str, uuid: str, state: dict[str, Any] | None = None) -> None:
        """Heartbeat ``uuid`` onto ``channel`` (joins it), with ``state`` if given."""
        params = {"uuid": uuid, "heartbeat": str(self.timeout)}
        if state is not None:
            params["state"] = json.dumps({channel: state})
        self._get(self._channel_path(channel) + "/heartbeat", **params)

    def set_state(self, channel: str, uuid: str, state: dict[str, Any]) -> None:
        """Set ``uuid``'s state on ``channel``."""
        path = self._channel_path(channel) + f"/uuid/{urllib.parse.quote(uuid, safe='')}/data"
        self._get(path, uuid=uuid, state=json.dumps(state))

    def leave(self, channel: str, uuid: str) -> None:
        """Send a graceful leave."""
        self._get(self._channel_path(channel) + "/leave", uuid=uuid)

    def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None


def here_now_requests(server: LocalPresenceServer, channel: str) -> list[Any]:
    """The here-now requests the server answered for ``channel``, oldest first."""
    return [
        r
        for r in server.requests
        if r.endpoint == "here_now" and r.path.rstrip("/").endswith(f"/channel/{channel}")
    ]


def snapshot(roster: rxp.Roster) -> dict[str, dict[str, Any] | None]:
    """uuid -> state of a roster, as plain dicts (None for no state)."""
    return {m.uuid: (dict(m.state) if m.state else None) for m in roster}


def truth(server: LocalPresenceServer, channel: str) -> dict[str, dict[str, Any] | None]:
    """uuid -> state on the server (None for no state)."""
    return {u: (s or None) for u, s in server.occupants(channel).items()}
