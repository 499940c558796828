"""Run the local presence server on a thread of its own, for sync code and tests.

:class:`LocalPresenceServer` owns a :class:`PresenceBook` and, while running, a thread
with its own asyncio loop serving :func:`create_app` on loopback. The book outlives
the HTTP side, so :meth:`LocalPresenceServer.stop` then
:meth:`LocalPresenceServer.restart` simulates an outage without losing presence state.

The test hooks (``occupants``, ``expire``, ``inject``, ...) may be called from any
thread: while the server runs they are marshalled onto its loop, so they never race
the request handlers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from ._http import API_KEY, PresenceApi, RecordedRequest, create_app
from ._logs import http_logger
from ._presence import JsonObject, PresenceBook
from ._settings import ServerSettings

if TYPE_CHECKING:
    from pubnub.pnconfiguration import PNConfiguration

__all__ = ["LocalPresenceServer", "is_wildcard_host"]

_T = TypeVar("_T")
_START_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 2.0
_HOOK_TIMEOUT = 10.0
# A client cannot connect to a wildcard address; this machine reaches it on loopback.
_LOOPBACK_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def is_wildcard_host(host: str) -> bool:
    """Whether binding ``host`` listens on every interface (``0.0.0.0`` or ``::``).

    Args:
        host: The interface to bind.

    Returns:
        True for the wildcard addresses.
    """
    return host in _LOOPBACK_FOR_WILDCARD


class LocalPresenceServer:
    """A PubNub-compatible presence server running in this process.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with LocalPresenceServer(hold_timeout=2) as server:
            pubnub = PubNub(server.pnconfig("alice"))

    Args:
        settings: Server settings; PubNub's defaults if None.
        host: Interface to bind; loopback by default.
        port: Port to bind; 0 picks a free one (see :attr:`port` once started).
        subscribe_key: Subscribe key :meth:`pnconfig` uses and hooks default to.
        publish_key: Publish key :meth:`pnconfig` uses.
        **overrides: :class:`ServerSettings` fields to override, e.g. ``hold_timeout=1``.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        subscribe_key: str = "demo",
        publish_key: str = "demo",
        **overrides: Any,
    ) -> None:
        base = settings or ServerSettings()
        self.settings: ServerSettings = base.replace(**overrides) if overrides else base
        self.host = host
        self.subscribe_key = subscribe_key
        self.publish_key = publish_key
        self.book = PresenceBook(self.settings)
        self._port = port
        self._requests: deque[RecordedRequest] = deque(maxlen=self.settings.request_log_size)
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._api: PresenceApi | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (the requested one, possibly 0, before the first start)."""
        return self._port

    @property
    def origin(self) -> str:
        """``host:port`` without a scheme, as ``PNConfiguration.origin`` wants it.

        Bound to every interface (``0.0.0.0`` or ``::``), the server is reached on this
        machine through loopback: that is the host given here.
        """
        host = _LOOPBACK_FOR_WILDCARD.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host  # an IPv6 literal
        return f"{host}:{self._port}"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8090``."""
        return f"http://{self.origin}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._thread is not None

    def start(self) -> LocalPresenceServer:
        """Start serving on a new thread; returns once the port is bound.

        Returns:
            The server itself.

        Raises:
            RuntimeError: If it is already running or the port cannot be bound.
        """
        with self._lifecycle:
            if self._thread is not None:
                raise RuntimeError("the presence server is already running")
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._thread_main,
                args=(ready, failure),
                name=f"rxpresence-server-{self._port or 'new'}",
                daemon=True,
            )
            thread.start()
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the presence server did not start within 10 s")
            if failure:
                thread.join(_START_TIMEOUT)
                raise RuntimeError(
                    f"cannot start the presence server on {self.host}:{self._port}: {failure[0]}"
                ) from failure[0]
            self._thread = thread
            return self

    def stop(self) -> None:
        """Stop serving: answer held long polls, close connections, end the thread.

        Presence state is kept. Does nothing if the server is not running.

        Raises:
            RuntimeError: If called from the server's own thread (it would wait on itself).
        """
        if threading.get_ident() == self._thread_id:
            raise RuntimeError("stop() cannot be called from the server's own thread")
        with self._lifecycle:
            thread, loop, stop_event = self._thread, self._loop, self._stop_event
            if thread is None:
                return
            if loop is not None and stop_event is not None:
                try:
                    loop.call_soon_threadsafe(stop_event.set)
                except RuntimeError:  # the loop already closed
                    pass
            thread.join(_SHUTDOWN_TIMEOUT + _START_TIMEOUT)
            self._thread = None

    def restart(self) -> LocalPresenceServer:
        """Stop if running, then start again on the same port with the same state.

        Returns:
            The server itself.

        Raises:
            RuntimeError: If the port cannot be bound again.
        """
        self.stop()
        return self.start()

    def __enter__(self) -> LocalPresenceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalPresenceServer {self.origin} {state}>"

    # ------------------------------------------------------------- SDK configuration

    def configure(self, config: PNConfiguration) -> PNConfiguration:
        """Point a ``PNConfiguration`` at this server.

        Sets ``origin``, ``ssl=False`` and ``daemon=True`` (so the sync client's request
        threads never block interpreter exit), and the keys if they are unset.

        Args:
            config: The configuration to change in place.

        Returns:
            The same configuration; a configured copy if a client has already locked it
            (a locked configuration ignores changes).
        """
        if config.__dict__.get("_locked"):
            # PubNub(config) locks a configuration whose locking is on; the SDK then
            # warns about every change and ignores it. Its copy() is unlocked.
            config = config.copy()
        config.origin = self.origin
        config.ssl = False
        config.daemon = True
        if config.subscribe_key is None:
            config.subscribe_key = self.subscribe_key
        if config.publish_key is None:
            config.publish_key = self.publish_key
        return config

    def pnconfig(self, user_id: str, **options: Any) -> PNConfiguration:
        """A new ``PNConfiguration`` for this server.

        The configuration is in the SDK's recommended mode, ``disable_config_locking``
        off: it can be changed until a client is made from it, which then locks it and
        keeps a copy. That mode issues no "Mutable config will be deprecated" warning,
        so a suite run with ``-W error::DeprecationWarning`` passes. Pass
        ``disable_config_locking=True`` for the mutable mode.

        Args:
            user_id: The client's uuid.
            **options: Attributes to set on the configuration, e.g.
                ``enable_presence_heartbeat=True``. ``presence_timeout=T`` calls
                ``set_presence_timeout(T)``: assigning the attribute would be silently
                ignored by the SDK.

        Returns:
            The configuration.

        Raises:
            TypeError: If an option is not a ``PNConfiguration`` attribute.
        """
        from pubnub.pnconfiguration import PNConfiguration

        config = PNConfiguration()
        config.subscribe_key = options.pop("subscribe_key", self.subscribe_key)
        config.publish_key = options.pop("publish_key", self.publish_key)
        config.user_id = user_id
        config.disable_config_locking = options.pop("disable_config_locking", False)
        timeout = options.pop("presence_timeout", None)
        if timeout is not None:
            config.set_presence_timeout(timeout)
        for name, value in options.items():
            if not hasattr(config, name):
                raise TypeError(f"PNConfiguration has no attribute {name!r}")
            setattr(config, name, value)
        return self.configure(config)

    # ------------------------------------------------------------------- test hooks

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests answered so far, oldest first (bounded by ``request_log_size``)."""
        return self._call(lambda: list(self._requests))

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._call(self._requests.clear)

    @property
    def held_polls(self) -> int:
        """Number of subscribe long polls being held right now."""
        return self._call(lambda: 0 if self._api is None else self._api.held_polls)

    @property
    def poll_wakeups(self) -> int:
        """Held long polls woken since the last start by an entry they listen to."""
        return self._call(lambda: 0 if self._api is None else self._api.poll_wakeups)

    def occupants(self, channel: str, sub_key: str | None = None) -> dict[str, JsonObject | None]:
        """Uuids present on a channel and their states.

        Args:
            channel: The channel.
            sub_key: Subscribe key; the server's by default.

        Returns:
            uuid -> state (None where no state is set), sorted by uuid.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self.book.occupants(key, channel))

    def where_now(self, uuid: str, sub_key: str | None = None) -> list[str]:
        """Channels where a uuid is present.

        Args:
            uuid: The uuid.
            sub_key: Subscribe key; the server's by default.

        Returns:
            Channel names, sorted.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self.book.where_now(key, uuid))

    def expire(self, channel: str, uuid: str, sub_key: str | None = None) -> bool:
        """Time a uuid out on a channel now, as if its presence timeout had passed.

        Args:
            channel: The channel.
            uuid: The uuid.
            sub_key: Subscribe key; the server's by default.

        Returns:
            Whether the uuid was present.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self._expired(key, channel, uuid))

    def _expired(self, key: str, channel: str, uuid: str) -> bool:
        present = uuid in self.book.occupants(key, channel)
        self.book.expire(key, channel, uuid)
        return present

    def inject(self, channel: str, payload: Any, sub_key: str | None = None) -> int:
        """Deliver an arbitrary presence payload (the ``d`` object) on ``channel-pnpres``.

        Nothing is validated, so tests can send malformed events on purpose.

        Args:
            channel: The data channel (without ``-pnpres``).
            payload: Any JSON value.
            sub_key: Subscribe key; the server's by default.

        Returns:
            The event's timetoken.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self.book.inject(key, channel, payload).tt)

    def publish(
        self, channel: str, message: Any, publisher: str = "server", sub_key: str | None = None
    ) -> int:
        """Publish a message as if a client had.

        Args:
            channel: The channel.
            message: Any JSON value.
            publisher: Uuid shown as the publisher.
            sub_key: Subscribe key; the server's by default.

        Returns:
            The message's timetoken.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self.book.publish(key, channel, message, publisher).tt)

    def sweep(self) -> None:
        """Run a timeout and interval sweep now instead of waiting for the next one."""
        self._call(self.book.sweep)

    @property
    def presence_events_emitted(self) -> int:
        """Presence events logged so far, on every channel (injected ones included)."""
        return self._call(lambda: self.book.presence_events_emitted)

    def presence_events_on(self, channel: str, sub_key: str | None = None) -> int:
        """Presence events logged so far for one channel.

        Args:
            channel: The data channel (without ``-pnpres``).
            sub_key: Subscribe key; the server's by default.

        Returns:
            The count.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: self.book.events_on(key, channel))

    def presence_log(self, channel: str, sub_key: str | None = None) -> list[Any]:
        """Presence payloads (``d`` objects) still in the log for a channel, oldest first.

        Args:
            channel: The data channel (without ``-pnpres``).
            sub_key: Subscribe key; the server's by default.

        Returns:
            The payloads.
        """
        key = sub_key or self.subscribe_key
        return self._call(lambda: [d for _, d in self.book.presence_log(key, channel)])

    # ----------------------------------------------------------------------- internals

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop while it runs, directly otherwise."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread_id:
            return fn()

        async def run() -> _T:
            return fn()

        try:
            future = asyncio.run_coroutine_threadsafe(run(), loop)
        except RuntimeError:  # the loop closed in between: nothing else touches the book
            return fn()
        try:
            return future.result(_HOOK_TIMEOUT)
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
            if self._loop is loop:
                raise  # the loop is alive but stuck: do not touch the book from here
            # The loop shut down before running it; wait for the thread, then go direct.
            thread = self._thread
            if thread is not None:
                thread.join(_SHUTDOWN_TIMEOUT + _START_TIMEOUT)
            return fn()

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._thread_id = threading.get_ident()
        try:
            loop.run_until_complete(self._serve(loop, ready))
        except BaseException as exc:  # reported to start(); the thread just ends
            failure.append(exc)
        finally:
            self._loop = None
            self._stop_event = None
            self._api = None
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._thread_id = None
                ready.set()

    async def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        app = create_app(self.settings, book=self.book, request_log=self._requests)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            # Bad requests cost one bounded, rate-limited line (see _logs).
            logger=http_logger(),
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
            # A client that drops a held long poll cancels its handler at once.
            handler_cancellation=True,
            # Long GET publishes fit; our own 414 check answers first.
            max_line_size=self.settings.max_request_bytes + 1024,
            # The SDK's compressed publish says "gzip" but sends zlib: inflate ourselves.
            auto_decompress=False,
        )
        await runner.setup()
        listener: socket.socket | None = None
        try:
            backlog = self.settings.listen_backlog
            listener = _listen(self.host, self._port, backlog)
            # asyncio calls listen() again with the site's backlog (aiohttp's default: 128).
            await web.SockSite(runner, listener, backlog=backlog).start()
            self._port = int(listener.getsockname()[1])
            self._api = app[API_KEY]
            self._stop_event = asyncio.Event()
            self._loop = loop
            ready.set()
            await self._stop_event.wait()
        finally:
            if listener is not None:
                await _stop_accepting(loop, listener)
            aio_server = runner.server
            await runner.cleanup()
            if aio_server is not None:
                await _close_stragglers(aio_server)


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (SO_REUSEADDR, so a restart can rebind).

    ``backlog`` is how many connections the kernel queues before they are accepted; the
    kernel caps it (Linux: ``net.core.somaxconn``).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


async def _stop_accepting(loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
    """Stop accepting, then let connections already accepted finish being set up.

    asyncio sets up an accepted connection one loop iteration after accepting it, and
    fails (leaking the socket, its request unread) if the server was closed in between.
    aiohttp closes the server at once on shutdown, so accepting stops here first.
    """
    with suppress(NotImplementedError, ValueError, OSError):
        loop.remove_reader(listener.fileno())
    for _ in range(3):
        await asyncio.sleep(0)


async def _close_stragglers(server: web.Server) -> None:
    """Close connections accepted while the server was shutting down.

    aiohttp closes the connections it knows when shutdown starts; one accepted in the
    same instant registers afterwards and would stay open with its request unread,
    leaving the client blocked until its own timeout.
    """
    for _ in range(3):
        await asyncio.sleep(0)
    for connection in list(server.connections):
        connection.force_close()
