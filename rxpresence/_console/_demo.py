"""The ``demo`` command: a local server, a cast of SDK clients, and the live console.

The order matters: the server starts, then the watcher (its own PubNub client with
presence, and a :class:`~rxpresence.PresenceStreams` hub) subscribes and waits for
its own joins, and only then does the cast arrive, so the watcher sees every join.
After ``duration`` seconds (or Ctrl-C) the cast stops changing anything, the
watcher's rosters are compared with the server's here-now until they match or a
settle window passes, and the summary is printed.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from pubnub.pubnub import PubNub
from rich.console import Console

from rxpresence import PresenceStreams
from rxpresence.server import LocalPresenceServer, ServerSettings

from .._words import quantity
from ._bind import Binding
from ._cast import BUSY, ROOMS, Cast, plan_cast
from ._model import DEFAULT_GRACE, ConsoleModel, ViewHeader
from ._output import Display, LiveDisplay, PlainDisplay, quiet_sdk_logging, run_loop
from ._summary import RosterCheck, Summary, compare, print_summary, wait_for_match

__all__ = ["CHANNELS", "DemoOptions", "demo_settings", "run_demo"]

CHANNELS = (*ROOMS, BUSY)
"""The channels of the demo, in the order they are shown."""
WATCHER = "console"
"""The watcher's uuid."""
PRESENCE_TIMEOUT = 6
"""Seconds without a heartbeat before the server times a client out."""
HEARTBEAT_INTERVAL = PRESENCE_TIMEOUT / 2 - 1
"""Seconds between the cast's heartbeats (the SDK's ``T/2 - 1`` for a timeout of T)."""
RETURN_AFTER = PRESENCE_TIMEOUT + 1.5
"""Seconds from ``fran``'s drop to her return: enough for the server to time her out,
and back soon enough after that timeout for the default grace period to hide it."""
_SETTINGS = ServerSettings(
    hold_timeout=5.0,
    presence_timeout=PRESENCE_TIMEOUT,
    announce_max=10,
    interval=2.0,
    sweep_interval=0.1,
)
_JOIN_TIMEOUT = 10.0  # longest wait for the watcher's own joins
_TICK = 0.25


def demo_settings() -> ServerSettings:
    """The local server's settings for the demo.

    Short timeouts so that a timeout shows within seconds, and an ``announce_max``
    the stadium's crowd stays above.

    Returns:
        The settings.
    """
    return _SETTINGS


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Options of the ``demo`` command.

    Attributes:
        duration: Seconds the cast plays.
        seed: Seed of the cast's choices; a random one if None.
        grace: Flicker grace period in seconds.
        port: Port of the local server; 0 for a free one.
        output: ``"live"``, ``"plain"``, or ``"auto"`` (live on a terminal).
    """

    duration: float = 30.0
    seed: int | None = None
    grace: float = DEFAULT_GRACE
    port: int = 0
    output: Literal["auto", "live", "plain"] = "auto"


def run_demo(
    options: DemoOptions,
    *,
    console: Console | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo and print its summary.

    Args:
        options: The options.
        console: Where the view and the summary go; stdout by default.
        err: Where startup errors go; stderr by default.

    Returns:
        0 if every roster matched the server, 1 if one did not, 2 if the server
        could not start.
    """
    console = console or Console()
    err = err or sys.stderr
    seed = options.seed if options.seed is not None else random.randrange(10_000)
    live = options.output == "live" or (options.output == "auto" and console.is_terminal)
    quiet_sdk_logging()
    server = LocalPresenceServer(_SETTINGS, port=options.port)
    try:
        server.start()
    except RuntimeError as exc:
        print(f"rxpresence demo: {exc}", file=err)
        return 2
    try:
        run = _DemoRun(server, options, seed, console, live)
        try:
            summary = run.play()
        finally:
            run.close()
    finally:
        server.stop()
    print_summary(console, summary)
    return 0 if summary.ok else 1


class _DemoRun:
    """One run of the demo: the watcher, the display and the cast, and their teardown."""

    def __init__(
        self,
        server: LocalPresenceServer,
        options: DemoOptions,
        seed: int,
        console: Console,
        live: bool,
    ) -> None:
        self.server = server
        self.options = options
        self.seed = seed
        self.console = console
        self.live = live
        self.notes: list[str] = []
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.watcher = PubNub(self._config(WATCHER))
        self.presence = PresenceStreams(self.watcher)
        self.model = ConsoleModel(options.grace, record=not live)
        self.binding = Binding(self.presence, self.model, CHANNELS)
        self.display: Display | None = None
        self.cast: Cast | None = None

    def _config(self, uuid: str) -> Any:
        return self.server.pnconfig(
            uuid,
            presence_timeout=PRESENCE_TIMEOUT,
            enable_presence_heartbeat=True,
            # Locked configuration: the SDK's recommended mode (and no deprecation warning).
            disable_config_locking=False,
        )

    def _connect(self, uuid: str) -> Any:
        return PubNub(self._config(uuid))

    def _present(self, uuid: str, channels: Iterable[str]) -> bool:
        return any(uuid in self.server.occupants(c) for c in channels)

    def _tick(self) -> None:
        if self.display is not None:
            self.display.tick()

    def _pause(self, seconds: float) -> None:
        self._tick()
        self.stop.wait(seconds)

    def play(self) -> Summary:
        """Run until the duration ends or Ctrl-C, settle, and summarise."""
        options = self.options
        interrupted = False
        settled: bool | None = None
        try:
            self._open_display()
            self.watcher.subscribe().channels(list(CHANNELS)).with_presence().execute()
            if self._wait_for_own_joins():
                plan = plan_cast(
                    self.seed,
                    options.duration,
                    announce_max=_SETTINGS.announce_max,
                    return_after=RETURN_AFTER,
                )
                self.cast = Cast(plan, self._connect, self._present, self.notes.append)
                self.cast.start()
                interrupted = run_loop(
                    self._tick,
                    until=time.monotonic() + options.duration,
                    stop=self.stop,
                    period=_TICK,
                )
            else:
                self.notes.append(
                    f"the watcher did not see its own joins within {_JOIN_TIMEOUT:.0f} s"
                )
        except KeyboardInterrupt:
            interrupted = True
        elapsed = time.monotonic() - self.started
        checks: list[RosterCheck] = []
        try:
            if self.cast is not None:
                self.cast.stop()
            if isinstance(self.display, LiveDisplay):
                self.display.set_header(self._header(("checking rosters against the server",)))
            timeout = 2 * _SETTINGS.interval + 3.0
            checks, settled = wait_for_match(self._check, timeout, wait=self._pause)
        except KeyboardInterrupt:
            interrupted = True
            checks = self._check()
            settled = all(c.matches for c in checks)
        finally:
            self._close_display()
        if settled is False:
            self.notes.append("rosters still differed when the settle window ended")
        facts: tuple[str, ...] = ()
        if self.cast is not None:
            cast = self.cast
            steps = quantity(cast.steps_done, "step")
            facts = (f"cast: {steps} played by {quantity(len(cast.actors), 'SDK client')}",)
        return Summary(
            title="rxpresence demo",
            elapsed=elapsed,
            counts=self.model.counts(),
            flickers=self.model.flickers,
            grace=options.grace,
            checks=tuple(checks),
            seed=self.seed,
            interrupted=interrupted,
            facts=facts,
            notes=tuple(self.notes),
        )

    def _check(self) -> list[RosterCheck]:
        return [compare(self.presence.current(c), self.server.occupants(c)) for c in CHANNELS]

    def _wait_for_own_joins(self) -> bool:
        deadline = time.monotonic() + _JOIN_TIMEOUT
        while not all(WATCHER in self.presence.current(c) for c in CHANNELS):
            if time.monotonic() > deadline:
                return False
            self._pause(0.05)
        return True

    def _open_display(self) -> None:
        options = self.options
        if self.live:
            self.display = LiveDisplay(self.console, self.model, self._header())
        else:
            self.console.print(
                f"rxpresence demo: local server {self.server.origin}, seed {self.seed}, "
                f"{options.duration:g} s, grace {options.grace:g} s; Ctrl-C to stop",
                highlight=False,
                soft_wrap=True,
            )
            self.display = PlainDisplay(self.console.file, self.model, self.started_wall)

    def _header(self, notes: tuple[str, ...] = ()) -> ViewHeader:
        return ViewHeader(
            "rxpresence demo",
            f"local server {self.server.origin}",
            (f"seed {self.seed}", *notes),
            self.options.duration,
        )

    def _close_display(self) -> None:
        display, self.display = self.display, None
        if display is not None:
            display.close()

    def close(self) -> None:
        """Stop the cast's clients, the watcher and the hub."""
        if self.cast is not None:
            self.cast.close()
        self.binding.close()
        self.presence.close()
        self.watcher.stop()
