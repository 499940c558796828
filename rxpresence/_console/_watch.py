"""The ``watch`` command: the live console on a real keyset or a local server.

Before anything is shown, the setup is checked so that a mistake costs one line, not
a traceback: keys present, user id and channel names valid, the origin reachable (a
``time`` call), and the subscribe request accepted (the SDK's first status: a 403
means access denied). Each failure raises :class:`WatchError`, which the command
prints as ``rxpresence watch: ...`` with exit status 2.

On exit the watcher leaves its channels (it joined them by subscribing with
presence), synchronously, so that the others do not see it time out minutes later.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from pubnub.endpoints.presence.leave import Leave
from pubnub.exceptions import PubNubException
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub import PubNub
from rich.console import Console

from rxpresence import ConnectionStatus, PresenceStreams

from ._bind import Binding
from ._model import DEFAULT_GRACE, ConsoleModel, ViewHeader
from ._output import Display, JsonDisplay, LiveDisplay, PlainDisplay, quiet_sdk_logging, run_loop
from ._summary import Summary, compare, print_summary

__all__ = ["WatchError", "WatchOptions", "make_config", "run_watch"]

_STATUS_TIMEOUT = 10.0  # longest wait for the subscribe request's first status
_REQUEST_TIMEOUT = 5  # connect and non-subscribe request timeout, seconds
_MAX_NAME = 92
_TICK = 0.1


class WatchError(Exception):
    """The watch cannot start or go on; the message says what to set or check."""


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """Options of the ``watch`` command.

    Attributes:
        channels: Channels and wildcard patterns (``a.*``) to watch.
        groups: Channel groups to watch.
        origin: ``host:port`` of a PubNub-compatible server (ssl off), or None for
            PubNub itself.
        subscribe_key: The subscribe key, else ``PUBNUB_SUBSCRIBE_KEY``.
        publish_key: The publish key, else ``PUBNUB_PUBLISH_KEY``.
        user_id: The watcher's uuid, else ``PUBNUB_USER_ID``, else a random one.
        grace: Flicker grace period in seconds (0: none).
        output: ``"live"``, ``"plain"``, ``"json"``, or ``"auto"`` (live on a
            terminal, JSON otherwise).
        duration: Seconds to watch, or None until Ctrl-C.
    """

    channels: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    origin: str | None = None
    subscribe_key: str | None = None
    publish_key: str | None = None
    user_id: str | None = None
    grace: float = DEFAULT_GRACE
    output: Literal["auto", "live", "plain", "json"] = "auto"
    duration: float | None = None


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise WatchError(f"an empty {kind} name was given")
    if len(name) > _MAX_NAME:
        raise WatchError(f"{kind} name {name[:20]!r}... is longer than {_MAX_NAME} characters")
    if "," in name or any(c.isspace() or not c.isprintable() for c in name):
        raise WatchError(f"invalid {kind} name {name!r}: no commas, spaces or control characters")
    if name.endswith("-pnpres"):
        raise WatchError(f"name the channel itself, not its presence channel: {name!r}")


def make_config(options: WatchOptions, env: Mapping[str, str]) -> PNConfiguration:
    """The SDK configuration for a watch, after checking the options.

    Args:
        options: The options.
        env: The environment (``PUBNUB_SUBSCRIBE_KEY``, ``PUBNUB_PUBLISH_KEY``,
            ``PUBNUB_USER_ID``).

    Returns:
        The configuration.

    Raises:
        WatchError: Something is missing or invalid; the message says what to do.
    """
    if not options.channels and not options.groups:
        raise WatchError("name at least one channel (or a channel group with --group)")
    for channel in options.channels:
        _check_name("channel", channel)
    for group in options.groups:
        _check_name("channel group", group)
    origin, ssl = _origin(options.origin)
    local = origin is not None
    subscribe_key = options.subscribe_key or env.get("PUBNUB_SUBSCRIBE_KEY") or None
    if subscribe_key is None and local:
        subscribe_key = "demo"
    if subscribe_key is None:
        raise WatchError(
            "no subscribe key: set PUBNUB_SUBSCRIBE_KEY or pass --subscribe-key "
            "(or --origin HOST:PORT to watch a local server)"
        )
    publish_key = options.publish_key or env.get("PUBNUB_PUBLISH_KEY") or None
    if publish_key is None and local:
        publish_key = "demo"
    user_id = (
        options.user_id or env.get("PUBNUB_USER_ID") or f"rxpresence-watch-{secrets.token_hex(3)}"
    )
    if not user_id.isascii() or not user_id.isprintable() or " " in user_id:
        raise WatchError(
            f"invalid user id {user_id!r}: use printable ASCII without spaces "
            "(--user-id or PUBNUB_USER_ID)"
        )
    if len(user_id) > _MAX_NAME:
        raise WatchError(f"user id is longer than {_MAX_NAME} characters")

    config = PNConfiguration()
    config.subscribe_key = subscribe_key
    if publish_key is not None:
        config.publish_key = publish_key
    config.user_id = user_id
    config.daemon = True
    config.connect_timeout = _REQUEST_TIMEOUT
    config.non_subscribe_request_timeout = _REQUEST_TIMEOUT
    # Leaving is done by hand on exit, synchronously (see run_watch).
    config.suppress_leave_events = True
    # Locked configuration: the SDK's recommended mode (and no deprecation warning).
    config.disable_config_locking = False
    if origin is not None:
        config.origin = origin
        config.ssl = ssl
    return config


def _origin(value: str | None) -> tuple[str | None, bool]:
    """``(origin, ssl)`` from ``--origin``: a ``host:port``, with an optional scheme."""
    if value is None:
        return None, True
    ssl = False
    origin = value.strip()
    if origin.startswith("https://"):
        origin, ssl = origin[len("https://") :], True
    elif origin.startswith("http://"):
        origin = origin[len("http://") :]
    origin = origin.rstrip("/")
    host, _, port = origin.rpartition(":") if ":" in origin else (origin, "", "")
    if not host or "/" in origin or (port and not port.isdigit()):
        raise WatchError(f"invalid --origin {value!r}: expected HOST:PORT, e.g. 127.0.0.1:8090")
    if port and not 1 <= int(port) <= 65535:
        raise WatchError(f"invalid --origin {value!r}: the port must be between 1 and 65535")
    return origin, ssl


def run_watch(
    options: WatchOptions,
    *,
    env: Mapping[str, str] | None = None,
    console: Console | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Watch presence until the duration ends or Ctrl-C.

    Args:
        options: The options.
        env: The environment; ``os.environ`` by default.
        console: The terminal for the live view and the summary; stdout by default.
        out: Where JSON and plain lines go; stdout by default.
        err: Where notices go; stderr by default.

    Returns:
        0 after a normal stop.

    Raises:
        WatchError: The watch could not start or lost access; exit status 2.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    console = console or Console(file=out)
    config = make_config(options, os.environ if env is None else env)
    mode = options.output
    if mode == "auto":
        mode = "live" if console.is_terminal else "json"
    quiet_sdk_logging()
    where = f"{config.origin}" if options.origin else "PubNub"
    pubnub = PubNub(config)
    try:
        _probe(pubnub, where)
        watch = _Watch(pubnub, options, mode == "live")
        try:
            return watch.run(mode, where, console, out, err)
        finally:
            watch.close()
    finally:
        pubnub.stop()


def _probe(pubnub: PubNub, where: str) -> None:
    """Check that the origin answers, with a ``time`` call."""
    try:
        pubnub.time().sync()
    except PubNubException as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = (
            "check --origin and that the server runs" if where != "PubNub" else "check the network"
        )
        raise WatchError(f"cannot reach {where}: {reason}; {hint}") from None


class _Watch:
    """The hub, the model, the subscription and the display of one watch."""

    def __init__(self, pubnub: PubNub, options: WatchOptions, live: bool) -> None:
        self.pubnub = pubnub
        self.options = options
        self.presence = PresenceStreams(pubnub)
        self.model = ConsoleModel(options.grace, record=not live)
        self.first_status: list[ConnectionStatus] = []
        self.denied: list[ConnectionStatus] = []
        self.stop = threading.Event()
        self.got_status = threading.Event()
        self.presence.status.subscribe(self._on_status)
        plain = [c for c in options.channels if not c.endswith(".*")]
        self.binding = Binding(self.presence, self.model, plain)
        self.subscribed = False
        self.started = time.monotonic()

    def _on_status(self, status: ConnectionStatus) -> None:
        if not self.first_status and (status.connected or status.error):
            self.first_status.append(status)
            self.got_status.set()
        if status.category == "PNAccessDeniedCategory":
            self.denied.append(status)
            self.stop.set()

    def run(self, mode: str, where: str, console: Console, out: TextIO, err: TextIO) -> int:
        """Subscribe, check the first status, then show presence until told to stop.

        Returns:
            0 after a normal stop.

        Raises:
            WatchError: The subscribe request was refused, or access was denied later.
        """
        options = self.options
        builder = self.pubnub.subscribe().with_presence()
        if options.channels:
            builder = builder.channels(list(options.channels))
        if options.groups:
            builder = builder.channel_groups(list(options.groups))
        builder.execute()
        self.subscribed = True
        self._wait_for_first_status(where)
        display = self._display(mode, where, console, out, err)
        interrupted = False
        try:
            until = None if options.duration is None else time.monotonic() + options.duration
            interrupted = run_loop(self._tick(display), until=until, stop=self.stop, period=_TICK)
        finally:
            display.close()
        if self.denied:
            raise WatchError(_denied_message())
        if mode != "json":  # JSON lines stay pure JSON: no summary
            self._print_summary(console, interrupted)
        return 0

    def _wait_for_first_status(self, where: str) -> None:
        if not self.got_status.wait(_STATUS_TIMEOUT):
            raise WatchError(
                f"no answer to the subscribe request from {where} within "
                f"{_STATUS_TIMEOUT:.0f} s; check the origin and the network"
            )
        status = self.first_status[0]
        if status.category == "PNAccessDeniedCategory":
            raise WatchError(_denied_message())
        if status.error:
            name = status.category.removeprefix("PN").removesuffix("Category")
            raise WatchError(
                f"{where} refused the subscribe request ({name}): check the subscribe key, "
                "that Presence is enabled for the keyset, and the channel names"
            )

    def _display(
        self, mode: str, where: str, console: Console, out: TextIO, err: TextIO
    ) -> Display:
        if mode == "live":
            names = [*self.options.channels, *(f"group {g}" for g in self.options.groups)]
            header = ViewHeader(
                "rxpresence watch",
                where,
                (", ".join(names),),
                self.options.duration,
            )
            return LiveDisplay(console, self.model, header)
        if mode == "plain":
            return PlainDisplay(out, self.model, time.time())
        return JsonDisplay(out, err, self.model, "rxpresence watch")

    def _tick(self, display: Display) -> Any:
        def tick() -> None:
            self.binding.attach_discovered()
            display.tick()

        return tick

    def _print_summary(self, console: Console, interrupted: bool) -> None:
        checks = tuple(compare(self.presence.current(c), None) for c in self.model.channel_names())
        summary = Summary(
            title="rxpresence watch",
            elapsed=time.monotonic() - self.started,
            counts=self.model.counts(),
            flickers=self.model.flickers,
            grace=self.options.grace,
            checks=checks,
            interrupted=interrupted,
        )
        print_summary(console, summary)

    def close(self) -> None:
        """Unsubscribe, leave the channels (synchronously), remove the listener."""
        options = self.options
        try:
            if self.subscribed and not self.denied:
                self.pubnub.unsubscribe_all()
                leave = Leave(self.pubnub)
                if options.channels:
                    leave = leave.channels([c for c in options.channels if not c.endswith(".*")])
                if options.groups:
                    leave = leave.channel_groups(list(options.groups))
                leave.sync()
        except Exception:  # leaving is a courtesy, not a requirement
            pass
        finally:
            self.binding.close()
            self.presence.close()


def _denied_message() -> str:
    return (
        "access denied (403): check the subscribe key, the auth key or token, and "
        "read access to the channels and their -pnpres channels"
    )
