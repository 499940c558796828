"""The local presence server under load: connection bursts, held polls, large here-now.

Three measurements, for ``docs/reliability.md``; nothing here is a target:

* **Connection burst.** The server runs as ``python -m rxpresence.server`` in a
  subprocess; this process opens ``--connects`` connections at once (non-blocking),
  then sends ``GET /time/0`` on each. Per listen backlog: connections answered,
  connections that needed a SYN retry (connect time of 1 s or more: the kernel's queue
  was full and dropped the first SYN), connections that failed, and the median, p99 and
  slowest connect times.
* **Held polls and unrelated joins.** The server runs in this process. ``--polls``
  subscribe long polls are held on one channel's presence (``lobby-pnpres``), then
  ``--joins`` heartbeat requests join as many uuids on another channel (every join
  announced: the channel's announce max is set above the joins). Measured: the
  server thread's CPU time during the joins (read from ``/proc``, Linux only), with the
  polls held and with none, and the polls' wake-ups (each wake-up is one scan of the
  log, counted by wrapping ``PresenceBook.scan``).
* **Here-now paging.** ``--occupants`` uuids on one channel, joined in random order;
  the time to read every page of 1,000 through the here-now endpoint.

Usage::

    .venv/bin/python bench/server_load.py                       # all three, about a minute
    .venv/bin/python bench/server_load.py --connects 1500 --backlogs 128,2048
    .venv/bin/python bench/server_load.py --quick               # small sizes, seconds

The script runs against whatever ``rxpresence`` it imports, so putting another
checkout first on ``PYTHONPATH`` measures that one (a server without the
``listen_backlog`` setting is measured with its fixed backlog).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import random
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rxpresence.server import LocalPresenceServer, ServerSettings

_REQUEST = b"GET /time/0 HTTP/1.1\r\nHost: bench\r\n\r\n"
_SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


# ---------------------------------------------------------------- connection burst


@dataclass
class Burst:
    backlog: str
    answered: int
    retried: int
    failed: int
    p50: float
    p99: float
    slowest: float


def _supports_backlog() -> bool:
    return "listen_backlog" in {f.name for f in dataclasses.fields(ServerSettings)}


def _start_server(backlog: int | None) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-m", "rxpresence.server", "--port", "0", "--log-level", "error"]
    if backlog is not None:
        args += ["--backlog", str(backlog)]
    # Run from beside the package this script imported, so that the server is the same.
    here = Path(sys.modules["rxpresence"].__file__ or ".").resolve().parents[1]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=here)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on http://[^:]+:(\d+)", line)
        if found:
            return process, int(found.group(1))
    raise RuntimeError(f"the server did not start (exit status {process.wait()})")


def measure_burst(connects: int, backlog: int | None, deadline: float = 15.0) -> Burst:
    """Open ``connects`` connections at once to a fresh server, then one request on each."""
    process, port = _start_server(backlog)
    selector = selectors.DefaultSelector()
    started: dict[socket.socket, float] = {}
    connected: dict[socket.socket, float] = {}
    replies: dict[socket.socket, bytes] = {}
    failed = finished = 0
    try:
        for _ in range(connects):
            client = socket.socket()
            client.setblocking(False)
            started[client] = time.perf_counter()
            client.connect_ex(("127.0.0.1", port))
            selector.register(client, selectors.EVENT_WRITE)
        end = time.monotonic() + deadline
        while finished + failed < connects and time.monotonic() < end:
            for key, events in selector.select(0.05):
                client = key.fileobj
                assert isinstance(client, socket.socket)
                if client not in connected:
                    if client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        failed += 1
                        selector.unregister(client)
                        continue
                    connected[client] = time.perf_counter() - started[client]
                    client.sendall(_REQUEST)
                    selector.modify(client, selectors.EVENT_READ)
                    replies[client] = b""
                elif events & selectors.EVENT_READ:
                    try:
                        data = client.recv(4096)
                    except OSError:
                        data = b""
                    replies[client] += data
                    if not data or replies[client].endswith(b"]"):
                        selector.unregister(client)
                        finished += 1
    finally:
        selector.close()
        for client in started:
            client.close()
        process.terminate()
        process.wait(10)
    times = sorted(connected.values())
    answered = sum(1 for reply in replies.values() if reply.startswith(b"HTTP/1.1 200"))
    return Burst(
        backlog=str(backlog) if backlog is not None else "fixed (128)",
        answered=answered,
        retried=sum(1 for t in times if t >= 1.0),
        failed=connects - answered,
        p50=statistics.median(times) if times else float("nan"),
        p99=times[int(0.99 * (len(times) - 1))] if times else float("nan"),
        slowest=times[-1] if times else float("nan"),
    )


# ----------------------------------------------------------- held polls and joins


@dataclass
class Polls:
    polls: int
    joins: int
    events: int
    cpu: float
    wakeups: int
    seconds: float


def _thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process, from /proc."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_thread(server: LocalPresenceServer) -> int:
    for thread in threading.enumerate():
        if thread.name.startswith("rxpresence-server") and thread.native_id is not None:
            return thread.native_id
    raise RuntimeError("no server thread")


def measure_polls(polls: int, joins: int, announce_max: int) -> Polls:
    """Server CPU and poll wake-ups while ``joins`` uuids join a channel no poll listens to.

    With PubNub's announce max (20), the first 20 joins are events and the channel then
    switches to interval mode; with an announce max above ``joins``, every join is one.
    """
    settings = ServerSettings(
        hold_timeout=1800.0, sweep_interval=60.0, interval=3600.0, announce_max=announce_max
    )
    with LocalPresenceServer(settings) as server:
        scans = [0]
        scan = server.book.scan

        def counting_scan(*args: Any, **kwargs: Any) -> Any:
            scans[0] += 1
            return scan(*args, **kwargs)

        server.book.scan = counting_scan  # type: ignore[method-assign]
        held: list[socket.socket] = []
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", "/time/0")
            cursor = connection.getresponse().read().decode().strip("[]")
            for i in range(polls):
                # A presence-only subscription: no join, and nothing to deliver yet.
                poll = socket.create_connection(("127.0.0.1", server.port))
                target = f"/v2/subscribe/demo/lobby-pnpres/0?tt={cursor}&uuid=w{i}"
                poll.sendall(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                held.append(poll)
            deadline = time.monotonic() + 60
            while server.held_polls < polls:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {server.held_polls} of {polls} polls held")
                time.sleep(0.01)
            native_id = _server_thread(server)
            scans[0] = 0
            cpu = _thread_cpu(native_id)
            wall = time.perf_counter()
            for i in range(joins):
                path = f"/v2/presence/sub-key/demo/channel/elsewhere/heartbeat?uuid=j{i}"
                connection.request("GET", path)
                connection.getresponse().read()
            wall = time.perf_counter() - wall
            cpu = _thread_cpu(native_id) - cpu
            if server.held_polls != polls:
                raise RuntimeError("a poll was answered by a join it does not listen to")
            events = server.presence_events_on("elsewhere")
        finally:
            connection.close()
            for poll in held:
                poll.close()
    return Polls(polls, joins, events, cpu, scans[0], wall)


# ------------------------------------------------------------------ here-now paging


def measure_paging(occupants: int, page: int = 1000) -> tuple[float, int]:
    """Seconds to read every here-now page of a channel of ``occupants``, and uuids read."""
    settings = ServerSettings(sweep_interval=3600.0, interval=3600.0)
    server = LocalPresenceServer(settings)
    numbers = list(range(occupants))
    random.Random(1).shuffle(numbers)
    for number in numbers:
        server.book.touch("demo", f"user-{number:07d}", ["stadium"])
    seen = 0
    with server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        started = time.perf_counter()
        for offset in range(0, occupants, page):
            path = f"/v2/presence/sub-key/demo/channel/stadium?uuid=me&limit={page}&offset={offset}"
            connection.request("GET", path)
            body = connection.getresponse().read()
            seen += body.count(b'"user-')
        seconds = time.perf_counter() - started
        connection.close()
    return seconds, seen


# --------------------------------------------------------------------------- main


def _raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, needed + 256))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: runs in seconds")
    parser.add_argument("--connects", type=int, help="connections in the burst (1500)")
    parser.add_argument("--backlogs", help="listen backlogs to compare (128,2048)")
    parser.add_argument("--polls", type=int, help="held polls (500)")
    parser.add_argument("--joins", type=int, help="joins on an unrelated channel (2000)")
    parser.add_argument("--occupants", type=int, help="occupants of the paged channel (100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement (3)")
    args = parser.parse_args(argv)
    connects = args.connects or (200 if args.quick else 1500)
    polls = args.polls or (20 if args.quick else 500)
    joins = args.joins or (100 if args.quick else 2000)
    occupants = args.occupants or (5_000 if args.quick else 100_000)
    rounds = 1 if args.quick else args.rounds
    backlogs: list[int | None] = (
        [int(b) for b in (args.backlogs or "128,2048").split(",")]
        if _supports_backlog()
        else [None]
    )
    _raise_file_limit(max(connects, polls) * 2)
    out = Console(width=max(100, Console().width), highlight=False)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    somaxconn = _SOMAXCONN.read_text().strip() if _SOMAXCONN.exists() else "unknown"
    out.print(
        f"{os.cpu_count()} cores, load average {load:.1f}, net.core.somaxconn {somaxconn}, "
        f"Python {sys.version.split()[0]}, {rounds} rounds"
    )

    table = Table(title=f"A burst of {connects:,} connects (one GET /time/0 each), per round")
    for column in ["backlog", "answered", "needed a SYN retry", "failed", "p50", "p99", "slowest"]:
        table.add_column(column, justify="right")
    for backlog in backlogs:
        for _ in range(rounds):
            b = measure_burst(connects, backlog)
            table.add_row(
                b.backlog,
                f"{b.answered:,}",
                f"{b.retried:,}",
                f"{b.failed:,}",
                f"{b.p50 * 1000:.0f} ms",
                f"{b.p99 * 1000:.0f} ms",
                f"{b.slowest * 1000:.0f} ms",
            )
    out.print(table)

    table = Table(title=f"{joins:,} joins on a channel none of the held polls listens to")
    for column in ["announce max", "join events", "polls held", "server CPU", "CPU per join"]:
        table.add_column(column, justify="right")
    for column in ["poll wake-ups", "wall"]:
        table.add_column(column, justify="right")
    ratios = []
    for announce_max in (ServerSettings().announce_max, 10 * joins):
        cpu_by_polls: dict[int, list[float]] = {0: [], polls: []}
        for _ in range(rounds):
            for held in (0, polls):
                p = measure_polls(held, joins, announce_max)
                cpu_by_polls[held].append(p.cpu)
                table.add_row(
                    f"{announce_max:,}",
                    f"{p.events:,}",
                    f"{p.polls:,}",
                    f"{p.cpu:.2f} s",
                    f"{p.cpu / p.joins * 1e6:.0f} µs",
                    f"{p.wakeups:,}",
                    f"{p.seconds:.2f} s",
                )
        base = statistics.median(cpu_by_polls[0])
        ratio = statistics.median(cpu_by_polls[polls]) / base if base else float("nan")
        ratios.append(f"{ratio:.2f}x with announce max {announce_max:,}")
    out.print(table)
    out.print(f"server CPU with {polls} polls held / with none (medians): {', '.join(ratios)}")

    seconds, seen = measure_paging(occupants)
    out.print(
        f"here-now: {seen:,} uuids of a {occupants:,}-occupant channel read in "
        f"{-(-occupants // 1000)} pages of 1,000 in {seconds:.2f} s "
        f"({seconds / max(1, -(-occupants // 1000)) * 1000:.1f} ms per page)"
    )
    return 0 if seen == occupants else 1


if __name__ == "__main__":
    raise SystemExit(main())
