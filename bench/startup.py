"""What ``import rxpresence`` adds to the start of an app that already uses PubNub and RxPY.

Each run is a fresh interpreter that imports the SDK's client and configuration and
``reactivex`` (untimed), then times ``import rxpresence`` alone, by the wall clock and
by the process's CPU clock. A first run warms the file system's caches and writes the
modules' bytecode, and is not counted: an installed package has its bytecode compiled
(pip does it), while a source checkout run with ``PYTHONDONTWRITEBYTECODE`` would
compile every module on every start. The bytecode goes to a temporary folder
(``PYTHONPYCACHEPREFIX``), not into the checkout. With files and bytecode cached, the
import does no I/O: on a quiet machine both clocks agree, and on a busy one the CPU
clock leaves out the time spent waiting for a core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_APP = (
    "from pubnub.pnconfiguration import PNConfiguration\n"
    "from pubnub.pubnub import PubNub\n"
    "import reactivex\n"
    "import time\n"
    "start, cpu = time.perf_counter(), time.process_time()\n"
    "import rxpresence\n"
    "print(time.perf_counter() - start, time.process_time() - cpu)\n"
)


def measure_import(runs: int) -> dict[str, list[float]]:
    """Seconds ``import rxpresence`` took in each of ``runs`` fresh interpreters.

    Returns:
        ``"wall"`` and ``"cpu"``: one value per run.
    """
    root = Path(__file__).resolve().parents[1]
    out: dict[str, list[float]] = {"wall": [], "cpu": []}
    with tempfile.TemporaryDirectory(prefix="rxpresence-bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for run in range(runs + 1):
            done = subprocess.run(
                [sys.executable, "-c", _APP],
                capture_output=True,
                text=True,
                cwd=root,
                env=env,
                timeout=60,
            )
            if done.returncode != 0:
                raise RuntimeError(f"importing rxpresence failed:\n{done.stderr[-2000:]}")
            if run:
                wall, cpu = (float(value) for value in done.stdout.split())
                out["wall"].append(wall)
                out["cpu"].append(cpu)
    return out
