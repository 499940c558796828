"""The local presence server in a process of its own, for the benchmark's HTTP rows.

The whole-client, bootstrap and latency rows measure a sync ``PubNub`` client talking
HTTP to ``rxpresence.server.LocalPresenceServer``. The server runs in a child process
so that its CPU time, its allocations (which tracemalloc would count) and its share of
the GIL stay out of the client's figures, as with a real PubNub origin.

As a script it reads one JSON line of setup from stdin, fills the server's
``PresenceBook`` before starting it (``book.touch`` for occupants, ``book.inject`` for a
log to replay: hooks that need no client), starts it, writes one JSON line
(``{"port": ..., "cursor": ...}``), then answers one JSON line per command:

* ``{"inject": channel, "payload": {...}, "held": n}``: wait until ``n`` long polls are
  held (every client is idle), inject the presence payload, answer
  ``{"at": t}``, ``t`` read on ``CLOCK_MONOTONIC`` just before the injection (the
  clock is system-wide, so the benchmark compares it with its own readings);
* ``{"stop": true}``: stop and exit.

:class:`ServerProcess` is the benchmark's side.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

SUB_KEY = "demo"
_TIMEOUT = 120.0  # seconds any one answer of the child may take


def monotonic() -> float:
    """Seconds on ``CLOCK_MONOTONIC``, the same clock in every process of the machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class ServerProcess:
    """A filled local presence server in a child process.

    Args:
        fill: (channel, count) pairs: ``count`` occupants ``user-0000000``... present on
            ``channel`` (with a presence timeout of a day).
        replay: Optional ``{"channel", "size", "events", "mix"}``: the prefill and stream
            of that :class:`workload.Workload`, logged on ``channel``'s presence channel;
            a client subscribing with ``with_timetoken(cursor)`` receives them all, 100
            per response, as fast as it asks.
    """

    def __init__(
        self, fill: list[tuple[str, int]] | None = None, replay: dict[str, Any] | None = None
    ) -> None:
        self._child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._selector = selectors.DefaultSelector()
        assert self._child.stdout is not None
        self._selector.register(self._child.stdout, selectors.EVENT_READ)
        ready = self._ask({"fill": fill or [], "replay": replay})
        self.port: int = ready["port"]
        self.cursor: int = ready["cursor"]

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        child = self._child
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(command) + "\n")
        child.stdin.flush()
        if not self._selector.select(_TIMEOUT):
            raise RuntimeError(f"the server process did not answer {list(command)} in time")
        line = child.stdout.readline()
        if not line:
            assert child.stderr is not None
            child.wait(5)
            raise RuntimeError(f"the server process failed:\n{child.stderr.read()[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def pnconfig(self, user_id: str) -> Any:
        """A ``PNConfiguration`` for a sync client of this server."""
        from rxpresence.server import LocalPresenceServer

        # An unstarted instance only knows the address: its pnconfig points at the child.
        return LocalPresenceServer(port=self.port).pnconfig(user_id)

    def inject(self, channel: str, payload: dict[str, Any], held: int = 0) -> float:
        """Inject ``payload`` on ``channel-pnpres`` once ``held`` polls are held.

        Returns:
            ``CLOCK_MONOTONIC`` seconds just before the injection.
        """
        at: float = self._ask({"inject": channel, "payload": payload, "held": held})["at"]
        return at

    def close(self) -> None:
        """Stop the server and wait for the child to exit."""
        if self._child.poll() is None:
            try:
                assert self._child.stdin is not None
                self._child.stdin.write(json.dumps({"stop": True}) + "\n")
                self._child.stdin.flush()
                self._child.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._child.kill()
                self._child.wait(5)
        self._selector.close()
        for pipe in (self._child.stdin, self._child.stdout, self._child.stderr):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve() -> None:
    from workload import Workload, uuid_of

    from rxpresence.server import LocalPresenceServer

    setup = json.loads(sys.stdin.readline())
    replay = setup.get("replay")
    payloads: list[Any] = []
    if replay:
        work = Workload.build(replay["size"], replay["events"], replay["mix"])
        payloads = [m["d"] for m in work.prefill + work.stream]
    # No sweeps (every occupant stays for a day) and a log long enough for the replay.
    server = LocalPresenceServer(
        subscribe_key=SUB_KEY, sweep_interval=3_600, log_size=len(payloads) + 50_000
    )
    book = server.book  # filled before the server starts: no request can race it
    for channel, count in setup["fill"]:
        for i in range(count):
            book.touch(SUB_KEY, uuid_of(i), [channel], timeout=86_400)
    cursor = book.clock.next()
    if replay:
        for payload in payloads:
            book.inject(SUB_KEY, replay["channel"], payload)
    with server:
        print(json.dumps({"port": server.port, "cursor": cursor}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("stop"):
                break
            deadline = time.monotonic() + 10
            while server.held_polls < command["held"] and time.monotonic() < deadline:
                time.sleep(0.0002)
            at = monotonic()
            server.inject(command["inject"], command["payload"])
            print(json.dumps({"at": at}), flush=True)


if __name__ == "__main__":
    _serve()
