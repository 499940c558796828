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

from .._argtypes import count, host, non_negative_count, port, positive_seconds
from .._guardrails import is_loopback_host
from ._inprocess import LocalPresenceServer, is_wildcard_host
from ._logs import NonBlockingStderr
from ._settings import ServerSettings

__all__ = [
    "add_serve_arguments",
    "SERVE_USAGE",
    "banner",
    "build_parser",
    "main",
    "run_serve",
    "serve_warnings",
    "settings_from_args",
]

_DEFAULTS = ServerSettings()
_LOG_LEVELS = ("debug", "info", "warning", "error")
SERVE_USAGE = "%(prog)s [options]  (--help lists them)"
"""The usage line of ``serve``: short, so an error in an option reads as two lines."""


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to a parser.

    Every value is checked as it is parsed: a bad one ends the command with argparse's
    one-line error naming the option (exit status 2).

    Args:
        parser: The parser (or subparser) to extend.
    """
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host",
        type=host,
        default="127.0.0.1",
        help="interface to bind (default: 127.0.0.1, loopback only; the server has no auth)",
    )
    net.add_argument(
        "--port", type=port, default=8090, help="port to bind, 0 for a free one (default: 8090)"
    )
    net.add_argument(
        "--backlog",
        dest="listen_backlog",
        type=count,
        default=_DEFAULTS.listen_backlog,
        metavar="N",
        help="connections queued before they are accepted; the OS caps it "
        "(Linux: net.core.somaxconn) (default: %(default)s)",
    )
    presence = parser.add_argument_group("presence (defaults are PubNub's)")
    presence.add_argument(
        "--hold-timeout",
        type=positive_seconds,
        default=_DEFAULTS.hold_timeout,
        metavar="SECONDS",
        help="how long an idle subscribe long poll is held (default: %(default)s)",
    )
    presence.add_argument(
        "--default-presence-timeout",
        dest="presence_timeout",
        type=positive_seconds,
        default=_DEFAULTS.presence_timeout,
        metavar="SECONDS",
        help="presence timeout of a client that declares none (no heartbeat value); a client "
        "declaring heartbeat=N gets N. Keep it above --hold-timeout, or clients without "
        "heartbeats time out between two long polls (default: %(default)s)",
    )
    # The option's earlier name, kept working for existing scripts.
    presence.add_argument(
        "--presence-timeout",
        dest="presence_timeout",
        type=positive_seconds,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    presence.add_argument(
        "--announce-max",
        type=non_negative_count,
        default=_DEFAULTS.announce_max,
        metavar="N",
        help="occupancy above which a channel switches to interval events (default: %(default)s)",
    )
    presence.add_argument(
        "--interval",
        type=positive_seconds,
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
        type=count,
        default=_DEFAULTS.delta_limit,
        metavar="BYTES",
        help="delta size above which here_now_refresh is sent instead (default: %(default)s)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-request-bytes",
        type=count,
        default=_DEFAULTS.max_request_bytes,
        metavar="BYTES",
        help="largest URL and body (default: %(default)s)",
    )
    limits.add_argument(
        "--max-state-bytes",
        type=count,
        default=_DEFAULTS.max_state_bytes,
        metavar="BYTES",
        help="largest presence state as JSON (default: %(default)s)",
    )
    limits.add_argument(
        "--max-channels",
        dest="max_channels_per_request",
        type=count,
        default=_DEFAULTS.max_channels_per_request,
        metavar="N",
        help="most channels and groups per request (default: %(default)s)",
    )
    limits.add_argument(
        "--max-held-polls",
        dest="max_held_polls_per_client",
        type=count,
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
        listen_backlog=args.listen_backlog,
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
    stopping = threading.Event()
    # Signal handlers first: a SIGTERM that arrives while the server starts or prints
    # its banner must still stop it cleanly.
    restore_signals = _install_signal_handlers(stopping)
    restore_logging = _configure_logging(args.log_level)
    try:
        for warning in serve_warnings(args.host, settings):
            print(f"serve: warning: {warning}", file=sys.stderr)
        return _serve_until_stopped(
            LocalPresenceServer(settings, host=args.host, port=args.port), stopping
        )
    finally:
        restore_logging()
        restore_signals()


def serve_warnings(bind_host: str, settings: ServerSettings) -> list[str]:
    """What ``serve`` warns about before starting: settings that surprise users.

    Args:
        bind_host: The interface to bind.
        settings: The server's settings.

    Returns:
        One line per warning (empty if none).
    """
    warnings: list[str] = []
    if not is_loopback_host(bind_host):
        warnings.append(
            f"binding {bind_host}: the server has no authentication, anyone who can "
            "reach this port can use it"
        )
    if settings.presence_timeout <= settings.hold_timeout:
        warnings.append(
            f"the default presence timeout ({settings.presence_timeout:g} s) is not above the "
            f"hold timeout ({settings.hold_timeout:g} s): a client that declares no timeout "
            "and sends no heartbeats (rxpresence watch, for one) times out between two long "
            "polls; let clients declare short timeouts instead (set_presence_timeout)"
        )
    return warnings


def _serve_until_stopped(server: LocalPresenceServer, stopping: threading.Event) -> int:
    try:
        server.start()
    except RuntimeError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    try:
        print(banner(server), flush=True)
        while not stopping.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("rxpresence presence server stopped", flush=True)
    return 0


def banner(server: LocalPresenceServer) -> str:
    """What ``serve`` prints once listening: where to point clients, and how to stop.

    Args:
        server: The running server.

    Returns:
        The lines, joined.
    """
    lines = [f"rxpresence presence server listening on {server.url}"]
    if is_wildcard_host(server.host):
        lines[0] += f" (bound to {server.host}: every interface)"
        lines.append(
            "  from other machines, use this machine's address instead of "
            f"{server.origin.rsplit(':', 1)[0]}"
        )
    lines.append(
        f"  point the SDK at it with: config.origin = {server.origin!r}; config.ssl = False"
    )
    lines.append("  stop with Ctrl-C")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser of ``python -m rxpresence.server``.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="python -m rxpresence.server",
        usage=SERVE_USAGE,
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


def _install_signal_handlers(stopping: threading.Event) -> Callable[[], None]:
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
