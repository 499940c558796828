"""Fixtures for the local presence server's tests (helpers live in ``server_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from polling import WaitFor
from polling import no_leaked_threads as _no_leaked_threads
from server_helpers import RawHttp
from server_helpers import wait_for as _wait_for

from rxpresence.server import LocalPresenceServer


@pytest.fixture
def wait_for() -> WaitFor:
    """``wait_for(predicate, timeout=5.0, message="")``: poll with a deadline, never sleep blind."""
    return _wait_for


@pytest.fixture
def raw_http(presence_server: LocalPresenceServer) -> RawHttp:
    """Raw HTTP access to the ``presence_server`` fixture."""
    return RawHttp(presence_server)


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail the test if threads it started are still alive a few seconds after it ends."""
    with _no_leaked_threads():
        yield
