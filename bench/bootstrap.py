"""Bootstrap: the roster of a channel with many occupants, through paged here-now.

The local presence server (in a child process, :class:`server.ServerProcess`) holds a
channel of ``occupants`` uuids. A sync ``PubNub`` client in this process then gets the
full membership two ways, in alternating order:

* **the SDK alone**: the SDK's own ``here_now`` calls, page after page of 1,000 uuids
  with their state (``include_state``, as rxpresence asks), collected into a dict
  uuid -> state: what an app writes by hand;
* **rxpresence**: ``PresenceStreams(pubnub).roster(channel)`` and a subscriber waiting
  for the first roster holding every occupant.

Time is wall time from the first call to the full result. Memory is the peak traced by
tracemalloc over the same, each run with tracing started just before it (the client
already built), so it counts what the run allocated and nothing the server did.
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pubnub.pubnub import PubNub
from server import ServerProcess

import rxpresence as rxp

BOOTSTRAP_CHANNEL = "crowd"
PAGE = 1_000
_WAIT = 300.0


def sdk_pages(pubnub: Any, channel: str) -> dict[str, Any]:
    """Every occupant of ``channel`` and its state, by the SDK's paged ``here_now``."""
    occupants: dict[str, Any] = {}
    offset = 0
    while True:
        call = (
            pubnub.here_now()
            .channels([channel])
            .include_uuids(True)
            .include_state(True)
            .limit(PAGE)
        )
        if offset:
            call = call.offset(offset)
        data = call.sync().result.channels[0]
        for occupant in data.occupants:
            occupants[occupant.uuid] = occupant.state
        offset += len(data.occupants)
        if len(data.occupants) < PAGE or offset >= int(data.occupancy):
            return occupants


def rx_roster(pubnub: Any, channel: str, occupants: int) -> rxp.Roster:
    """The first roster of ``channel`` from ``PresenceStreams`` holding every occupant."""
    full: list[rxp.Roster] = []
    errors: list[rxp.ErrorReport] = []
    done = threading.Event()

    def on_roster(roster: rxp.Roster) -> None:
        if len(roster) >= occupants and not full:
            full.append(roster)
            done.set()

    def on_error(report: rxp.ErrorReport) -> None:
        errors.append(report)
        done.set()

    hub = rxp.PresenceStreams(pubnub)
    try:
        hub.errors.subscribe(on_error)
        hub.roster(channel).subscribe(on_roster)
        if not done.wait(_WAIT) or errors:
            raise RuntimeError(f"no full roster of {channel!r}: {errors or 'timed out'}")
        return full[0]
    finally:
        hub.close()


@dataclass
class BootstrapResult:
    occupants: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_bytes: dict[str, list[int]] = field(default_factory=dict)


MODES = ("SDK alone", "rxpresence")


def measure_bootstrap(
    server: ServerProcess,
    occupants: int,
    rounds: int,
    memory_rounds: int,
    progress: Callable[[str], None],
    budget: float = float("inf"),
    least: int = 3,
) -> BootstrapResult:
    """Time and peak memory of both ways, alternating (see the module docstring).

    Args:
        server: A server whose :data:`BOOTSTRAP_CHANNEL` holds ``occupants`` uuids.
        occupants: How many.
        rounds: Timed rounds, each running both ways.
        memory_rounds: Rounds traced by tracemalloc (slower: timed apart).
        progress: Called with a line of progress.
        budget: Seconds after which no further timed round starts, once ``least``
            rounds are done: a slow server (today's sorts every occupant for every
            page) must not stretch the whole run.
        least: Timed rounds run whatever the budget.
    """
    pubnub = PubNub(server.pnconfig("bench-bootstrap"))
    runs: dict[str, Callable[[], Any]] = {
        "SDK alone": lambda: sdk_pages(pubnub, BOOTSTRAP_CHANNEL),
        "rxpresence": lambda: rx_roster(pubnub, BOOTSTRAP_CHANNEL, occupants),
    }
    result = BootstrapResult(occupants, {m: [] for m in MODES}, {m: [] for m in MODES})
    started = time.perf_counter()
    try:
        for r in range(rounds):
            if r >= least and time.perf_counter() - started > budget:
                break
            progress(f"bootstrap of {occupants:,}: round {r + 1}/{rounds}")
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                gc.collect()
                start = time.perf_counter()
                got = runs[mode]()
                result.seconds[mode].append(time.perf_counter() - start)
                if len(got) != occupants:
                    raise RuntimeError(f"{mode}: {len(got):,} of {occupants:,} occupants")
                del got
        for r in range(memory_rounds):
            progress(f"bootstrap of {occupants:,}, traced: round {r + 1}/{memory_rounds}")
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                gc.collect()
                tracemalloc.start()
                try:
                    got = runs[mode]()
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                result.peak_bytes[mode].append(peak)
                del got
    finally:
        pubnub.stop()
    return result
