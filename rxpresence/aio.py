"""asyncio-native iteration: ``async for`` over rxpresence's streams, or any observable.

Apps built on asyncio (aiohttp, FastAPI, Starlette) consume values with ``async for``::

    from rxpresence import aio

    async for roster in aio.values(presence.roster("lobby", grace=10)):
        await websocket.send_json(sorted(roster.uuids))

Observables push values on whatever thread produces them (the SDK's threads, the hub's
timer thread, the event loop itself); the consumer pulls at its own pace. What happens
when it falls behind is an explicit policy:

* **latest** (the default for the hub's state streams: rosters, occupancy,
  ``rosters()``, ``where_is``, users and ``own_presence``): only the newest value is
  kept. A slow consumer skips stale snapshots; it never blocks the producer and never
  grows memory.
* **buffer** (the default for everything else: events, diffs, any other observable):
  values wait in order, up to ``maxsize``. One more ends the iteration with
  :class:`BufferOverflowError` naming the bound, after the buffered values: never a
  silent drop.

The observable's completion ends the loop; its error is raised in the loop. The
subscription starts at the first ``__anext__`` and is disposed when the iteration ends,
when :meth:`Values.aclose` is called (``async with`` does it), or when the task that
iterates finishes, cancelled or not.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Generic, TypeVar

from reactivex import Observable, abc

from ._views import StateView

__all__ = ["BufferOverflowError", "Values", "values"]

_T = TypeVar("_T")


class BufferOverflowError(RuntimeError):
    """More values waited for the consumer than ``maxsize``; the iteration ended."""


class Values(AsyncIterator[_T], Generic[_T]):
    """An async iterator over an observable's values (see :func:`values`).

    Args:
        source: The observable.
        latest: Keep only the newest value (True) or buffer them all (False).
        maxsize: Most values buffered when ``latest`` is False.
    """

    def __init__(self, source: Observable[_T], *, latest: bool, maxsize: int) -> None:
        self._source = source
        self._latest = latest
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._buffer: deque[_T] = deque(maxlen=1) if latest else deque()
        self._ended = False  # no more values will come (completed, failed, closed)
        self._error: BaseException | None = None
        self._started = False
        self._subscription: abc.DisposableBase | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def latest(self) -> bool:
        """Whether only the newest value is kept."""
        return self._latest

    @property
    def maxsize(self) -> int:
        """The most values buffered (when not ``latest``)."""
        return self._maxsize

    # -- the consumer (on the event loop) -----------------------------------------------

    def __aiter__(self) -> Values[_T]:
        return self

    async def __anext__(self) -> _T:
        if not self._started:
            self._start()
        while True:
            with self._lock:
                if self._buffer:
                    return self._buffer.popleft()
                if self._ended:
                    error, self._error = self._error, None
                    break
                loop = self._loop
                assert loop is not None
                waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None
        self._dispose()
        if error is not None:
            raise error
        raise StopAsyncIteration

    def _start(self) -> None:
        self._started = True
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            # Cancelling (or ending) the consuming task disposes the subscription.
            task.add_done_callback(lambda _: self._dispose())
        subscription = self._source.subscribe(self._on_next, self._on_error, self._on_completed)
        with self._lock:
            ended = self._ended
            if not ended:
                self._subscription = subscription
        if ended:  # completed, failed or overflowed while subscribing
            subscription.dispose()

    async def aclose(self) -> None:
        """Stop iterating and dispose the subscription (idempotent)."""
        self._end(None)
        self._dispose()
        with self._lock:
            self._buffer.clear()
            self._error = None

    async def __aenter__(self) -> Values[_T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _dispose(self) -> None:
        with self._lock:
            self._ended = True
            subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()

    # -- the producer (any thread; never blocks beyond a short lock) --------------------

    def _on_next(self, value: _T) -> None:
        overflow = False
        with self._lock:
            if self._ended:
                return
            if self._latest or len(self._buffer) < self._maxsize:
                self._buffer.append(value)  # the latest policy's deque keeps one
            else:
                overflow = True
                self._ended = True
                self._error = BufferOverflowError(
                    f"more than {self._maxsize} values were waiting for a slow consumer; "
                    "raise maxsize, or pass latest=True to keep only the newest value"
                )
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)
        if overflow:
            self._dispose()

    def _on_error(self, error: Exception) -> None:
        self._end(error)

    def _on_completed(self) -> None:
        self._end(None)

    def _end(self, error: BaseException | None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._error = error
            waiter, self._waiter = self._waiter, None
        self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None] | None) -> None:
        if waiter is None:
            return

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        try:
            waiter.get_loop().call_soon_threadsafe(wake)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def values(
    observable: Observable[_T], *, latest: bool | None = None, maxsize: int = 1000
) -> Values[_T]:
    """Iterate ``observable``'s values with ``async for``.

    Args:
        observable: Any observable; the hub's state streams (rosters, occupancy,
            ``rosters()``, ``where_is``, users, ``own_presence``) are recognised.
        latest: True keeps only the newest value for a slow consumer; False buffers
            every value; None (the default) chooses True for the hub's state streams
            and False for everything else.
        maxsize: Most values buffered when not keeping only the latest; one more ends
            the iteration with :class:`BufferOverflowError`.

    Returns:
        A :class:`Values` async iterator (also an async context manager).

    Raises:
        TypeError: ``observable`` is not an observable, or ``latest`` not a bool or None.
        ValueError: ``maxsize`` is not a positive int.

    Example:
        >>> async for roster in aio.values(presence.roster("lobby")):  # doctest: +SKIP
        ...     print(sorted(roster.uuids))
    """
    if not isinstance(observable, Observable):
        raise TypeError(f"values() needs an Observable, got {type(observable).__name__}")
    if latest is not None and not isinstance(latest, bool):
        raise TypeError(f"latest must be True, False or None, got {latest!r}")
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"maxsize must be a positive int, got {maxsize!r}")
    keep_latest = isinstance(observable, StateView) if latest is None else latest
    return Values(observable, latest=keep_latest, maxsize=maxsize)
