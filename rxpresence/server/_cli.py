"""The ``serve`` command: run the local presence server until Ctrl-C or SIGTERM.

``add_serve_arguments`` and ``run_serve`` plug into any ``argparse`` command line (the
``rxpresence`` command's ``serve`` subcommand uses them); ``main`` is the stand-alone
entry point behind ``python -m rxpresence.server``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from .._guardrails import is_loopback_host
from ._inprocess import LocalPresenceServer
from ._logs import NonBlockingStderr
from ._settings import ServerSettings

__all__ = ["add_serve_arguments", "build_parser", "main", "run_serve", "settings_from_args"]

_DEFAULTS = ServerSettings()
_LOG_LEVELS = ("debug", "info", "warning", "error")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to a parser.

    Args:
        parser: The parser (or subparser) to extend.
    """
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: 127.0.0.1, loopback only; the server has no auth)",
    )
    net.add_argument(
        "--port", type=int, default=8090, help="port to bind, 0 for a free one (default: 8090)"
    )
    presence = parser.add_argument_group("presence (defaults are PubNub's)")
    presence.add_argument(
        "--hold-timeout",
        type=float,
        default=_DEFAULTS.hold_timeout,
        metavar="SECONDS",
        help="how long an idle subscribe long poll is held (default: %(default)s)",
    )
    presence.add_argument(
        "--presence-timeout",
        type=float,
        default=_DEFAULTS.presence_timeout,
        metavar="SECONDS",
        help="presence timeout when a client sends no heartbeat value (default: %(default)s)",
    )
    presence.add_argument(
        "--announce-max",
        type=int,
        default=_DEFAULTS.announce_max,
        metavar="N",
        help="occupancy above which a channel switches to interval events (default: %(default)s)",
    )
    presence.add_argument(
        "--interval",
        type=float,
        default=_DEFAULTS.interval,
        metavar="SECONDS",
        help="seconds between interval events (default: %(default)s)",
    )
    presence.add_argument(
        "--no-deltas",
        dest="presence_deltas",
        action="store_false",
        help="send interval events without join/leave/timeout arrays",
    )
    presence.add_argument(
        "--delta-limit",
        type=int,
        default=_DEFAULTS.delta_limit,
        metavar="BYTES",
        help="delta size above which here_now_refresh is sent instead (default: %(default)s)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-request-bytes",
        type=int,
        default=_DEFAULTS.max_request_bytes,
        metavar="BYTES",
        help="largest URL and body (default: %(default)s)",
    )
    limits.add_argument(
        "--max-state-bytes",
        type=int,
        default=_DEFAULTS.max_state_bytes,
        metavar="BYTES",
        help="largest presence state as JSON (default: %(default)s)",
    )
    limits.add_argument(
        "--max-channels",
        dest="max_channels_per_request",
        type=int,
        default=_DEFAULTS.max_channels_per_request,
        metavar="N",
        help="most channels and groups per request (default: %(default)s)",
    )
    limits.add_argument(
        "--max-held-polls",
        dest="max_held_polls_per_client",
        type=int,
        default=_DEFAULTS.max_held_polls_per_client,
        metavar="N",
        help="most long polls held at once per uuid (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        choices=_LOG_LEVELS,
        default="info",
        help="log level; 'debug' logs every request (default: info)",
    )


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Build settings from parsed ``serve`` arguments.

    Args:
        args: The namespace ``add_serve_arguments`` options were parsed into.

    Returns:
        The settings.

    Raises:
        ValueError: If a value is out of range.
    """
    return ServerSettings(
        hold_timeout=args.hold_timeout,
        presence_timeout=args.presence_timeout,
        announce_max=args.announce_max,
        interval=args.interval,
        presence_deltas=args.presence_deltas,
        delta_limit=args.delta_limit,
        max_request_bytes=args.max_request_bytes,
        max_state_bytes=args.max_state_bytes,
        max_channels_per_request=args.max_channels_per_request,
        max_held_polls_per_client=args.max_held_polls_per_client,
    )


def run_serve(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C or SIGTERM.

    Args:
        args: Parsed ``serve`` arguments.

    Returns:
        The exit status: 0 after a clean stop, 2 for bad settings, 1 if the port
        cannot be bound.
    """
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    restore_logging = _configure_logging(args.log_level)
    if not is_loopback_host(args.host):
        print(
            f"serve: warning: binding {args.host}: the server has no authentication, "
            "anyone who can reach this port can use it",
            file=sys.stderr,
        )
    server = LocalPresenceServer(settings, host=args.host, port=args.port)
    try:
        server.start()
    except RuntimeError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        restore_logging()
        return 1
    print(
        f"rxpresence presence server listening on {server.url}\n"
        f"  point the SDK at it with: config.origin = {server.origin!r}; config.ssl = False\n"
        "  stop with Ctrl-C",
        flush=True,
    )
    stopping = threading.Event()
    restore = _install_signal_handlers(stopping)
    try:
        while not stopping.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        restore()
        restore_logging()
    print("rxpresence presence server stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser of ``python -m rxpresence.server``.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="python -m rxpresence.server",
        description="Run a local PubNub-compatible presence server.",
    )
    add_serve_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the server.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The exit status.
    """
    return run_serve(build_parser().parse_args(argv))


def _configure_logging(level_name: str) -> Callable[[], None]:
    """Set the server's log level and, unless logging is set up already, log to stderr.

    Returns:
        A function undoing it.
    """
    level = getattr(logging, level_name.upper(), logging.INFO)
    logging.getLogger("rxpresence.server").setLevel(level)
    root = logging.getLogger()
    if root.handlers:
        return lambda: None
    # Every logger (aiohttp's and asyncio's too) goes through a handler that never
    # blocks: a server whose stderr is a pipe nobody reads must not freeze.
    handler = NonBlockingStderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)

    def restore() -> None:
        root.removeHandler(handler)
        handler.close()

    return restore


def _install_signal_handlers(stopping: threading.Event) -> Any:
    """Make SIGINT and SIGTERM set ``stopping``; returns a function restoring the old ones."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be set from the main thread

    def handler(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
