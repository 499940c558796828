"""The ``serve`` command, run as ``python -m rxpresence.server`` in a subprocess."""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from rxpresence.server import LocalPresenceServer, ServerSettings
from rxpresence.server._cli import add_serve_arguments, settings_from_args

pytestmark = pytest.mark.timeout(30)


def launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rxpresence.server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_listening(process: subprocess.Popen[str]) -> str:
    """Read stdout until the listening line; return the base URL."""
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError(
        f"server exited early: {process.wait()} {process.stderr and process.stderr.read()}"
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = launch("--port", "0", "--hold-timeout", "1", "--log-level", "debug")
    try:
        yield process, wait_listening(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly_on_signal(
    served: tuple[subprocess.Popen[str], str], sig: int
) -> None:
    process, url = served
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{url}/time/0", timeout=5) as response:
        [tt] = json.loads(response.read())
    assert len(str(tt)) == 17
    with urllib.request.urlopen(
        f"{url}/v2/subscribe/demo/room/0?tt=0&uuid=alice", timeout=5
    ) as response:
        assert json.loads(response.read())["m"] == []
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "stopped" in stdout
    # Requests are logged at debug level.
    assert "GET /time/0 -> 200" in stderr
    assert "GET /v2/subscribe/demo/room/0 -> 200" in stderr


def test_port_in_use_exits_1() -> None:
    with LocalPresenceServer() as busy:
        process = launch("--port", str(busy.port))
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "cannot start" in stderr


def test_bad_settings_exit_2() -> None:
    process = launch("--port", "0", "--hold-timeout", "-1")
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert "hold_timeout" in stderr


def test_arguments_map_to_settings() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    defaults = settings_from_args(parser.parse_args([]))
    assert defaults == ServerSettings()
    args = parser.parse_args(
        [
            "--host", "::1", "--port", "9000", "--hold-timeout", "2", "--presence-timeout", "30",
            "--announce-max", "5", "--interval", "3", "--no-deltas", "--delta-limit", "100",
            "--max-request-bytes", "4096", "--max-state-bytes", "512", "--max-channels", "7",
            "--max-held-polls", "2", "--log-level", "warning",
        ]
    )  # fmt: skip
    assert (args.host, args.port, args.log_level) == ("::1", 9000, "warning")
    assert settings_from_args(args) == ServerSettings(
        hold_timeout=2,
        presence_timeout=30,
        announce_max=5,
        interval=3,
        presence_deltas=False,
        delta_limit=100,
        max_request_bytes=4096,
        max_state_bytes=512,
        max_channels_per_request=7,
        max_held_polls_per_client=2,
    )
