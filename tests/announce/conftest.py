"""Fixtures of the announcing tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from polling import no_leaked_threads

from rxpresence.server import LocalPresenceServer, ServerSettings


@pytest.fixture
def server(
    presence_server_factory: Callable[..., LocalPresenceServer],
) -> Iterator[LocalPresenceServer]:
    """A fast local server; every thread the test started must be gone after it."""
    with no_leaked_threads():
        made = presence_server_factory(ServerSettings.fast())
        try:
            yield made
        finally:
            made.stop()
