"""Fixtures for the local presence server's tests (helpers live in ``server_helpers``)."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterator

import pytest
from server_helpers import RawHttp, WaitFor
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
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 8.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        if time.monotonic() > deadline:
            frames = sys._current_frames()
            stacks = "\n".join(
                f"--- {t.name}\n" + "".join(traceback.format_stack(frames[t.ident]))
                for t in leaked
                if t.ident in frames
            )
            raise AssertionError(f"threads left running: {[t.name for t in leaked]}\n{stacks}")
        time.sleep(0.02)
