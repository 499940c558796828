"""The JavaScript SDK for the end-to-end tests: installed once, driven over pipes.

:func:`pubnub_js_modules` installs the ``pubnub`` npm package pinned in
``tests/js/package.json`` (with its lock file) into a cache folder outside the
repository, keyed by a hash of both files, under a file lock so that parallel test
processes install once. Without Node.js or npm the calling test fails, naming what to
install: a JavaScript test that silently skips would hide a broken web client.

:class:`NodeClient` runs ``client.js`` (one SDK client per Node process): it sends
commands as JSON lines and collects the JSON lines the script prints, so a test can
call SDK methods and wait for listener events with a deadline.

:func:`serve_page` serves ``page/index.html`` and the SDK's browser bundle (the dist file
inside the installed package) from 127.0.0.1, for the browser test.

:class:`Watcher` is the Python side: a real Python SDK client with a
``rxpresence.PresenceStreams`` hub, subscribed with presence, that records every event
it sees and can be checked against the server's own log and occupants.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from polling import wait_for
from pubnub.callbacks import SubscribeCallback
from pubnub.pubnub import PubNub

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer

JS_DIR = Path(__file__).resolve().parent
CLIENT_JS = JS_DIR / "client.js"
PAGE = JS_DIR / "page" / "index.html"
BROWSER_BUNDLE = Path("pubnub") / "dist" / "web" / "pubnub.min.js"
_MANIFESTS = ("package.json", "package-lock.json")
_INSTALL_TIMEOUT = 600


def cache_root() -> Path:
    """Where installed packages are kept: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rxpresence-js"


def node_and_npm() -> tuple[str, str]:
    """The paths of ``node`` and ``npm``; fails the calling test when either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        pytest.fail(
            f"the JavaScript SDK tests need Node.js and npm, but {missing} is not on PATH: "
            "install them (Debian: apt-get install -y nodejs npm)"
        )
    return node, npm


def pubnub_js_modules() -> Path:
    """The ``node_modules`` folder holding the pinned ``pubnub`` package, installed if needed.

    Returns:
        The folder (``.../rxpresence-js/<hash>/node_modules``).
    """
    _, npm = node_and_npm()
    digest = hashlib.sha256()
    for name in _MANIFESTS:
        digest.update((JS_DIR / name).read_bytes())
    root = cache_root()
    target = root / digest.hexdigest()[:16]
    done = target / ".installed"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f"{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing
            if not done.exists():
                _install(npm, target)
                done.touch()
    return target / "node_modules"


def _install(npm: str, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)  # a half-done earlier install
    target.mkdir(parents=True)
    for name in _MANIFESTS:
        shutil.copyfile(JS_DIR / name, target / name)
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(
            command,
            cwd=target,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`npm ci` in {target} did not finish within {_INSTALL_TIMEOUT} s")
    if done.returncode != 0:
        pytest.fail(f"`npm ci` in {target} failed:\n{done.stderr[-3000:]}")


@contextmanager
def serve_page(node_modules: Path) -> Iterator[str]:
    """Serve the test page and the SDK's browser bundle on a free 127.0.0.1 port.

    Yields:
        The page's URL.
    """
    files = {
        "/": (PAGE, "text/html; charset=utf-8"),
        "/pubnub.js": (node_modules / BROWSER_BUNDLE, "text/javascript; charset=utf-8"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, content_type = files.get(self.path.partition("?")[0], (None, ""))
            if path is None:
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="test-page")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class NodeClient:
    """One JavaScript SDK client in a Node process of its own.

    Args:
        node_modules: Where the ``pubnub`` package is installed.
        server: The local server the client talks to.
        user_id: The client's uuid.
        **options: More ``PubNub`` configuration (``presenceTimeout``,
            ``heartbeatInterval``, ``filterExpression``, ...).
    """

    def __init__(
        self,
        node_modules: Path,
        server: LocalPresenceServer,
        user_id: str,
        **options: Any,
    ) -> None:
        node, _ = node_and_npm()
        self.user_id = user_id
        config = {
            "origin": server.origin,
            "ssl": False,
            "subscribeKey": server.subscribe_key,
            "publishKey": server.publish_key,
            "userId": user_id,
            "maxSeconds": 90,
            **options,
        }
        self._process = subprocess.Popen(
            [node, str(CLIENT_JS), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_PATH": str(node_modules)},
        )
        self._changed = threading.Condition()
        self._lines: list[dict[str, Any]] = []
        self._stderr: list[str] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True, name=f"node-{user_id}").start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            try:
                line = json.loads(raw)
            except ValueError:  # something else printed to stdout: keep it, readable
                line = {"event": "stdout", "text": raw}
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _read_errors(self) -> None:
        assert self._process.stderr is not None
        for raw in self._process.stderr:
            self._stderr.append(raw)

    def _wait(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := find()) is None:
                left = deadline - time.monotonic()
                if left <= 0 or (self._process.poll() is not None and find() is None):
                    raise AssertionError(
                        f"{self.user_id}: no {what} within {timeout} s "
                        f"(exit code {self._process.poll()}); stderr: {''.join(self._stderr)}"
                    )
                self._changed.wait(min(left, 0.1))
            return found

    def call(self, method: str, args: Any = None, timeout: float = 10.0) -> Any:
        """Call an SDK method (dotted for nested ones) and return its awaited result.

        Raises:
            AssertionError: If it fails or does not answer in time.
        """
        self._next_id += 1
        command_id = self._next_id
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"id": command_id, "call": method, "args": args}))
        self._process.stdin.write("\n")
        self._process.stdin.flush()

        def answer() -> dict[str, Any] | None:
            return next((line for line in self._lines if line.get("id") == command_id), None)

        reply = self._wait(answer, timeout, f"answer to {method}")
        if not reply["ok"]:
            raise AssertionError(f"{self.user_id}: {method}({args}) failed: {reply['error']}")
        return reply["result"]

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The listener events of one kind (``status``, ``presence``, ``message``) so far."""
        with self._changed:
            return [line for line in self._lines if line.get("event") == kind]

    def wait_event(
        self, kind: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first listener event of ``kind`` matching ``predicate``, waiting for it."""

        def first() -> dict[str, Any] | None:
            return next((e for e in self._lines if e.get("event") == kind and predicate(e)), None)

        found: dict[str, Any] = self._wait(first, timeout, f"matching {kind} event")
        return found

    def kill(self) -> None:
        """End the process at once (SIGKILL): no leave, no last request."""
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(10)

    def close(self) -> None:
        """Close stdin (the script exits) and reap the process."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            try:
                self._process.stdin.close()
                self._process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(5)


class Watcher:
    """A Python SDK client watching presence on some channels through ``PresenceStreams``.

    Args:
        server: The local server.
        channels: The channels to watch (subscribed with presence).
        uuid: The watcher's uuid.
    """

    def __init__(
        self, server: LocalPresenceServer, channels: Iterable[str], uuid: str = "py-watcher"
    ) -> None:
        self.server = server
        self.uuid = uuid
        self.channels = list(channels)
        self.pubnub = PubNub(server.pnconfig(uuid))
        self.messages: list[Any] = []
        self._seen: list[tuple[float, rxp.PresenceEvent]] = []  # (time.time(), event)
        self._lock = threading.Lock()
        self._closed = False
        self.presence = rxp.PresenceStreams(self.pubnub)
        self.presence.events.subscribe(self._record)
        self._rosters = [self.presence.roster(channel).subscribe() for channel in self.channels]
        self.pubnub.add_listener(_MessageRecorder(self.messages))
        self.pubnub.subscribe().channels(self.channels).with_presence().execute()
        for channel in self.channels:
            wait_for(lambda c=channel: self.saw("join", uuid, c), 10, f"(watcher on {channel})")

    def _record(self, event: rxp.PresenceEvent) -> None:
        if event.source != "live":
            return  # the hub's own resync events: not what the server sent
        with self._lock:
            self._seen.append((time.time(), event))

    def seen(self, channel: str) -> list[tuple[str, str | None, dict[str, Any] | None]]:
        """(action, uuid, state) of every event seen on ``channel``, in order."""
        with self._lock:
            return [
                (str(e.action), e.uuid, dict(e.state) if e.state is not None else None)
                for _, e in self._seen
                if e.channel == channel
            ]

    def saw(self, action: str, uuid: str, channel: str) -> bool:
        """Whether an event ``action`` of ``uuid`` on ``channel`` was seen."""
        return (action, uuid) in {(a, u) for a, u, _ in self.seen(channel)}

    def when(self, action: str, uuid: str, channel: str) -> float | None:
        """Unix time the first such event was received, or None."""
        with self._lock:
            return next(
                (
                    at
                    for at, e in self._seen
                    if (str(e.action), e.uuid, e.channel) == (action, uuid, channel)
                ),
                None,
            )

    def logged(self, channel: str) -> list[tuple[str, str | None, dict[str, Any] | None]]:
        """What the server logged for ``channel`` from the watcher's own join on."""
        entries = [
            (d["action"], d.get("uuid"), d.get("data")) for d in self.server.presence_log(channel)
        ]
        start = entries.index(("join", self.uuid, None))
        return entries[start:]

    def check(self) -> None:
        """The watcher saw every event the server logged, and its rosters are the server's."""
        for channel in self.channels:
            wait_for(
                lambda c=channel: self.seen(c) == self.logged(c),
                10,
                f"(watcher saw all of {channel}: {self.seen(channel)} vs {self.logged(channel)})",
            )
            truth = {u: s or None for u, s in self.server.occupants(channel).items()}
            wait_for(
                lambda c=channel, t=truth: self.roster(c) == t,
                10,
                f"(roster of {channel}: {self.roster(channel)} vs {truth})",
            )

    def roster(self, channel: str) -> dict[str, dict[str, Any] | None]:
        """uuid -> state of the watcher's current roster of ``channel``."""
        return {
            m.uuid: (dict(m.state) if m.state else None) for m in self.presence.current(channel)
        }

    def close(self) -> None:
        """Close the hub, leave, and stop the client once its leave was answered."""
        if self._closed:
            return
        self._closed = True
        self.presence.close()
        self.pubnub.unsubscribe_all()
        # The server answers a uuid's held poll when it leaves: once the leave is
        # answered, stop() strands no subscribe request of this client.
        wait_for(
            lambda: any(
                r.endpoint == "leave" and r.status == 200
                for r in self.server.requests
                if r.uuid == self.uuid
            ),
            10,
            "(watcher's leave answered)",
        )
        self.pubnub.stop()


class _MessageRecorder(SubscribeCallback):  # type: ignore[misc]
    """Keeps the messages a Python client receives."""

    def __init__(self, into: list[Any]) -> None:
        self._into = into

    def message(self, pubnub: Any, message: Any) -> None:
        self._into.append(message)
