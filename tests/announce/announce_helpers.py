"""A rig for the announcing side: a hub on a fake client, a fake transport, virtual time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from unittest import mock

from helpers import FakePubNub, sdk_event, sdk_status
from pubnub.pnconfiguration import PNConfiguration
from reactivex.testing import TestScheduler

import rxpresence as rxp
from rxpresence._herenow import FakeHereNow

ME = "me"
TT = 17_000_000_000_000_000

Done = Callable[[BaseException | None], None]


class FakeTransport:
    """Records heartbeats and leaves; answers at once (``auto``) or when told.

    Attributes:
        requests: ``(kind, payload, virtual time)`` of every request, oldest first;
            payload is channel -> state for heartbeats, the channel list for leaves.
        pending: Requests not answered yet (``auto=False``), oldest first.
        failure: When set, ``auto`` answers fail with it (the network is down).
    """

    def __init__(self, scheduler: TestScheduler, *, auto: bool = True) -> None:
        self.scheduler = scheduler
        self.auto = auto
        self.blocking_close = False
        self.failure: BaseException | None = None
        self.requests: list[tuple[str, Any, float]] = []
        self.pending: list[tuple[str, Any, Done]] = []

    def heartbeat(self, states: Mapping[str, Mapping[str, Any]], done: Done) -> None:
        self._record("heartbeat", {c: dict(s) for c, s in states.items()}, done)

    def leave(self, channels: Sequence[str], done: Done) -> None:
        self._record("leave", sorted(channels), done)

    def _record(self, kind: str, payload: Any, done: Done) -> None:
        self.requests.append((kind, payload, self.scheduler.clock))
        if self.auto:
            done(self.failure)
        else:
            self.pending.append((kind, payload, done))

    def respond(self, error: BaseException | None = None) -> tuple[str, Any]:
        """Answer the oldest pending request (with ``error``: make it fail)."""
        kind, payload, done = self.pending.pop(0)
        done(error)
        return kind, payload

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.requests]

    def heartbeats(self) -> list[dict[str, Any]]:
        return [payload for kind, payload, _ in self.requests if kind == "heartbeat"]

    def times(self) -> list[float]:
        return [at for _, _, at in self.requests]


class ConfiguredPubNub(FakePubNub):
    """A fake client with a real ``PNConfiguration`` and a list of subscribed channels."""

    def __init__(self, config: PNConfiguration, subscribed: Sequence[str] = ()) -> None:
        super().__init__()
        self.config = config
        self.subscribed = list(subscribed)

    def get_subscribed_channels(self) -> list[str]:
        return list(self.subscribed)


def config(timeout: int = 60, *, origin: str = "127.0.0.1:9") -> PNConfiguration:
    """A configuration for uuid ``me`` with a presence timeout of ``timeout`` seconds."""
    result = PNConfiguration()
    result.subscribe_key = "demo"
    result.user_id = ME
    result.origin = origin
    result.set_presence_timeout(timeout)
    return result


class Rig:
    """A hub on a :class:`ConfiguredPubNub` with a :class:`FakeTransport` and virtual time.

    Args:
        auto: Whether the transport answers at once.
        timeout: The presence timeout (heartbeats every ``timeout / 2 - 1`` s).
        here_now: A here-now source for the hub (None: no snapshots).
        subscribed: Channels the fake client reports as subscribed.
    """

    def __init__(
        self,
        *,
        auto: bool = True,
        timeout: int = 60,
        here_now: FakeHereNow | None = None,
        subscribed: Sequence[str] = (),
    ) -> None:
        self.scheduler = TestScheduler()
        self.transport = FakeTransport(self.scheduler, auto=auto)
        self.pubnub = ConfiguredPubNub(config(timeout), subscribed)
        with mock.patch("rxpresence._announce.transport_for", return_value=self.transport):
            self.hub = rxp.PresenceStreams(self.pubnub, scheduler=self.scheduler, here_now=here_now)
        self.errors: list[rxp.ErrorReport] = []
        self.hub.errors.subscribe(self.errors.append)
        self._tt = TT

    def own(self, channel: str = "room") -> list[rxp.OwnPresence]:
        """Start collecting ``own_presence(channel)``; returns the list it fills."""
        seen: list[rxp.OwnPresence] = []
        self.hub.own_presence(channel).subscribe(seen.append)
        return seen

    def advance(self, seconds: float) -> None:
        self.scheduler.advance_by(seconds)

    def live(self, action: str, uuid: str | None = ME, **fields: Any) -> None:
        """Deliver a live event through the SDK listener (timestamp: virtual seconds)."""
        self._tt += 10
        fields.setdefault("timestamp", int(self.scheduler.clock))
        self.pubnub.presence(sdk_event(action, uuid, timetoken=self._tt, **fields))

    def status(self, category: str) -> None:
        self.pubnub.status(sdk_status(category))

    def close(self) -> None:
        self.hub.close()
