"""Pieces of PubNub-style request paths, shared by the local server's fuzz tests."""

from __future__ import annotations

# Path segments of the endpoints the server knows (and the separator channels use), to
# build paths that come close to real ones.
PATH_SEGMENTS = [
    "v2",
    "v1",
    "presence",
    "subscribe",
    "sub-key",
    "demo",
    "channel",
    "uuid",
    "data",
    "heartbeat",
    "leave",
    "0",
    "publish",
    "time",
    "channel-registration",
    "channel-group",
    "remove",
    ",",
]
