"""A test rig for the sync machinery: fake client, fake here-now, virtual time."""

from __future__ import annotations

from typing import Any

from helpers import FakePubNub, sdk_event, sdk_status
from reactivex.testing import TestScheduler

import rxpresence as rxp
from rxpresence import operators as rops
from rxpresence._herenow import FakeHereNow

TT = 17_000_000_000_000_000

#: Deterministic timing: no jitter, no settle delay, a 3 s cache, retries 1, 2, 4... s.
SETTINGS = rxp.ResyncSettings(
    cache_ttl=3.0,
    settle=0.0,
    retry_initial=1.0,
    retry_max=8.0,
    retry_factor=2.0,
    retry_jitter=0.0,
    drift_events=3,
)


class Rig:
    """A hub on a fake client, with a fake here-now and a TestScheduler.

    Args:
        channels: The fake here-now's initial table.
        auto: Whether the fake answers at once.
        settings: Resync settings (deterministic defaults).
    """

    def __init__(
        self,
        channels: dict[str, dict[str, Any]] | None = None,
        *,
        auto: bool = False,
        settings: rxp.ResyncSettings = SETTINGS,
        **hub_options: Any,
    ) -> None:
        self.pubnub = FakePubNub()
        self.here_now = FakeHereNow(channels, auto=auto)
        self.scheduler = TestScheduler()
        self.hub = rxp.PresenceStreams(
            self.pubnub,
            scheduler=self.scheduler,
            here_now=self.here_now,
            resync=settings,
            **hub_options,
        )
        self.errors: list[rxp.ErrorReport] = []
        self.events: list[rxp.PresenceEvent] = []
        self.hub.errors.subscribe(self.errors.append)
        self.hub.events.subscribe(self.events.append)
        self._tt = TT

    def watch(self, channel: str = "room") -> tuple[list[rxp.Roster], list[rxp.RosterDiff]]:
        """Subscribe to a channel's roster and its diffs (this starts the bootstrap)."""
        rosters: list[rxp.Roster] = []
        diffs: list[rxp.RosterDiff] = []
        roster = self.hub.roster(channel)
        roster.subscribe(rosters.append)
        roster.pipe(rops.roster_diffs()).subscribe(diffs.append)
        return rosters, diffs

    def tt(self) -> int:
        """The next timetoken (strictly increasing)."""
        self._tt += 10
        return self._tt

    def live(self, action: str, uuid: str | None = "alice", **fields: Any) -> int:
        """Deliver a live event through the SDK listener; returns its timetoken."""
        tt = fields.pop("timetoken", None) or self.tt()
        self.pubnub.presence(sdk_event(action, uuid, timetoken=tt, **fields))
        return tt

    def status(self, category: str) -> None:
        """Deliver an SDK status through the listener."""
        self.pubnub.status(sdk_status(category))

    def advance(self, seconds: float) -> None:
        """Move virtual time forward."""
        self.scheduler.advance_by(seconds)

    def requests(self, channel: str = "room") -> int:
        """How many here-now requests were made for ``channel``."""
        return len(self.here_now.requests_for(channel))

    def current(self, channel: str = "room") -> rxp.Roster:
        """The hub's current raw roster of ``channel``."""
        return self.hub.current(channel)

    def close(self) -> None:
        self.hub.close()


def members(roster: rxp.Roster) -> dict[str, dict[str, Any] | None]:
    """uuid -> state (as plain dicts) of a roster."""
    return {m.uuid: (dict(m.state) if m.state is not None else None) for m in roster}


def came_and_went(diffs: list[rxp.RosterDiff]) -> tuple[list[str], list[str], list[str]]:
    """Every uuid that joined, left and was updated across ``diffs`` (sorted, repeats kept)."""
    joined = sorted(m.uuid for d in diffs for m in d.joined)
    left = sorted(m.uuid for d in diffs for m in d.left)
    updated = sorted(m.uuid for d in diffs for m in d.updated)
    return joined, left, updated
