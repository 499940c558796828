"""Waiting on conditions in end-to-end tests: poll with a deadline, never sleep blind."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

WaitFor = Callable[..., Any]


def _poll(predicate: Callable[[], Any], deadline: float, timeout: float, message: str) -> Any:
    """One look: ``predicate()`` if truthy, else None; fails once ``deadline`` passed."""
    value = predicate()
    if value:
        return value
    if time.monotonic() > deadline:
        raise AssertionError(f"condition not met within {timeout} s {message}".strip())
    return None


def wait_for(
    predicate: Callable[[], Any], timeout: float = 5.0, message: str = "", *, every: float = 0.01
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (value := _poll(predicate, deadline, timeout, message)) is None:
        time.sleep(every)
    return value


async def async_wait_for(
    predicate: Callable[[], Any], timeout: float = 5.0, message: str = ""
) -> Any:
    """:func:`wait_for` for coroutines: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while (value := _poll(predicate, deadline, timeout, message)) is None:
        await asyncio.sleep(0.01)
    return value


@contextmanager
def no_leaked_threads(grace: float = 8.0) -> Iterator[None]:
    """Fail if threads started inside the block are still alive ``grace`` s after it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + grace
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


# The sync SDK names its request threads "Thread-<Operation>-<n>".
_SDK_REQUEST_THREAD = re.compile(r"^Thread-[A-Za-z]+-\d+$")


def _request_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if _SDK_REQUEST_THREAD.match(t.name)]


def stop_sync_clients(clients: list[Any], timeout: float = 6.0) -> None:
    """Unsubscribe sync ``PubNub`` clients, let their requests finish, then stop them.

    ``PubNub.stop()`` closes the HTTP session under requests still in flight, and a
    thread blocked on such a request then waits out the SDK's request timeout.
    """
    for pubnub in clients:
        with suppress(AttributeError):  # a second unsubscribe_all() raises in the SDK
            pubnub.unsubscribe_all()
    try:
        wait_for(lambda: not _request_threads(), timeout, "(SDK request threads finished)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still running: {_request_threads()}") from None
    for pubnub in clients:
        pubnub.stop()
