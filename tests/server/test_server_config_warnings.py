"""Configurations from ``pnconfig`` follow the SDK's recommended (locked) mode."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from pubnub.pnconfiguration import PNConfiguration
from pubnub.pubnub import PubNub

from rxpresence.server import LocalPresenceServer

pytestmark = pytest.mark.timeout(90)

USER_SUITE = """
import asyncio

from pubnub.pubnub import PubNub
from pubnub.pubnub_asyncio import PubNubAsyncio


def test_sync_client(presence_server):
    config = presence_server.pnconfig("alice")
    config.non_subscribe_request_timeout = 5  # a suite adjusting the configuration
    pubnub = PubNub(config)
    try:
        assert int(pubnub.time().sync().result) > 0
        assert pubnub.config.non_subscribe_request_timeout == 5
    finally:
        pubnub.stop()


def test_asyncio_client(presence_server):
    async def main():
        pubnub = PubNubAsyncio(presence_server.pnconfig("bob", enable_presence_heartbeat=True))
        try:
            return int((await pubnub.time().future()).result)
        finally:
            await pubnub.stop()

    assert asyncio.run(main()) > 0
"""


def test_a_suite_run_with_deprecation_warnings_as_errors_passes(tmp_path: Path) -> None:
    (tmp_path / "test_user_suite.py").write_text(textwrap.dedent(USER_SUITE))
    strict = ["-W", "error::DeprecationWarning", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *strict, "test_user_suite.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout


def test_pnconfig_is_unlocked_until_a_client_takes_it(presence_server: LocalPresenceServer) -> None:
    config = presence_server.pnconfig("carol")
    assert config.disable_config_locking is False
    config.connect_timeout = 3  # still adjustable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pubnub = PubNub(config)
    try:
        assert pubnub.config.connect_timeout == 3
        # The mutable mode stays available to a suite that asks for it.
        mutable = presence_server.pnconfig("dave", disable_config_locking=True)
        assert mutable.disable_config_locking is True
    finally:
        pubnub.stop()


def test_configure_copies_a_configuration_a_client_has_locked(
    presence_server: LocalPresenceServer,
) -> None:
    config = PNConfiguration()
    config.user_id = "erin"
    config.disable_config_locking = False
    pubnub = PubNub(config)  # locks ``config``
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a locked configuration warns on every change
            configured = presence_server.configure(config)
        assert configured is not config
        assert configured.origin == presence_server.origin
        assert configured.user_id == "erin"
        assert config.origin != presence_server.origin  # the locked one is left as it was
    finally:
        pubnub.stop()
