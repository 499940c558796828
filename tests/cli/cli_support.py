"""Running the ``rxpresence`` command in a subprocess, and waiting on its output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polling

REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without PUBNUB_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBNUB_")}
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m rxpresence ARGS`` to completion; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "rxpresence", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env() if env is None else env,
        cwd=REPO,
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return polling.wait_for(predicate, timeout, message, every=0.02)


class CliProcess:
    """``python -m rxpresence ARGS`` running in the background, its output collected."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rxpresence", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env() if env is None else env,
            cwd=REPO,
        )
        self._lock = threading.Lock()
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._lock:
                into.append(line.rstrip("\n"))

    @property
    def stdout_lines(self) -> list[str]:
        with self._lock:
            return list(self._out)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "\n".join(self._err)

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed as JSON (fails on a line that is not)."""
        return [json.loads(line) for line in self.stdout_lines]

    def wait_for_json(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until a JSON line on stdout satisfies ``predicate``; returns it."""

        def found() -> dict[str, Any] | None:
            if self.proc.poll() is not None and not any(map(predicate, self.json_lines())):
                raise AssertionError(
                    f"exited with {self.proc.returncode} first; stderr:\n{self.stderr}"
                )
            return next((o for o in self.json_lines() if predicate(o)), None)

        line: dict[str, Any] = wait_for(
            found, timeout, f"(stdout so far: {self.stdout_lines[-5:]})"
        )
        return line

    def wait_for_line(self, needle: str, timeout: float = 10.0) -> str:
        """Wait until a stdout line contains ``needle``; returns it."""
        found: str = wait_for(
            lambda: next((line for line in self.stdout_lines if needle in line), None),
            timeout,
            f"(waiting for {needle!r}; stderr: {self.stderr[-300:]})",
        )
        return found

    def interrupt(self, timeout: float = 15.0) -> int:
        """Send SIGINT (Ctrl-C) and wait for the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to end and its output to be read; returns the status."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
