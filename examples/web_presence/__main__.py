"""``python -m examples.web_presence``: the local server, a simulated crowd and the app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from aiohttp import web

from rxpresence.server import LocalPresenceServer, ServerSettings

from .app import RoomSettings, create_app
from .crowd import Crowd


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.web_presence", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="the page's port (8080)")
    parser.add_argument("--room", default="lobby", help="the channel shown (lobby)")
    parser.add_argument("--grace", type=float, default=20.0, help="grace seconds (20)")
    parser.add_argument(
        "--timeout", type=int, default=10, help="presence timeout of the people, seconds (10)"
    )
    parser.add_argument("--no-crowd", action="store_true", help="no simulated people")
    return parser.parse_args()


async def main(options: argparse.Namespace) -> None:
    """Serve the page until interrupted."""
    with LocalPresenceServer(ServerSettings(hold_timeout=20.0)) as server:
        settings = RoomSettings(
            origin=server.origin,
            subscribe_key=server.subscribe_key,
            publish_key=server.publish_key,
            room=options.room,
            grace=options.grace,
            presence_timeout=options.timeout,
        )
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        crowd = None
        try:
            await web.TCPSite(runner, "127.0.0.1", options.port).start()
            print(f"Who is online in {options.room!r}: http://127.0.0.1:{options.port}/")
            print("Ctrl-C stops.")
            if not options.no_crowd:
                crowd = asyncio.create_task(Crowd(settings).run())
            await asyncio.Event().wait()
        finally:
            if crowd is not None:
                crowd.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await crowd
            await runner.cleanup()


if __name__ == "__main__":
    # Bob's network drops on purpose: the SDK would log every failed request.
    logging.getLogger("pubnub").setLevel(logging.CRITICAL)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(_arguments()))
