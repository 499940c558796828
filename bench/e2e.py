"""A whole sync client over HTTP: CPU per event, and latency from the server to the app.

The local presence server runs in a child process (:class:`server.ServerProcess`); the
client is a real sync ``PubNub`` in this process, with its own threads, HTTP stack,
JSON parsing, worker queue and listeners.

* **CPU per event.** The server holds a log of the workload's events (prefill, then
  stream) on one channel. Each run, a fresh client subscribes to it with presence from
  a timetoken before the log, so the server answers every long poll at once with the
  next 100 messages until the client has caught up: 100-message responses, the client
  busy throughout. The figure is this process's CPU time (every thread) from the
  subscribe call to the delivery of the last logged event, per event. Each round runs
  the two modes in alternating order: a bare listener (counting events), and
  ``PresenceStreams`` with one ``roster`` subscriber (plus the same counter). Here-now
  is off in both: the log is history, which a snapshot of the server's present
  occupants would contradict.
* **Latency.** Two clients stay subscribed, one with a bare listener on one channel,
  one with ``PresenceStreams`` and a ``roster`` subscriber on another. Events are
  injected one at a time, alternating between the channels, each once both clients'
  long polls are held (both idle); the latency is from the injection (read on the
  server's side) to the bare listener's call, or to the roster's emission.

Usage (for these figures alone; ``bench/run.py`` prints them with the rest)::

    .venv/bin/python bench/e2e.py [--rounds 9] [--events 20000] [--population 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contenders import listener
from pubnub.callbacks import SubscribeCallback
from pubnub.pubnub import PubNub
from server import ServerProcess, monotonic

import rxpresence as rxp

REPLAY_CHANNEL = "replay"
_WAIT = 120.0  # seconds a run may take at most


class _Counter(SubscribeCallback):  # type: ignore[misc]
    """Counts the presence events of ``channel``; reads the CPU clock at the ``last``-th."""

    def __init__(self, channel: str, last: int) -> None:
        self.channel = channel
        self.count = 0
        self.last = last
        self.cpu_at_last = 0.0
        self.done = threading.Event()

    def presence(self, pubnub: Any, presence: Any) -> None:
        if presence.channel == self.channel:
            self.count += 1
            if self.count == self.last:
                self.cpu_at_last = time.process_time()
                self.done.set()


def _client_cpu_once(server: ServerProcess, events: int, mode: str, run: int) -> float:
    """CPU seconds per event for one client catching up on the replayed log."""
    pubnub = PubNub(server.pnconfig(f"bench-{mode}-{run}"))
    hub = subscription = None
    if mode == "rxpresence":
        hub = rxp.PresenceStreams(pubnub, here_now=None)
        subscription = hub.roster(REPLAY_CHANNEL).subscribe(listener)
    counter = _Counter(REPLAY_CHANNEL, events)
    pubnub.add_listener(counter)
    try:
        start = time.process_time()
        pubnub.subscribe().channels([REPLAY_CHANNEL]).with_presence().with_timetoken(
            server.cursor
        ).execute()
        if not counter.done.wait(_WAIT):
            raise RuntimeError(f"{mode}: {counter.count} of {events} events arrived")
        return (counter.cpu_at_last - start) / events
    finally:
        if subscription is not None:
            subscription.dispose()
        if hub is not None:
            hub.close()
        pubnub.unsubscribe_all()
        pubnub.stop()


MODES = ("bare listener", "rxpresence")


def measure_client_cpu(
    server: ServerProcess, events: int, rounds: int, progress: Any
) -> dict[str, list[float]]:
    """CPU seconds per event of each mode, per round (see the module docstring).

    Args:
        server: A server replaying ``events`` events on :data:`REPLAY_CHANNEL`.
        events: How many events the replay holds.
        rounds: Rounds; each runs both modes, in alternating order.
        progress: Called with a line of progress.
    """
    out: dict[str, list[float]] = {mode: [] for mode in MODES}
    for r in range(rounds):
        progress(f"whole client over HTTP: round {r + 1}/{rounds}")
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            out[mode].append(_client_cpu_once(server, events, mode, r))
    return out


# -- latency ----------------------------------------------------------------------------


class _Arrival:
    """The moment an awaited change reaches the app (set from the SDK's thread)."""

    def __init__(self) -> None:
        self.uuid = ""
        self.present = False
        self.at = 0.0
        self.done = threading.Event()

    def expect(self, uuid: str, present: bool) -> None:
        self.uuid, self.present = uuid, present
        self.done.clear()

    def seen(self) -> None:
        if not self.done.is_set():
            self.at = monotonic()
            self.done.set()


class _BareListener(SubscribeCallback):  # type: ignore[misc]
    def __init__(self, arrival: _Arrival) -> None:
        self.arrival = arrival

    def presence(self, pubnub: Any, presence: Any) -> None:
        arrival = self.arrival
        if presence.uuid == arrival.uuid and (presence.event == "join") == arrival.present:
            arrival.seen()


@dataclass
class LatencyRound:
    """Seconds from injection to the app, per mode: median and 99th percentile."""

    median: dict[str, float]
    p99: dict[str, float]


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def measure_latency(
    server: ServerProcess, events: int, rounds: int, progress: Any
) -> list[LatencyRound]:
    """Latency of ``events`` events per mode and round (see the module docstring)."""
    arrivals = {mode: _Arrival() for mode in MODES}
    channels = {"bare listener": "latency-a", "rxpresence": "latency-b"}
    clients = {mode: PubNub(server.pnconfig(f"bench-latency-{i}")) for i, mode in enumerate(MODES)}
    clients["bare listener"].add_listener(_BareListener(arrivals["bare listener"]))
    hub = rxp.PresenceStreams(clients["rxpresence"], here_now=None)
    rx_arrival = arrivals["rxpresence"]

    def on_roster(roster: rxp.Roster) -> None:
        if (rx_arrival.uuid in roster) == rx_arrival.present:
            rx_arrival.seen()

    subscription = hub.roster(channels["rxpresence"]).subscribe(on_roster)
    for mode, pubnub in clients.items():
        pubnub.subscribe().channels([channels[mode]]).with_presence().execute()
    sequence = {mode: 0 for mode in MODES}

    def one(mode: str) -> float:
        n = sequence[mode]
        sequence[mode] += 1
        uuid, present = f"visitor-{n // 2}", n % 2 == 0
        arrival = arrivals[mode]
        arrival.expect(uuid, present)
        payload = {
            "action": "join" if present else "leave",
            "uuid": uuid,
            "timestamp": int(time.time()),
            "occupancy": 2 if present else 1,
        }
        at = server.inject(channels[mode], payload, held=2)
        if not arrival.done.wait(10):
            raise RuntimeError(f"{mode}: event {n} did not arrive")
        return arrival.at - at

    out: list[LatencyRound] = []
    try:
        for _ in range(10):  # connected, own joins delivered, caches warm
            for mode in MODES:
                one(mode)
        for r in range(rounds):
            progress(f"latency: round {r + 1}/{rounds}")
            seen: dict[str, list[float]] = {mode: [] for mode in MODES}
            for i in range(events):
                order = MODES if i % 2 == 0 else MODES[::-1]
                for mode in order:
                    seen[mode].append(one(mode))
            out.append(
                LatencyRound(
                    {mode: statistics.median(v) for mode, v in seen.items()},
                    {mode: _p99(v) for mode, v in seen.items()},
                )
            )
    finally:
        subscription.dispose()
        hub.close()
        for pubnub in clients.values():
            pubnub.unsubscribe_all()
            pubnub.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    from workload import Workload

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--population", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--latency-events", type=int, default=1_000)
    args = parser.parse_args(argv)
    work = Workload.build(args.population, args.events)
    total = len(work.prefill) + len(work.stream)
    replay = {
        "channel": REPLAY_CHANNEL,
        "size": args.population,
        "events": args.events,
        "mix": "uniform",
    }

    def progress(line: str) -> None:
        print(line, file=sys.stderr)

    with ServerProcess(replay=replay) as server:
        cpu = measure_client_cpu(server, total, args.rounds, progress)
        latency = measure_latency(server, args.latency_events, args.rounds, progress)
    ratios = [rx / bare for rx, bare in zip(cpu["rxpresence"], cpu["bare listener"], strict=True)]
    for mode in MODES:
        per_event = statistics.median(cpu[mode])
        print(f"{mode}: {per_event * 1e6:.1f} us CPU per event ({1 / per_event:,.0f} events/s)")
    print(f"rxpresence / bare listener: {statistics.median(ratios):.3f} (median of {len(ratios)})")
    for kind in ("median", "p99"):
        values = {m: [getattr(r, kind)[m] for r in latency] for m in MODES}
        line = ", ".join(f"{m} {statistics.median(v) * 1e3:.2f} ms" for m, v in values.items())
        print(f"latency {kind}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
