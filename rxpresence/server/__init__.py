"""A local PubNub-compatible presence server, for tests, demos and offline work.

The unmodified ``pubnub`` SDK (``PubNub`` and ``PubNubAsyncio``) can subscribe with
presence, heartbeat, leave, set and get state, call here-now and where-now, manage
channel groups and publish against it; so can PubNub's JavaScript SDK, in Node and in a
browser (answers carry CORS headers). See ``docs/server.md`` and ``docs/fidelity.md``.

How the pieces fit:

* :class:`ServerSettings` (``_settings``): hold timeout, presence timeout, interval
  mode and limits, defaulting to PubNub's values.
* ``PresenceBook`` (``_presence``): pure presence bookkeeping (occupants, the event log,
  channel groups, interval mode) with injectable clocks; no I/O.
* ``_filter``: PubNub's subscribe filter language (``filter-expr``), parsed and
  evaluated on published messages; pure.
* :func:`create_app` (``_http``): the aiohttp application serving PubNub's REST
  endpoints on top of a book, with long-poll subscribe and PubNub-style errors.
* :class:`LocalPresenceServer` (``_inprocess``): runs the application on its own thread
  and loop, with test hooks (request log, occupants, expire, inject, restart).
* :func:`main` (``_cli``): the ``serve`` command (``python -m rxpresence.server``);
  :func:`add_serve_arguments` and :func:`run_serve` put it in another ``argparse``
  program.
* ``pytest_plugin``: the ``presence_server`` and ``presence_server_factory`` fixtures.

Example::

    from pubnub.pubnub import PubNub
    from rxpresence.server import LocalPresenceServer

    with LocalPresenceServer() as server:
        pubnub = PubNub(server.pnconfig("alice"))
        ...
        pubnub.stop()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._settings import ServerSettings

if TYPE_CHECKING:
    from ._cli import add_serve_arguments, main, run_serve
    from ._http import RecordedRequest, create_app
    from ._inprocess import LocalPresenceServer
    from ._presence import PresenceBook

__all__ = [
    "LocalPresenceServer",
    "PresenceBook",
    "RecordedRequest",
    "ServerSettings",
    "add_serve_arguments",
    "create_app",
    "main",
    "run_serve",
]

# Imported on first use, so that loading the pytest plugin (which every pytest run
# does) does not import aiohttp.
_LAZY = {
    "LocalPresenceServer": "._inprocess",
    "PresenceBook": "._presence",
    "RecordedRequest": "._http",
    "create_app": "._http",
    "add_serve_arguments": "._cli",
    "main": "._cli",
    "run_serve": "._cli",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
