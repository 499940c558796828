"""The ``rxpresence`` command: help, version, usage errors, setup errors, ``serve``."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cli_support import REPO, CliProcess, run_cli

from rxpresence import __version__
from rxpresence._console._demo import DemoOptions
from rxpresence._console._model import DEFAULT_GRACE
from rxpresence._console._watch import WatchOptions
from rxpresence.cli import build_parser, main

pytestmark = pytest.mark.timeout(60)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"rxpresence {__version__}"


def test_watch_help_in_a_subprocess() -> None:
    result = run_cli("watch", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: rxpresence watch")
    assert "PUBNUB_SUBSCRIBE_KEY" in result.stdout


@pytest.mark.parametrize("command", ["demo", "watch", "serve"])
def test_each_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rxpresence {command}")
    assert "examples:" in out


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "watch", "serve"):
        assert command in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("demo", "--duration", "-3"), "must be a number of seconds >= 0"),
        (("demo", "--duration", "0"), "must be more than 0 seconds"),
        (("demo", "--port", "70000"), "must be between 0 and 65535"),
        (("demo", "--bogus"), "unrecognized arguments: --bogus"),
        (("watch", "room", "--grace", "soon"), "not a number of seconds: 'soon'"),
        (("watch", "room", "--json", "--plain"), "not allowed with argument"),
        (("watch", "room", "--grace", "1e300"), "must be at most 86400 seconds (a day)"),
        (("demo", "--grace", "-1"), "must be a number of seconds >= 0"),
        (("demo", "--duration", "90000"), "must be at most 86400 seconds (a day)"),
        (("demo", "--seed", "x"), "invalid int value: 'x'"),
        (("watch", "room", "--duration", "nan"), "must be a number of seconds >= 0"),
    ],
)
def test_bad_arguments_exit_2(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "watch", "serve"])
def test_an_unknown_option_of_a_command_shows_that_commands_usage(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "room", "--foo"] if command == "watch" else [command, "--foo"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: rxpresence {command} ")
    assert err.splitlines()[-1] == f"rxpresence {command}: error: unrecognized arguments: --foo"


def test_an_unknown_option_before_the_command_shows_the_top_level_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--foo", "watch", "room"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rxpresence [-h]")
    assert err.splitlines()[-1] == "rxpresence: error: unrecognized arguments: --foo"


def test_both_commands_default_to_one_grace_period() -> None:
    parser = build_parser()
    demo = parser.parse_args(["demo"])
    watch = parser.parse_args(["watch", "room"])
    assert demo.grace == watch.grace == DEFAULT_GRACE == 10.0
    assert DemoOptions().grace == WatchOptions().grace == DEFAULT_GRACE


def test_the_console_page_gives_the_same_grace_default() -> None:
    page = (REPO / "docs" / "console.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `--grace SECONDS` \| `([^`]*)` \|", page, re.M)
    assert rows == [f"{DEFAULT_GRACE:g}"] * 2  # demo's and watch's option tables


def test_bad_arguments_in_a_subprocess() -> None:
    result = run_cli("demo", "--duration", "soon")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("usage: rxpresence demo")
    assert "not a number of seconds: 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_subscribe_key() -> None:
    result = run_cli("watch", "room")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rxpresence watch: no subscribe key: set PUBNUB_SUBSCRIBE_KEY or pass "
        "--subscribe-key (or --origin HOST:PORT to watch a local server)"
    )
    assert result.stdout == ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_origin_port_out_of_range() -> None:
    result = run_cli("watch", "room", "--origin", "127.0.0.1:99999")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "rxpresence watch: invalid --origin '127.0.0.1:99999': the port must be between 1 and 65535"
    ]


def test_unreachable_origin() -> None:
    port = free_port()
    result = run_cli("watch", "room", "--origin", f"127.0.0.1:{port}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"rxpresence watch: cannot reach 127.0.0.1:{port}: ")
    assert lines[0].endswith("check --origin and that the server runs")


class _Forbidding(BaseHTTPRequestHandler):
    """Answers ``time`` and refuses everything else with PubNub's 403."""

    def do_GET(self) -> None:
        if self.path.startswith("/time/0"):
            status, body = 200, b"[17000000000000000]"
        else:
            status = 403
            body = json.dumps(
                {
                    "message": "Forbidden",
                    "payload": {"channels": ["room"]},
                    "error": True,
                    "service": "Access Manager",
                    "status": 403,
                }
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def forbidding_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_access_denied(forbidding_origin: str) -> None:
    result = run_cli("watch", "room", "--origin", forbidding_origin, "--json")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rxpresence watch: access denied (403): check the subscribe key, the auth key or "
        "token, and read access to the channels and their -pnpres channels"
    ]


def test_serve_until_ctrl_c(cli: Callable[..., CliProcess]) -> None:
    serve = cli("serve", "--port", "0")
    line = serve.wait_for_line("listening on http://127.0.0.1:")
    port = int(line.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert serve.interrupt() == 0
    assert "rxpresence presence server stopped" in serve.stdout_lines
