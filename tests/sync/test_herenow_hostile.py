"""A here-now source that misbehaves: reported, nothing changed, resyncs go on.

Whatever a :class:`HereNowSource` answers (a bad occupancy, occupants of the wrong
shape, uuids or states past the limits), answers twice, never answers, or raises: the
answer is reported on ``errors`` as ``"here-now"``, the rosters stay as they were, and
the channel is asked again on its normal schedule (the retry backoff), so the next good
answer is folded in.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from helpers import nested_list
from sync_helpers import SETTINGS, Rig

import rxpresence as rxp

BAD_PAGES: list[Any] = [
    rxp.HereNowPage("lots", {}),  # type: ignore[arg-type]
    rxp.HereNowPage(-3, {}),
    rxp.HereNowPage(True, {}),  # type: ignore[arg-type]
    rxp.HereNowPage(math.nan, {}),  # type: ignore[arg-type]
    rxp.HereNowPage(10**30, {}),
    rxp.HereNowPage(1, ["ada"]),  # type: ignore[arg-type]
    rxp.HereNowPage(1, 7),  # type: ignore[arg-type]
    rxp.HereNowPage(1, "ada"),  # type: ignore[arg-type]
    rxp.HereNowPage(1, None),
    rxp.HereNowPage(1, {"": None}),
    rxp.HereNowPage(1, {"x" * 93: None}),
    rxp.HereNowPage(1, {"\ud800": None}),
    rxp.HereNowPage(1, {7: None}),  # type: ignore[dict-item]
    rxp.HereNowPage(1, {"ada": "busy"}),  # type: ignore[dict-item]
    rxp.HereNowPage(1, {"ada": {"deep": nested_list(33)}}),
    rxp.HereNowPage(1, {"ada": {"big": "x" * 40_000}}),
    "not a page",
    None,
]


def _started(rig: Rig) -> list[rxp.Roster]:
    rosters, _ = rig.watch()
    rig.here_now.join("room", "bo")
    rig.here_now.respond()  # a good first snapshot: bo
    assert rig.current().uuids == {"bo"}
    return rosters


@pytest.mark.parametrize("page", BAD_PAGES, ids=lambda p: repr(p)[:40])
def test_a_malformed_answer_is_reported_changes_nothing_and_resyncs_go_on(page: Any) -> None:
    rig = Rig()
    rosters = _started(rig)
    before = rig.current()
    rig.advance(SETTINGS.cache_ttl)
    rig.hub.resync("room")
    _, done = rig.here_now.pending.pop(0)
    done(page)  # as the source would call back
    assert [e.where for e in rig.errors] == ["here-now"]
    message = str(rig.errors[0].error)
    assert "here-now of 'room'" in message and len(message) < 400, message
    assert rig.current() is before and rosters[-1] is before
    assert not rig.hub._sync.in_flight("room")  # not stuck "in flight"
    rig.advance(SETTINGS.retry_initial)  # the retry, on the backoff's schedule
    rig.here_now.join("room", "cy")
    rig.here_now.respond()
    assert rig.current().uuids == {"bo", "cy"}
    rig.close()


def test_an_answer_given_twice_counts_once_and_the_second_is_reported() -> None:
    rig = Rig()
    _started(rig)
    rig.advance(SETTINGS.cache_ttl)
    rig.hub.resync("room")
    _, done = rig.here_now.pending[0]
    rig.here_now.join("room", "cy")
    rig.here_now.respond()
    done(rxp.HereNowPage(0, {}))  # the same callback again: an empty room
    assert rig.current().uuids == {"bo", "cy"}
    assert [str(e.error) for e in rig.errors] == ["here-now of 'room' answered twice"]
    rig.close()


def test_a_source_that_never_answers_times_out_and_is_asked_again() -> None:
    settings = rxp.ResyncSettings(
        cache_ttl=0, settle=0, retry_initial=1, retry_jitter=0, request_timeout=5
    )
    rig = Rig(settings=settings)
    rig.watch()
    assert rig.requests() == 1
    rig.advance(5)  # no answer within request_timeout
    assert [str(e.error) for e in rig.errors] == ["here-now of 'room' got no answer in 5 s"]
    assert not rig.hub._sync.in_flight("room")
    rig.advance(1)  # the retry
    assert rig.requests() == 2
    rig.here_now.join("room", "bo")
    rig.here_now.respond(-1)  # the newest request; the first is still pending, ignored
    assert rig.current().uuids == {"bo"}
    rig.here_now.respond(0, rxp.HereNowPage(0, {}))  # the first, far too late: dropped
    assert rig.current().uuids == {"bo"}
    assert len(rig.errors) == 1
    rig.close()


class _Raising:
    def __init__(self) -> None:
        self.calls = 0

    def here_now(self, request: rxp.HereNowRequest, done: Any) -> None:
        self.calls += 1
        raise RuntimeError("the source broke")

    def close(self) -> None:
        pass


def test_a_source_that_raises_is_reported_and_retried() -> None:
    source = _Raising()
    rig = Rig()
    hub = rxp.PresenceStreams(None, scheduler=rig.scheduler, here_now=source, resync=SETTINGS)
    errors: list[rxp.ErrorReport] = []
    hub.errors.subscribe(errors.append)
    hub.roster("room").subscribe()
    assert [(e.where, str(e.error)) for e in errors] == [("here-now", "the source broke")]
    rig.scheduler.advance_by(SETTINGS.retry_initial)
    assert source.calls == 2
    hub.close()
    rig.close()
