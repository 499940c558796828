"""Here-now snapshots behind one small interface, for threaded and asyncio clients.

The two PubNub clients run requests in incompatible ways. ``PubNub`` (threaded) runs
each ``pn_async`` request on a thread of its own and calls back on that thread;
``PubNubAsyncio`` returns a coroutine from ``.future()`` that must run on its event
loop, which may or may not be the calling thread. The sync machinery only ever needs
"ask for one page of one channel, call me back once", so :class:`HereNowSource` is
exactly that, and two adapters map it onto the clients:

* :class:`ThreadedHereNow` calls ``pn_async``: the SDK starts a request thread (a daemon
  thread when ``config.daemon`` is set) and calls back on it.
* :class:`AsyncioHereNow` wraps ``.future()`` in a coroutine and starts it with
  ``loop.create_task`` when called on the client's loop, else with
  ``asyncio.run_coroutine_threadsafe`` (timers fire on scheduler threads).

SDK quirks handled here:

* A here-now for one channel is answered in a flat shape and parsed into
  ``PNHereNowResult.channels[0]``; the SDK leaves that channel's ``occupancy`` as the raw
  JSON value, so it is checked and converted here.
* The SDK returns at most ``limit`` (at most 1000) uuids per call; ``offset`` pages
  through bigger channels. Paging is done by the caller, one request per page.
* ``.future()`` never raises for HTTP errors: it returns a ``PubNubAsyncioException``
  whose ``status`` says what went wrong. ``pn_async`` reports errors through its
  ``status`` argument. Both become exceptions passed to the callback.

:class:`FakeHereNow` is an in-memory source for tests: it answers from a table, either
at once or when the test says so, and can fail on demand.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ._limits import excerpt

__all__ = [
    "AsyncioHereNow",
    "FakeHereNow",
    "HereNowCallback",
    "HereNowError",
    "HereNowPage",
    "HereNowRequest",
    "HereNowSource",
    "ThreadedHereNow",
    "here_now_source",
    "is_asyncio_client",
    "is_error_status",
    "run_on_loop",
    "sdk_result",
    "send_leave",
    "status_error",
]

log = logging.getLogger("rxpresence")

#: The largest page PubNub's here-now returns.
MAX_PAGE = 1000


class HereNowRequest(NamedTuple):
    """One here-now call for one channel.

    Attributes:
        channel: The channel.
        include_uuids: Whether to list the uuids (False: occupancy only).
        include_state: Whether to include each uuid's state.
        limit: Most uuids to return (PubNub's maximum: 1000).
        offset: How many uuids to skip (paging).
    """

    channel: str
    include_uuids: bool = True
    include_state: bool = True
    limit: int = MAX_PAGE
    offset: int = 0


class HereNowPage(NamedTuple):
    """The answer to one :class:`HereNowRequest`.

    Attributes:
        occupancy: The channel's occupancy (the full count, whatever the page size).
        occupants: uuid -> state (None where none is set) for the uuids on this page,
            or None when the request did not ask for uuids.
    """

    occupancy: int
    occupants: Mapping[str, Mapping[str, Any] | None] | None = None


HereNowCallback = Callable[["HereNowPage | BaseException"], None]


class HereNowError(RuntimeError):
    """A here-now call failed; the message names the channel and the SDK's category."""


@runtime_checkable
class HereNowSource(Protocol):
    """Where here-now snapshots come from.

    ``here_now`` must not block: it starts the request and returns. ``done`` is called
    exactly once, on any thread (even before ``here_now`` returns), with a
    :class:`HereNowPage` or the exception that made the call fail.
    """

    def here_now(self, request: HereNowRequest, done: HereNowCallback) -> None:
        """Start ``request``; call ``done`` once with the page or an exception."""
        ...

    def close(self) -> None:
        """Stop starting requests; requests in flight may still call back."""
        ...


# -- parsing the SDK's answer ---------------------------------------------------------


def _status_error(request: HereNowRequest, status: Any) -> BaseException:
    """The exception an SDK error status carries, or one naming its category."""
    return status_error(f"here-now of {request.channel!r}", status, HereNowError)


def status_error(what: str, status: Any, kind: type[Exception]) -> BaseException:
    """The exception an SDK error ``status`` carries, else a ``kind`` naming its category.

    Args:
        what: The request, for the message (``"here-now of 'lobby'"``).
        status: The SDK's ``PNStatus`` (or None).
        kind: The exception class to build when the status carries none.
    """
    error_data = getattr(status, "error_data", None)
    exception = getattr(error_data, "exception", None)
    if isinstance(exception, BaseException):
        return exception
    category = getattr(getattr(status, "category", None), "name", None) or "unknown error"
    code = getattr(status, "status_code", None)
    detail = f" (HTTP {code})" if code else ""
    return kind(f"{what} failed: {category}{detail}")


def is_error_status(status: Any) -> bool:
    """Whether an SDK status says the request failed (a missing or unreadable one does)."""
    if status is None:
        return True
    try:
        return bool(status.is_error())
    except Exception:  # an unreadable status is a failure
        return True


def _state(uuid: str, state: Any) -> Mapping[str, Any] | None:
    # Passed on as it is: the sync checks every page's states against the limits and
    # keeps a read-only copy (``checked_page``), whatever the source.
    if state is None or isinstance(state, Mapping):
        return state
    raise HereNowError(f"here-now state of {excerpt(uuid)} must be an object, got {excerpt(state)}")


def parse_result(request: HereNowRequest, result: Any) -> HereNowPage:
    """Turn the SDK's ``PNHereNowResult`` into a :class:`HereNowPage`.

    Args:
        request: The request it answers.
        result: The SDK's result object.

    Returns:
        The page.

    Raises:
        HereNowError: The result is malformed.
    """
    channels = getattr(result, "channels", None)
    data = None
    if isinstance(channels, list):
        data = next(
            (c for c in channels if getattr(c, "channel_name", None) == request.channel), None
        )
        if data is None and len(channels) == 1:
            data = channels[0]
    if data is None:  # the channel is empty: PubNub leaves it out of multi-channel answers
        return HereNowPage(0, {} if request.include_uuids else None)
    raw = getattr(data, "occupancy", None)
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if type(raw) is not int or raw < 0:
        raise HereNowError(f"here-now occupancy must be an int >= 0, got {excerpt(raw)}")
    occupancy = raw
    if not request.include_uuids:
        return HereNowPage(occupancy, None)
    occupants: dict[str, Mapping[str, Any] | None] = {}
    for occupant in getattr(data, "occupants", None) or ():
        uuid = getattr(occupant, "uuid", None)
        if not isinstance(uuid, str) or not uuid:
            raise HereNowError(f"here-now uuid must be a non-empty string, got {excerpt(uuid)}")
        occupants[uuid] = _state(uuid, getattr(occupant, "state", None))
    return HereNowPage(occupancy, occupants)


def _configure(pubnub: Any, request: HereNowRequest) -> Any:
    endpoint = (
        pubnub.here_now()
        .channels([request.channel])
        .include_uuids(request.include_uuids)
        .include_state(request.include_state and request.include_uuids)
        .limit(request.limit)
    )
    if request.offset:
        endpoint = endpoint.offset(request.offset)
    return endpoint


def _safe(done: HereNowCallback, outcome: HereNowPage | BaseException) -> None:
    try:
        done(outcome)
    except Exception:  # never let it reach the SDK's thread or loop
        log.exception("rxpresence here-now callback failed")


# -- adapters -------------------------------------------------------------------------


class ThreadedHereNow:
    """Here-now through a threaded ``PubNub`` client (``pn_async``, one thread a call).

    Args:
        pubnub: The ``PubNub`` instance.
    """

    def __init__(self, pubnub: Any) -> None:
        self._pubnub = pubnub
        self._closed = False

    def here_now(self, request: HereNowRequest, done: HereNowCallback) -> None:
        """Start ``request`` on an SDK request thread."""
        if self._closed:
            _safe(done, HereNowError("the here-now source is closed"))
            return

        def callback(result: Any, status: Any) -> None:
            if is_error_status(status):
                _safe(done, _status_error(request, status))
                return
            try:
                page: HereNowPage | BaseException = parse_result(request, result)
            except Exception as exc:
                page = exc
            _safe(done, page)

        try:
            _configure(self._pubnub, request).pn_async(callback)
        except Exception as exc:  # e.g. no thread could be started
            _safe(done, exc)

    def close(self) -> None:
        """Start no more requests (the SDK's threads finish on their own)."""
        self._closed = True


class AsyncioHereNow:
    """Here-now through a ``PubNubAsyncio`` client: coroutines on its event loop.

    Args:
        pubnub: The ``PubNubAsyncio`` instance.
    """

    def __init__(self, pubnub: Any) -> None:
        self._pubnub = pubnub
        # Re-entrant: a future that is already done runs its callback at once.
        self._lock = threading.RLock()
        self._closed = False
        self._running: set[Any] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The client's event loop."""
        loop: asyncio.AbstractEventLoop = self._pubnub.event_loop
        return loop

    def here_now(self, request: HereNowRequest, done: HereNowCallback) -> None:
        """Start ``request`` on the client's loop (from any thread)."""
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                try:
                    self._start(self._fetch(request, done))
                except Exception as exc:  # e.g. the loop is closed
                    error: BaseException | None = exc
                else:
                    error = None
        if closed:
            _safe(done, HereNowError("the here-now source is closed"))
        elif error is not None:
            _safe(done, error)

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        handle = run_on_loop(self.loop, coro)
        self._running.add(handle)
        handle.add_done_callback(self._forget)

    def _forget(self, handle: Any) -> None:
        with self._lock:
            self._running.discard(handle)

    async def _fetch(self, request: HereNowRequest, done: HereNowCallback) -> None:
        what = f"here-now of {request.channel!r}"
        try:
            result = await sdk_result(_configure(self._pubnub, request), what, HereNowError)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _safe(done, exc)
            return
        try:
            page: HereNowPage | BaseException = parse_result(request, result)
        except Exception as exc:
            page = exc
        _safe(done, page)

    def close(self) -> None:
        """Start no more requests and cancel those in flight."""
        with self._lock:
            self._closed = True
            running, self._running = self._running, set()
        for handle in running:
            try:
                if isinstance(handle, asyncio.Task):
                    handle.get_loop().call_soon_threadsafe(handle.cancel)
                else:
                    handle.cancel()
            except RuntimeError:  # the loop is already closed
                pass


async def sdk_result(endpoint: Any, what: str, kind: type[Exception]) -> Any:
    """Await an asyncio endpoint's ``.future()``: its result, or the error it reports.

    ``.future()`` returns an error envelope (a ``PubNubAsyncioException`` whose
    ``status`` says what went wrong) rather than raising for HTTP errors.

    Args:
        endpoint: A configured SDK endpoint of a ``PubNubAsyncio`` client.
        what: The request, for the message (``"here-now of 'lobby'"``).
        kind: The exception class to raise when the status carries no exception.

    Raises:
        Exception: The status's exception, or a ``kind`` naming its category.
    """
    envelope = await endpoint.future()
    status = getattr(envelope, "status", None)
    if isinstance(envelope, BaseException) or is_error_status(status):
        raise status_error(what, status, kind)
    return envelope.result


def run_on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> Any:
    """Start ``coro`` on ``loop`` from any thread; returns its task or concurrent future.

    On the loop's own thread this is ``loop.create_task``; elsewhere (timer threads)
    ``asyncio.run_coroutine_threadsafe``. If neither can start it, ``coro`` is closed
    and the error raised.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        if running is loop:
            return loop.create_task(coro)
        return asyncio.run_coroutine_threadsafe(coro, loop)
    except BaseException:
        coro.close()
        raise


def is_asyncio_client(pubnub: Any) -> bool:
    """Whether ``pubnub`` is a ``PubNubAsyncio`` client."""
    try:
        from pubnub.pubnub_asyncio import PubNubAsyncio
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return False
    return isinstance(pubnub, PubNubAsyncio)


def here_now_source(pubnub: Any, here_now: Any) -> HereNowSource | None:
    """The source ``PresenceStreams(here_now=...)`` asks for.

    Args:
        pubnub: The client, or None.
        here_now: ``"auto"``, None, or a :class:`HereNowSource`.

    Returns:
        The source, or None for no here-now at all.

    Raises:
        TypeError: ``here_now`` is none of the above.
    """
    if here_now is None:
        return None
    if isinstance(here_now, str):
        if here_now != "auto":
            raise TypeError(f'here_now must be "auto", None or a HereNowSource, got {here_now!r}')
        if pubnub is None or not callable(getattr(pubnub, "here_now", None)):
            return None
        return AsyncioHereNow(pubnub) if is_asyncio_client(pubnub) else ThreadedHereNow(pubnub)
    if isinstance(here_now, HereNowSource):
        return here_now
    raise TypeError(f'here_now must be "auto", None or a HereNowSource, got {here_now!r}')


# -- leave ----------------------------------------------------------------------------


def send_leave(
    pubnub: Any, channels: Iterable[str], groups: Iterable[str], timeout: float = 5.0
) -> Any:
    """Send one presence leave for ``channels`` and ``groups``.

    With a threaded client the call blocks until the answer (at most the SDK's request
    timeout). With an asyncio client it is started on the client's loop: from another
    thread this waits up to ``timeout`` seconds; on the loop itself it returns the task.

    Args:
        pubnub: The client.
        channels: Channels to leave.
        groups: Channel groups to leave.
        timeout: Seconds to wait for an asyncio leave started from another thread.

    Returns:
        The asyncio task when started on the loop itself, else None.
    """
    from pubnub.endpoints.presence.leave import Leave

    chs, gs = sorted(set(channels)), sorted(set(groups))
    if not chs and not gs:
        return None
    endpoint = Leave(pubnub)
    if chs:
        endpoint = endpoint.channels(chs)
    if gs:
        endpoint = endpoint.channel_groups(gs)
    if not is_asyncio_client(pubnub):
        endpoint.sync()
        return None
    loop: asyncio.AbstractEventLoop = pubnub.event_loop

    async def leave() -> None:
        await endpoint.future()

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return loop.create_task(leave())
    if loop.is_closed() or not loop.is_running():
        return None
    future = asyncio.run_coroutine_threadsafe(leave(), loop)
    try:
        future.result(timeout)
    except Exception as exc:
        future.cancel()
        log.debug("rxpresence leave failed: %s", exc)
    return None


# -- a fake for tests -----------------------------------------------------------------


class FakeHereNow:
    """An in-memory :class:`HereNowSource` for tests.

    Holds who is on each channel; answers requests from that table, paging with
    ``limit``/``offset`` over the sorted uuids as the local server does. With
    ``auto=True`` every request is answered at once (before ``here_now`` returns);
    otherwise requests wait in :attr:`pending` until :meth:`respond` or :meth:`fail`.

    Args:
        channels: channel -> {uuid: state or None}, the initial table.
        auto: Answer at once.

    Attributes:
        channels: The table; change it freely between requests.
        requests: Every request received, in order.
        pending: Requests not answered yet (``auto=False``), oldest first.
        occupancy: channel -> occupancy to report instead of the table's count.
    """

    def __init__(
        self,
        channels: Mapping[str, Mapping[str, Mapping[str, Any] | None]] | None = None,
        *,
        auto: bool = True,
    ) -> None:
        self._lock = threading.RLock()
        self.auto = auto
        self.channels: dict[str, dict[str, Mapping[str, Any] | None]] = {
            name: dict(occupants) for name, occupants in (channels or {}).items()
        }
        self.occupancy: dict[str, int] = {}
        self.requests: list[HereNowRequest] = []
        self.pending: list[tuple[HereNowRequest, HereNowCallback]] = []
        self._failures: dict[str | None, list[BaseException]] = {}
        self.closed = False

    # -- the table --------------------------------------------------------------------

    def join(self, channel: str, uuid: str, state: Mapping[str, Any] | None = None) -> None:
        """Put ``uuid`` on ``channel`` (with ``state``)."""
        with self._lock:
            self.channels.setdefault(channel, {})[uuid] = state

    def leave(self, channel: str, uuid: str) -> None:
        """Take ``uuid`` off ``channel``."""
        with self._lock:
            self.channels.get(channel, {}).pop(uuid, None)

    def fail_next(
        self, error: BaseException, *, channel: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` requests (for ``channel``, or any) fail with ``error``."""
        with self._lock:
            self._failures.setdefault(channel, []).extend([error] * times)

    def answer(self, request: HereNowRequest) -> HereNowPage:
        """The page the table gives for ``request`` right now."""
        with self._lock:
            table = self.channels.get(request.channel, {})
            occupancy = self.occupancy.get(request.channel, len(table))
            if not request.include_uuids:
                return HereNowPage(occupancy, None)
            names = sorted(table)[request.offset : request.offset + request.limit]
            return HereNowPage(
                occupancy,
                {u: (table[u] if request.include_state else None) for u in names},
            )

    # -- the source -------------------------------------------------------------------

    def here_now(self, request: HereNowRequest, done: HereNowCallback) -> None:
        """Record ``request``; answer it now (``auto``) or keep it pending."""
        with self._lock:
            self.requests.append(request)
            error = self._take_failure(request.channel)
            if error is None and not self.auto:
                self.pending.append((request, done))
                return
            outcome: HereNowPage | BaseException = error or self.answer(request)
        done(outcome)

    def _take_failure(self, channel: str) -> BaseException | None:
        for key in (channel, None):
            queued = self._failures.get(key)
            if queued:
                return queued.pop(0)
        return None

    def respond(self, index: int = 0, page: HereNowPage | None = None) -> HereNowRequest:
        """Answer a pending request (the oldest by default) from the table, or with ``page``."""
        with self._lock:
            request, done = self.pending.pop(index)
            outcome = page if page is not None else self.answer(request)
        done(outcome)
        return request

    def respond_all(self) -> int:
        """Answer every pending request, including those started meanwhile; return how many."""
        count = 0
        while self.pending:
            self.respond()
            count += 1
        return count

    def fail(self, error: BaseException, index: int = 0) -> HereNowRequest:
        """Fail a pending request (the oldest by default) with ``error``."""
        with self._lock:
            request, done = self.pending.pop(index)
        done(error)
        return request

    def requests_for(self, channel: str) -> list[HereNowRequest]:
        """The requests received for ``channel``."""
        with self._lock:
            return [r for r in self.requests if r.channel == channel]

    def close(self) -> None:
        """Mark the source closed (pending requests stay pending)."""
        self.closed = True
