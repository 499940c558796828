"""Configuration guardrails: a PresenceConfigWarning naming the fix, and none for a good config."""

from __future__ import annotations

import warnings

import pytest
from pubnub.pnconfiguration import PNConfiguration

import rxpresence as rxp
from rxpresence._guardrails import check_config


class Client:
    """Just enough of a client: a config and listener management."""

    def __init__(self, config: PNConfiguration) -> None:
        self.config = config

    def add_listener(self, listener: object) -> None:
        pass

    def remove_listener(self, listener: object) -> None:
        pass


def config(**options: object) -> PNConfiguration:
    result = PNConfiguration()
    result.subscribe_key = "demo"
    result.user_id = "me"
    for name, value in options.items():
        setattr(result, name, value)
    return result


def attach(cfg: PNConfiguration) -> None:
    rxp.PresenceStreams(Client(cfg), here_now=None).close()


def test_heartbeat_interval_over_half_the_timeout() -> None:
    cfg = config(enable_presence_heartbeat=True)
    cfg.set_presence_timeout_with_custom_interval(120, 100)
    with pytest.warns(
        rxp.PresenceConfigWarning, match=r"more than half.*set_presence_timeout\(120\)"
    ):
        attach(cfg)


def test_sdk_default_interval_with_heartbeats_on() -> None:
    # 280 s against 300 s: the SDK's own defaults once heartbeats are switched on.
    with pytest.warns(rxp.PresenceConfigWarning, match="280 s"):
        attach(config(enable_presence_heartbeat=True))


def test_no_heartbeats_and_a_timeout_shorter_than_the_long_poll() -> None:
    cfg = config()
    cfg.set_presence_timeout(60)
    with pytest.warns(rxp.PresenceConfigWarning, match="enable_presence_heartbeat = True"):
        attach(cfg)


def test_presence_timeout_under_20_seconds() -> None:
    cfg = config(enable_presence_heartbeat=True)
    cfg.set_presence_timeout(10)
    with pytest.warns(rxp.PresenceConfigWarning, match=r"below PubNub's minimum of 20 s") as caught:
        attach(cfg)
    assert len(caught) == 1  # heartbeats every 4 s: only the minimum is wrong


@pytest.mark.parametrize("origin", ["127.0.0.1:8090", "localhost:8090", "[::1]:8090"])
def test_short_timeout_is_fine_against_a_loopback_server(origin: str) -> None:
    cfg = config(enable_presence_heartbeat=True, origin=origin)
    cfg.set_presence_timeout(10)
    assert check_config(cfg) == []


def test_a_public_origin_still_gets_the_minimum_warning() -> None:
    cfg = config(enable_presence_heartbeat=True, origin="presence.example.com")
    cfg.set_presence_timeout(10)
    assert ["below PubNub's minimum" in m for m in check_config(cfg)] == [True]


def test_assigning_presence_timeout_is_ignored_by_the_sdk() -> None:
    cfg = config()
    cfg.presence_timeout = 120  # silently ignored: a read-only property
    assert cfg.presence_timeout == 300
    with pytest.warns(
        rxp.PresenceConfigWarning, match=r"config.presence_timeout = 120 has no effect"
    ):
        attach(cfg)


def test_the_warning_points_at_the_caller() -> None:
    cfg = config()
    cfg.set_presence_timeout(60)
    with pytest.warns(rxp.PresenceConfigWarning) as caught:
        rxp.PresenceStreams(Client(cfg), here_now=None).close()
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    "make",
    [
        lambda: config(),  # the SDK's defaults, heartbeats off: 300 s timeout
        lambda: _with_timeout(config(enable_presence_heartbeat=True), 120),
        lambda: _with_timeout(config(enable_presence_heartbeat=True), 20),
        lambda: _with_timeout(config(), 300),
    ],
)
def test_no_warning_for_a_good_config(make: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", rxp.PresenceConfigWarning)
        attach(make())  # type: ignore[operator]


def _with_timeout(cfg: PNConfiguration, timeout: int) -> PNConfiguration:
    cfg.set_presence_timeout(timeout)
    return cfg


def test_check_config_tolerates_other_objects() -> None:
    assert check_config(object()) == []
    assert check_config(None) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rxp.PresenceStreams(None).close()
