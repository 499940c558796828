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
from pathlib import Path

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
    assert "argument --hold-timeout: must be a number of seconds >= 0, got '-1'" in stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--port", "99999"], "argument --port: must be between 0 and 65535, got '99999'"),
        (["--port", "-1"], "argument --port: must be between 0 and 65535, got '-1'"),
        (["--port", "http"], "argument --port: not a port number: 'http'"),
        (["--host", "http://x"], "argument --host: a host name or address, not a URL"),
        (["--host", "localhost:8090"], "argument --host: a host name or address without a port"),
        (["--host", ""], "argument --host: not a host name or IP address: ''"),
        (["--host", "bad_name"], "argument --host: not a host name or IP address"),
        (["--hold-timeout", "nan"], "argument --hold-timeout: must be a number of seconds >= 0"),
        (["--hold-timeout", "0"], "argument --hold-timeout: must be more than 0 seconds"),
        (["--default-presence-timeout", "inf"], "must be a number of seconds >= 0, got 'inf'"),
        (["--presence-timeout", "soon"], "argument --presence-timeout: not a number of seconds"),
        (["--interval", "-2"], "argument --interval: must be a number of seconds >= 0"),
        (["--announce-max", "-1"], "argument --announce-max: must be 0 or more, got '-1'"),
        (["--announce-max", "2.5"], "argument --announce-max: not a whole number: '2.5'"),
        (["--max-channels", "0"], "argument --max-channels: must be 1 or more, got '0'"),
        (["--backlog", "0"], "argument --backlog: must be 1 or more, got '0'"),
        (["--delta-limit", "x"], "argument --delta-limit: not a whole number: 'x'"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], []], ids=["rxpresence serve", "server.main"])
def test_bad_values_are_refused_with_one_line_naming_the_option(
    command: list[str], args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rxpresence.cli import main as cli_main
    from rxpresence.server import main as server_main

    with pytest.raises(SystemExit) as exited:
        if command:
            cli_main([*command, *args])
        else:
            server_main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    usage, message = err.splitlines()
    assert usage.startswith("usage: ") and usage.endswith(" [options]  (--help lists them)")
    assert error in message, message


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("0.0.0.0", "0.0.0.0"),
        ("localhost", "localhost"),
        ("my-host.example.", "my-host.example."),
    ],
)
def test_hosts_accepted(value: str, parsed: str) -> None:
    from rxpresence._argtypes import host

    assert host(value) == parsed


def test_the_demo_and_serve_share_the_validators() -> None:
    import rxpresence.cli as cli
    import rxpresence.server._cli as server_cli
    from rxpresence import _argtypes

    assert cli.port is _argtypes.port is server_cli.port
    assert cli.positive_seconds is _argtypes.positive_seconds is server_cli.positive_seconds


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
            "--max-held-polls", "2", "--backlog", "4096", "--log-level", "warning",
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
        listen_backlog=4096,
    )
    renamed = parser.parse_args(["--default-presence-timeout", "45"])
    assert settings_from_args(renamed).presence_timeout == 45


def test_a_sigterm_as_soon_as_the_server_listens_stops_it_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rxpresence.cli import main

    started: list[LocalPresenceServer] = []
    start = LocalPresenceServer.start

    def start_then_sigterm(server: LocalPresenceServer) -> LocalPresenceServer:
        start(server)
        started.append(server)
        # Delivered here, before the banner: the handlers must already be in place.
        signal.raise_signal(signal.SIGTERM)
        return server

    monkeypatch.setattr(LocalPresenceServer, "start", start_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["serve", "--port", "0"]) == 0
    [server] = started
    assert not server.running
    assert capsys.readouterr().out.endswith("rxpresence presence server stopped\n")
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers were restored


@pytest.mark.parametrize(("bind", "origin"), [("0.0.0.0", "127.0.0.1:8090"), ("::", "[::1]:8090")])
def test_binding_every_interface_prints_a_usable_origin_and_warns(bind: str, origin: str) -> None:
    from rxpresence.server._cli import banner, serve_warnings

    server = LocalPresenceServer(host=bind, port=8090)
    assert server.origin == origin
    text = banner(server)
    assert f"listening on http://{origin} (bound to {bind}: every interface)" in text
    assert f"config.origin = '{origin}'" in text
    assert f"{bind}:8090" not in text.replace(f"bound to {bind}", "")
    [warning] = serve_warnings(bind, ServerSettings())
    assert warning.startswith(f"binding {bind}: the server has no authentication")


def test_loopback_banner_and_no_warning_with_pubnubs_defaults() -> None:
    from rxpresence.server._cli import banner, serve_warnings

    text = banner(LocalPresenceServer(port=8090))
    assert text.splitlines()[0] == "rxpresence presence server listening on http://127.0.0.1:8090"
    assert serve_warnings("127.0.0.1", ServerSettings()) == []


def test_a_default_presence_timeout_under_the_hold_timeout_is_warned_about() -> None:
    from rxpresence.server._cli import serve_warnings

    [warning] = serve_warnings("127.0.0.1", ServerSettings(presence_timeout=20))
    assert warning.startswith(
        "the default presence timeout (20 s) is not above the hold timeout (280 s)"
    )
    assert serve_warnings("127.0.0.1", ServerSettings(presence_timeout=20, hold_timeout=10)) == []


ROOT = Path(__file__).resolve().parents[2]
# A serve command line in the docs or the command's help, up to a comment.
SERVE_EXAMPLE = re.compile(
    r"^\s*(?:python -m )?rxpresence(?: serve|\.server)(?=\s|$)(?P<args>[^#\n]*)"
)


def serve_examples() -> list[tuple[str, str]]:
    found = []
    for source in ["docs/console.md", "docs/server.md", "README.md", "rxpresence/cli.py"]:
        for line in (ROOT / source).read_text().splitlines():
            match = SERVE_EXAMPLE.match(line)
            if match:
                found.append((source, match.group("args").strip()))
    return found


def test_the_documented_serve_examples_time_out_no_client_that_keeps_polling() -> None:
    from rxpresence.server._cli import serve_warnings

    examples = serve_examples()
    assert len(examples) >= 5, examples
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    for source, args in examples:
        parsed = parser.parse_args(args.split())
        # No warning: loopback, and the default presence timeout above the hold timeout,
        # so a watcher without heartbeats is not timed out between its long polls.
        assert serve_warnings(parsed.host, settings_from_args(parsed)) == [], (source, args)
