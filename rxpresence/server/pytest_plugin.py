"""pytest plugin: fixtures that run the local presence server.

Registered as a ``pytest11`` entry point, so every pytest run in an environment with
rxpresence installed loads it: it imports nothing heavy until a fixture is used.

Fixtures:

* ``presence_server_settings``: the :class:`~rxpresence.server.ServerSettings` the
  other two start from (:meth:`ServerSettings.fast`: 1 s long polls and intervals).
  Override it in a ``conftest.py`` to change the defaults of a whole directory.
* ``presence_server``: a running :class:`~rxpresence.server.LocalPresenceServer` on a
  free loopback port, stopped after the test.
* ``presence_server_factory``: ``factory(settings=None, **overrides)`` starts another
  server with custom settings; all are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._inprocess import LocalPresenceServer
    from ._settings import ServerSettings

__all__ = ["presence_server", "presence_server_factory", "presence_server_settings"]


@pytest.fixture
def presence_server_settings() -> ServerSettings:
    """Settings for the presence server fixtures: fast long polls and intervals."""
    from ._settings import ServerSettings

    return ServerSettings.fast()


@pytest.fixture
def presence_server_factory(
    presence_server_settings: ServerSettings,
) -> Iterator[Callable[..., LocalPresenceServer]]:
    """Start presence servers with custom settings; all are stopped after the test.

    Call it as ``factory(settings=None, **overrides)``: ``settings`` replaces
    ``presence_server_settings``, ``overrides`` are ``ServerSettings`` fields or
    ``LocalPresenceServer`` keywords (``host``, ``port``, ``subscribe_key``...).
    """
    from ._inprocess import LocalPresenceServer

    started: list[LocalPresenceServer] = []

    def factory(settings: ServerSettings | None = None, **overrides: Any) -> LocalPresenceServer:
        server = LocalPresenceServer(settings or presence_server_settings, **overrides)
        server.start()
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def presence_server(
    presence_server_factory: Callable[..., LocalPresenceServer],
) -> LocalPresenceServer:
    """A running local presence server on a free loopback port, stopped after the test."""
    return presence_server_factory()
