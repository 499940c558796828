"""Connections: the listen backlog the server asks the kernel for."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from server_helpers import WaitFor

from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = pytest.mark.timeout(60)

SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def somaxconn() -> int | None:
    try:
        return int(SOMAXCONN.read_text())
    except (OSError, ValueError):
        return None


def test_the_default_backlog_is_larger_than_asyncios() -> None:
    assert ServerSettings().listen_backlog == 2048
    with pytest.raises(ValueError, match="listen_backlog must be a positive number"):
        ServerSettings(listen_backlog=0)


@pytest.mark.skipif((somaxconn() or 0) < 400, reason="needs Linux with net.core.somaxconn >= 400")
def test_the_kernel_queues_as_many_connections_as_the_backlog_says(
    presence_server_factory: Callable[..., LocalPresenceServer], wait_for: WaitFor
) -> None:
    server = presence_server_factory(listen_backlog=300)
    # Keep the server's loop busy, so it accepts nothing: the kernel then completes
    # handshakes only while its queue for the listening socket has room.
    release = threading.Event()
    loop: Any = server._loop  # the server's own event loop (a private attribute)
    loop.call_soon_threadsafe(release.wait, 30.0)
    selector = selectors.DefaultSelector()
    clients: list[socket.socket] = []
    try:
        for _ in range(400):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", server.port))
            selector.register(client, selectors.EVENT_WRITE)
            clients.append(client)

        def established() -> int:
            writable = [key.fileobj for key, _ in selector.select(0)]
            return sum(
                1
                for client in writable
                if isinstance(client, socket.socket)
                and client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            )

        # The kernel queues backlog + 1 connections; asyncio's default backlog gives 129.
        wait_for(lambda: established() >= 290, 10, "(connections queued by the kernel)")
        assert established() <= 301
    finally:
        release.set()
        selector.close()
        for client in clients:
            client.close()
