"""``rxpresence demo``: a short run in a subprocess, and the live view in-process."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from cli_support import CliProcess, run_cli
from rich.console import Console

from rxpresence._console._demo import CHANNELS, DemoOptions, run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_short_demo_in_a_subprocess() -> None:
    result = run_cli("demo", "--duration", "5", "--seed", "1", timeout=45)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert result.stderr == ""
    # Not a terminal: plain lines, then the summary.
    assert out.splitlines()[0].startswith("rxpresence demo: local server 127.0.0.1:")
    assert re.search(r"^\s+\d+\.\ds  lobby\s+join\s+alice\s+occupancy \d", out, re.M)
    assert re.search(
        r"^rxpresence demo: ran \d+\.\d s \(seed 1: repeat with --seed 1\)$", out, re.M
    )
    assert "events seen: " in out
    for channel in CHANNELS:
        assert re.search(rf"^\s+{channel}\s+\d+ present  match  \S", out, re.M), channel
    assert not [line for line in out.splitlines() if line != line.rstrip()]
    assert out.rstrip().endswith("all 3 rosters match the server")


def test_ctrl_c_stops_the_demo_with_the_same_summary(cli: Callable[..., CliProcess]) -> None:
    demo = cli("demo", "--duration", "60", "--seed", "3")
    demo.wait_for_line("fan-03", timeout=20)  # the cast is on stage
    assert demo.interrupt() == 0
    out = "\n".join(demo.stdout_lines)
    assert re.search(r"^rxpresence demo: stopped by Ctrl-C after \d+\.\d s \(seed 3", out, re.M)
    assert out.endswith("all 3 rosters match the server")
    assert "Traceback" not in demo.stderr


def test_live_view_in_process() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, height=30, color_system=None)
    code = run_demo(DemoOptions(duration=3, seed=2, output="live"), console=console)
    text = buffer.getvalue()
    assert code == 0, text[-2000:]
    assert "rxpresence demo · local server 127.0.0.1:" in text
    for channel in CHANNELS:
        assert f" {channel} " in text
    assert "PubNub" in text and "smoothed" in text
    assert "all 3 rosters match the server" in text
