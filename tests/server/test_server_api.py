"""The public surface: settings, the in-process server's helpers, and the pytest fixtures."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from pubnub.pnconfiguration import PNConfiguration

import rxpresence.server as server_pkg
from rxpresence.server import LocalPresenceServer, ServerSettings


def test_settings_default_to_pubnubs_values() -> None:
    settings = ServerSettings()
    assert (settings.hold_timeout, settings.presence_timeout) == (280, 300)
    assert (settings.announce_max, settings.interval, settings.presence_deltas) == (20, 10, True)
    assert settings.delta_limit == 30_000
    assert settings.max_state_bytes == 32 * 1024


@pytest.mark.parametrize(
    "changes",
    [
        {"hold_timeout": 0},
        {"interval": -1},
        {"announce_max": -1},
        {"announce_max": 1.5},
        {"log_size": True},
    ],
)
def test_settings_refuse_out_of_range_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        ServerSettings(**changes)


def test_settings_replace_and_fast() -> None:
    fast = ServerSettings.fast(announce_max=3)
    assert (fast.hold_timeout, fast.interval, fast.announce_max) == (1.0, 1.0, 3)
    with pytest.raises(TypeError, match="hold_timout"):
        fast.replace(hold_timout=1)


def test_constructor_overrides_and_addresses() -> None:
    server = LocalPresenceServer(ServerSettings.fast(), hold_timeout=2, subscribe_key="sub-c")
    assert server.settings.hold_timeout == 2
    assert server.settings.interval == 1.0
    assert not server.running
    with server:
        assert server.running
        assert server.port > 0
        assert server.origin == f"127.0.0.1:{server.port}"
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert "running" in repr(server)
    assert not server.running
    server.stop()  # stopping twice is harmless


def test_configure_points_a_configuration_at_the_server(
    presence_server: LocalPresenceServer,
) -> None:
    config = PNConfiguration()
    config.user_id = "alice"
    same = presence_server.configure(config)
    assert same is config
    assert (config.origin, config.ssl, config.daemon) == (presence_server.origin, False, True)
    assert (config.subscribe_key, config.publish_key) == ("demo", "demo")


def test_pnconfig_applies_options(presence_server: LocalPresenceServer) -> None:
    config = presence_server.pnconfig("bob", presence_timeout=20, enable_presence_heartbeat=True)
    assert config.user_id == "bob"
    # set_presence_timeout() was used: assigning the property would be ignored.
    assert (config.presence_timeout, config.heartbeat_interval) == (20, 9)
    assert config.enable_presence_heartbeat is True
    with pytest.raises(TypeError, match="no_such_option"):
        presence_server.pnconfig("bob", no_such_option=1)


def test_hooks_are_safe_from_many_threads(presence_server: LocalPresenceServer) -> None:
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(50):
                presence_server.publish("load", {"n": n, "i": i})
                presence_server.inject(f"c{n}", {"action": "join", "uuid": f"u{i}"})
                presence_server.occupants(f"c{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert presence_server.presence_events_emitted == 200
    assert presence_server.presence_events_on("c0") == 50


def test_factory_fixture_starts_independent_servers(presence_server_factory: Any) -> None:
    first = presence_server_factory()
    second = presence_server_factory(announce_max=2, subscribe_key="other")
    assert first.port != second.port
    assert second.settings.announce_max == 2
    assert second.settings.hold_timeout == 1.0  # from the fast fixture settings
    assert second.subscribe_key == "other"


def test_public_names() -> None:
    assert set(server_pkg.__all__) == {
        "LocalPresenceServer",
        "PresenceBook",
        "RecordedRequest",
        "ServerSettings",
        "add_serve_arguments",
        "create_app",
        "main",
        "run_serve",
    }
    for name in server_pkg.__all__:
        assert getattr(server_pkg, name) is not None
    with pytest.raises(AttributeError):
        server_pkg.nothing_here  # noqa: B018


def test_plugin_import_does_not_load_the_server() -> None:
    code = (
        "import sys, rxpresence.server.pytest_plugin;"
        "assert 'rxpresence.server._inprocess' not in sys.modules;"
        "assert 'rxpresence.server._http' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
