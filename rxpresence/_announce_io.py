"""Presence requests of the announcing side, for threaded and asyncio clients.

The :class:`~rxpresence._announce.Announcer` needs two requests, each answered once:
a heartbeat naming some channels with their state (which joins the client where the
server does not list it, renews it where it does, and sets the state, announcing a
state change only where it differs), and a leave. :class:`AnnounceTransport` is exactly
that; the adapters follow :mod:`rxpresence._herenow`:

* :class:`ThreadedTransport` calls ``pn_async``: the SDK runs each request on a thread
  of its own and calls back there.
* :class:`AsyncioTransport` runs ``.future()`` in a coroutine on the client's loop,
  started from any thread (timers fire on the hub's scheduler).

Both go through the SDK's own endpoints (``pubnub.heartbeat()``, the ``Leave``
endpoint), so authentication, signing and the configured origin apply; neither touches
the client's subscriptions. The heartbeat declares ``config.presence_timeout`` as its
``heartbeat`` parameter, as the SDK's own heartbeats do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ._herenow import is_asyncio_client, is_error_status, run_on_loop, sdk_result, status_error

__all__ = [
    "AnnounceTransport",
    "AsyncioTransport",
    "Done",
    "PresenceRequestError",
    "ThreadedTransport",
    "transport_for",
]

log = logging.getLogger("rxpresence")

#: Called once with None (the server confirmed) or the exception that made it fail.
Done = Callable[[BaseException | None], None]


class PresenceRequestError(RuntimeError):
    """A heartbeat or leave failed; the message names the request and the SDK's category."""


class AnnounceTransport(Protocol):
    """Where the announcing side's requests go.

    Both methods start the request and return at once; ``done`` is called exactly once,
    on any thread (even before the method returns).
    """

    @property
    def blocking_close(self) -> bool:
        """Whether ``close()`` may wait for the last leave on the calling thread."""
        ...

    def heartbeat(self, states: Mapping[str, Mapping[str, Any]], done: Done) -> None:
        """Heartbeat the channels of ``states``, each carrying its state."""
        ...

    def leave(self, channels: Sequence[str], done: Done) -> None:
        """Send one presence leave for ``channels``."""
        ...


def _safe(done: Done, outcome: BaseException | None) -> None:
    try:
        done(outcome)
    except Exception:  # never let it reach the SDK's thread or loop
        log.exception("rxpresence announce callback failed")


def _heartbeat(pubnub: Any, states: Mapping[str, Mapping[str, Any]]) -> Any:
    return (
        pubnub.heartbeat().channels(sorted(states)).state({c: dict(s) for c, s in states.items()})
    )


def _leave(pubnub: Any, channels: Sequence[str]) -> Any:
    from pubnub.endpoints.presence.leave import Leave

    return Leave(pubnub).channels(sorted(channels))


def _what(kind: str, channels: Sequence[str] | Mapping[str, Any]) -> str:
    return f"{kind} of {', '.join(sorted(channels))}"


class ThreadedTransport:
    """Requests through a threaded ``PubNub`` client (``pn_async``, one thread each).

    Args:
        pubnub: The ``PubNub`` instance.
    """

    blocking_close = True

    def __init__(self, pubnub: Any) -> None:
        self._pubnub = pubnub

    def heartbeat(self, states: Mapping[str, Mapping[str, Any]], done: Done) -> None:
        """Start a heartbeat on an SDK request thread."""
        self._send(_heartbeat(self._pubnub, states), _what("heartbeat", states), done)

    def leave(self, channels: Sequence[str], done: Done) -> None:
        """Start a leave on an SDK request thread."""
        self._send(_leave(self._pubnub, channels), _what("leave", channels), done)

    @staticmethod
    def _send(endpoint: Any, what: str, done: Done) -> None:
        def callback(result: Any, status: Any) -> None:
            failed = is_error_status(status)
            _safe(done, status_error(what, status, PresenceRequestError) if failed else None)

        try:
            endpoint.pn_async(callback)
        except Exception as exc:  # e.g. no thread could be started
            _safe(done, exc)


class AsyncioTransport:
    """Requests through a ``PubNubAsyncio`` client: coroutines on its event loop.

    Args:
        pubnub: The ``PubNubAsyncio`` instance.
    """

    blocking_close = False

    def __init__(self, pubnub: Any) -> None:
        self._pubnub = pubnub
        self._lock = threading.Lock()
        self._running: set[Any] = set()  # strong references: the loop keeps weak ones

    def heartbeat(self, states: Mapping[str, Mapping[str, Any]], done: Done) -> None:
        """Start a heartbeat on the client's loop (from any thread)."""
        self._start(_heartbeat(self._pubnub, states), _what("heartbeat", states), done)

    def leave(self, channels: Sequence[str], done: Done) -> None:
        """Start a leave on the client's loop (from any thread)."""
        self._start(_leave(self._pubnub, channels), _what("leave", channels), done)

    def _start(self, endpoint: Any, what: str, done: Done) -> None:
        try:
            handle = run_on_loop(self._pubnub.event_loop, self._request(endpoint, what, done))
        except Exception as exc:  # e.g. the loop is closed
            _safe(done, exc)
            return
        with self._lock:
            self._running.add(handle)
        handle.add_done_callback(self._forget)

    def _forget(self, handle: Any) -> None:
        with self._lock:
            self._running.discard(handle)

    @staticmethod
    async def _request(endpoint: Any, what: str, done: Done) -> None:
        try:
            await sdk_result(endpoint, what, PresenceRequestError)
        except asyncio.CancelledError:
            _safe(done, PresenceRequestError(f"{what} was cancelled"))
            raise
        except Exception as exc:
            _safe(done, exc)
        else:
            _safe(done, None)


def transport_for(pubnub: Any) -> AnnounceTransport | None:
    """The transport for ``pubnub``, or None for a detached hub (no client).

    Args:
        pubnub: A ``PubNub`` or ``PubNubAsyncio`` instance, or anything else.
    """
    if pubnub is None or not callable(getattr(pubnub, "heartbeat", None)):
        return None
    if is_asyncio_client(pubnub):
        return AsyncioTransport(pubnub)
    return ThreadedTransport(pubnub)
