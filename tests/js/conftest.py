"""Fixtures of the JavaScript SDK tests: the pinned npm package, Node clients, watchers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from js_support import NodeClient, Watcher, pubnub_js_modules

from rxpresence.server import LocalPresenceServer


@pytest.fixture(scope="session")
def pubnub_js() -> Path:
    """``node_modules`` with the pinned ``pubnub`` package (installed on first use)."""
    return pubnub_js_modules()


@pytest.fixture
def js_client(
    pubnub_js: Path, presence_server: LocalPresenceServer
) -> Iterator[Callable[..., NodeClient]]:
    """``js_client(user_id, **options)``: JavaScript SDK clients, ended after the test."""
    made: list[NodeClient] = []

    def make(user_id: str, **options: Any) -> NodeClient:
        client = NodeClient(pubnub_js, presence_server, user_id, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def watcher(presence_server: LocalPresenceServer) -> Iterator[Callable[..., Watcher]]:
    """``watcher(channels)``: a Python SDK client watching presence, closed after the test."""
    made: list[Watcher] = []

    def make(channels: Iterable[str], uuid: str = "py-watcher") -> Watcher:
        made.append(Watcher(presence_server, channels, uuid))
        return made[-1]

    yield make
    for made_watcher in made:
        made_watcher.close()
