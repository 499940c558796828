"""A loopback TCP proxy that can cut and restore the network between a client and a server.

One thread runs a ``selectors`` loop over the listening socket, every proxied
connection and a wake-up socket pair. :meth:`TcpProxy.cut` closes every connection
(so requests in flight, held long polls included, fail at once) and from then on
closes each new connection as soon as it is accepted, until :meth:`TcpProxy.restore`.
Commands run on the loop thread; the caller waits until they took effect.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable
from types import TracebackType

_CHUNK = 65536


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port``.

    Args:
        target_host: The server's host.
        target_port: The server's port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._selector = selectors.DefaultSelector()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._commands: list[tuple[Callable[[], None], threading.Event]] = []
        self._lock = threading.Lock()
        self._cut = False
        self._running = True
        self.accepted = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._run, name="test-tcp-proxy", daemon=True)

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return int(self._listener.getsockname()[1])

    @property
    def origin(self) -> str:
        """``host:port`` for ``PNConfiguration.origin``."""
        return f"127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        """Whether the network is cut."""
        return self._cut

    def start(self) -> TcpProxy:
        """Start forwarding."""
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close every connection and refuse new ones (returns once done)."""
        self._command(self._do_cut)

    def restore(self) -> None:
        """Forward new connections again."""
        self._command(self._do_restore)

    def close(self) -> None:
        """Close everything and end the thread."""
        if not self._thread.is_alive():
            return
        self._command(self._do_close)
        self._thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the loop thread ----------------------------------------------------------------

    def _command(self, action: Callable[[], None]) -> None:
        done = threading.Event()
        with self._lock:
            self._commands.append((action, done))
        self._wake_w.send(b"x")
        if not done.wait(5):
            raise RuntimeError("the proxy did not answer within 5 s")

    def _do_cut(self) -> None:
        self._cut = True
        for sock in list(self._peers):
            self._drop(sock)

    def _do_restore(self) -> None:
        self._cut = False

    def _do_close(self) -> None:
        self._cut = True
        for sock in list(self._peers):
            self._drop(sock)
        self._running = False

    def _run(self) -> None:
        try:
            while self._running:
                for key, _ in self._selector.select(timeout=1.0):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._wake()
                    else:
                        self._forward(key.fileobj)  # type: ignore[arg-type]
        finally:
            for sock in list(self._peers):
                self._drop(sock)
            self._selector.close()
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()

    def _wake(self) -> None:
        try:
            self._wake_r.recv(_CHUNK)
        except BlockingIOError:
            pass
        with self._lock:
            commands, self._commands = self._commands, []
        for action, done in commands:
            try:
                action()
            finally:
                done.set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._cut:
            self.refused += 1
            _hard_close(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _hard_close(client)
            return
        self.accepted += 1
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.settimeout(5)
        self._peers[client] = upstream
        self._peers[upstream] = client
        self._selector.register(client, selectors.EVENT_READ, "peer")
        self._selector.register(upstream, selectors.EVENT_READ, "peer")

    def _forward(self, sock: socket.socket) -> None:
        other = self._peers.get(sock)
        if other is None:
            return
        try:
            data = sock.recv(_CHUNK)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            self._peers.pop(s, None)
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            _hard_close(s)


def _hard_close(sock: socket.socket) -> None:
    """Close with a reset, as a broken network would, rather than a polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()
