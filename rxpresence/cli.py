"""The ``rxpresence`` command: ``demo``, ``watch`` and ``serve``.

``rxpresence demo`` shows the live console against a local server and a simulated
cast; ``rxpresence watch CHANNEL...`` shows it for a real keyset (or a local server
with ``--origin``); ``rxpresence serve`` runs the local presence server. See
``docs/console.md``.

Exit status: 0 on success, 1 when the demo's rosters did not match the server (or
the server's port cannot be bound), 2 for a usage or setup error (bad arguments,
missing keys, unreachable origin, access denied), 130 when interrupted during
shutdown.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from . import __version__
from ._argtypes import port, positive_seconds, seconds
from ._console._model import DEFAULT_GRACE

__all__ = ["build_parser", "main"]

_DEMO_EPILOG = """\
examples:
  rxpresence demo                      # 30 s, a random cast
  rxpresence demo --duration 60 --seed 7
  rxpresence demo --plain | less       # plain lines instead of the live view

The summary compares the console's final rosters with the server's here-now.
Exit status: 0 if every roster matched, 1 if one did not, 2 for bad arguments.
"""

_WATCH_EPILOG = """\
examples:
  export PUBNUB_SUBSCRIBE_KEY=sub-c-...
  rxpresence watch lobby support               # live view until Ctrl-C
  rxpresence watch 'rooms.*' --grace 20        # a wildcard subscription
  rxpresence watch --group all-rooms --json | jq 'select(.type == "roster")'
  rxpresence watch lobby --origin 127.0.0.1:8090   # a local server (rxpresence serve)

Keys come from --subscribe-key/--publish-key/--user-id, else from
PUBNUB_SUBSCRIBE_KEY, PUBNUB_PUBLISH_KEY and PUBNUB_USER_ID. With --origin, ssl is
off and the keys default to "demo".

Output: the live view on a terminal, JSON lines otherwise (one object per event,
"type": "event", and per roster change, "type": "roster").
Exit status: 0 after Ctrl-C or --duration, 2 for a setup error (missing keys,
unreachable origin, access denied, bad arguments).
"""

_SERVE_EPILOG = """\
examples:
  rxpresence serve                              # http://127.0.0.1:8090
  rxpresence serve --announce-max 5             # interval mode above 5 occupants

Clients that declare a presence timeout (set_presence_timeout) get theirs; the
default applies to the others (rxpresence watch among them) and stays above the
hold timeout, or they would time out between two long polls.

Point the SDK at it with config.origin = "127.0.0.1:8090"; config.ssl = False,
or watch it with: rxpresence watch CHANNEL --origin 127.0.0.1:8090
"""


_LONGEST_SECONDS = 86_400.0
"""Longest demo and grace period accepted: a day (the demo plans its cast up front,
and a grace timer far in the future overflows the scheduler's clock)."""


def _seconds_up_to_a_day(text: str) -> float:
    """An argparse type: a number of seconds >= 0 and at most a day (``--grace``)."""
    value = seconds(text)
    if value > _LONGEST_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be at most {_LONGEST_SECONDS:.0f} seconds (a day), got {text!r}"
        )
    return value


def _positive_seconds_up_to_a_day(text: str) -> float:
    """An argparse type: more than 0 seconds and at most a day (the demo's ``--duration``)."""
    positive_seconds(text)
    return _seconds_up_to_a_day(text)


class _CommandParser(argparse.ArgumentParser):
    """The parser of one command: reports unknown arguments with that command's usage.

    argparse parses a subcommand's arguments with ``parse_known_args`` and hands what
    it did not recognise back to the top-level parser, whose error then shows
    ``rxpresence``'s usage instead of the command's (``rxpresence watch lobby --foo``).
    """

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """Parse like argparse does, but fail on anything left over."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rxpresence`` command.

    Returns:
        The parser, with the ``demo``, ``watch`` and ``serve`` subcommands.
    """
    parser = argparse.ArgumentParser(
        prog="rxpresence",
        description="Who is online, as ReactiveX streams: a live PubNub presence console.",
        epilog="Run 'rxpresence COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"rxpresence {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    commands.required = True
    formatter = argparse.RawDescriptionHelpFormatter

    demo = commands.add_parser(
        "demo",
        help="the live console on a local server with simulated clients",
        description="Start a local presence server and a cast of simulated PubNub clients, "
        "and watch their presence live. No PubNub account needed.",
        epilog=_DEMO_EPILOG,
        formatter_class=formatter,
    )
    demo.add_argument(
        "--duration",
        type=_positive_seconds_up_to_a_day,
        default=30.0,
        metavar="SECONDS",
        help="how long the cast plays (default: 30)",
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="seed of the cast's choices, to repeat a run"
    )
    demo.add_argument(
        "--grace",
        type=_seconds_up_to_a_day,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="flicker grace period: timeouts followed by a rejoin within it are hidden "
        f"(default: {DEFAULT_GRACE:g}; 0 turns it off)",
    )
    demo.add_argument(
        "--port", type=port, default=0, help="port of the local server (default: a free one)"
    )
    demo.add_argument(
        "--plain", action="store_true", help="plain lines even on a terminal (no live view)"
    )

    watch = commands.add_parser(
        "watch",
        help="the live console for a PubNub keyset or a local server",
        description="Watch presence on channels, wildcards and channel groups.",
        epilog=_WATCH_EPILOG,
        formatter_class=formatter,
    )
    watch.add_argument(
        "channels", nargs="*", metavar="CHANNEL", help="channels or wildcards (a.*) to watch"
    )
    watch.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        metavar="GROUP",
        help="a channel group to watch (repeatable)",
    )
    keys = watch.add_argument_group("keys and origin")
    keys.add_argument("--subscribe-key", metavar="KEY", help="default: $PUBNUB_SUBSCRIBE_KEY")
    keys.add_argument("--publish-key", metavar="KEY", help="default: $PUBNUB_PUBLISH_KEY")
    keys.add_argument(
        "--user-id", metavar="UUID", help="the watcher's uuid (default: $PUBNUB_USER_ID or random)"
    )
    keys.add_argument(
        "--origin",
        metavar="HOST:PORT",
        help="a PubNub-compatible server, e.g. 'rxpresence serve' (ssl off; keys default to demo)",
    )
    watch.add_argument(
        "--grace",
        type=_seconds_up_to_a_day,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"flicker grace period for rosters (default: {DEFAULT_GRACE:g}; 0 turns it off)",
    )
    watch.add_argument(
        "--duration",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C)",
    )
    output = watch.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        help="JSON lines (the default when stdout is not a terminal)",
    )
    output.add_argument(
        "--plain", dest="output", action="store_const", const="plain", help="plain text lines"
    )
    output.add_argument(
        "--live",
        dest="output",
        action="store_const",
        const="live",
        help="the live view even when stdout is not a terminal",
    )
    watch.set_defaults(output="auto")

    from .server._cli import SERVE_USAGE, add_serve_arguments

    serve = commands.add_parser(
        "serve",
        usage=SERVE_USAGE,
        help="run the local PubNub-compatible presence server",
        description="Run a local PubNub-compatible presence server until Ctrl-C.",
        epilog=_SERVE_EPILOG,
        formatter_class=formatter,
    )
    add_serve_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rxpresence`` command.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    restore = _sigterm_as_interrupt()
    try:
        command: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
        return command(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error
        _silence_stdout()
        return 0
    finally:
        restore()


def _run_demo(args: argparse.Namespace) -> int:
    from ._console._demo import DemoOptions, run_demo

    options = DemoOptions(
        duration=args.duration,
        seed=args.seed,
        grace=args.grace,
        port=args.port,
        output="plain" if args.plain else "auto",
    )
    return run_demo(options)


def _run_watch(args: argparse.Namespace) -> int:
    from ._console._watch import WatchError, WatchOptions, run_watch

    options = WatchOptions(
        channels=tuple(args.channels),
        groups=tuple(args.groups),
        origin=args.origin,
        subscribe_key=args.subscribe_key,
        publish_key=args.publish_key,
        user_id=args.user_id,
        grace=args.grace,
        output=args.output,
        duration=args.duration,
    )
    try:
        return run_watch(options)
    except WatchError as exc:
        print(f"rxpresence watch: {exc}", file=sys.stderr)
        return 2


def _run_serve(args: argparse.Namespace) -> int:
    from .server._cli import run_serve

    return run_serve(args)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _run_demo,
    "watch": _run_watch,
    "serve": _run_serve,
}


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM stop a command like Ctrl-C does; returns a function undoing it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
