"""End to end, for orientation: local server -> HTTP long poll -> SDK -> listener.

The local presence server (``rxpresence.server.LocalPresenceServer``) runs in this
process; a real sync ``PubNub`` client subscribes to the channel with presence, and
the workload's presence payloads are injected into the server one by one. Each round
runs the stream once through F1 (the plain dict listener) and once through
``PresenceStreams`` with one roster subscriber, in alternating order.

Reported per mode: events per second end to end (bounded by how fast the server
accepts injections, not by the listener); the process's CPU time per event, which
includes the server, the HTTP stack and the SDK; and the CPU time per event of the
SDK's delivery thread, which runs the SDK's message handling and the listeners, so
the difference between the modes there is what the listener costs. Nothing here is a
target.

Usage::

    .venv/bin/python bench/e2e.py [--events 5000] [--population 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contenders import PresenceTracker, listener
from pubnub.callbacks import SubscribeCallback
from pubnub.enums import PNStatusCategory
from pubnub.pubnub import PubNub
from rich.console import Console
from rich.table import Table
from workload import CHANNEL, Workload

import rxpresence as rxp
from rxpresence.server import LocalPresenceServer


class _Counter(SubscribeCallback):  # type: ignore[misc]
    """Added after the measured listener: counts deliveries, signals the connection.

    It runs on the SDK's delivery thread, so it also reads that thread's CPU clock
    when the ``mark``-th and the ``last``-th events arrive.
    """

    def __init__(self) -> None:
        self.count = 0
        self.connected = threading.Event()
        self.mark = self.last = -1
        self.cpu_at_mark = self.cpu_at_last = 0.0

    def presence(self, pubnub: Any, presence: Any) -> None:
        self.count += 1
        if self.count == self.mark:
            self.cpu_at_mark = time.thread_time()
        elif self.count == self.last:
            self.cpu_at_last = time.thread_time()

    def status(self, pubnub: Any, status: Any) -> None:
        if status.category == PNStatusCategory.PNConnectedCategory:
            self.connected.set()


def _wait(counter: _Counter, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while counter.count < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {counter.count} of {count} events arrived")
        time.sleep(0.002)


def run_once(server: LocalPresenceServer, work: Workload, mode: str) -> tuple[float, float, float]:
    """Events per second, and process and delivery-thread CPU seconds per event."""
    pubnub = PubNub(server.pnconfig(f"bench-{mode}"))
    hub = None
    subscription = None
    if mode == "F1":
        pubnub.add_listener(PresenceTracker(listener))
    else:
        hub = rxp.PresenceStreams(pubnub, here_now=None)
        subscription = hub.roster(CHANNEL).subscribe(listener)
    counter = _Counter()
    pubnub.add_listener(counter)
    try:
        pubnub.subscribe().channels([CHANNEL]).with_presence().execute()
        if not counter.connected.wait(15):
            raise RuntimeError("the client did not connect to the local server")
        time.sleep(0.3)  # let the client's own join arrive
        base = counter.count
        for message in work.prefill:
            server.inject(CHANNEL, message["d"])
        _wait(counter, base + len(work.prefill), 120)
        base = counter.count
        counter.mark, counter.last = base + 1, base + len(work.stream)
        wall, cpu = time.perf_counter(), time.process_time()
        for message in work.stream:
            server.inject(CHANNEL, message["d"])
        _wait(counter, base + len(work.stream), 120)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    finally:
        if subscription is not None:
            subscription.dispose()
        if hub is not None:
            hub.close()
        pubnub.unsubscribe_all()
        pubnub.stop()
    n = len(work.stream)
    return n / wall, cpu / n, (counter.cpu_at_last - counter.cpu_at_mark) / (n - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--population", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    work = Workload.build(args.population, args.events)
    out = Console(width=max(100, Console().width), highlight=False)
    rates: dict[str, list[float]] = {"F1": [], "rxpresence": []}
    cpus: dict[str, list[float]] = {"F1": [], "rxpresence": []}
    workers: dict[str, list[float]] = {"F1": [], "rxpresence": []}
    with LocalPresenceServer() as server:
        for r in range(args.rounds):
            modes = ["F1", "rxpresence"] if r % 2 == 0 else ["rxpresence", "F1"]
            for mode in modes:
                rate, cpu, worker = run_once(server, work, mode)
                rates[mode].append(rate)
                cpus[mode].append(cpu)
                workers[mode].append(worker)
                print(f"round {r + 1}: {mode}: {rate:,.0f} events/s", file=sys.stderr)
    table = Table(title=f"End to end, U={args.population:,}, {args.events:,} events")
    table.add_column("Listener")
    table.add_column("events/s end to end", justify="right")
    table.add_column("process CPU per event", justify="right")
    table.add_column("SDK delivery thread CPU per event", justify="right")
    for mode in ("F1", "rxpresence"):
        table.add_row(
            mode,
            f"{statistics.median(rates[mode]):,.0f}",
            f"{statistics.median(cpus[mode]) * 1e6:.0f} us",
            f"{statistics.median(workers[mode]) * 1e6:.1f} us",
        )
    out.print(table)
    out.print(
        "Process CPU includes the in-process server, HTTP and the SDK, and throughput is "
        "bounded by the server's injection rate; the delivery thread runs the SDK's "
        "message handling and the listeners. Informational only."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
