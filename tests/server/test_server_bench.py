"""The server benchmark (``bench/server_load.py``) keeps running; no timing is judged here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


def test_server_benchmark_runs_with_small_sizes_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "server_load.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=220,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for figure in ["A burst of 200 connects", "needed a SYN retry", "p99", "poll wake-ups"]:
        assert figure in out, out
    assert "here-now: 5,000 uuids of a 5,000-occupant channel read in 5 pages" in out, out
    # Every burst row: 200 connections, all answered.
    bursts = [line.split("│")[2].strip() for line in out.splitlines() if line.endswith(" ms │")]
    assert bursts == ["200", "200"], out
    # No held poll woke for joins on a channel it does not listen to.
    wakeups = re.findall(r"│\s+([\d,]+)\s+│\s+[\d.]+ s\s+│\s*$", out, flags=re.MULTILINE)
    assert wakeups and set(wakeups) == {"0"}, out
