"""Configuration and announcing: the heartbeats-off warning, PubNub's bounds, the interval."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from unittest import mock

import pytest
from announce_helpers import ConfiguredPubNub, FakeTransport, config
from helpers import sdk_status as status
from pubnub.pnconfiguration import PNConfiguration
from reactivex.testing import TestScheduler

import rxpresence as rxp
from rxpresence._guardrails import check_config


def attach(
    cfg: PNConfiguration, subscribed: Sequence[str] = ()
) -> tuple[rxp.PresenceStreams, ConfiguredPubNub, FakeTransport]:
    scheduler = TestScheduler()
    transport = FakeTransport(scheduler)
    pubnub = ConfiguredPubNub(cfg, subscribed)
    with mock.patch("rxpresence._announce.transport_for", return_value=transport):
        hub = rxp.PresenceStreams(pubnub, scheduler=scheduler, here_now=None)
    return hub, pubnub, transport


def test_no_heartbeats_off_warning_for_a_client_rxpresence_keeps_present() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", rxp.PresenceConfigWarning)
        hub, pubnub, _ = attach(config(60))  # heartbeats off, 60 s timeout
        hub.enter("lobby").result(0)
        pubnub.subscribed = ["lobby-pnpres"]  # watching only: not present through it
        pubnub.status(status("PNConnectedCategory"))
        hub.close()


def test_subscribed_channels_that_are_entered_need_no_heartbeats() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", rxp.PresenceConfigWarning)
        hub, pubnub, _ = attach(config(60))
        hub.enter("lobby").result(0)
        pubnub.subscribed = ["lobby"]
        pubnub.status(status("PNConnectedCategory"))
        hub.close()


def test_a_subscribed_channel_not_entered_is_warned_about_once_at_connect() -> None:
    hub, pubnub, _ = attach(config(60))
    hub.enter("lobby").result(0)
    pubnub.subscribed = ["lobby", "news"]
    with pytest.warns(rxp.PresenceConfigWarning) as caught:
        pubnub.status(status("PNConnectedCategory"))
        pubnub.status(status("PNConnectedCategory"))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "on news." in message and "lobby" not in message
    assert "presence.enter(channel)" in message
    assert "config.enable_presence_heartbeat = True" in message
    hub.close()


def test_a_client_subscribed_before_the_hub_is_warned_at_attach() -> None:
    with pytest.warns(
        rxp.PresenceConfigWarning, match=r"between two polls on a quiet channel on lobby"
    ) as caught:
        hub, _, _ = attach(config(60), subscribed=["lobby"])
    assert caught[0].filename == __file__  # points at the caller
    hub.close()


def test_a_timeout_above_what_pubnub_declares_is_reported_with_the_fix() -> None:
    cfg = config(600, origin="ps.pndsn.com")
    cfg.enable_presence_heartbeat = True
    capped = [m for m in check_config(cfg) if "320" in m]
    assert len(capped) == 1
    assert "above 320 s" in capped[0]
    assert "Fix: config.set_presence_timeout(320) or less" in capped[0]
    loopback = config(600)  # the local server honours any timeout
    loopback.enable_presence_heartbeat = True
    assert not any("320" in m for m in check_config(loopback))


@pytest.mark.parametrize(
    ("timeout", "origin", "interval"),
    [
        (60, "ps.pndsn.com", 29.0),  # T / 2 - 1
        (10, "ps.pndsn.com", 9.0),  # PubNub raises it to 20 s
        (600, "ps.pndsn.com", 159.0),  # ...and caps it at 320 s
        (4, "127.0.0.1:8090", 1.0),  # a loopback server is taken at its word
        (2, "127.0.0.1:8090", 0.5),  # never below a quarter of the timeout
    ],
)
def test_heartbeat_interval_follows_the_timeout_pubnub_applies(
    timeout: int, origin: str, interval: float
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rxp.PresenceConfigWarning)
        hub, _, transport = attach(config(timeout, origin=origin))
    hub.enter("lobby").result(0)
    transport.scheduler.advance_by(interval * 2.5)
    assert transport.times() == [0.0, interval, interval * 2]
    hub.close()
